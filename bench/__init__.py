"""nodish's side-by-side benchmarks against Node and Python peers: ``python -m bench``.

Each ``bench_<name>.py`` module exposes ``run(quick=False) -> list[Row]``; the shared
plumbing lives in :mod:`bench.harness`. See docs/benchmarks.md.
"""
