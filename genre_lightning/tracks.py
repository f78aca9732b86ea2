"""Track-level predictions from chunk-level logits."""

from __future__ import annotations

import torch


class TrackLogits:
    """Collects logits of chunks over an epoch and averages them per track.

    With whole clips every track has one chunk and this is the identity; with
    ``data.chunk_seconds`` a track's prediction is the mean of its chunks' logits. Everything
    is kept until :meth:`compute`, so the result does not depend on how batches were cut.
    """

    def __init__(self) -> None:
        self.logits: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        self.tracks: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, labels: torch.Tensor, tracks: torch.Tensor) -> None:
        """Add a batch of chunk logits (B, classes) with their labels and track ids."""
        self.logits.append(logits.detach().float())
        self.labels.append(labels.detach())
        self.tracks.append(tracks.detach())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Return (track logits (T, classes), track labels (T,), number of chunks)."""
        logits, labels, tracks = (torch.cat(x) for x in (self.logits, self.labels, self.tracks))
        ids, index = torch.unique(tracks, return_inverse=True)
        summed = torch.zeros(len(ids), logits.shape[1], device=logits.device)
        summed.index_add_(0, index, logits)
        counts = torch.bincount(index, minlength=len(ids)).unsqueeze(1)
        track_labels = torch.empty(len(ids), dtype=labels.dtype, device=labels.device)
        track_labels[index] = labels
        return summed / counts, track_labels, logits.shape[0]

    def reset(self) -> None:
        """Forget the epoch."""
        self.logits, self.labels, self.tracks = [], [], []

    def __bool__(self) -> bool:
        return bool(self.logits)
