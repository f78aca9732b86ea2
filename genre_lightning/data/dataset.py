"""The Dataset over the cached waveforms: windows (whole clips or chunks) of each track."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

#: Offset marker: choose the window by the dataset's crop rule on each access.
BY_CROP = -1


class Window(NamedTuple):
    """One network input as the DataLoader yields it (collated into a batch of each field).

    ``wave`` is the int16 window itself, or an empty tensor when the dataset only locates
    windows (``locate_only``): the samples are then gathered on the device from ``row`` and
    ``offset``, or the window's mel image is looked up by ``item``.
    """

    wave: torch.Tensor
    label: int
    length: int  # valid (not padded) samples of the window
    track: int  # the clip's position in the dataset; the chunks of one track share it
    item: int  # the window's index in the dataset (unique, also across DDP ranks)
    row: int  # row of the cached waveform array
    offset: int  # first sample of the window in that row
    part: int  # which part of the split (the dataset's ``part``), to find its features table


class WaveformDataset(Dataset[Window]):
    """Windows of the memory-mapped waveform array.

    Each item is a :class:`Window`; ``track`` is the position of the clip in this dataset:
    chunks of one track share it, so predictions can be averaged per track.

    Args:
        waves: Cached clips (num_clips, stored_samples), each from the start of its file.
        rows: Rows of ``waves`` in this dataset.
        labels: Label of each row.
        lengths: Decoded length of each row's file.
        window: Samples returned per item (the clip length, or the chunk length).
        crop: Where a window sits in a longer clip: ``start``, ``centre``, or ``random`` (an
            offset drawn from (seed, epoch, index): the same in every worker process and after
            a resume, new every epoch).
        chunks: ``None``: one window per track. ``"random"``: ``draws`` random windows per track
            and epoch (training on chunks). ``"all"``: every window of each track, in order,
            ``hop`` samples apart (evaluating on chunks, or training on fixed chunks).
        draws: Windows per track and epoch for ``chunks="random"``.
        hop: Samples between the starts of consecutive windows of ``chunks="all"``; ``None``:
            one window (no overlap).
        locate_only: Yield where each window is, not its samples (``wave`` is empty).
        part: A number naming the dataset's part of the split, passed on in every item.
        seed: Seed of the random offsets.
    """

    def __init__(
        self,
        waves: np.ndarray,
        rows: Sequence[int],
        labels: Sequence[int],
        lengths: Sequence[int],
        window: int,
        crop: str = "start",
        chunks: str | None = None,
        draws: int = 1,
        locate_only: bool = False,
        part: int = 0,
        seed: int = 0,
        hop: int | None = None,
    ) -> None:
        self.waves, self.rows, self.seed = waves, list(rows), seed
        self.locate_only, self.part = locate_only, part
        self.labels, self.lengths = list(labels), list(lengths)
        self.window, self.crop = window, "random" if chunks == "random" else crop
        self.hop = hop or window
        tracks = range(len(self.rows))
        if chunks == "all":
            self.items = [(t, k * self.hop) for t in tracks for k in range(self._num_chunks(t))]
        else:
            self.items = [(t, BY_CROP) for _ in range(draws if chunks else 1) for t in tracks]

    def _available(self, track: int) -> int:
        return min(self.lengths[track], self.waves.shape[1])

    def _num_chunks(self, track: int) -> int:
        """Whole windows that fit in the track, ``hop`` apart (one padded window if none)."""
        spare = self._available(track) - self.window
        return 1 if spare < 0 else spare // self.hop + 1

    @property
    def fixed_windows(self) -> bool:
        """Whether every access of an item returns the same window (no random offsets)."""
        return self.crop != "random"

    @property
    def num_tracks(self) -> int:
        """Tracks (clips) in the dataset; ``len()`` counts windows, several per track if chunked."""
        return len(self.rows)

    def __len__(self) -> int:
        return len(self.items)

    def samples(self, row: int, offset: int) -> torch.Tensor:
        """The int16 window at ``offset`` of cached ``row``, zero-padded to ``window`` samples."""
        # np.array copies the window out of the read-only memory map.
        wave = torch.from_numpy(np.array(self.waves[row, offset : offset + self.window]))
        if wave.shape[0] < self.window:  # the stored clip is shorter than a window
            wave = torch.nn.functional.pad(wave, (0, self.window - wave.shape[0]))
        return wave

    def __getitem__(self, key: int | tuple[int, int]) -> Window:
        """Item ``key``, or ``(index, epoch)`` as the training sampler hands it."""
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        track, offset = self.items[i]
        available = self._available(track)
        if offset == BY_CROP:
            spare = max(0, available - self.window)
            if self.crop == "random" and spare:
                key = ((self.seed * 1_000_003 + epoch) * 1_000_003 + i) % 2**63
                draw = torch.Generator().manual_seed(key)
                offset = int(torch.randint(0, spare + 1, (), generator=draw).item())
            else:
                offset = spare // 2 if self.crop == "centre" else 0
        row = self.rows[track]
        valid = max(0, min(self.window, available - offset))
        wave = torch.empty(0, dtype=torch.int16) if self.locate_only else self.samples(row, offset)
        return Window(wave, self.labels[track], valid, track, i, row, offset, self.part)
