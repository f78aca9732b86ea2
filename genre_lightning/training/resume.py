"""Resuming a run: the checkpoint to resume from, checked before anything is decoded (it is
resumable, epochs are left to train, the run's data, network and optimisation settings are the
ones it was started with), and its split and weights checked against what is built.

Each check raises a :class:`~genre_lightning.errors.UserError` naming the setting that differs
and the way out.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.data import split_record
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.errors import UserError
from genre_lightning.models.build import DATA_FACTS
from genre_lightning.training.builders import schedule_length
from genre_lightning.training.checkpoint import (
    check_resumable,
    read_checkpoint,
)
from genre_lightning.training.module import CHECKPOINT_KEY, GenreClassifier
from genre_lightning.validate import shown

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
