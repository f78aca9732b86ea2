"""Speed switches that change how the network runs, never what it computes.

``channels_last`` stores activations as (N, H, W, C), the layout tensor cores read without a
transpose; ``compile`` traces the network into fused kernels with ``torch.compile``. Both are
opt-in for CPU runs and keep the parameter names, so checkpoints load the same either way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    import pytorch_lightning as pl

log = logging.getLogger(__name__)


def compile_network(net: nn.Module, backend: str = "inductor", mode: str | None = None) -> bool:
    """Compile ``net`` in place (``nn.Module.compile``), or warn and leave it eager.

    Errors raised later, while a graph is compiled at the first step (no C++ compiler, an
    operator the backend lacks), make the affected code run eagerly with a warning instead of
    stopping the run.

    Args:
        net: The network; its ``state_dict`` keys do not change.
        backend: ``torch.compile`` backend.
        mode: ``torch.compile`` mode (``None``, ``reduce-overhead``, ``max-autotune``).

    Returns:
        Whether the network will run compiled.
    """
    try:
        net.compile(backend=backend, mode=mode)
    except Exception as exc:  # torch raises backend- and platform-specific types
        log.warning("compile=true: torch.compile is unavailable (%s); training eagerly", exc)
        return False
    torch._dynamo.config.suppress_errors = True  # a failing graph falls back to eager, warned
    log.info("compile=true: network compiled with backend %s (first steps compile)", backend)
    return True


def trains_on_cuda(trainer: pl.Trainer | None) -> bool:
    """Whether ``trainer`` runs on a CUDA device.

    This is the ``null`` default of ``module.channels_last`` and ``data.pin_memory``: both only
    pay off on a GPU.
    """
    return trainer is not None and trainer.strategy.root_device.type == "cuda"


def channels_last(net: nn.Module) -> None:
    """Keep ``net``'s 4-d parameters, and so its activations, in channels-last layout."""
    net.to(memory_format=torch.channels_last)
