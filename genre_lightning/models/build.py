"""Building a network from its config and from what the data says about its input.

The number of classes and the shape of a feature image are facts of the data: no model config
states them. :func:`build_network` passes them to whichever of the constructor arguments
:data:`DATA_FACTS` names the network has, checks the network accepts an input of that shape, and
returns the complete config, which checkpoints store so that a network is rebuilt from the
checkpoint alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from genre_lightning.errors import UserError
from genre_lightning.models.alexnet import ADAPTIVE_MIN_FRAMES
from genre_lightning.targets import TargetError, locate_class


def network_class(target: object) -> type:
    """The network class a ``model._target_`` names (``package.module.Class``).

    Raises:
        UserError: It names no class that imports.
    """
    try:
        return locate_class(target)
    except TargetError as exc:
        raise UserError(
            f"model._target_={target}: cannot import it ({exc}); name a network class, or "
            "pick a model by name (model=resnet; --help lists them)"
        ) from None


def prepare_network(config: DictConfig | Mapping[str, Any]) -> None:
    """Fetch what the network of a ``model`` config needs from elsewhere (pretrained weights),
    before training starts: a network class with a ``prepare`` method gets its settings.

    Training calls it before Hydra writes the run folder, so a fetch that fails leaves nothing
    behind, and the jobs of a sweep find the files in place.

    Raises:
        UserError: ``model._target_`` names no network class, or what the network needs cannot
            be fetched (the class says why).
    """
    if isinstance(config, DictConfig):
        config = cast(dict[str, Any], OmegaConf.to_container(config, resolve=True))
    prepare = getattr(network_class(config.get("_target_", "")), "prepare", None)
    if prepare is not None:
        prepare(**{str(k): v for k, v in config.items() if not str(k).startswith("_")})


#: The constructor arguments the data decides (a network takes those it has): no model config
#: may set them, and a resumed run may leave them out.
DATA_FACTS = ("num_classes", "in_channels", "input_shape", "n_mels")


def data_facts(target: type, num_classes: int, feature_shape: Sequence[int]) -> dict[str, Any]:
    """The constructor arguments of ``target`` that the data decides.

    Args:
        target: The network class.
        num_classes: Number of classes of the data.
        feature_shape: One feature image, ``(channels, frames, mels)``.
    """
    params = inspect.signature(target).parameters
    channels, frames, mels = (int(n) for n in feature_shape)
    values = (num_classes, channels, [frames, mels], mels)  # in the order of DATA_FACTS
    facts = dict(zip(DATA_FACTS, values, strict=True))
    return {key: value for key, value in facts.items() if key in params}


def build_network(
    config: DictConfig | Mapping[str, Any], num_classes: int, feature_shape: Sequence[int]
) -> tuple[nn.Module, dict[str, Any]]:
    """Instantiate the network of ``model`` config for this data.

    Args:
        config: The ``model`` group's config (``_target_`` and the network's own settings).
        num_classes: Number of classes of the data.
        feature_shape: One feature image, ``(channels, frames, mels)``.

    Returns:
        The network, and its complete config (what a checkpoint stores as ``net_config``).

    Raises:
        UserError: The config sets a value the data decides, or the network cannot take the
            data's feature images (e.g. AlexNet on chunks shorter than its receptive field).
    """
    if isinstance(config, DictConfig):
        config = cast(dict[str, Any], OmegaConf.to_container(config, resolve=True))
    net_config: dict[str, Any] = {str(k): v for k, v in config.items()}
    cls = network_class(net_config.get("_target_", ""))
    facts = data_facts(cls, num_classes, feature_shape)
    clashes = {k: v for k, v in facts.items() if net_config.get(k) not in (None, v)}
    if clashes:
        key, value = next(iter(clashes.items()))
        raise UserError(
            f"model.{key}={net_config[key]}: the data decides it ({value} here); remove "
            f"model.{key} from the config or the command line"
        )
    net_config.update(facts)
    try:
        net = instantiate(net_config)
        _forward_once(net, feature_shape)
    except (InstantiationException, RuntimeError) as exc:
        cause = exc.__cause__ if isinstance(exc, InstantiationException) else exc
        if not isinstance(cause, RuntimeError):
            reason = str(exc).splitlines()[-1]
            raise UserError(f"model ({net_config['_target_']}): {reason}") from None
        raise UserError(_shape_error(net_config, feature_shape, cause)) from None
    return net, net_config


def _forward_once(net: nn.Module, feature_shape: Sequence[int]) -> None:
    """One forward pass on zero images: a network that cannot take the data's shape fails now."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(2, *feature_shape))
    finally:
        net.train(was_training)


def _shape_error(
    net_config: dict[str, Any], feature_shape: Sequence[int], cause: RuntimeError
) -> str:
    name = net_config["_target_"].rsplit(".", 1)[-1]
    frames, mels = feature_shape[1], feature_shape[2]
    # data.seconds sets the synthetic set's clips, data.clip_samples the others'.
    fix = (
        "Use longer windows (data.seconds, data.clip_samples or data.chunk_seconds) or model=resnet"
    )
    if net_config.get("adaptive") is False and frames >= ADAPTIVE_MIN_FRAMES:
        # AlexNet: the paper's layers need ~21 s of audio, its adaptive pooling far less.
        fix = (
            f"Use model.adaptive=true (any input of {ADAPTIVE_MIN_FRAMES} frames or more) or "
            f"{fix[0].lower()}{fix[1:]}"
        )
    return (
        f"the network {name} cannot take feature images of {frames} frames x {mels} mels, what "
        f"the clip or chunk length and data.features.* give "
        f"({str(cause).splitlines()[0]}). {fix}, which takes any length."
    )
