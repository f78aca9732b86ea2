"""The training order and the loader that can resume inside an epoch.

Everything random in the training data derives from (seed, epoch, index): the order of an epoch
from (seed, epoch), a random window's offset from (seed, epoch, index) (see
:class:`~genre_lightning.data.dataset.WaveformDataset`). The sampler therefore hands the
dataset ``(index, epoch)`` pairs: worker processes then need no RNG state of their own, and a
run restarted from a checkpoint draws exactly what an uninterrupted one draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler


class EpochShuffleSampler(Sampler[tuple[int, int]]):
    """Shuffles ``range(num_items)`` with a generator seeded by ``seed`` and the epoch.

    Lightning calls :meth:`set_epoch` before every epoch, including the first epoch after a
    resume. Each position yields ``(index, epoch)``, so the dataset can draw that item's
    random window from (seed, epoch, index) too.

    Args:
        num_items: Size of the data set.
        seed: Base seed (the run's ``seed``).
    """

    def __init__(self, num_items: int, seed: int = 0) -> None:
        self.num_items, self.seed, self.epoch = num_items, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator).tolist()
        return iter([(index, self.epoch) for index in order])

    def __len__(self) -> int:
        return self.num_items


class ResumableLoader(DataLoader[Any]):
    """The training DataLoader, whose place inside an epoch travels with checkpoints.

    Lightning saves ``state_dict()`` in every checkpoint and hands it back on a resume. A
    checkpoint written in the middle of an epoch (a SIGTERM) records how many of its batches
    were trained; the resumed run's first epoch skips that many batches of the same (seed,
    epoch) order. Skipping happens batch by batch, so it holds whatever sampler wraps ours
    (DDP's). :attr:`completed` is kept up to date by
    :class:`~genre_lightning.training.callbacks.StepSeed`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.completed = 0  # batches of the current epoch that finished training
        self._skip = 0

    def state_dict(self) -> dict[str, int]:
        """The epoch in progress and how many of its batches are done."""
        return {"epoch": _epoch_of(self.sampler), "completed": self.completed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue where ``state`` was saved: mid-epoch, or at the start of the next epoch."""
        epoch, completed = int(state["epoch"]), int(state["completed"])
        if completed >= len(self):  # saved at the epoch's end: the next one starts afresh
            epoch, completed = epoch + 1, 0
        # Worker processes prefetch as soon as the iterator exists, before Lightning sets the
        # epoch: set it here so the first indices are already the right epoch's.
        _set_epoch(self.sampler, epoch)
        self.completed = self._skip = completed

    def __iter__(self) -> Any:
        iterator = super().__iter__()
        skip, self._skip = self._skip, 0
        for _ in range(skip):  # the batches the interrupted run trained on already
            next(iterator)
        return iterator


def _samplers(sampler: Any) -> list[Any]:
    """The sampler and the one it wraps, if any (Lightning wraps ours for DDP)."""
    inner = getattr(sampler, "sampler", None)
    return [sampler] if inner is None else [sampler, inner]


def _epoch_of(sampler: Any) -> int:
    epochs = [int(s.epoch) for s in _samplers(sampler) if hasattr(s, "epoch")]
    return epochs[0] if epochs else 0


def _set_epoch(sampler: Any, epoch: int) -> None:
    for candidate in _samplers(sampler):
        if hasattr(candidate, "set_epoch"):
            candidate.set_epoch(epoch)
