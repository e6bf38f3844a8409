"""Benchmarks: scripts that print figures (`make bench`, i.e. `python -m bench`).

Each module listed in `bench/__main__.py` exposes `main(argv) -> int`. They are not timed
assertions; the figures go into the issue notes.
"""
