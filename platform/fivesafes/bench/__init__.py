"""Benchmarks behind ``make bench``; their figures are recorded in docs/benchmarks.md."""
