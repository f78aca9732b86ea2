"""musicnn's original TensorFlow weights loaded into the PyTorch port, checked name by name.

TensorFlow names layers by creation order (``conv2d``, ``conv2d_1``, ...; ``batch_normalization``
for the input's, ``batch_normalization_1``, ...); :func:`load_tf_variables` maps each name to the
tensor it fills, with the permutation of its axes, and refuses a checkpoint where any name or
shape does not fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from genre_lightning.errors import UserError
from genre_lightning.models.musicnn import TAGS, FrontEndConv, MidEndConv, Musicnn
from genre_lightning.pretrained.fetch import musicnn_checkpoint
from genre_lightning.pretrained.tf_checkpoint import read_checkpoint


def pretrained_musicnn(
    model: str = "MSD_musicnn",
    source: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Musicnn:
    """Build the network and load musicnn's original weights, in eval mode.

    Args:
        model: ``MSD_musicnn`` or ``MTT_musicnn``.
        source: The musicnn wheel, a folder holding the model's ``.index``/``.data``
            files, or ``None`` to download the wheel with pip (see
            :func:`genre_lightning.pretrained.fetch.musicnn_checkpoint`).
        cache_dir: Where unpacked checkpoints are kept (default: the user cache).

    Raises:
        UserError: The model is unknown, the checkpoint cannot be fetched or read, or a
            variable is missing or of the wrong shape.
    """
    prefix = musicnn_weights(model, source, cache_dir)
    network = Musicnn(num_tags=len(TAGS[model]))
    load_tf_variables(network, read_checkpoint(prefix), origin=Path(prefix))
    network.tags = TAGS[model]
    return network.eval()


def musicnn_weights(
    model: str = "MSD_musicnn",
    source: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The checkpoint of a musicnn model this port loads, fetched into the cache if it is not
    there (arguments as :func:`pretrained_musicnn`'s).

    Raises:
        UserError: The model is unknown, or the checkpoint cannot be fetched.
    """
    if model not in TAGS:
        raise UserError(
            f"model.pretrained={model}: not a musicnn model this port loads; use one of "
            f"{', '.join(TAGS)}"
        )
    return musicnn_checkpoint(model, source=source, cache_dir=cache_dir)


def load_tf_variables(
    network: Musicnn, variables: Mapping[str, np.ndarray], origin: Path | None = None
) -> None:
    """Copy musicnn's TensorFlow variables into ``network``, checking every name and shape.

    Args:
        network: The network to fill.
        variables: Arrays by TensorFlow name (:func:`read_checkpoint`'s output).
        origin: The checkpoint, named in error messages.

    Raises:
        UserError: A variable is missing, of the wrong shape, or not part of this network.
    """
    where = f"{origin}: " if origin is not None else ""
    targets = _tf_names(network)
    extra = sorted(set(variables) - set(targets))
    if extra:
        raise UserError(f"{where}variables {', '.join(extra[:5])} are not part of musicnn")
    with torch.no_grad():
        for name, (tensor, to_torch) in targets.items():
            if name not in variables:
                raise UserError(f"{where}variable {name} is missing from the checkpoint")
            expected = _tf_shape(tuple(tensor.shape), to_torch)
            found = tuple(variables[name].shape)
            if found != expected:
                raise UserError(
                    f"{where}variable {name} has shape {list(found)}, expected {list(expected)}"
                )
            value = torch.from_numpy(np.ascontiguousarray(variables[name], dtype=np.float32))
            tensor.copy_(value.permute(*to_torch) if to_torch else value)


# How each kind of TensorFlow tensor maps to PyTorch: a permutation of its axes.
_CONV2D = (3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
_MIDEND = (3, 1, 0, 2)  # [k, features, 1, out] -> [out, features, k, 1]
_DENSE = (1, 0)  # [in, out] -> [out, in]


def _tf_names(network: Musicnn) -> dict[str, tuple[torch.Tensor, tuple[int, ...]]]:
    """Each TensorFlow variable name, with the tensor it fills and the axis permutation.

    TensorFlow names layers by creation order: ``conv2d``, ``conv2d_1``, ...;
    ``batch_normalization`` (the input's), ``batch_normalization_1``, ...
    """
    targets: dict[str, tuple[torch.Tensor, tuple[int, ...]]] = {}

    def norm(name: str, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> None:
        assert bn.running_mean is not None and bn.running_var is not None
        targets[f"{name}/gamma"] = (bn.weight, ())
        targets[f"{name}/beta"] = (bn.bias, ())
        targets[f"{name}/moving_mean"] = (bn.running_mean, ())
        targets[f"{name}/moving_variance"] = (bn.running_var, ())

    norm("batch_normalization", network.input_norm)
    blocks = cast(list[FrontEndConv | MidEndConv], [*network.front, *network.mid])
    for i, block in enumerate(blocks):
        conv = "conv2d" if i == 0 else f"conv2d_{i}"
        assert block.conv.bias is not None
        if isinstance(block, FrontEndConv):
            targets[f"{conv}/kernel"] = (block.conv.weight, _CONV2D)
        else:
            # [7, features, 1, out]: the Conv1d weight [out, features, 7] with a unit axis
            # added (a view, so copying into it fills the weight).
            targets[f"{conv}/kernel"] = (block.conv.weight.unsqueeze(-1), _MIDEND)
        targets[f"{conv}/bias"] = (block.conv.bias, ())
        norm(f"batch_normalization_{i + 1}", block.norm)
    norm(f"batch_normalization_{len(blocks) + 1}", network.pool_norm)
    targets["dense/kernel"] = (network.dense.weight, _DENSE)
    targets["dense/bias"] = (network.dense.bias, ())
    norm(f"batch_normalization_{len(blocks) + 2}", network.dense_norm)
    targets["dense_1/kernel"] = (network.classifier.weight, _DENSE)
    targets["dense_1/bias"] = (network.classifier.bias, ())
    return targets


def _tf_shape(torch_shape: tuple[int, ...], to_torch: tuple[int, ...]) -> tuple[int, ...]:
    """The TensorFlow shape whose permutation by ``to_torch`` gives ``torch_shape``."""
    if not to_torch:
        return torch_shape
    shape = [0] * len(torch_shape)
    for torch_axis, tf_axis in enumerate(to_torch):
        shape[tf_axis] = torch_shape[torch_axis]
    return tuple(shape)
