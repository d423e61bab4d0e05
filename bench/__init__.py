"""Benchmarks for ordertrack: run by hand (`python -m bench.run_all`), never by the test suite."""
