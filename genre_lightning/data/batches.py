"""From a collated batch of windows to mel images on the batch's device.

Each part of the split gets its mel images the way its :class:`~genre_lightning.data.plan.Plan`
says: from the samples the DataLoader carried, from the waveform array kept on the device, or
from a features table computed once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

from genre_lightning.audio import from_int16
from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.plan import Plan, Source
from genre_lightning.features.mel import MelFeatures

log = logging.getLogger(__name__)


class WindowBatch(NamedTuple):
    """A collated batch of :class:`~genre_lightning.data.dataset.Window` items (same fields)."""

    wave: torch.Tensor  # (B, window) int16, or (B, 0) when only places travel
    label: torch.Tensor
    length: torch.Tensor
    track: torch.Tensor
    item: torch.Tensor
    row: torch.Tensor
    offset: torch.Tensor
    part: torch.Tensor


class FeatureBatch(NamedTuple):
    """What the LightningModule receives: mel images with their labels and ids."""

    mel: torch.Tensor  # (B, 1, frames, mels) float32, un-normalised
    label: torch.Tensor
    track: torch.Tensor
    item: torch.Tensor


def gather_windows(
    waves: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor, window: int
) -> torch.Tensor:
    """Cut ``window`` samples at ``offsets`` from ``rows`` of ``waves``, zero-padded at the end.

    Args:
        waves: (clips, stored samples) int16, on any device.
        rows: (B,) rows to cut from.
        offsets: (B,) first sample of each window.
        window: Samples per window.
    """
    stored = waves.shape[1]
    rows = rows.to(waves.device)
    if window <= stored and not bool(offsets.any()):  # whole clips: one gather
        return waves[rows, :window]
    out = waves.new_zeros(len(rows), window)
    for k, (row, offset) in enumerate(zip(rows.tolist(), offsets.tolist(), strict=True)):
        piece = waves[row, offset : offset + window]
        out[k, : piece.shape[0]] = piece
    return out


class BatchFeatures:
    """Computes (or looks up) the mel images of collated :class:`Window` batches.

    Args:
        features: The mel front end.
        waves: The cached int16 waveforms (memory-mapped).
        datasets: The parts of the split, by name.
        plan: Where each part's mel images come from.
        batch_size: Clips per mel call while building a table.
    """

    def __init__(
        self,
        features: MelFeatures,
        waves: np.ndarray,
        datasets: Mapping[str, WaveformDataset],
        plan: Plan,
        batch_size: int,
    ) -> None:
        self.features, self.host_waves, self.datasets = features, waves, dict(datasets)
        self.plan, self.batch_size = plan, batch_size
        self._device_waves: torch.Tensor | None = None
        self._tables: dict[str, torch.Tensor] = {}

    def __call__(self, batch: WindowBatch, part: str) -> FeatureBatch:
        """Mel images of ``batch`` (from ``part``) on the batch's device."""
        device = batch.label.device
        self.features.to(device)  # a no-op once the buffers live there
        source = self.plan[part].source
        if source is Source.TABLE:
            mel = self.table(part, device)[batch.item.to(device)]
        else:
            if source is Source.DEVICE:
                window = self.datasets[part].window
                wave = gather_windows(self.device_waves(device), batch.row, batch.offset, window)
            else:
                wave = batch.wave
            mel = self.features(from_int16(wave), batch.length)
        return FeatureBatch(mel, batch.label, batch.track, batch.item)

    def device_waves(self, device: torch.device) -> torch.Tensor:
        """The whole int16 waveform array on ``device`` (copied there once)."""
        if self._device_waves is None or self._device_waves.device != device:
            host = torch.from_numpy(np.array(self.host_waves))  # read the memory map once
            self._device_waves = host.to(device)
            log.info(
                "data.on_device: %d clips (%.0f MiB int16) on %s",
                host.shape[0],
                host.numel() * 2 / 2**20,
                device,
            )
        return self._device_waves

    @torch.no_grad()
    def table(self, part: str, device: torch.device) -> torch.Tensor:
        """Mel images of every item of ``part``, computed on ``device`` on first use."""
        cached = self._tables.get(part)
        if cached is not None and cached.device == device:
            return cached
        dataset = self.datasets[part]
        windows = [dataset[i] for i in range(len(dataset))]  # fixed windows: same every time
        mels = []
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start : start + self.batch_size]
            rows, offsets = [w.row for w in chunk], [w.offset for w in chunk]
            if self.plan.on_device:
                waves = self.device_waves(device)
                wave = gather_windows(
                    waves, torch.tensor(rows), torch.tensor(offsets), dataset.window
                )
            else:
                samples = [dataset.samples(r, o) for r, o in zip(rows, offsets, strict=True)]
                wave = torch.stack(samples).to(device)
            lengths = torch.tensor([w.length for w in chunk], device=device)
            mels.append(self.features(from_int16(wave), lengths))
        table = torch.cat(mels)
        log.info(
            "features table for %s: %d mel images (%.0f MiB) on %s",
            part,
            table.shape[0],
            table.numel() * table.element_size() / 2**20,
            device,
        )
        self._tables[part] = table
        return table
