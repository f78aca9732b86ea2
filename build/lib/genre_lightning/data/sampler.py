"""A shuffling sampler whose order depends only on (seed, epoch)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """Shuffles ``range(num_items)`` with a generator seeded by ``seed`` and the epoch.

    Lightning calls :meth:`set_epoch` before every epoch, including the first epoch after a
    resume, so a run restarted from ``last.ckpt`` sees exactly the batches an uninterrupted run
    would have seen (a sampler drawing from the global RNG would not: that state is not saved).

    Args:
        num_items: Size of the data set.
        seed: Base seed (the run's ``seed``).
    """

    def __init__(self, num_items: int, seed: int = 0) -> None:
        self.num_items, self.seed, self.epoch = num_items, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.num_items, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_items
