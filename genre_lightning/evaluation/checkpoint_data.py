"""The data a checkpoint is tested on: its own data config with the command line's keys
merged in (or a ``data=`` option composed as training composes it), built into a data module
only once every check that needs no audio has passed (classes, folder listing, features), and
refused where its test part holds tracks the checkpoint's run trained or validated on."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genre_lightning.data import GENRE_DATA_MODULE
from genre_lightning.errors import UserError
from genre_lightning.evaluation.features import check_features
from genre_lightning.evaluation.genres import (
    check_classes,
    genres_to_score,
    labelled_as_trained,
    refuse_unknown_genres,
)
from genre_lightning.targets import TargetError, locate_class
from genre_lightning.validate import bad, shown

if TYPE_CHECKING:
    from genre_lightning.data.datamodule import GenreDataModule
    from genre_lightning.inference import Classifier

log = logging.getLogger(__name__)


#: Keys of a data config that are instructions to Hydra, not data module arguments.
_HYDRA_KEYS = ("_target_", "_convert_", "_recursive_", "_partial_")


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
    accepted = module_arguments(merged["_target_"])
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


def module_arguments(target: str) -> set[str] | None:
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
            check_classes(classifier.class_names, list(named))
        refuse_unknown_genres(classifier.class_names, list(named), list(named))
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
            refuse_unknown_genres(classifier.class_names, found, found)
        present = genres_to_score(classifier.class_names, found, named)
        datamodule.indexed = labelled_as_trained(clips, found, present, classifier.class_names)
    check_features(classifier, datamodule, config.get("root") if composed else None)
    datamodule.prepare_data()
    datamodule.setup("test")
    check_classes(classifier.class_names, datamodule.class_names)
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


def say_which_part(datamodule: GenreDataModule, config: Mapping[str, Any]) -> None:
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
