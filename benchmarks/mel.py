"""``mel``: MelFeatures (torchaudio) against librosa on real GTZAN clips, and where time goes.

Every variant computes the paper's power mel of the same clips (cropped/padded to the cache's
662,688 samples) and is timed round-robin with the others. ``vs librosa`` is librosa's time
over the variant's (>= 1: not slower); ``err`` is the worst clip's max|a-b| / max|librosa|.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.common import CLIP_SAMPLES, Row, interleaved, median, sample_root
from genre_lightning.audio import fix_length, load_audio
from genre_lightning.features.mel import MelFeatures

FRAMES = 668
LIBROSA_ARGS: dict[str, Any] = {
    "sr": 22050,
    "n_fft": 2048,
    "win_length": 1984,
    "hop_length": 992,
    "n_mels": 64,
    "power": 2.0,
    "pad_mode": "constant",
}


def rfft_power_mel(wave: torch.Tensor, mel: MelFeatures) -> torch.Tensor:
    """The alternative path: frames by ``unfold``, ``rfft``, |X|^2 as re^2+im^2, mel matmul.

    Uses MelFeatures' own window and filterbank buffers. Returns (B, frames, n_mels).
    """
    stft = mel.mel.spectrogram
    n_fft, hop, window = stft.n_fft, stft.hop_length, stft.window
    left = (n_fft - window.shape[0]) // 2  # torch.stft centres a short window in n_fft
    window = F.pad(window, (left, n_fft - window.shape[0] - left))
    frames = F.pad(wave, (n_fft // 2, n_fft // 2)).unfold(-1, n_fft, hop)  # (B, frames, n_fft)
    spec = torch.fft.rfft(frames * window)
    power = torch.addcmul(spec.real * spec.real, spec.imag, spec.imag)
    return power @ mel.mel.mel_scale.fb  # (B, frames, n_mels)


def stft_power_mel(wave: torch.Tensor, mel: MelFeatures) -> torch.Tensor:
    """torchaudio's own steps (torch.stft, then the filterbank) minus its ``abs().pow(2)``."""
    stft = mel.mel.spectrogram
    spec = torch.stft(
        wave,
        stft.n_fft,
        stft.hop_length,
        stft.win_length,
        stft.window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = torch.addcmul(spec.real * spec.real, spec.imag, spec.imag)  # (B, freqs, frames)
    return power.transpose(1, 2) @ mel.mel.mel_scale.fb


def _batched(
    fn: Callable[[torch.Tensor], torch.Tensor], batch: int, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Run ``fn`` over chunks of ``batch`` clips (and with ``threads`` torch threads)."""

    def run(waves: torch.Tensor) -> torch.Tensor:
        before = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                return torch.cat([fn(chunk)[:, :FRAMES] for chunk in waves.split(batch)])
        finally:
            torch.set_num_threads(before)

    return run


def run(quick: bool = False) -> list[Row]:
    """Time librosa and the torch variants; rows in ms/clip with ratios and errors."""
    import librosa

    root = sample_root()
    if root is None:
        return [Row("mel", "skipped: no GTZAN sample (set GENRE_LIGHTNING_SAMPLE)", 0, "")]
    files = sorted((root / "genres_original").glob("*/*.wav"))
    files = files[::10] if quick else files  # quick (a check of the code path): 5 clips
    waves = torch.stack([fix_length(load_audio(f), CLIP_SAMPLES) for f in files])
    n, threads = len(files), torch.get_num_threads()

    def run_librosa(w: torch.Tensor) -> np.ndarray:
        """(n, 668, 64), the paper's transpose and crop of librosa's (64, frames)."""
        mels = [librosa.feature.melspectrogram(y=x, **LIBROSA_ARGS) for x in w.numpy()]
        return np.stack(mels)[:, :, :FRAMES].transpose(0, 2, 1)

    start = time.perf_counter()
    librosa.feature.melspectrogram(y=waves[0].numpy(), **LIBROSA_ARGS)
    first_call = time.perf_counter() - start
    reference = run_librosa(waves)

    ours = MelFeatures()
    ours64 = MelFeatures()
    ours64.mel.double()
    module = lambda w: ours(w)[:, 0]  # noqa: E731
    variants: dict[str, Callable[[torch.Tensor], torch.Tensor | np.ndarray]] = {
        "librosa (numpy, per clip)": run_librosa,
        f"MelFeatures batch {n}": _batched(module, n),
        "MelFeatures batch 8": _batched(module, 8),
        "MelFeatures batch 1": _batched(module, 1),
        f"MelFeatures batch {n}, 1 thread": _batched(module, n, threads=1),
        f"torchaudio float64 batch {n}": _batched(lambda w: ours64.mel(w.double()).mT, n),
        f"alt stft+re2im2+matmul batch {n}": _batched(lambda w: stft_power_mel(w, ours), n),
        f"alt unfold+rfft+matmul batch {n}": _batched(lambda w: rfft_power_mel(w, ours), n),
        "alt unfold+rfft+matmul batch 8": _batched(lambda w: rfft_power_mel(w, ours), 8),
        f"alt unfold+rfft+matmul batch {n}, 1 thread": _batched(
            lambda w: rfft_power_mel(w, ours), n, threads=1
        ),
    }
    errors = {}
    for name, fn in variants.items():
        out = np.asarray(fn(waves), dtype=np.float64)
        diff = np.abs(out - reference).max(axis=(1, 2)) / np.abs(reference).max(axis=(1, 2))
        errors[name] = float(diff.max())
    calls: dict[str, Callable[[], Any]] = {k: partial(f, waves) for k, f in variants.items()}
    times = interleaved(calls, 2 if quick else 5)
    ms = {k: median(v) / n * 1e3 for k, v in times.items()}
    lib, base = ms["librosa (numpy, per clip)"], ms[f"MelFeatures batch {n}"]
    rows = [
        Row("mel", "librosa first call (warm-up)", first_call * 1e3, "ms", "not in the timings"),
        Row("mel", "clips x samples", n, "clips", f"{CLIP_SAMPLES} samples, {threads} threads"),
    ]
    for name, value in ms.items():
        spread = f"min {min(times[name]) / n * 1e3:.1f}"
        note = f"{spread}; vs librosa {lib / value:.2f}x; vs MelFeatures {base / value:.2f}x"
        rows.append(Row("mel", name, value, "ms/clip", f"{note}; err {errors[name]:.1e}"))
    rows.append(Row("mel", "ratio librosa / MelFeatures", lib / base, "x", ">= 1.0: not slower"))
    best = min((k for k in ms if k.startswith("alt") and errors[k] <= 1e-4), key=ms.__getitem__)
    rows.append(
        Row("mel", f"best alt ({best}) / MelFeatures", ms[best] / base, "x", "< 1: alt faster")
    )
    return rows
