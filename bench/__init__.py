"""Benchmarks: `make bench` (= `.venv/bin/python -m bench`). See docs/performance.md."""
