"""The Dataset over the cached waveforms: one window of each clip per access."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

CROPS = ("start", "centre", "random")


class WaveformDataset(Dataset[tuple[torch.Tensor, int, int]]):
    """Windows of the memory-mapped waveform array: (int16 waveform, label, valid samples).

    Args:
        waves: Cached clips (num_clips, stored_samples), each from the start of its file.
        rows: Rows of ``waves`` in this dataset.
        labels: Label of each row.
        lengths: Decoded length of each row's file.
        window: Samples returned per clip.
        crop: Where the window sits in a longer clip: ``start``, ``centre``, or ``random``
            (a new offset on every access, drawn from torch's RNG, which Lightning seeds per
            worker and :class:`~genre_lightning.callbacks.EpochSeed` per epoch).
    """

    def __init__(
        self,
        waves: np.ndarray,
        rows: Sequence[int],
        labels: Sequence[int],
        lengths: Sequence[int],
        window: int,
        crop: str = "start",
    ) -> None:
        self.waves, self.rows = waves, list(rows)
        self.labels, self.lengths = list(labels), list(lengths)
        self.window, self.crop = window, crop

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        available = min(self.lengths[i], self.waves.shape[1])
        spare = max(0, available - self.window)
        if self.crop == "random" and spare:
            offset = int(torch.randint(0, spare + 1, ()).item())
        else:
            offset = spare // 2 if self.crop == "centre" else 0
        # np.array copies the window out of the read-only memory map.
        wave = torch.from_numpy(np.array(self.waves[self.rows[i], offset : offset + self.window]))
        return wave, self.labels[i], min(self.window, available - offset)
