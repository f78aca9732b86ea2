"""The networks: the paper's AlexNet and ResNet, the MFCC baseline, and musicnn.

The classes are imported when first named (``from genre_lightning.models import ResNet``), so a
torch-free module of this package (:mod:`.musicnn_layers`) is read without torch's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genre_lightning.models.alexnet import AlexNet
    from genre_lightning.models.mfcc_linear import MfccLinear
    from genre_lightning.models.resnet import ResNet

#: Each class this package names, and its module.
_NETWORKS = {
    "AlexNet": "genre_lightning.models.alexnet",
    "MfccLinear": "genre_lightning.models.mfcc_linear",
    "ResNet": "genre_lightning.models.resnet",
}

__all__ = ["AlexNet", "MfccLinear", "ResNet"]


def __getattr__(name: str) -> Any:
    if name in _NETWORKS:
        return getattr(importlib.import_module(_NETWORKS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
