"""Standardising feature images with statistics measured on the training set.

The statistics are buffers, so they travel inside every checkpoint and move with ``.to``.
"""

from __future__ import annotations

import torch
from torch import nn

from genre_lightning.features import NORMALIZE_PER


class Normalize(nn.Module):
    """Standardisation of feature images with statistics measured on the training set: per
    element (the paper's), per mel band, or none.

    Args:
        shape: Shape of one feature image, e.g. ``(1, 668, 64)``.
        per: ``element``: a mean/std for every (frame, mel) element, as the paper. ``mel``: one
            per mel band, pooled over frames (does not tie a statistic to a position in time).
            ``none``: the identity, for a network that normalises its own input (musicnn's
            input batch norm); it needs no statistics.
        eps: Added to the standard deviation so constant elements do not divide by zero.
    """

    mean: torch.Tensor
    std: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, shape: tuple[int, ...], per: str = "element", eps: float = 1e-8) -> None:
        super().__init__()
        if per not in NORMALIZE_PER:
            raise ValueError(
                f"normalisation per {per!r} is not known; use {', '.join(NORMALIZE_PER)}"
            )
        self.per, self.eps = per, eps
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        # A buffer, not a Python flag, so a loaded checkpoint knows its statistics are set.
        self.register_buffer("fitted", torch.tensor(False))

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training-set mean and standard deviation (same shape as one image)."""
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            raise ValueError(
                f"statistics of shape {tuple(mean.shape)} do not fit features of shape "
                f"{tuple(self.mean.shape)}"
            )
        if (
            self.per == "mel"
        ):  # pool over frames (dim -2): exact, since every element counts equally
            second = (std.double() ** 2 + mean.double() ** 2).mean(dim=-2, keepdim=True)
            mean = mean.double().mean(dim=-2, keepdim=True)
            std = (second - mean**2).clamp_min(0).sqrt()
        self.mean.copy_(mean.expand_as(self.mean))
        self.std.copy_(std.expand_as(self.std))
        self.fitted.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise a batch (B, *shape)."""
        if self.per == "none":
            return x
        return (x - self.mean) / (self.std + self.eps)


class RunningMoments:
    """Accumulates per-element mean and std over batches in float64 (exact for long sums)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.total_sq: torch.Tensor | None = None

    def update(self, batch: torch.Tensor) -> None:
        """Add a batch (B, *shape)."""
        x = batch.detach().to(torch.float64)
        s, sq = x.sum(0), (x * x).sum(0)
        self.total = s if self.total is None else self.total + s
        self.total_sq = sq if self.total_sq is None else self.total_sq + sq
        self.count += x.shape[0]

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mean, std) as float32, population std as numpy's default."""
        if self.total is None or self.total_sq is None or self.count == 0:
            raise ValueError("no batches were added")
        mean = self.total / self.count
        var = (self.total_sq / self.count - mean * mean).clamp_min(0.0)
        return mean.float(), var.sqrt().float()
