"""Training's own keys, one check each, and every check a training command passes before any
work (:func:`check_training`).

:data:`TRAIN_CHECKS` holds the training config's keys outside ``data`` (the data package
declares its own, :mod:`genre_lightning.data.config`); the rules between keys are
:mod:`genre_lightning.train_rules`'. train.py runs them all on the composed config before a file
is decoded or a network built, and the quick ones (no torch import) before Hydra starts.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genre_lightning.data.config import CHECKS as DATA_CHECKS
from genre_lightning.data.config import check_data_config
from genre_lightning.data.splits import TEST_ONLY, UNTRAINED_FIXES, check_split_keys
from genre_lightning.errors import UserError
from genre_lightning.features import NORMALIZE_PER
from genre_lightning.models.musicnn_layers import layer_names
from genre_lightning.train_rules import (
    check_embedding_cache,
    check_model_input,
    check_model_keys,
    check_monitors,
    check_refit,
    check_spec_augment_fill,
    model_class,
)
from genre_lightning.validate import (
    Check,
    bad,
    check_section,
    choice,
    flag,
    is_number,
    number,
    positive,
    shown,
    text,
    typed,
    whole,
)


def _musicnn_layer(key: str, value: Any) -> None:
    """``model.layer`` of ``model=musicnn``: a layer name or a list of them (its error names
    the key)."""
    layer_names(value)


def _spec_augment(key: str, value: Any) -> None:
    """``module.spec_augment``: null, or SpecAugment's settings, each a whole number."""
    # Imported here: the augmentation module imports torch, and training imports this module
    # for its quick checks before Hydra starts (torch takes seconds to import).
    from genre_lightning.training.augment import SpecAugment

    params = inspect.signature(SpecAugment).parameters
    settings = list(params)
    example = "{" + ",".join(f"{name}:{params[name].default}" for name in settings) + "}"
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise bad(key, value, "is not SpecAugment's settings (or null for none)", example)
    for name, setting in value.items():
        if name not in settings:
            raise UserError(
                f"{key}.{name}: SpecAugment takes no such setting (its settings: "
                f"{', '.join(settings)}); e.g. {key}={example}"
            )
        whole(0, str(params[name].default))(f"{key}.{name}", setting)


def _devices(key: str, value: Any) -> None:
    """``trainer.devices``: how many devices (a whole number from 1; -1 or ``auto``: all of
    them) or which ones (a list of their indices, or Lightning's text for one: ``"0,1"``)."""
    count = value
    if isinstance(value, str) and value.strip():
        written = value.strip()
        if not re.fullmatch(r"-?\d+", written):
            return  # "auto" or a list of indices: Lightning reads these, and says what is wrong
        count = int(written)
    if is_number(count, whole=True):
        if count >= 1 or count == -1:
            return
        # Lightning refuses these too, in its own terms ("should be an int > 0" on the CPU).
        raise bad(key, value, "must be at least 1, or -1 for every device", "1")
    indices = isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
    if indices and all(is_number(i, whole=True) and i >= 0 for i in value):
        return
    raise bad(
        key, value, "is neither a number of devices nor a list of their indices", "1 (or [0,2])"
    )


#: The training config's keys outside ``data`` (the data package checks its own).
TRAIN_CHECKS: dict[str, Check] = {
    "seed": whole(0, "42"),
    "trainer.max_epochs": whole(1, "100"),
    "trainer.devices": _devices,
    "trainer.check_val_every_n_epoch": whole(1, "1", optional=True),
    # Lightning takes 0 or a negative number and logs no training curve at all.
    "trainer.log_every_n_steps": whole(1, "50", optional=True),
    "optimizer.lr": positive("5e-4", optional=True),
    "optimizer.weight_decay": number(0, whole=False, above=False, example="1e-2", optional=True),
    "module.normalize": choice(NORMALIZE_PER),
    "module.mixup_alpha": number(0, whole=False, above=False, example="0.2"),
    "module.spec_augment": _spec_augment,
    "module.cache_embeddings": flag(),
    "module.embedding_cache_dir": text("/a/writable/folder", optional=True),
    "module.embedding_cache_keep": whole(1, "8", optional=True),
    "module.channels_last": flag(optional=True),
    "compile": flag(),
    "model.layer": _musicnn_layer,
    # Lightning takes a negative patience and stops as if it were 0.
    "callbacks.early_stopping.patience": whole(0, "15"),
}


#: The keys of :data:`TRAIN_CHECKS` whose checks import torch (SpecAugment's signature names
#: its settings).
_CHECKS_IMPORTING = ("module.spec_augment",)


#: The config groups training cannot do without, and an option of each.
REQUIRED_GROUPS = {
    "data": "gtzan",
    "model": "resnet",
    "optimizer": "adam",
    "scheduler": "none",
    "module": "default",
    "trainer": "default",
}


def check_training(
    cfg: DictConfig, given: Sequence[str] = (), whose: str = "this run is split"
) -> None:
    """Every check a training command passes before any work: the config's own keys
    (:func:`check_train_config`), the data settings, and the ``data.*`` keys the command
    line gives (``given``, ``+``/``~`` left out) against the split in use.

    Args:
        cfg: The composed training config.
        given: The keys the command line sets.
        whose: Who chose the split, for the message of a key it does not read.
    """
    for group, example in REQUIRED_GROUPS.items():  # ~model: Hydra composes without it
        section = cfg.get(group)
        # What an experiment sets of a removed group is left without the group's _target_.
        if not section or (group != "scheduler" and "_target_" not in section):
            left = f"; only {', '.join(map(str, section))} of it is set" if section else ""
            raise UserError(
                f"{group}: none is configured (removed with ~{group}?){left}; training needs "
                f"one, e.g. {group}={example} (--help lists them)"
            )
    check_section(cfg, quick_training_checks())  # first: they import no torch
    check_train_config(cfg)
    _check_debug_epochs(cfg)
    check_data_config(cfg.data)
    if cfg.data.get("split") == TEST_ONLY:  # a run that trains on nothing
        raise UserError(f"{UNTRAINED_FIXES[TEST_ONLY]}: e.g. data.split=kfold")
    named = {k[5:]: cfg.data.get(k[5:]) for k in given if k.startswith("data.")}
    check_split_keys(cfg.data.get("split", "random"), named, whose)


def quick_training_checks() -> dict[str, Check]:
    """The checks of a training config's numbers, flags, texts and data options (its own keys
    and ``data.*``'s): none imports torch, so a value typed wrong is said in about a second,
    not after torch's and Lightning's imports (~10 s on 2 cores). Training runs them on every
    job of a sweep before it checks any job in full."""
    own = {k: c for k, c in TRAIN_CHECKS.items() if k not in _CHECKS_IMPORTING}
    return {**own, **{f"data.{k}": c for k, c in DATA_CHECKS.items()}}


def check_train_config(cfg: DictConfig) -> None:
    """Check a composed training config's own keys (the data keys: ``check_data_config``)."""
    network = model_class(cfg)
    if network is not None:  # its keys first: the model.* checks are the musicnn model's
        check_model_keys(cfg, network)
    check_section(cfg, TRAIN_CHECKS)
    if network is not None:
        check_model_input(cfg, network)
    check_monitors(cfg)
    check_refit(cfg)
    if OmegaConf.select(cfg, "module.cache_embeddings"):
        check_embedding_cache(cfg, network)
    check_spec_augment_fill(cfg)


def _check_debug_epochs(cfg: DictConfig) -> None:
    """``trainer=debug`` is one short epoch, but an experiment's ``trainer.max_epochs`` is
    applied after it and wins (``experiment=mfcc_baseline trainer=debug`` ran 300 epochs).
    Refused unless the command line gives the epochs itself."""
    if not HydraConfig.initialized():  # composed in Python: no command line to ask
        return
    hydra_cfg = HydraConfig.get()
    epochs = OmegaConf.select(cfg, "trainer.max_epochs")
    if (
        hydra_cfg.runtime.choices.get("trainer") == "debug"
        and epochs != 1
        and not typed("trainer.max_epochs")
    ):
        experiment = hydra_cfg.runtime.choices.get("experiment")
        raise UserError(
            f"trainer=debug is one short epoch, but experiment={experiment} sets "
            f"trainer.max_epochs={shown(epochs)}, which wins (an experiment is applied last); "
            f"add trainer.max_epochs=1 for a quick check, or give the epochs you want"
        )
