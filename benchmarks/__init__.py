"""Benchmarks of genre_lightning: ``python -m benchmarks.run [--quick] [--only NAME,...]``.

Each module measures one thing and returns :class:`~benchmarks.common.Row` s; ``run`` prints
them as one table and writes ``benchmarks/results.json``. Benchmarks report, they never assert:
timings on a shared machine are noisy, so every number is a median over interleaved repeats.
"""
