"""``decode_cache``: first-run decode of real GTZAN clips into the waveform cache vs a cache hit."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import CLIP_SAMPLES, Row, sample_root
from genre_lightning.data.cache import load_or_build
from genre_lightning.data.index import GTZAN_GENRES, index_clips


def run(quick: bool = False) -> list[Row]:
    """Decode every sample clip into a fresh cache, then load it again; rows in ms/clip."""
    root = sample_root()
    if root is None:
        return [Row("decode_cache", "skipped: no GTZAN sample (set GENRE_LIGHTNING_SAMPLE)", 0, "")]
    clips, _ = index_clips(root, GTZAN_GENRES)
    clips = clips[::3] if quick else clips
    cache_dir = Path(tempfile.mkdtemp(prefix="gl-bench-cache-"))
    try:
        start = time.perf_counter()
        built = load_or_build(clips, cache_dir, 22050, CLIP_SAMPLES)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = load_or_build(clips, cache_dir, 22050, CLIP_SAMPLES)
        total = int(again.waves.sum(dtype="int64"))  # touch every page: a real read
        second = time.perf_counter() - start
        assert not built.hit and again.hit and total == total
        size = built.path.stat().st_size / 2**20
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    n = len(clips)
    return [
        Row("decode_cache", "first run: decode + write", first / n * 1e3, "ms/clip", f"{n} clips"),
        Row("decode_cache", "second run: cache hit + read", second / n * 1e3, "ms/clip", ""),
        Row("decode_cache", "speed-up of the cache", first / second, "x", f"{size:.0f} MiB int16"),
    ]
