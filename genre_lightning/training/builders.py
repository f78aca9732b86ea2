"""What train.py builds from the config: the LightningModule, its optimiser and schedule, the
trainer (the resume point is :mod:`~genre_lightning.training.resume`'s).

Each builder checks its part of the config before anything expensive runs and raises a
:class:`~genre_lightning.errors.UserError` naming the key, the bad value and a good one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor

from genre_lightning import quiet, runs
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.splits import TRAIN_ONLY
from genre_lightning.errors import UserError
from genre_lightning.models.build import build_network
from genre_lightning.training.callbacks import GracefulStop, StepSeed
from genre_lightning.training.checkpoint import (
    AtomicCheckpointIO,
)
from genre_lightning.training.module import GenreClassifier, is_one_cycle
from genre_lightning.validate import shown


def build_module(cfg: DictConfig, datamodule: GenreDataModule) -> GenreClassifier:
    """The ``module`` config's LightningModule around the ``model`` network, for this data.

    The network gets the data's class count and feature shape; the module gets the optimizer
    and scheduler factories and everything a checkpoint must carry to be used alone.
    """
    net, net_config = build_network(cfg.model, datamodule.num_classes, datamodule.feature_shape())
    module: GenreClassifier = instantiate(
        cfg.module,
        net=net,
        optimizer=optimizer_factory(cfg),
        scheduler=scheduler_factory(cfg),
        scheduler_interval=cfg.scheduler.interval,
        class_names=list(datamodule.class_names),
        feature_shape=list(datamodule.feature_shape()),
        net_config=net_config,
        data_config=OmegaConf.to_container(cfg.data, resolve=True),
        optimization_config={
            **{
                group: OmegaConf.to_container(cfg[group], resolve=True)
                for group in ("optimizer", "scheduler")
            },
            "trainer": schedule_length(cfg),
        },
    )
    return module


#: The trainer settings that set how many steps a schedule stepped per batch runs (OneCycle's
#: ``total_steps``, filled in when training starts, from these and the data).
SCHEDULE_LENGTH = ("max_epochs", "max_steps", "limit_train_batches", "accumulate_grad_batches")


def schedule_length(cfg: DictConfig) -> dict[str, Any] | None:
    """The :data:`SCHEDULE_LENGTH` settings of a run whose schedule is stepped per batch, to
    be kept on resume (more epochs would step it past its end: a traceback); else None."""
    if cfg.scheduler.get("scheduler") is None or cfg.scheduler.get("interval") != "step":
        return None
    return {key: OmegaConf.select(cfg, f"trainer.{key}") for key in SCHEDULE_LENGTH}


def check_spec_augment(cfg: DictConfig, feature_shape: Sequence[int]) -> None:
    """Refuse SpecAugment masks as wide as the input's axis: they can hide all of it.

    Args:
        cfg: The training config (``module.spec_augment``).
        feature_shape: One mel image, ``(channels, frames, mels)``.

    Raises:
        UserError: Naming the width, the axis's size and a width that works.
    """
    from genre_lightning.training.augment import SpecAugment

    settings = cfg.module.get("spec_augment")
    if not settings:
        return
    defaults = inspect.signature(SpecAugment).parameters
    _, frames, mels = (int(n) for n in feature_shape)
    for key, size, axis in (("time_width", frames, "frames"), ("freq_width", mels, "mel bands")):
        width = settings.get(key, defaults[key].default)
        if width >= size:
            raise UserError(
                f"module.spec_augment.{key}={width} can mask all {size} {axis} of an input, "
                f"leaving nothing to learn from; use a fraction of them, e.g. "
                f"module.spec_augment.{key}={max(1, size // 5)}"
            )


def optimizer_factory(cfg: DictConfig) -> Any:
    """The partial optimizer, with its settings checked before any training starts."""
    optimizer = cfg.optimizer
    lr = optimizer.get("lr")
    if lr is not None and not (isinstance(lr, int | float) and lr > 0):
        raise UserError(f"optimizer.lr={lr} must be a positive number, e.g. optimizer.lr=5e-4")
    try:
        factory = instantiate(optimizer, _convert_="all")  # plain lists (betas), as torch wants
    except InstantiationException as exc:
        raise UserError(
            f"optimizer._target_={optimizer._target_}: cannot build it ({_reason(exc)}); name "
            f"an optimizer class, or pick one by name (optimizer=adam; --help lists them)"
        ) from None
    try:  # build it once on a dummy parameter: torch validates the remaining arguments
        factory([torch.nn.Parameter(torch.zeros(1))])
    except Exception as exc:  # TypeError, ValueError, or an index into a short list (betas)
        raise UserError(
            f"optimizer ({cfg.optimizer._target_}{_settings_of(optimizer)}): {_reason(exc)}; "
            f"check optimizer.* (--cfg job lists them)"
        ) from None
    return factory


#: Optimizer steps a schedule is tried for before training: the errors some settings give
#: (CosineAnnealingLR's T_max=0) come at the first step, after an epoch of training.
TRIAL_STEPS = 3


def scheduler_factory(cfg: DictConfig) -> Any:
    """The partial scheduler (or ``None``), tried for a few steps on a dummy optimizer before
    any training starts; ``scheduler.interval`` checked with it.

    Raises:
        UserError: The interval is not ``epoch`` or ``step``, or torch refuses the settings.
    """
    interval = cfg.scheduler.get("interval")
    if interval not in INTERVALS:
        raise UserError(
            f"scheduler.interval={shown(interval)} is not known; use scheduler.interval="
            f"{'|'.join(INTERVALS)} (how often the schedule steps)"
        )
    config = cfg.scheduler.scheduler
    if not config:
        return None
    try:
        factory = instantiate(config)
        optimizer = optimizer_factory(cfg)([torch.nn.Parameter(torch.zeros(1))])
        # OneCycleLR's length comes from the trainer (configure_optimizers).
        trial = factory(optimizer, **({"total_steps": 100} if is_one_cycle(factory) else {}))
        with quiet.lightning_silenced():  # torch warns of lr steps without gradient steps
            for _ in range(TRIAL_STEPS):
                optimizer.step()
                trial.step()
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"scheduler ({config.get('_target_')}{_settings_of(config)}): {_reason(exc)}; "
            f"check scheduler.scheduler.* (--cfg job lists them)"
        ) from None
    return factory


def _settings_of(config: DictConfig) -> str:
    """``, key=value, ...`` of a class's settings (Hydra's own keys left out): the values the
    class refused, beside its own words, which often name none (``integer modulo by zero``)."""
    keys = [str(key) for key in config if not str(key).startswith("_")]
    settings = [
        f"{key}={shown(OmegaConf.select(config, key, throw_on_resolution_failure=False))}"
        for key in keys
    ]
    return "".join(f", {setting}" for setting in settings)


#: How often a learning-rate schedule steps (Lightning's ``interval``).
INTERVALS = ("epoch", "step")


def _reason(exc: BaseException) -> str:
    """An exception as one clause: Hydra's wrapping and a trailing full stop removed."""
    cause = exc.__cause__ if isinstance(exc, InstantiationException) and exc.__cause__ else exc
    return " ".join(str(cause).split()).rstrip(".") or type(cause).__name__


def check_optimization(cfg: DictConfig) -> None:
    """The optimizer and the schedule built and tried (cheap: a one-element parameter), so a
    bad setting is said before anything is written."""
    optimizer_factory(cfg)
    scheduler_factory(cfg)


def check_accelerator(cfg: DictConfig) -> None:
    """A CUDA accelerator needs a visible CUDA GPU on this machine (Lightning's own message is
    a traceback).

    Raises:
        UserError: ``trainer.accelerator`` is ``gpu`` or ``cuda`` and no CUDA GPU is visible.
    """
    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UserError(
            f"trainer.accelerator={cfg.trainer.accelerator} (trainer=gpu and trainer=ddp ask for "
            f"CUDA) but no CUDA GPU is visible. Use trainer=default (picks the device) or "
            f"trainer=cpu; or add trainer.accelerator=cpu to keep the other settings."
        )


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    """The Lightning trainer with the configured loggers and callbacks, plus ours."""
    loggers = _instantiate_each(cfg, "logger")
    callbacks = _instantiate_each(cfg, "callbacks")
    if not loggers:  # logger=none: the learning-rate monitor has nowhere to write and would refuse
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    last = runs.Run(Path(cfg.paths.output_dir)).checkpoint(runs.LAST)
    callbacks += [StepSeed(cfg.seed), GracefulStop(last)]
    return _instantiate_trainer(cfg, logger=loggers or False, callbacks=callbacks)


def _instantiate_each(cfg: DictConfig, group: str) -> list[Any]:
    """The objects of a config group of named ``_target_`` entries (``callbacks``, ``logger``);
    a setting their class refuses is a :class:`UserError` naming the entry."""
    built = []
    for name, config in (cfg.get(group) or {}).items():
        if config is None:
            continue
        try:
            built.append(instantiate(config))
        except Exception as exc:  # Hydra wraps the class's TypeError, ValueError, ...
            raise UserError(
                f"{group}.{name} ({config.get('_target_')}): {_reason(exc)}; check "
                f"{group}.{name}.* (--cfg job lists them), or drop it: {group}.{name}=null"
            ) from None
    return built


def check_trainer(cfg: DictConfig) -> None:
    """Lightning's own checks of ``trainer.*`` (devices, precision, strategy, limits), before
    anything is written: a bare trainer (no loggers, no callbacks) is built silently and
    dropped. It costs ~20 ms and touches no file.

    Raises:
        UserError: Lightning refuses a ``trainer.*`` value (the key named where it can be).
    """
    with quiet.lightning_silenced():
        # default_root_dir is the run folder, which Hydra names only once the job starts.
        _instantiate_trainer(cfg, logger=False, callbacks=[], default_root_dir=None)


def _instantiate_trainer(cfg: DictConfig, **parts: Any) -> pl.Trainer:
    """``cfg.trainer`` with ``parts`` (loggers, callbacks); Lightning's refusal of a value as a
    :class:`UserError` naming the key it is about."""
    # data.train_on_val, data.split=all: the validation part is empty; no validation loop at
    # all, rather than one Lightning warns about every epoch.
    refit = OmegaConf.select(cfg, "data.train_on_val", default=False)
    everything = OmegaConf.select(cfg, "data.split", default=None) == TRAIN_ONLY
    no_val = {"limit_val_batches": 0, "num_sanity_val_steps": 0} if refit or everything else {}
    try:
        trainer: pl.Trainer = instantiate(
            cfg.trainer, plugins=[AtomicCheckpointIO()], **parts, **no_val
        )
    except InstantiationException as exc:  # Lightning checks devices, precision, accelerator
        cause = _reason(exc)
        # The key the message is about: written as `key` or key=... where Lightning quotes
        # one (its devices message also says "cpu accelerator"), else any key it mentions.
        keys = [str(k) for k in cfg.trainer]
        named = (
            [k for k in keys if re.search(rf"`{k}`|\b{k}=", cause)]
            or [k for k in keys if re.search(rf"\b{k}\b", cause, re.IGNORECASE)]
            or _culprit(cfg.trainer, no_val)
        )
        key = f"trainer.{named[0]}={shown(cfg.trainer[named[0]])}" if named else "trainer"
        raise UserError(f"{key}: {cause}; check trainer.* (--cfg job lists them)") from None
    return trainer


def _culprit(trainer: DictConfig, no_val: dict[str, int]) -> list[str]:
    """The ``trainer.*`` key whose value Lightning refuses, where its message names none
    (``accelerator=tpu``: a package requirement): the first key at whose Lightning default a
    bare trainer builds. A few bare builds, on the error path only."""
    defaults = inspect.signature(pl.Trainer.__init__).parameters
    fixed: dict[str, Any] = {"logger": False, "callbacks": [], "default_root_dir": None, **no_val}
    for key in [str(k) for k in trainer]:
        if key not in defaults or key in fixed:
            continue
        try:
            with quiet.lightning_silenced():
                instantiate(trainer, **fixed, **{key: defaults[key].default})
        except Exception:  # still refused: another key (or several) is the cause
            continue
        return [key]
    return []


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The run config as flat ``a.b.c: value`` pairs (lists as text), for the hparams tab."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}." if key != "_target_" else prefix)
                if key == "_target_":
                    flat[prefix.rstrip(".") or "target"] = value
        else:
            flat[prefix.rstrip(".")] = (
                node if isinstance(node, int | float | str | bool) else str(node)
            )

    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    for group in ("model", "optimizer", "scheduler", "module", "data", "trainer"):
        walk(container.get(group, {}), f"{group}.")
    flat["seed"] = cfg.seed
    return flat
