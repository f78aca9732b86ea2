"""Training-time augmentation on the device: SpecAugment masks and mixup."""

from __future__ import annotations

import torch
from torch import nn


class SpecAugment(nn.Module):
    """Time and frequency masking (Park et al., 2019) of normalised mel images, per example.

    Masked elements are set to 0, the training-set mean after normalisation. Active only in
    training mode.

    Args:
        time_masks: Masks along the frame axis.
        time_width: Largest mask width in frames.
        freq_masks: Masks along the mel axis.
        freq_width: Largest mask width in mel bands.
    """

    def __init__(
        self, time_masks: int = 2, time_width: int = 8, freq_masks: int = 2, freq_width: int = 8
    ) -> None:
        super().__init__()
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mask a batch (B, C, frames, mels); identity in eval mode."""
        if not self.training:
            return x
        keep = torch.ones(x.shape[0], 1, x.shape[2], x.shape[3], dtype=torch.bool, device=x.device)
        for axis, count, width in (
            (2, self.time_masks, self.time_width),
            (3, self.freq_masks, self.freq_width),
        ):
            size = x.shape[axis]
            positions = torch.arange(size, device=x.device)
            for _ in range(count):
                w = torch.randint(0, min(width, size) + 1, (x.shape[0], 1), device=x.device)
                start = (torch.rand(x.shape[0], 1, device=x.device) * (size - w + 1)).long()
                hit = (positions >= start) & (positions < start + w)  # (B, size)
                shape = (x.shape[0], 1, size, 1) if axis == 2 else (x.shape[0], 1, 1, size)
                keep &= ~hit.view(shape)
        return x * keep


def mixup(
    x: torch.Tensor, target: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mix each example with a random partner (Zhang et al., 2018).

    Returns:
        The mixed batch, the two target vectors, and the weight ``lam`` of the first: the loss
        is ``lam * CE(logits, a) + (1 - lam) * CE(logits, b)``.
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    partner = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1 - lam) * x[partner], target, target[partner], lam
