"""Serving the split's parts to Lightning: a DataLoader per part, and each collated batch turned
into mel images on its device.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from genre_lightning.data import statistics
from genre_lightning.data.batches import BatchFeatures, FeatureBatch, WindowBatch
from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.loaders import make_loader, pin_memory_for
from genre_lightning.data.plan import Plan
from genre_lightning.data.splits import PARTS


class PartServing(pl.LightningDataModule):
    """The loader and batch hooks of a DataModule whose ``setup`` builds the parts.

    The subclass (:class:`~genre_lightning.data.datamodule.GenreDataModule`) sets the
    attributes below; its hyperparameters hold ``batch_size``, ``num_workers``, ``pin_memory``
    and ``shuffle_seed``.

    Attributes:
        plan: How each part cuts its windows and where its mel images come from.
        datasets: The windows of each part (empty before setup).
        batch_features: Turns a part's batches into mel images (``None`` before setup).
    """

    plan: Plan
    datasets: dict[str, WaveformDataset]
    batch_features: BatchFeatures | None

    def _loader(self, part: str, shuffle: bool) -> DataLoader[Any]:
        hp = self.hparams
        return make_loader(
            self.datasets[part],
            self.plan[part],
            batch_size=hp["batch_size"],
            num_workers=hp["num_workers"],
            pin_memory=pin_memory_for(hp["pin_memory"], self.trainer),
            shuffle_seed=hp["shuffle_seed"] if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> FeatureBatch:
        """Turn a collated batch of windows into a :class:`FeatureBatch` on its device."""
        assert self.batch_features is not None, "setup() first"
        windows = WindowBatch(*batch)
        return self.batch_features(windows, PARTS[int(windows.part[0])])

    def feature_statistics(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """Per-element mean and std of the training set's mel images, computed on ``device``."""
        batches = self._loader("train", shuffle=False)
        return statistics.feature_statistics(
            batches, lambda b: self.on_after_batch_transfer(b, 0), device
        )
