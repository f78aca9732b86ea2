"""The DataLoaders of the split's parts, as their plan says."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.plan import PartPlan
from genre_lightning.data.sampler import EpochShuffleSampler, ResumableLoader
from genre_lightning.training.speed import trains_on_cuda


def make_loader(
    dataset: WaveformDataset,
    plan: PartPlan,
    *,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
    shuffle_seed: int | None = None,
) -> DataLoader[Any]:
    """A DataLoader over one part of the split.

    Args:
        dataset: The part's windows.
        plan: The part's plan; parts whose batches carry no samples load in-process.
        batch_size: Windows per batch.
        num_workers: Worker processes for parts whose batches carry samples.
        pin_memory: Pin the samples' host memory (only where batches carry samples).
        shuffle_seed: Shuffle with an order that depends only on this seed and the epoch, in
            a :class:`~genre_lightning.data.sampler.ResumableLoader`; ``None`` keeps the
            dataset's order.
    """
    # Batches of window places are a few integers: worker processes would only cost.
    workers = num_workers if plan.carries_samples else 0
    if shuffle_seed is None:
        loader: type[DataLoader[Any]] = DataLoader
        sampler = None
    else:  # the training part: its order, and its place in an epoch, survive a resume
        loader, sampler = ResumableLoader, EpochShuffleSampler(len(dataset), shuffle_seed)
    return loader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory and plan.carries_samples,
        persistent_workers=workers > 0,
    )


def pin_memory_for(setting: bool | None, trainer: pl.Trainer | None) -> bool:
    """``data.pin_memory``, where ``None`` pins only when the trainer runs on CUDA.

    Pinned pages only pay off for copies to a GPU.
    """
    if setting is None:
        return trains_on_cuda(trainer)
    return bool(setting)
