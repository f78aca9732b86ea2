"""data/synthetic.py: a deterministic set of real .wav files whose classes differ like genres."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from genre_lightning.data.synthetic import STYLES, ensure_synthetic_dataset, synthesize_clip


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*.wav")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_writes_real_wavs_deterministically(tmp_path: Path) -> None:
    a = ensure_synthetic_dataset(tmp_path / "a", clips_per_class=2, seconds=1.0, seed=3)
    b = ensure_synthetic_dataset(tmp_path / "b", clips_per_class=2, seconds=1.0, seed=3)
    assert sorted(p.name for p in a.iterdir() if p.is_dir()) == sorted(s.name for s in STYLES)
    files = sorted(a.rglob("*.wav"))
    assert len(files) == 2 * len(STYLES)
    info = sf.info(str(files[0]))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        22050,
        1,
        22050,
        "PCM_16",
    )
    assert _digest(a) == _digest(b)
    c = ensure_synthetic_dataset(tmp_path / "a", clips_per_class=2, seconds=1.0, seed=4)
    assert c != a and _digest(c) != _digest(a)


def test_existing_set_is_reused(tmp_path: Path) -> None:
    a = ensure_synthetic_dataset(tmp_path, clips_per_class=1, seconds=0.5)
    stamp = (a / "settings.json").stat().st_mtime_ns
    assert ensure_synthetic_dataset(tmp_path, clips_per_class=1, seconds=0.5) == a
    assert (a / "settings.json").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*.tmp-*"))


def _dominant_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(wave.size, 1 / 22050)[spectrum.argmax()])


def test_classes_differ_and_clips_vary() -> None:
    by_name = {s.name: s for s in STYLES}
    rng = np.random.default_rng(0)
    low = [_dominant_hz(synthesize_clip(by_name["bassbeat"], rng, 2.0)) for _ in range(5)]
    high = [_dominant_hz(synthesize_clip(by_name["bright"], rng, 2.0)) for _ in range(5)]
    assert np.median(high) > 4 * np.median(low)  # pitch register separates these two
    one = synthesize_clip(by_name["pluck"], np.random.default_rng(1), 1.0)
    two = synthesize_clip(by_name["pluck"], np.random.default_rng(2), 1.0)
    assert not np.allclose(one, two)  # per-clip variation
    assert 0.3 <= np.abs(one).max() <= 0.9
