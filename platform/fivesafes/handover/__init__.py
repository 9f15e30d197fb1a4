"""Signed hand-over: a de-identification job's output, provably unaltered, into the store.

Kept free of imports on purpose: :mod:`fivesafes.handover.manifest` sits below the
de-identification engine (the Spark job calls it), so nothing here may pull in the layers
above it.
"""
