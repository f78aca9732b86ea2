"""One check of the user's values before any work: types, ranges and names.

A *check* takes a dotted key and its value and raises a
:class:`~genre_lightning.errors.UserError` naming ``key=value`` and a value that works. The
factories here build them; :data:`TRAIN_CHECKS` holds the training config's own keys, and the
data package declares the ``data.*`` ones with the same factories
(:mod:`genre_lightning.data.config`). train.py runs both on the composed config before a file is
decoded or a network built.
"""

from __future__ import annotations

import inspect
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.errors import UserError

#: ``check(key, value)``: raises UserError if ``value`` is not allowed for the dotted ``key``.
Check = Callable[[str, Any], None]


def shown(value: Any) -> str:
    """A value as it is written on the command line (a text that reads as a number quoted)."""
    if value is None:
        return "null"
    if isinstance(value, str) and _reads_as_non_text(value):
        return f'"{value}"'

    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return f"[{','.join(shown(v) for v in value)}]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def _reads_as_non_text(value: str) -> bool:
    """Whether Hydra would read ``value`` unquoted as a number, a boolean or null."""
    if value.lower() in ("true", "false", "null"):
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def bad(key: str, value: Any, problem: str, example: str) -> UserError:
    """``key=value <problem>; e.g. key=<example>``."""
    return UserError(f"{key}={shown(value)} {problem}; e.g. {key}={example}")


def is_number(value: Any, whole: bool = False) -> bool:
    """Whether a config value is a number (a whole one if ``whole``). YAML's ``true`` is not,
    though Python counts a bool as the int 1."""
    kind = numbers.Integral if whole else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


def number(low: float, *, whole: bool, above: bool, example: str, optional: bool = False) -> Check:
    """A number (a whole one if ``whole``) at least (or above) ``low``; null if ``optional``."""

    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if not is_number(value):
            raise bad(key, value, "is not a number", example)
        if value != value or value in (float("inf"), float("-inf")):
            raise bad(key, value, "is not a finite number", example)
        # 2.0 is refused too: the libraries these values go to (Lightning's epoch counts, range
        # sizes) take ints only, and fail far from the command line on a float.
        if whole and not isinstance(value, numbers.Integral):
            raise bad(key, value, "is not a whole number", example)
        if value < low or (above and value == low):
            bound = f"{'above' if above else 'at least'} {low:g}{', or null' if optional else ''}"
            raise bad(key, value, f"must be {bound}", example)

    return check


def whole(low: int, example: str, optional: bool = False) -> Check:
    """A whole number at least ``low``."""
    return number(low, whole=True, above=False, example=example, optional=optional)


def positive(example: str, optional: bool = False) -> Check:
    """A number above 0."""
    return number(0, whole=False, above=True, example=example, optional=optional)


def choice(options: Sequence[Any], note: str = "") -> Check:
    """One of ``options`` (compared with their types: ``1`` is not ``true``); ``note`` follows
    the list in the message (e.g. which tool takes an option)."""
    listed = "|".join(shown(o) for o in options) + (f" ({note})" if note else "")

    def check(key: str, value: Any) -> None:
        if not any(value == o and type(value) is type(o) for o in options):
            raise UserError(f"{key}={shown(value)} is not known; use {key}={listed}")

    return check


def text(example: str, optional: bool = False) -> Check:
    """A non-empty text (a name, a path, an override), or null if ``optional``."""

    def check(key: str, value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, str) and not value.strip():
            raise bad(key, value, "is empty", example)
        if not isinstance(value, str):
            raise bad(key, value, "must be a text" + (" or null" if optional else ""), example)

    return check


def sha256_digest(example: str) -> Check:
    """A SHA-256 digest (64 hexadecimal digits), or null: not checked."""

    def check(key: str, value: Any) -> None:
        if value is not None and not (
            isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value)
        ):
            raise bad(key, value, "is not a SHA-256 digest (64 hex digits) or null", example)

    return check


def texts(example: str, at_least: int = 0) -> Check:
    """A list of at least ``at_least`` non-empty texts."""

    def check(key: str, value: Any) -> None:
        items = value if isinstance(value, Sequence) and not isinstance(value, str) else None
        if items is None or not all(isinstance(v, str) and v.strip() for v in items):
            raise bad(key, value, "must be a list of texts", example)
        if len(items) < at_least:
            raise bad(key, value, f"must name at least {at_least}", example)

    return check


def device_name(key: str, value: Any) -> None:
    """A device setting: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Only the spelling is checked (no torch is imported);
    :func:`~genre_lightning.inference.resolve_device` checks that the GPU exists.
    """
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise bad(key, value, "must be auto, cpu, cuda or cuda:N (N a GPU number)", "cpu")


def flag(optional: bool = False) -> Check:
    """``true`` or ``false`` (or null if ``optional``)."""

    def check(key: str, value: Any) -> None:
        if not isinstance(value, bool) and not (value is None and optional):
            options = "true, false or null" if optional else "true or false"
            raise bad(key, value, f"must be {options}", "true")

    return check


def check_section(
    section: Mapping[str, Any], checks: Mapping[str, Check], prefix: str = ""
) -> None:
    """Run the check of every dotted key of ``checks`` that ``section`` holds.

    Args:
        section: A config section (plain mapping or DictConfig).
        checks: Checks by dotted key, relative to ``section``.
        prefix: Written before each key in messages (``"data."``).
    """
    for key, check in checks.items():
        found, value = _lookup(section, key)
        if found:
            check(prefix + key, value)


def _normalization(key: str, value: Any) -> None:
    """``module.normalize``: one of the normaliser's modes."""
    # Imported here: the normaliser imports torch, and the tools import this module for their
    # checks before --help (torch takes seconds to import).
    from genre_lightning.features.normalize import PER

    choice(PER)(key, value)


def _musicnn_layer(key: str, value: Any) -> None:
    """``model.layer`` of ``model=musicnn``: a layer name or a list of them (its error names
    the key)."""
    # Imported here: the data package's checks import this module, and should not load the
    # musicnn port, its checkpoint reader and its fetcher with it.
    from genre_lightning.models.musicnn_classifier import layer_names

    layer_names(value)


def _spec_augment(key: str, value: Any) -> None:
    """``module.spec_augment``: null, or SpecAugment's settings, each a whole number."""
    # Imported here: the augmentation module imports torch (see _normalization).
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
    "module.normalize": _normalization,
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


#: The keys of :data:`TRAIN_CHECKS` whose checks import torch (the modules that name the values).
_CHECKS_IMPORTING = ("module.normalize", "module.spec_augment", "model.layer")

#: How to turn off the callbacks that choose by a validation metric (any other callback that
#: watches one: ``callbacks.<name>=null``).
VALIDATION_MONITORS = {
    "model_checkpoint": "callbacks.model_checkpoint.monitor=null (the last epoch is kept)",
    "early_stopping": "callbacks.early_stopping=null",
}


def check_train_config(cfg: DictConfig) -> None:
    """Check a composed training config's own keys (the data keys: ``check_data_config``)."""
    network = _model_class(cfg)
    if network is not None:  # its keys first: the model.* checks are the musicnn model's
        _check_model_keys(cfg, network)
    check_section(cfg, TRAIN_CHECKS)
    if network is not None:
        _check_model_input(cfg, network)
    _check_monitors(cfg)
    _check_refit(cfg)
    if OmegaConf.select(cfg, "module.cache_embeddings"):
        _check_embedding_cache(cfg, network)
    _check_spec_augment_fill(cfg)


def _check_spec_augment_fill(cfg: DictConfig) -> None:
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


def _check_embedding_cache(cfg: DictConfig, network: type | None) -> None:
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
    # Imported here: the data package imports this module for its checks.
    from genre_lightning.data.config import check_data_config
    from genre_lightning.data.splits import TEST_ONLY, UNTRAINED_FIXES, check_split_keys

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
    # Imported here: the data package imports this module for its checks.
    from genre_lightning.data.config import CHECKS as DATA_CHECKS

    own = {k: c for k, c in TRAIN_CHECKS.items() if k not in _CHECKS_IMPORTING}
    return {**own, **{f"data.{k}": c for k, c in DATA_CHECKS.items()}}


def typed(key: str) -> bool:
    """Whether the command line sets ``key`` (``key=``, ``+key=``, ``++key=``): the user's
    value, not a config option's. False where no Hydra app runs (composed in Python)."""
    if not HydraConfig.initialized():
        return False
    # Unresolved: an override's own ${...} is its value's, resolved (and checked) elsewhere;
    # iterating the node would resolve it here.
    task = OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)
    given = [str(o).lstrip("+~") for o in task] if isinstance(task, list) else []
    return any(o.startswith(f"{key}=") for o in given)


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


def _model_class(cfg: DictConfig) -> type | None:
    """The class ``model._target_`` names, or None where it names none (training's machine
    check says why, before launch)."""
    target = OmegaConf.select(cfg, "model._target_")
    if not isinstance(target, str):
        return None
    # Imported here: the model classes import torch (see _normalization).
    from genre_lightning.models.build import network_class

    try:
        return network_class(target)
    except UserError:
        return None


def _check_model_keys(cfg: DictConfig, cls: type) -> None:
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


def _check_model_input(cfg: DictConfig, cls: type) -> None:
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


def _check_monitors(cfg: DictConfig) -> None:
    """A callback's ``monitor`` names a metric training logs (else it fails after training)."""
    for name, callback in (cfg.get("callbacks") or {}).items():
        found, monitor = _lookup(callback or {}, "monitor")
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


def _check_refit(cfg: DictConfig) -> None:
    """``data.train_on_val=true`` and ``data.split=all`` validate nothing, so no callback may
    choose by validation."""
    from genre_lightning.data.splits import TRAIN_ONLY

    _, refit = _lookup(cfg, "data.train_on_val")
    _, split = _lookup(cfg, "data.split")
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
        found, monitor = _lookup(callback or {}, "monitor")
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


def _lookup(section: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = section
    for part in key.split("."):
        if not isinstance(node, Mapping | DictConfig) or part not in node:
            return False, None
        node = node[part]
    return True, node
