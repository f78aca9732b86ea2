"""The rules between a training config's keys: what one setting allows of another (a frozen
network's stored features and augmentation, a monitored metric and the split, a network and the
front end its weights were trained on), each broken rule one ``error:`` line before any work.
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.errors import UserError
from genre_lightning.validate import (
    Check,
    bad,
    flag,
    is_number,
    lookup,
    number,
    shown,
    typed,
    whole,
)

#: How to turn off the callbacks that choose by a validation metric (any other callback that
#: watches one: ``callbacks.<name>=null``).
VALIDATION_MONITORS = {
    "model_checkpoint": "callbacks.model_checkpoint.monitor=null (the last epoch is kept)",
    "early_stopping": "callbacks.early_stopping=null",
}


def check_spec_augment_fill(cfg: DictConfig) -> None:
    """SpecAugment's masks hold 0, the mean of normalised features; of a raw dB mel it is
    0 dB, a loud constant band. (The masks' widths need the input's shape: checked where the
    data is listed.)"""
    if (
        OmegaConf.select(cfg, "module.spec_augment")
        and OmegaConf.select(cfg, "module.normalize") == "none"
        and OmegaConf.select(cfg, "data.features.log") is True
    ):
        raise UserError(
            "module.spec_augment masks with 0, the mean of normalised features, but with "
            "module.normalize=none and data.features.log=true 0 is 0 dB, a loud constant band; "
            "normalise (module.normalize=element) or leave module.spec_augment off"
        )


def check_embedding_cache(cfg: DictConfig, network: type | None) -> None:
    """``module.cache_embeddings=true`` is right only when a frozen encoder (a network with
    ``embed``, the features its head reads) sees fixed inputs. Known from the config: said
    before anything is decoded."""
    key = "module.cache_embeddings=true"
    if network is None or not hasattr(network, "embed"):
        raise UserError(
            f"{key} needs a frozen pretrained network (model=musicnn model.freeze=true), got "
            f"model._target_={shown(OmegaConf.select(cfg, 'model._target_'))}; set "
            f"module.cache_embeddings=false"
        )
    if OmegaConf.select(cfg, "model.freeze") is False:
        raise UserError(
            f"{key} with model.freeze=false: the network's features change as it trains, so "
            f"they cannot be computed once; set module.cache_embeddings=false (as "
            f"experiment=musicnn_finetune does), or keep model.freeze=true"
        )
    module = cfg.get("module") or {}
    if module.get("spec_augment") or module.get("mixup_alpha"):
        raise UserError(
            f"{key} with module.spec_augment / module.mixup_alpha: augmentation changes the "
            f"network's input every epoch, so its features cannot be computed once; turn one off"
        )
    data = cfg.get("data") or {}
    random_chunks = data.get("chunk_seconds") and data.get("train_chunks") != "all"
    if data.get("crop") == "random" or random_chunks:
        raise UserError(
            f"{key} with data.crop=random or random training chunks: the training windows "
            f"change every epoch; use data.train_chunks=all (every chunk of each track)"
        )


def model_class(cfg: DictConfig) -> type | None:
    """The class ``model._target_`` names, or None where it names none (training's machine
    check says why, before launch)."""
    target = OmegaConf.select(cfg, "model._target_")
    if not isinstance(target, str):
        return None
    # Imported here: the model classes import torch, and training imports this module for its
    # quick checks before Hydra starts.
    from genre_lightning.models.build import network_class

    try:
        return network_class(target)
    except UserError:
        return None


def check_model_keys(cfg: DictConfig, cls: type) -> None:
    """Every ``model.*`` key is an argument of the network, a switch (``bool``) true or false.

    Without this, a misspelt or foreign key (``+model.layer=...`` on the ResNet) fails only
    when the network is built, after the data is decoded.
    """
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for key in map(str, cfg.model):
        if not key.startswith("_") and key not in params:
            raise UserError(
                f"model.{key}: {cls.__name__} ({cfg.model._target_}) takes no such setting; "
                f"remove it, or where an experiment sets it for its own network, drop it with "
                f"~model.{key} (its settings: {', '.join(params)})"
            )
        if key in params:
            _model_setting_check(params[key])(f"model.{key}", cfg.model[key])


def _model_setting_check(param: inspect.Parameter) -> Check:
    """The check a network's argument gets from its annotation: a switch true or false (text
    such as ``model.freeze=no`` would count as true), a count a whole number from 1, a rate
    (``dropout``) a number from 0 to 1; other arguments are the network's to check."""
    default = "" if param.default is inspect.Parameter.empty else shown(param.default)
    if param.annotation in (bool, "bool"):
        return flag()
    if param.annotation in (int, "int"):
        return whole(1, default or "2")
    if param.annotation in (float, "float") and param.name == "dropout":
        unit = number(0, whole=False, above=False, example=default or "0.5")

        def rate(key: str, value: Any) -> None:
            unit(key, value)
            if value > 1:
                raise bad(key, value, "must be at most 1 (a probability)", default or "0.5")

        return rate
    return lambda key, value: None


def check_model_input(cfg: DictConfig, cls: type) -> None:
    """The settings a network reads only as its recipe gives them (``REQUIRED_SETTINGS``: a
    pretrained network's front end, the MFCC baseline's dB mel), from pretrained weights, and
    no more cepstral coefficients are asked of it than it has mel bands (``n_mfcc``)."""
    mels = OmegaConf.select(cfg, "data.features.n_mels")
    for key, wanted in getattr(cls, "REQUIRED_SETTINGS", {}).items():
        given = OmegaConf.select(cfg, key)
        if given != wanted:
            recipe = getattr(cls, "RECIPE", "...")
            fix = (
                f"leave {key} out of the command line (experiment={recipe} sets it)"
                if typed(key)
                else f"use experiment={recipe}, which sets it"
            )
            raise UserError(
                f"{key}={shown(given)}: {cls.__name__} reads only what its recipe gives it "
                f"({key}={shown(wanted)}); {fix}"
            )
    if "pretrained" in inspect.signature(cls).parameters and not OmegaConf.select(
        cfg, "model.pretrained"
    ):  # None only rebuilds a trained checkpoint's network, whose weights are then loaded
        raise UserError(
            f"model.pretrained={shown(OmegaConf.select(cfg, 'model.pretrained'))}: training "
            f"starts from pretrained weights; use MSD_musicnn or MTT_musicnn"
        )
    n_mfcc = OmegaConf.select(cfg, "model.n_mfcc")
    if "n_mfcc" in inspect.signature(cls).parameters and _exceeds(n_mfcc, mels):
        # A DCT of n mel bands has n coefficients: the ones past n repeat earlier ones.
        raise UserError(
            f"model.n_mfcc={shown(n_mfcc)} exceeds data.features.n_mels={shown(mels)}: the "
            f"cepstrum of {mels} mel bands has {mels} coefficients; e.g. model.n_mfcc=20"
        )


def _exceeds(count: Any, limit: Any) -> bool:
    """Whether two whole numbers (checked elsewhere: anything else passes) compare ``>``."""
    return all(is_number(v, whole=True) for v in (count, limit)) and count > limit


def check_monitors(cfg: DictConfig) -> None:
    """A callback's ``monitor`` names a metric training logs (else it fails after training)."""
    for name, callback in (cfg.get("callbacks") or {}).items():
        found, monitor = lookup(callback or {}, "monitor")
        if found and monitor is not None and monitor not in runs.MONITORABLE:
            raise UserError(
                f"callbacks.{name}.monitor={shown(monitor)} is not a logged metric; use one of "
                f"{', '.join(runs.MONITORABLE)}, or null"
            )
        if found and monitor == runs.VAL_CHUNK_ACC:
            _check_chunk_accuracy_logged(cfg, name)


def _check_chunk_accuracy_logged(cfg: DictConfig, name: str) -> None:
    """``val/chunk_acc`` is logged only for tracks cut into several chunks: Lightning would
    stop after the first epoch, the metric never logged."""
    from genre_lightning.data.windows import window_samples

    chunk = OmegaConf.select(cfg, "data.chunk_seconds")
    if chunk is None:
        raise UserError(
            f"callbacks.{name}.monitor={runs.VAL_CHUNK_ACC} is logged only where tracks are cut "
            f"into chunks (data.chunk_seconds), which this run does not; monitor {runs.VAL_ACC}, "
            f"or set data.chunk_seconds"
        )
    clip, rate = (
        OmegaConf.select(cfg, "data.clip_samples"),
        OmegaConf.select(cfg, "data.sample_rate"),
    )
    numbers_given = all(is_number(v) for v in (chunk, clip, rate))
    if numbers_given and clip // window_samples(clip, chunk, rate) < 2:
        # One chunk per track: chunk accuracy would be track accuracy, so it is not logged.
        raise UserError(
            f"callbacks.{name}.monitor={runs.VAL_CHUNK_ACC} is logged only where a track holds "
            f"several chunks, but data.chunk_seconds={shown(chunk)} cuts one from each "
            f"{clip / rate:.3g} s clip; monitor {runs.VAL_ACC}, or set data.chunk_seconds="
            f"{clip / rate / 10:.2g}"
        )


def check_refit(cfg: DictConfig) -> None:
    """``data.train_on_val=true`` and ``data.split=all`` validate nothing, so no callback may
    choose by validation."""
    from genre_lightning.data.splits import TRAIN_ONLY

    _, refit = lookup(cfg, "data.train_on_val")
    _, split = lookup(cfg, "data.split")
    if split == TRAIN_ONLY:
        setting = f"data.split={TRAIN_ONLY}"
        _check_nothing_validated(
            cfg,
            (setting, "trains on every track, validating none"),
            "or measure the recipe first with data.split=kfold, which holds tracks out",
            "data.split=kfold",
        )
    elif refit is True:
        _check_nothing_validated(
            cfg,
            ("data.train_on_val=true", "trains on the validation tracks instead"),
            "or leave data.train_on_val=false",
            "data.train_on_val=false",
        )


def _check_nothing_validated(
    cfg: DictConfig, why: tuple[str, str], way_out: str, validating: str
) -> None:
    """Refuse a callback monitoring validation, and an Optuna search, for a run that validates
    nothing.

    Args:
        cfg: The training config.
        why: The setting that validates nothing, and what it does instead.
        way_out: The other fix of a monitoring callback (a clause).
        validating: The setting an Optuna search runs with instead.
    """
    setting, instead = why
    for name, callback in (cfg.get("callbacks") or {}).items():
        found, monitor = lookup(callback or {}, "monitor")
        if found and str(monitor).startswith("val/"):
            fix = VALIDATION_MONITORS.get(
                name, f"callbacks.{name}.monitor=null (or drop it: callbacks.{name}=null)"
            )
            raise UserError(
                f"callbacks.{name}.monitor={shown(monitor)} needs validation, and {setting} "
                f"{instead}; add {fix}, {way_out}"
            )
    sweeper = HydraConfig.get().sweeper.get("_target_", "") if HydraConfig.initialized() else ""
    if "optuna" in str(sweeper).lower():  # it maximises val/acc, which a refit has not
        raise UserError(
            f"{setting} leaves no validation accuracy for the Optuna search (hparams_search) "
            f"to maximise; search with {validating}, then train the best trial's settings "
            f"again with {setting}"
        )
