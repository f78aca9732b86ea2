"""What a training checkpoint holds to rebuild its classifier, each part checked as data.

A checkpoint is an untrusted file: its hyper-parameters (the network's and the data's configs,
the class names, the feature shape), its weights and the mel front end its data config
describes are checked before they are used, so that a damaged or foreign file is one
:class:`~genre_lightning.errors.UserError` naming what is wrong, not a traceback.
:func:`genre_lightning.inference.load_classifier` builds the classifier from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genre_lightning import runs
from genre_lightning.data.config import rate_and_clip
from genre_lightning.data.windows import window_samples
from genre_lightning.errors import UserError
from genre_lightning.features.mel import MelFeatures
from genre_lightning.training.checkpoint import USE_TRAINING_CKPT, check_target


@dataclass(frozen=True)
class SavedRun:
    """The parts of a training checkpoint a classifier is rebuilt from, checked.

    Attributes:
        path: The checkpoint file.
        hparams: Its hyper-parameters (``net_config`` and the module's settings).
        data_config: The data config it was trained with (``_target_`` and its arguments).
        class_names: Distinct genre names, in label order.
        feature_shape: (channels, frames, mels) of the images its network was trained on.
        state_dict: The network's weights by name.
    """

    path: Path
    hparams: dict[str, Any]
    data_config: dict[str, Any]
    class_names: list[str]
    feature_shape: tuple[int, int, int]
    state_dict: dict[str, Any]


def saved_run(path: Path, ckpt: dict[str, Any]) -> SavedRun:
    """The checked parts of the checkpoint ``ckpt`` read from ``path``.

    Raises:
        UserError: It is not a genre_lightning checkpoint, or a part is missing or damaged.
    """
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict) or not hparams.get("net_config") or "state_dict" not in ckpt:
        raise UserError(
            f"ckpt_path={path}: not a genre_lightning checkpoint (no net_config in its "
            f"hyper_parameters); {USE_TRAINING_CKPT}"
        )
    check_target(path, "net_config", hparams["net_config"])
    data_config = hparams.get("data_config")
    if not isinstance(data_config, dict) or "_target_" not in data_config:
        # Every checkpoint training writes has one: without it the mel front end, the window
        # and the data module would be guesses, whose shapes the network's weights refuse.
        raise UserError(
            f"ckpt_path={path}: its hyper_parameters hold no data_config (the data and mel "
            f"settings it was trained with), so its input cannot be rebuilt; the file is damaged "
            f"or not from training: {USE_TRAINING_CKPT}"
        )
    check_target(path, "data_config", data_config)
    class_names = hparams.get("class_names")
    if (
        not isinstance(class_names, list)
        or not all(isinstance(name, str) and name for name in class_names)
        or len(set(class_names)) != len(class_names)
    ):
        # Each is a CSV column and a row of the confusion matrix: a repeated or non-text
        # name would shift or merge them.
        raise UserError(
            f"ckpt_path={path}: its class_names ({str(class_names)[:80]}) are not a list of "
            f"distinct genre names; the file is damaged: {USE_TRAINING_CKPT}"
        )
    feature_shape = hparams.get("feature_shape")
    if not (
        isinstance(feature_shape, list | tuple)
        and len(feature_shape) == 3
        and all(isinstance(n, int) and n > 0 for n in feature_shape)
    ):
        # Every checkpoint training writes records it (GenreClassifier saves it, its default
        # too): without it the network's input would be a guess.
        raise UserError(
            f"ckpt_path={path}: its feature_shape ({str(feature_shape)[:80]}) is not the "
            f"(channels, frames, mels) of the images its network was trained on; the file is "
            f"damaged: {USE_TRAINING_CKPT}"
        )
    if not isinstance(ckpt["state_dict"], dict):
        raise UserError(
            f"ckpt_path={path}: its state_dict is a {type(ckpt['state_dict']).__name__}, not "
            f"the network's weights by name; the file is damaged: {USE_TRAINING_CKPT}"
        )
    channels, frames, mels = feature_shape
    return SavedRun(
        path=path,
        hparams=hparams,
        data_config=dict(data_config),
        class_names=list(class_names),
        feature_shape=(channels, frames, mels),
        state_dict=ckpt["state_dict"],
    )


def check_finite_weights(saved: SavedRun) -> None:
    """Refuse weights that are NaN or infinite.

    Training stops at the first non-finite loss, so no checkpoint it writes holds NaN: such
    weights are damage, which would otherwise pass export's check (NaN against NaN) and give
    every file of predict NaN probabilities, blamed on the audio.
    """
    broken = sum(
        int((~value.isfinite()).sum())
        for value in saved.state_dict.values()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
    )
    if broken:
        raise UserError(
            f"ckpt_path={saved.path}: {broken} of its weights are NaN or infinite; the file is "
            f"damaged: use another .ckpt of the run's checkpoints/ folder, or retrain"
        )


@dataclass(frozen=True)
class FrontEnd:
    """The mel front end a checkpoint's data config describes, and the windows it reads.

    Attributes:
        features: The mel front end.
        sample_rate: The decode rate (Hz).
        clip_samples: A clip's length in samples.
        window: One network input's length in samples (a chunk, or the whole clip).
    """

    features: MelFeatures
    sample_rate: int
    clip_samples: int
    window: int


def saved_front_end(saved: SavedRun) -> FrontEnd:
    """The front end of the checkpoint's data config, checked against its network's input.

    Raises:
        UserError: The data config cannot build a front end, or the images it makes are not
            of the shape the network (and its normalisation) was trained on: every file would
            fail, with a shape traceback.
    """
    path, data_config = saved.path, saved.data_config
    try:
        sample_rate, clip_samples = (int(n) for n in rate_and_clip(data_config))
        if sample_rate < 1 or clip_samples < 1:
            raise ValueError(f"sample_rate={sample_rate}, clip_samples={clip_samples}")
        window = window_samples(clip_samples, data_config.get("chunk_seconds"), sample_rate)
        if window < 1:
            raise ValueError(f"chunk_seconds={data_config.get('chunk_seconds')}")
        features = MelFeatures(sample_rate=sample_rate, **data_config.get("features", {}))
    except (TypeError, ValueError) as exc:  # a damaged file's data config, read as data
        raise UserError(
            f"ckpt_path={path}: its data config cannot rebuild the mel front end ({exc}); "
            f"{USE_TRAINING_CKPT}"
        ) from None
    made = features.image_shape(window)
    if made != saved.feature_shape:
        raise UserError(
            f"ckpt_path={path}: its data config's mel front end makes images of shape "
            f"{list(made)}, but its network was trained on {list(saved.feature_shape)}; the "
            f"file is damaged: {USE_TRAINING_CKPT}"
        )
    return FrontEnd(features, sample_rate, clip_samples, window)


def trained_with(state: Any) -> dict[str, Any] | None:
    """A checkpoint's record of what trained it, where it is one (a record of texts, flags and
    nulls); otherwise, as for a checkpoint from before it was kept, None."""
    record = state.get(runs.PROVENANCE) if isinstance(state, dict) else None
    if not isinstance(record, dict):
        return None
    plain = all(
        isinstance(k, str) and (v is None or isinstance(v, str | bool)) for k, v in record.items()
    )
    return dict(record) if plain else None
