"""Benchmarks of Cosigner on the machine they run on: `python -m bench --help`.

Each benchmark measures Cosigner and a baseline in the same run (a bare Bolt app, the
database's raw conditional update), so that results are read as ratios. Every load
goes to servers that the benchmark starts on 127.0.0.1, and every loop is bounded in
count and in time.
"""
