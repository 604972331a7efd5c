"""Benchmarks: each module measures one capability as ratios against a baseline in the same run.

``python -m bench.run`` runs them all (or the named ones) and rewrites their sections of
``docs/BENCHMARKS.md``; timings never appear as assertions in tests.
"""
