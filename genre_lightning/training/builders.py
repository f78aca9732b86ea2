"""What train.py builds from the config: the LightningModule, the trainer, the resume point.

Each builder checks its part of the config before anything expensive runs and raises a
:class:`~genre_lightning.errors.UserError` naming the key, the bad value and a good one.
"""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor

from genre_lightning import quiet, runs
from genre_lightning.data import split_record
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.splits import TRAIN_ONLY
from genre_lightning.errors import UserError
from genre_lightning.models.build import DATA_FACTS, build_network
from genre_lightning.training.callbacks import GracefulStop, StepSeed
from genre_lightning.training.checkpoint import (
    AtomicCheckpointIO,
    check_resumable,
    read_checkpoint,
)
from genre_lightning.training.module import CHECKPOINT_KEY, GenreClassifier, is_one_cycle
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


#: ``data.*`` keys a resumed run may change: where the data and caches are, and how they are
#: loaded. Any other change would train the rest of the run on another split or input.
RESUME_MAY_CHANGE = frozenset(
    {
        "root",
        "cache_dir",
        "cache_keep",
        "cache_features",
        "num_workers",
        "pin_memory",
        "on_device",
        "download",
        "url",
    }
)


def resume_path(cfg: DictConfig, run: runs.Run) -> str | None:
    """The checkpoint to resume from (``ckpt_path=...``, or ``resume=<run dir>``), checked.

    Raises:
        UserError: No checkpoint there, not a resumable checkpoint, or the run's data,
            network, optimizer or schedule settings differ from this command's (see
            :data:`RESUME_MAY_CHANGE` and :data:`MODEL_RESUME_MAY_CHANGE`).
    """
    ckpt = cfg.get("ckpt_path")
    if ckpt is None and cfg.get("resume"):
        ckpt = runs.LAST
    if ckpt is None:
        return None
    path = run.checkpoint(runs.LAST) if ckpt == runs.LAST else Path(ckpt)
    if not path.is_file():
        if cfg.get("resume") and cfg.get("ckpt_path") is None:
            raise UserError(
                f"resume={cfg.resume}: no {runs.checkpoint_place(runs.LAST)} in "
                f"that directory; give the directory of a run that saved one, or leave resume "
                f"out to start afresh"
            )
        what = runs.not_a_file(path) or f"no checkpoint at {path}"
        raise UserError(
            f"ckpt_path={ckpt}: {what}; resume with the run's own directory "
            f"(resume=<run dir>) or give the .ckpt path"
        )
    hparams = check_resumable(path)
    _check_same_data(cfg, path, hparams)
    _check_same_network(cfg, path, hparams)
    _check_same_optimization(cfg, path, hparams)
    if ckpt != runs.LAST and cfg.get("ckpt_path") is not None:
        _check_epochs_left(cfg, path)
    elif run.file("metrics").is_file():
        _check_unfinished(cfg, run, path)
    return str(path)


def _all_epochs_trained(cfg: DictConfig, path: Path) -> tuple[int, int] | None:
    """``(epochs trained, trainer.max_epochs)`` where the checkpoint at ``path`` trained every
    epoch asked for, else None."""
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs")
    if not isinstance(max_epochs, int) or max_epochs < 0:  # -1 or null: no limit
        return None
    loops = read_checkpoint(path, mmap=True).get("loops") or {}
    progress = loops.get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    done = progress.get("processed")  # the epochs whose training and validation finished
    return (done, max_epochs) if isinstance(done, int) and done >= max_epochs else None


def _check_epochs_left(cfg: DictConfig, path: Path) -> None:
    """A checkpoint file that trained every epoch asked for: nothing would train from it, and
    the run would test it with no checkpoint of its own."""
    trained = _all_epochs_trained(cfg, path)
    if trained is not None:
        done, max_epochs = trained
        raise UserError(
            f"ckpt_path={cfg.ckpt_path}: its run trained {done} epoch(s), so "
            f"trainer.max_epochs={max_epochs} leaves none to train from it; raise "
            f"trainer.max_epochs (e.g. {done + max(1, done // 2)}), or test it with "
            f"python -m genre_lightning.evaluate ckpt_path={cfg.ckpt_path}"
        )


def _check_unfinished(cfg: DictConfig, run: runs.Run, path: Path) -> None:
    """``resume=`` (or ``ckpt_path=last``) of a run that finished (its results written) and
    trained every epoch asked for: nothing is left to resume, and testing it again would add a
    second set of test points to its curves. (A run stopped while testing has no results yet:
    it is tested again.)"""
    trained = _all_epochs_trained(cfg, path)
    if trained is not None:
        done, max_epochs = trained
        best = run.checkpoint(runs.BEST)
        # A schedule stepped per batch ends with its run: such a run cannot be trained longer.
        longer = (
            f"add trainer.max_epochs={done + max(1, done // 2)} to train it longer, or "
            if schedule_length(cfg) is None
            else ""
        )
        # resume=RUN, or ckpt_path=last in the run's folder (hydra.run.dir=RUN).
        given = f"resume={cfg.resume}" if cfg.get("resume") else f"ckpt_path={cfg.ckpt_path}"
        raise UserError(
            f"{given}: that run finished ({run.file('metrics')} is written) after "
            f"{done} epoch(s) of trainer.max_epochs={max_epochs}, so nothing is left to "
            f"resume; {longer}test it again with python -m genre_lightning.evaluate "
            f"ckpt_path={best}"
        )


def check_resumed_split(path: str, datamodule: GenreDataModule) -> None:
    """Refuse to resume from ``path`` when the data (set up) split otherwise than its run's
    (:func:`~genre_lightning.data.split_record.check_same_split`); checkpoints without a split
    record are not checked."""
    saved = split_record.read_record(read_checkpoint(path, mmap=True).get(CHECKPOINT_KEY))
    if saved is not None:
        split_record.check_same_split(saved, datamodule.track_parts(), f"ckpt_path={path}")


def check_resumed_weights(path: str, model: GenreClassifier) -> None:
    """Refuse to resume from ``path`` when its weights do not fit the network built for the
    run (a damaged or edited file whose settings still match): Lightning would stop with a
    state-dict traceback after the data was decoded. Shapes only, read memory-mapped.

    Raises:
        UserError: Naming the first weight that is missing, unexpected or of another shape.
    """
    saved = read_checkpoint(path, mmap=True).get("state_dict")
    built = model.state_dict()
    problem = None
    if not isinstance(saved, dict):
        problem = "it holds no state_dict"
    else:
        for name, value in built.items():
            stored = saved.get(name)
            if not isinstance(stored, torch.Tensor):
                problem = f"it lacks {name}"
            elif stored.shape != value.shape:
                problem = f"{name} is {list(stored.shape)} there, {list(value.shape)} here"
            if problem:
                break
        extra = sorted(set(saved) - set(built))
        if problem is None and extra:
            problem = f"it holds {extra[0]}, which the network has not"
    if problem is not None:
        raise UserError(
            f"resume: the checkpoint {path} does not fit the network its settings build "
            f"({problem}); the file is damaged: resume from another checkpoint of the run "
            f"(ckpt_path=...), or start a new run"
        )


#: ``model.*`` keys a resumed run may change: where the pretrained weights come from.
MODEL_RESUME_MAY_CHANGE = frozenset({"source", "cache_dir"})


def _check_same_network(cfg: DictConfig, path: Path, hparams: dict[str, Any]) -> None:
    """A resumed run keeps the network it was started with (its checkpoint's ``net_config``):
    checked on the settings, before any data is read, so a refused resume writes nothing."""
    now = OmegaConf.to_container(cfg.model, resolve=True)
    saved = hparams.get("net_config")

    def may_change(key: str) -> bool:
        return key in MODEL_RESUME_MAY_CHANGE or (
            key in DATA_FACTS and isinstance(now, dict) and now.get(key) is None
        )

    _check_same(cfg, path, "model", saved, now, may_change)


def _check_same_optimization(cfg: DictConfig, path: Path, hparams: dict[str, Any]) -> None:
    """A resumed run keeps its optimizer and learning-rate schedule: the checkpoint's states
    would not fit another optimizer (a traceback in the first step), and Lightning restores
    the saved learning rates over changed ones. Checkpoints from before the settings were
    recorded are not checked."""
    saved = hparams.get("optimization_config")
    if not isinstance(saved, dict):
        return
    for group in ("optimizer", "scheduler"):
        now = OmegaConf.to_container(cfg[group], resolve=True)
        _check_same(cfg, path, group, saved.get(group), now, lambda key: False)
    _check_same(cfg, path, "trainer", saved.get("trainer"), schedule_length(cfg), lambda _: False)


def _check_same(
    cfg: DictConfig,
    path: Path,
    group: str,
    saved: Any,
    now: Any,
    may_change: Callable[[str], bool],
) -> None:
    """Refuse a resume whose ``group`` settings (``now``) differ from the run's (``saved``) in
    a key other than those ``may_change`` allows; the target first, then the keys in order,
    those derived from others (``data.clip_samples`` from ``data.seconds``) after them: the
    key named is the one the user changed."""
    if not isinstance(saved, dict) or not isinstance(now, dict):
        return  # a checkpoint from before the group was recorded
    node = OmegaConf.select(cfg, group) if group in cfg else None
    derived = {
        k
        for k in now
        if isinstance(node, DictConfig) and k in node and OmegaConf.is_interpolation(node, k)
    }
    rest = (set(saved) | set(now)) - {"_target_"}
    keys = ["_target_", *sorted(rest - derived), *sorted(derived)]
    for key in keys:
        if not may_change(key) and saved.get(key) != now.get(key):
            raise UserError(
                _resume_mismatch(
                    cfg,
                    path,
                    f"{group}.{key}={shown(now.get(key))}, but the run being resumed was "
                    f"trained with {group}.{key}={shown(saved.get(key))}",
                )
            )


def _resume_mismatch(cfg: DictConfig, path: str | Path, what: str) -> str:
    """The message of a resume refused for ``what``: how to resume instead."""
    started = runs.Run(Path(str(cfg.resume))).overrides if cfg.get("resume") else []
    return f"{what} ({path}); resume with the command that started the run, plus resume=..." + (
        f" (it was started with: {shlex.join(started)})" if started else ""
    )


def _check_same_data(cfg: DictConfig, path: Path, hparams: dict[str, Any]) -> None:
    """A resumed run keeps the data settings it was started with (its checkpoint's
    ``hparams`` record them)."""
    now = OmegaConf.to_container(cfg.data, resolve=True)
    _check_same(cfg, path, "data", hparams.get("data_config"), now, RESUME_MAY_CHANGE.__contains__)


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
