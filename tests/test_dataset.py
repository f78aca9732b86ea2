"""data/dataset.py: which window of a cached clip a batch sees."""

from __future__ import annotations

import numpy as np
import torch

from genre_lightning.data.dataset import WaveformDataset

WAVES = np.arange(2 * 20, dtype=np.int16).reshape(2, 20)  # two stored clips of 20 samples


def _ds(crop: str, lengths: list[int]) -> WaveformDataset:
    return WaveformDataset(WAVES, [0, 1], [3, 4], lengths, window=8, crop=crop)


def test_start_and_centre_windows() -> None:
    wave, label, valid = _ds("start", [20, 20])[1]
    assert wave.tolist() == list(range(20, 28)) and label == 4 and valid == 8
    wave, _, valid = _ds("centre", [20, 20])[0]
    assert wave.tolist() == list(range(6, 14)) and valid == 8  # (20 - 8) // 2 = 6


def test_short_clip_keeps_its_valid_length() -> None:
    wave, _, valid = _ds("centre", [5, 20])[0]
    assert wave.tolist()[:5] == list(range(5)) and valid == 5  # no spare samples: offset 0


def test_random_windows_vary_and_follow_the_seed() -> None:
    ds = _ds("random", [20, 20])
    torch.manual_seed(0)
    first = [ds[0][0][0].item() for _ in range(30)]
    torch.manual_seed(0)
    again = [ds[0][0][0].item() for _ in range(30)]
    assert first == again and len(set(first)) > 5 and min(first) >= 0 and max(first) <= 12
    wave, _, valid = ds[0]
    assert valid == 8 and wave.tolist() == list(range(wave[0].item(), wave[0].item() + 8))
