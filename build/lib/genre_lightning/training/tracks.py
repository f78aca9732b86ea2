"""Track-level predictions from chunk-level logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

Gather = Callable[[torch.Tensor], torch.Tensor]


class TrackResult(NamedTuple):
    """An epoch's predictions per track and per chunk."""

    logits: torch.Tensor  # (tracks, classes): mean of each track's chunk logits
    labels: torch.Tensor  # (tracks,)
    chunk_logits: torch.Tensor  # (chunks, classes)
    chunk_labels: torch.Tensor  # (chunks,)


class TrackLogits:
    """Collects logits of chunks over an epoch and averages them per track.

    With whole clips every track has one chunk and this is the identity; with
    ``data.chunk_seconds`` a track's prediction is the mean of its chunks' logits. Everything
    is kept until :meth:`compute`, so the result does not depend on how batches were cut, nor
    on how many processes shared the epoch: with DDP the ranks' chunks are gathered, and the
    chunks a distributed sampler repeats to even out the ranks are counted once (by ``item``).
    """

    def __init__(self) -> None:
        self.parts: list[tuple[torch.Tensor, ...]] = []

    def update(
        self, logits: torch.Tensor, labels: torch.Tensor, tracks: torch.Tensor, items: torch.Tensor
    ) -> None:
        """Add a batch of chunk logits (B, classes) with their labels, track and item ids."""
        self.parts.append(
            (logits.detach().float(), labels.detach(), tracks.detach(), items.detach())
        )

    def compute(self, gather: Gather | None = None) -> TrackResult:
        """Average the epoch's chunks per track.

        Args:
            gather: Collects a tensor from every process, stacked on a new first dimension
                (``LightningModule.all_gather`` under DDP); ``None`` in a single process.
        """
        logits, labels, tracks, items = (torch.cat(x) for x in zip(*self.parts, strict=True))
        if gather is not None:
            logits, labels, tracks, items = (
                gather(x).flatten(0, 1) for x in (logits, labels, tracks, items)
            )
            unique, inverse = torch.unique(items, return_inverse=True)
            first = torch.full_like(unique, len(items)).scatter_reduce_(
                0, inverse, torch.arange(len(items), device=items.device), "amin"
            )
            logits, labels, tracks = logits[first], labels[first], tracks[first]
        ids, index = torch.unique(tracks, return_inverse=True)
        summed = torch.zeros(len(ids), logits.shape[1], device=logits.device)
        summed.index_add_(0, index, logits)
        counts = torch.bincount(index, minlength=len(ids)).unsqueeze(1)
        track_labels = torch.empty(len(ids), dtype=labels.dtype, device=labels.device)
        track_labels[index] = labels
        return TrackResult(summed / counts, track_labels, logits, labels)

    def reset(self) -> None:
        """Forget the epoch."""
        self.parts = []

    def __bool__(self) -> bool:
        return bool(self.parts)
