"""Features standardised by batch statistics: a linear head's input layer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Standardize(nn.BatchNorm1d):
    """``BatchNorm1d`` without a learned scale or shift that also takes a training batch of one.

    In training a feature is standardised with the batch's mean and variance (and the running
    estimates are updated); in evaluation, with the running estimates. A training batch of one
    example has no variance, and ``BatchNorm1d`` refuses it: the last batch of an epoch is
    one example whenever the training set is one more than a multiple of the batch size. That
    batch is standardised with the running estimates instead, which it leaves as they are.
    The state-dict keys are ``BatchNorm1d``'s, so checkpoints of either load into the other.

    Args:
        num_features: Width of the (batch, num_features) input.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise (batch, num_features) features."""
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, eps=self.eps)
        return super().forward(x)
