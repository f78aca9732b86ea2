"""A checkpoint's training features against the test data's: the same shape, and the same decode
rate and mel settings (features of the right shape computed otherwise would feed the network
inputs unlike its training ones)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from genre_lightning.errors import UserError
from genre_lightning.validate import shown

if TYPE_CHECKING:
    from genre_lightning.data.datamodule import GenreDataModule
    from genre_lightning.inference import Classifier


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


def check_features(classifier: Classifier, datamodule: GenreDataModule, root: Any) -> None:
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
