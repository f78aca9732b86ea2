"""Test a trained checkpoint on its data's test part, or on other data, and write the metrics.

Usage (a Hydra app: ``--help``, ``--cfg job`` and ``-m`` sweeps work as for training)::

    python -m genre_lightning.evaluate ckpt_path=RUN/checkpoints/best.ckpt [data.<key>=...]
    python -m genre_lightning.evaluate ckpt_path=... data.root=/my/music  # same settings
    python -m genre_lightning.evaluate ckpt_path=... data.root=/other/music data.split=test
    python -m genre_lightning.evaluate ckpt_path=... data=folder data.root=/my/music
    python -m genre_lightning.evaluate -m ckpt_path=A.ckpt,B.ckpt

The config is ``conf/evaluate.yaml``. Which data is tested:

* ``data=checkpoint`` (the default): the data config saved in the checkpoint, with any
  ``data.<key>=...`` given on the command line merged on top (e.g. ``data.root=...`` where the
  data moved, ``data.batch_size=64``; ``data.split=test`` tests every track of the folder, for
  recordings the run never saw). It is an open mapping (:data:`CHECKPOINT_DATA`), so any
  key of the checkpoint's data module can be changed; a key that module does not take is an
  error. A test part holding tracks the run trained or validated on (another ``data.fold``, a
  changed folder) is refused (:mod:`~genre_lightning.data.split_record`).
* ``data=gtzan|folder|synthetic``: that option of ``conf/data/``, composed exactly as training
  composes it.

The checkpoint's class names must equal the data's, in order: when the config names the
classes this is checked before anything is read, otherwise the folders are listed (nothing is
decoded) and then checked. The data's features must be the ones the network was trained on:
the same shape, and the same decode rate and mel settings (features of the right shape computed
otherwise would be inputs unlike its training ones); the message lists every setting that
differs from the checkpoint's and, for ``data=...``, offers the checkpoint's own data config
with only ``data.root`` given. Writes
``metrics.json`` and ``confusion_matrix.png`` into ``output`` (default: the tool's run
directory, ``outputs/evaluate/<date>/<time>``), whose writability is checked first of all;
then the ``data.*`` values given (:func:`~genre_lightning.data.config.check_data_config`), before
the checkpoint is read. A bad data setting found only when the data module is built (with the
checkpoint's settings) is its own one-line error, not Hydra's instantiation report.

torch and Lightning take seconds to import, so they are imported by the functions that use
them: ``--help``, ``--cfg job`` and a bad command line or output path answer at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.cli.app import hydra_app
from genre_lightning.cli.command_line import check_tool_files
from genre_lightning.cli.console import say
from genre_lightning.data import GENRE_DATA_MODULE
from genre_lightning.data.config import CHECKS as DATA_CHECKS
from genre_lightning.errors import UserError
from genre_lightning.files import check_writable
from genre_lightning.targets import TargetError, locate_class
from genre_lightning.validate import Check, bad, device_name, shown, text, typed, whole

#: The cuBLAS setting Lightning's deterministic mode exports (kept by ``_torch_flags_kept``).
CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"

if TYPE_CHECKING:
    import torch

    from genre_lightning.data.datamodule import GenreDataModule
    from genre_lightning.data.index import Clip
    from genre_lightning.inference import Classifier

log = logging.getLogger(__name__)

#: ``data=checkpoint``: an empty mapping that accepts any key (Hydra's yaml configs are closed
#: to new keys), meaning "the checkpoint's data config, with these keys changed". Registered
#: here rather than as conf/data/checkpoint.yaml so that training does not offer it.
CHECKPOINT_DATA = "checkpoint"
#: Keys of a data config that are instructions to Hydra, not data module arguments.
_HYDRA_KEYS = ("_target_", "_convert_", "_recursive_", "_partial_")


def _open_mapping() -> DictConfig:
    node = OmegaConf.create({})
    OmegaConf.set_struct(node, False)
    return node


ConfigStore.instance().store(group="data", name=CHECKPOINT_DATA, node=_open_mapping())


def checkpoint_data_config(classifier: Classifier, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint's data config with ``overrides`` (nested ``data`` entries) merged in.

    Raises:
        UserError: An override names a key the data module does not take.
    """
    saved = classifier.data_config
    merged = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.merge(saved, overrides)))
    from genre_lightning.data.splits import check_split_keys  # imports torch: not before --help

    _refuse_other_seconds(saved, merged, overrides)
    whose = "this test is split" if "split" in overrides else "the checkpoint's data is split"
    check_split_keys(merged.get("split", "random"), overrides, whose)
    accepted = _arguments(merged["_target_"])
    if accepted is None:
        return merged
    unknown = [k for k in overrides if k not in accepted and k not in _HYDRA_KEYS]
    if unknown:
        raise UserError(
            f"data.{unknown[0]}: {merged['_target_']} has no such setting (it takes: "
            f"{', '.join(sorted(accepted))})"
        )
    # A switched _target_ (e.g. from the synthetic set to GenreDataModule) does not take every
    # key the checkpoint saved for the old one (e.g. clips_per_class): those go.
    for key in [k for k in merged if k not in accepted and k not in _HYDRA_KEYS]:
        log.warning("data.%s dropped: %s does not take it", key, merged["_target_"])
        del merged[key]
    return merged


def _arguments(target: str) -> set[str] | None:
    """The keyword arguments a data module class takes (None: it takes any)."""
    try:
        cls = locate_class(target)
    except TargetError as exc:
        raise bad(
            "data._target_", target, f"is not a data module class ({exc})", GENRE_DATA_MODULE
        ) from None
    names: set[str] = set()
    for klass in cls.__mro__:  # a subclass passes **kwargs on to GenreDataModule
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names |= {n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
    return None


def _refuse_other_seconds(
    saved: Mapping[str, Any], merged: Mapping[str, Any], overrides: Mapping[str, Any]
) -> None:
    """``data.seconds`` given alone: the checkpoint saved its clip length as a number, so the
    data module would make clips of the new length and read only the saved length of each
    (another set, cropped), where composing ``data=`` refuses the mismatch."""
    from genre_lightning.data.config import seconds_to_samples

    if "seconds" not in overrides or "clip_samples" in overrides or "clip_samples" not in merged:
        return
    wanted = seconds_to_samples(merged["seconds"], merged["sample_rate"])
    if wanted != merged["clip_samples"]:
        raise UserError(
            f"data.seconds={shown(overrides['seconds'])} makes clips of {wanted} samples, but "
            f"the checkpoint's network reads data.clip_samples={merged['clip_samples']}; leave "
            f"data.seconds out (the checkpoint's {shown(saved.get('seconds'))})"
        )


def _genres_to_score(
    trained: list[str], found: list[str], named: Sequence[str] | None
) -> list[str]:
    """The checkpoint's genres that the data holds, in the checkpoint's order.

    A labelled folder of some of the genres scores the checkpoint on those (it may still
    answer any of its genres); a genre it was never trained on cannot be scored.

    Args:
        trained: The checkpoint's class names.
        found: The genre folders with audio under ``data.root``.
        named: ``data.class_names``, where set: only these are scored.

    Raises:
        UserError: A genre the checkpoint does not know, or none of its genres in the data.
    """
    wanted = list(named) if named is not None else found
    _refuse_unknown_genres(trained, wanted, found)
    known = [name for name in trained if name in wanted and name in found]
    if not known:
        raise UserError(
            f"data.class_names=[{','.join(wanted)}]: none of these genres has a folder with "
            f"audio files among [{', '.join(found)}]; name genre folders of data.root"
        )
    if len(known) < len(trained):
        absent = [name for name in trained if name not in known]
        log.info(
            "the data holds %d of the checkpoint's %d genres (not %s): the scores are for "
            "those, while the network may still answer any of its genres",
            len(known),
            len(trained),
            ", ".join(absent),
        )
    return known


def _refuse_unknown_genres(trained: list[str], wanted: list[str], found: list[str]) -> None:
    """Refuse genres the checkpoint never learnt: it cannot be scored on them.

    Args:
        trained: The checkpoint's class names.
        wanted: The genres to score.
        found: The genres the data holds (for the fix: the known ones among them).
    """
    unknown = [name for name in wanted if name not in trained]
    if not unknown:
        return
    known = [name for name in trained if name in wanted and name in found]
    them = "it" if len(unknown) == 1 else "them"
    if len(known) > 1:
        fix = f"leave {them} out: data.class_names=[{','.join(known)}]"
    elif known:  # data.class_names names two or more genres: a data.root of one is scored
        fix = (
            f"move {them} out of data.root (a folder of {known[0]} alone is scored, too), or "
            f"point data.root at a folder of {known[0]}'s tracks"
        )
    else:
        fix = "evaluate on folders named after its genres"
    raise UserError(
        f"the checkpoint was trained on the classes [{', '.join(trained)}], but the data has "
        f"the classes [{', '.join(wanted)}]; it cannot be scored on [{', '.join(unknown)}], "
        f"which it never learnt: {fix}"
    )


def _labelled_as_trained(
    clips: list[Clip], found: list[str], scored: list[str], trained: list[str]
) -> tuple[list[Clip], list[str]]:
    """The clips of the ``scored`` genres, labelled by the checkpoint's class order (the
    folders' own order may differ), and the checkpoint's class names."""
    label = {found.index(name): trained.index(name) for name in scored}
    kept = [
        dataclasses.replace(clip, label=label[clip.label]) for clip in clips if clip.label in label
    ]
    # In label order, as the index lists them (a stable sort keeps each genre's file order):
    # the seeded splits deal the clips in this order, so the checkpoint's split comes again.
    return sorted(kept, key=lambda clip: clip.label), list(trained)


def _check_classes(trained: list[str], data: list[str]) -> None:
    if list(data) != list(trained):
        raise UserError(
            f"the checkpoint was trained on the classes [{', '.join(trained)}], but the data "
            f"has the classes [{', '.join(data)}]. Evaluate on data with the same genres in "
            f"the same order (data.class_names=[{','.join(trained)}])."
        )


def _feature_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data settings that decide the network's input, as ``data.*`` keys, defaults filled.

    The decode rate, the window (the synthetic set's ``seconds``, the clip, the chunk) and every
    mel setting; a checkpoint's config lacks the keys it left at their defaults.
    """
    from genre_lightning.data.config import rate_and_clip
    from genre_lightning.features.mel import mel_settings

    features = mel_settings(data.get("features"))
    sample_rate, clip_samples = rate_and_clip(data)
    settings = {
        "sample_rate": sample_rate,
        "clip_samples": clip_samples,
        "chunk_seconds": data.get("chunk_seconds"),
        **{f"features.{k}": v for k, v in features.items()},
    }
    if "seconds" in data:
        settings["seconds"] = data["seconds"]
    return settings


#: The settings of :func:`_feature_settings` that only choose the window (the synthetic set's
#: clip length, the clip, the chunk, the frames kept): left to the shape check, since at equal
#: shape they crop the same kind of image. Every other one (the decode rate and each mel
#: setting, a new MelFeatures parameter included) changes the mel images' values: when one
#: differs the network would be fed inputs unlike its training ones even at the same shape.
_WINDOW_KEYS = frozenset({"seconds", "clip_samples", "chunk_seconds", "features.num_frames"})


def _effective(settings: Mapping[str, Any], key: str) -> Any:
    """A setting as the front end uses it: equal values for spellings of the same features."""
    value = settings[key]
    if key == "features.log" and isinstance(value, bool):
        return "db" if value else "none"
    if key == "features.win_length" and value is None:
        return settings["features.n_fft"]
    if key == "features.resample_to" and value is None:
        return settings["sample_rate"]
    return value


def _check_features(classifier: Classifier, datamodule: GenreDataModule, root: Any) -> None:
    """Refuse data whose features differ from the checkpoint's training features.

    A different shape cannot go through the network; the same shape computed with other
    settings (another mel scale of equal size, another compression) would go through it and
    give meaningless numbers. Both are refused, with every differing setting in the fix.

    Args:
        classifier: The checkpoint.
        datamodule: The data module built for the test.
        root: The data root of a config composed with ``data=``: the message also offers
            leaving ``data=`` out (the checkpoint's own settings, only ``data.root`` given);
            ``None`` for the checkpoint's own config (the differing keys are the overrides).

    Raises:
        UserError: The features' shape or settings differ from the checkpoint's.
    """
    trained = _feature_settings(classifier.data_config)
    data = _feature_settings(datamodule.hparams)
    trained_log = _effective(trained, "features.log")
    differing = [
        key
        for key, value in trained.items()
        # top_db is read only by the decibel compression of the training features.
        if key in data and value != data[key] and (key != "features.top_db" or trained_log == "db")
    ]
    settings = " ".join(f"data.{key}={shown(trained[key])}" for key in differing)
    fix = f"set the checkpoint's values: {settings}" if differing else "use the checkpoint's data"
    if root is not None:
        fix = (
            f"leave data= out to use the checkpoint's own data settings and give only "
            f"data.root={shown(root)}, or {fix}"
        )
    trained_shape = tuple(classifier.model.hparams["feature_shape"])
    shape = datamodule.feature_shape()
    if shape != trained_shape:
        raise UserError(
            f"these data settings give features of shape {shape}, the checkpoint was trained "
            f"on {trained_shape}; {fix}"
        )
    changed = [
        k
        for k in differing
        if k not in _WINDOW_KEYS and _effective(trained, k) != _effective(data, k)
    ]
    if changed:
        key = changed[0]
        raise UserError(
            f"data.{key}={shown(data[key])} differs from the checkpoint's {shown(trained[key])}: "
            f"the features have the shape the network takes, {shape}, but not the values it "
            f"was trained on (the test would feed it inputs unlike its training ones); {fix}"
        )


def build_datamodule(
    classifier: Classifier,
    config: Mapping[str, Any],
    composed: bool = False,
    names_given: bool = True,
) -> GenreDataModule:
    """Instantiate, prepare and set up the data module; check that it fits the checkpoint.

    The checks that need no audio come first: named classes, then (when the classes come from
    the folders) the folder listing, then the features (their shape, then their settings).
    Only then is anything decoded.

    Args:
        classifier: The checkpoint.
        config: The data config (``_target_`` and its arguments).
        composed: ``config`` was composed from a ``data=`` option rather than taken from the
            checkpoint: a feature mismatch also suggests leaving ``data=`` out.
        names_given: ``data.class_names`` was chosen by the user: other genre folders are
            left out knowingly. Else (the checkpoint's or a data option's names) a genre folder
            the checkpoint never learnt is refused, as where the folders name the classes.

    Raises:
        UserError: Its classes, its feature shape or its feature settings differ from the
            checkpoint's; or its test part holds tracks the checkpoint's run trained or
            validated on (another split of the same recordings).
    """
    from genre_lightning.data.index import index_clips

    named = config.get("class_names")
    if named is not None:  # genres it never learnt are refused before the folder is looked at
        if config.get("download"):  # the download's genres are labelled in their own order
            _check_classes(classifier.class_names, list(named))
        _refuse_unknown_genres(classifier.class_names, list(named), list(named))
    try:
        datamodule: GenreDataModule = instantiate(dict(config))
    except InstantiationException as exc:
        # Hydra wraps what the data module raised; a bad setting is the user's, and its
        # message (data.<key>=... and a fix) is the whole answer.
        if isinstance(exc.__cause__, UserError):
            raise exc.__cause__ from None
        raise
    if not config.get("download"):
        # List the folders (reads no audio) and score the checkpoint's genres they hold. The
        # listing is kept for the loading below, which then neither lists again nor repeats
        # its warnings.
        clips, found = index_clips(datamodule.dataset_root(), min_genres=1)
        if not names_given:  # a genre folder the user did not choose to leave out
            _refuse_unknown_genres(classifier.class_names, found, found)
        present = _genres_to_score(classifier.class_names, found, named)
        datamodule.indexed = _labelled_as_trained(clips, found, present, classifier.class_names)
    _check_features(classifier, datamodule, config.get("root") if composed else None)
    datamodule.prepare_data()
    datamodule.setup("test")
    _check_classes(classifier.class_names, datamodule.class_names)
    if not datamodule.datasets["test"].num_tracks:  # data.split=all, the final model's split
        raise UserError(
            f"data.split={config.get('split')} leaves no test track: the checkpoint's run "
            f"trained on all of its data, so none is left to test it on; evaluate it on other "
            f"recordings: data.root=/other/labelled/music data.split=test"
        )
    if classifier.split is not None:  # checkpoints written before runs recorded their split
        from genre_lightning.data.split_record import check_unseen_test

        check_unseen_test(
            classifier.split, datamodule.track_parts()["test"], f"ckpt_path={classifier.path}"
        )
    return datamodule


def _say_which_part(datamodule: GenreDataModule, config: Mapping[str, Any]) -> None:
    """Log how many of the data's tracks the test part holds, where it is not all of them.

    A user who points ``data.root`` at a folder of other recordings may expect every clip of
    it to be tested; the checkpoint's split tests only its share.
    """
    tracks = {part: len(rows) for part, rows in datamodule.parts.items()}
    total = sum(tracks.values())
    if tracks["test"] < total:
        log.info(
            "testing %d of the %d tracks under %s: the test part of data.split=%s (a folder "
            "of recordings the run never saw is tested whole with data.split=test)",
            tracks["test"],
            total,
            config.get("root"),
            config.get("split", "random"),
        )


def _lightning_device(device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return {"accelerator": "cpu", "devices": 1}
    return {"accelerator": "gpu", "devices": [device.index or 0]}


def evaluate(
    ckpt_path: str | Path,
    output: str | Path,
    data_overrides: Mapping[str, Any] | None = None,
    data_config: Mapping[str, Any] | None = None,
    device: str = "auto",
    class_names_given: bool | None = None,
) -> dict[str, Any]:
    """Test a checkpoint and write ``metrics.json`` and ``confusion_matrix.png``.

    Args:
        ckpt_path: The checkpoint.
        output: The folder the results are written into (created).
        data_overrides: Nested ``data`` entries changed in the checkpoint's data config (e.g.
            ``{"root": ...}``).
        data_config: A whole data config (``_target_`` and its arguments) to test on instead of
            the checkpoint's; excludes ``data_overrides``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        class_names_given: Whether the user chose ``data.class_names`` (a genre folder left
            out of them is then not scored); ``None``: whether the arguments name them.

    Returns:
        The metrics written to ``metrics.json``.
    """
    if data_overrides and data_config is not None:
        raise ValueError("give data_overrides or data_config, not both")
    out = runs.Run(check_writable(output, "output", folder=True))
    import pytorch_lightning as pl  # after the quick checks
    import torch

    from genre_lightning.data.config import check_data_config
    from genre_lightning.inference import load_classifier, resolve_device
    from genre_lightning.provenance import provenance
    from genre_lightning.training.figures import confusion_image, save_png

    # The data settings given are checked before the checkpoint is read (only the keys present:
    # the checkpoint's own are checked with them when the data module is built).
    given = data_config if data_config is not None else data_overrides or {}
    check_data_config(given)
    if given.get("_target_") is not None:
        _arguments(given["_target_"])  # an importable data module class

    target = resolve_device(device)
    classifier = load_classifier(ckpt_path)
    if data_config is None:
        config = checkpoint_data_config(classifier, data_overrides or {})
    else:
        config = dict(data_config)
    if class_names_given is None:  # what was given, as far as the arguments tell
        class_names_given = given.get("class_names") is not None
    datamodule = build_datamodule(
        classifier, config, composed=data_config is not None, names_given=class_names_given
    )
    _say_which_part(datamodule, config)
    out.path.mkdir(parents=True, exist_ok=True)
    model = classifier.model
    with _torch_flags_kept():
        trainer = pl.Trainer(
            **_lightning_device(target),
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,
            deterministic=True,
        )
        trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {
        **model.test_results(),
        runs.CKPT_PATH: str(classifier.path.resolve()),
        # Per part, as training writes it: one reader serves both metrics.json files.
        runs.NUM_CLIPS: {"test": datamodule.datasets["test"].num_tracks},
        runs.SKIPPED_FILES: [p for p, _ in datamodule.skipped],
        runs.DATA_CONFIG: config,
        runs.PROVENANCE: provenance(target),
        runs.TRAINED_WITH: classifier.trained_with,
    }
    out.write_metrics(metrics)
    _say_other_code(metrics[runs.TRAINED_WITH], metrics[runs.PROVENANCE])
    confusion = torch.tensor(metrics[runs.CONFUSION_MATRIX])
    save_png(confusion_image(confusion, classifier.class_names), out.file("confusion_matrix"))
    return metrics


def _say_other_code(trained: Mapping[str, Any] | None, evaluating: Mapping[str, Any]) -> None:
    """Warn where the checkpoint was trained by other code or libraries than those evaluating
    it: decoding and the mel are computed anew here, so a change in them can move the numbers
    away from training's (the device alone is no news)."""
    if trained is None:
        return
    differ = [
        f"{key} {trained.get(key)} -> {evaluating.get(key)}"
        for key in evaluating
        if key != "device" and trained.get(key) != evaluating.get(key)
    ]
    if differ:
        log.warning(
            "the checkpoint was trained with other code or libraries than these (%s): its "
            "numbers here may differ from training's",
            ", ".join(differ),
        )


@contextlib.contextmanager
def _torch_flags_kept() -> Iterator[None]:
    """Restore the global flags a deterministic Trainer sets (torch's deterministic mode,
    cuDNN's, ``CUBLAS_WORKSPACE_CONFIG``): called from a notebook, evaluate leaves the
    caller's torch as it found it."""
    import torch

    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    kept = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic)
    benchmark = torch.backends.cudnn.benchmark
    workspace = os.environ.get(CUBLAS_WORKSPACE)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(kept[0], warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = kept[1], benchmark
        if workspace is None:
            os.environ.pop(CUBLAS_WORKSPACE, None)
        else:
            os.environ[CUBLAS_WORKSPACE] = workspace


def _job(cfg: DictConfig) -> None:
    from genre_lightning.training.metrics import accuracy_summary, per_genre_table

    data = cast(dict[str, Any], OmegaConf.to_container(cfg.data, resolve=True))
    from_checkpoint = HydraConfig.get().runtime.choices.get("data") == CHECKPOINT_DATA
    metrics = evaluate(
        cfg.ckpt_path,
        cfg.output,
        data_overrides=data if from_checkpoint else None,
        data_config=None if from_checkpoint else data,
        device=cfg.device,
        # Typed, not a data option's own list (data=gtzan's ten genres choose nothing).
        class_names_given=typed("data.class_names"),
    )
    say(per_genre_table(metrics))
    tracks = metrics[runs.NUM_CLIPS]["test"]
    say(
        f"{accuracy_summary(metrics)}  test/f1_macro {metrics[runs.TEST_F1_MACRO]:.4f}"
        f"  ({tracks} tracks) -> {runs.Run(Path(cfg.output)).file('metrics')}"
    )


#: The keys of conf/evaluate.yaml outside ``data``, then the ``data.*`` values given that take
#: numbers, flags and texts, which need no checkpoint read (:func:`evaluate` checks the rest).
CHECKS: dict[str, Check] = {
    "ckpt_path": text(runs.EXAMPLE_CKPT),
    "device": device_name,
    "seed": whole(0, "42"),  # as training: a data option's shuffle_seed is ${seed}
    "output": text("results/eval"),
    "data._target_": text(GENRE_DATA_MODULE),
    **{f"data.{key}": check for key, check in DATA_CHECKS.items()},
}


def _before_launch(cfg: DictConfig, given: list[str], here: bool) -> None:
    """:func:`evaluate`'s quick checks before the run folder is written (the data's need the
    checkpoint read: the job's)."""
    check_tool_files(cfg, here, {"folder": True})


#: ``python -m genre_lightning.evaluate`` / ``genre-lightning-evaluate``.
main = hydra_app("evaluate", _job, CHECKS, before_launch=_before_launch)


if __name__ == "__main__":
    main()
