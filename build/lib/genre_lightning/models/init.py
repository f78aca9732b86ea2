"""Weight initialisation shared by the paper's networks."""

from __future__ import annotations

from torch import nn


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases on every Conv2d and Linear, as in the paper."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
