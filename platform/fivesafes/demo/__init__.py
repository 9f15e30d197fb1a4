"""The `make demo` set-up: an embedded database, local keys, demo users and a sample extract.

The sample extract (``sample-extract.csv``) is synthetic: no real person is in it.
"""
