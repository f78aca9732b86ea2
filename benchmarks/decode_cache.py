"""``decode_cache``: first-run decode of real GTZAN clips into the waveform cache vs a cache hit,
and the peak memory of decoding a long recording for the cache, against decoding it whole."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.common import CLIP_SAMPLES, Row, sample_root
from genre_lightning.audio_files import SAMPLE_RATE
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
        built = load_or_build(clips, cache_dir, SAMPLE_RATE, CLIP_SAMPLES)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = load_or_build(clips, cache_dir, SAMPLE_RATE, CLIP_SAMPLES)
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
        *_long_recording(minutes=2 if quick else 10),
    ]


#: Decodes a file as the cache does (``max_samples``: the clip) or whole (``None``) in a fresh
#: interpreter, and prints by how much (KiB) its peak RSS (``VmHWM``, reset after the imports)
#: rose above its RSS before the decode (Linux).
_PEAK = """
import sys
from pathlib import Path
from genre_lightning.audio import load_audio
def kib(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in lines if line.startswith(field)).split()[1])
Path("/proc/self/clear_refs").write_text("5")
before = kib("VmRSS")
wave = load_audio(sys.argv[1], max_samples=None if sys.argv[2] == "whole" else int(sys.argv[2]))
print(kib("VmHWM") - before)
"""


def _long_recording(minutes: int) -> list[Row]:
    """Peak memory above the imports of decoding a long 44.1 kHz stereo WAV (a DJ mix) for
    the cache, which keeps its first 30 s, against decoding it whole as before."""
    if not Path("/proc/self/clear_refs").exists():
        return [Row("decode_cache", "long recording: skipped, needs Linux /proc", 0, "")]
    with tempfile.TemporaryDirectory(prefix="gl-bench-long-") as tmp:
        path = Path(tmp) / "mix.wav"
        noise = np.random.default_rng(0).standard_normal((44100 * 60 * minutes, 2)) * 0.1
        sf.write(path, noise.astype(np.float32), 44100, subtype="PCM_16")
        del noise
        peaks = {}
        for how in ("whole", str(CLIP_SAMPLES)):
            done = subprocess.run(
                [sys.executable, "-c", _PEAK, str(path), how],
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[how] = int(done.stdout) / 1024
    cached, whole = peaks[str(CLIP_SAMPLES)], peaks["whole"]
    note = f"{minutes} min 44.1 kHz stereo, first 30 s kept"
    return [
        Row("decode_cache", "long recording: peak memory, as cached", cached, "MiB", note),
        Row("decode_cache", "long recording: peak memory, decoded whole", whole, "MiB", ""),
        Row("decode_cache", "memory saved by decoding only the kept part", whole / cached, "x", ""),
    ]
