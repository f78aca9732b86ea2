"""Checks of the data settings (``data.*``), made before anything is read or decoded.

:func:`check_data_config` takes the ``data`` section as a mapping (a plain dict, a DictConfig or
a data module's hyperparameters), so it can run as soon as the config is composed; the data
modules call it again when they are built. Each bad value is one :class:`UserError` naming
``data.<key>=<value>`` and a value that works.

:func:`seconds_to_samples` is the rule of the ``gl_samples`` resolver (registered by ``app``),
with which a config derives a clip length from seconds
(``clip_samples: ${gl_samples:${data.seconds},${data.sample_rate}}``), so a length has one owner.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from genre_lightning.audio_files import CLIP_SAMPLES, SAMPLE_RATE
from genre_lightning.data.plan import CACHE_FEATURES, TRAIN_CHUNKS, make_plan
from genre_lightning.data.splits import SPLIT_KINDS, SPLIT_UNITS, TEST_ONLY
from genre_lightning.data.windows import CROPS
from genre_lightning.errors import UserError
from genre_lightning.validate import (
    Check,
    bad,
    check_section,
    choice,
    flag,
    is_number,
    positive,
    sha256_digest,
    whole,
)


def seconds_to_samples(seconds: Any, sample_rate: Any) -> int:
    """Samples in ``seconds`` at ``sample_rate`` (the ``gl_samples`` resolver)."""
    return round(float(seconds) * int(sample_rate))


def rate_and_clip(data: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(sample_rate, clip_samples)`` of a data config, with the data module's defaults for
    the keys it leaves out (a checkpoint's config lacks the keys left at their defaults).

    The values are returned as given: the callers check or compare them.
    """
    return data.get("sample_rate", SAMPLE_RATE), data.get("clip_samples", CLIP_SAMPLES)


def _root(key: str, value: Any) -> None:
    if value is None or str(value).strip() in ("", "???"):
        raise UserError(
            "data.root is required for data=folder (the folder holding one folder per "
            "genre): data=folder data.root=/path/to/genre/folders"
        )


def _fraction(key: str, value: Any) -> None:
    positive("0.1")(key, value)
    if value >= 1:
        raise bad(key, value, "must be in (0, 1)", "0.1")


def _names(key: str, value: Any) -> None:
    if value is None:
        return
    names = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise bad(key, value, "must be a list of genre folder names, or null", "[blues,jazz]")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise bad(key, value, f"names {', '.join(twice)} twice", "[blues,jazz]")
    if len(names) < 2:
        raise bad(
            key, value, "names one genre; a genre classifier needs at least two", "[blues,jazz]"
        )


# This module imports no torch: the training command checks the values below before torch's
# seconds-long import (``train_checks.quick_training_checks``). The mel front end is named by the
# module that implements it, which imports torch: it is imported where it is checked.

#: Checks of the top-level keys, in order: a rate or a length is checked before the settings
#: derived from it are read (reading ``clip_samples`` may resolve ``gl_samples``).
CHECKS: dict[str, Check] = {
    "root": _root,
    "sample_rate": whole(1, "22050"),
    "seconds": positive("4.0"),
    "clips_per_class": whole(1, "40"),
    "clip_samples": whole(1, "662688"),
    "class_names": _names,
    "num_classes": whole(1, "10", optional=True),
    "batch_size": whole(1, "32"),
    "num_workers": whole(0, "2"),
    "chunk_seconds": positive("3.0", optional=True),
    "train_chunks": choice(TRAIN_CHUNKS),
    "train_hop_seconds": positive("1.5", optional=True),
    "max_seconds": positive("120.0"),
    "split": choice(SPLIT_KINDS, note=f"{TEST_ONLY}: evaluate only"),
    "split_by": choice(SPLIT_UNITS),
    "crop": choice(CROPS),
    "cache_features": choice(CACHE_FEATURES),
    "cache_keep": whole(1, "3", optional=True),
    "split_seed": whole(-(2**63), "42"),
    "shuffle_seed": whole(-(2**63), "0"),
    "seed": whole(-(2**63), "0"),
    "fold": whole(-(2**63), "0"),
    "num_folds": whole(2, "10"),
    "val_fraction": _fraction,
    "train_on_val": flag(),
    "download": flag(),
    "sha256": sha256_digest("<the archive's digest> (or null: not checked)"),
    "on_device": flag(),
    "pin_memory": flag(optional=True),
}


def _feature_checks() -> dict[str, Check]:
    """Checks of the mel settings (``data.features.*``)."""
    from genre_lightning.features.mel import COMPRESSIONS

    return {
        "n_mels": whole(1, "64"),
        "n_fft": whole(1, "2048"),
        "win_length": whole(1, "1984", optional=True),
        "hop_length": whole(1, "992"),
        "num_frames": whole(1, "668", optional=True),
        "log": choice([False, True, *COMPRESSIONS]),
        "top_db": positive("80.0"),
        "pad_mode": choice(["constant", "reflect"]),
        "resample_to": whole(1, "16000", optional=True),
    }


def check_data_config(cfg: Mapping[str, Any]) -> None:
    """Check the ``data`` settings before anything is read; only the keys present are checked.

    Args:
        cfg: The ``data`` section (``data.*`` keys, ``features`` as a nested mapping).

    Raises:
        UserError: The first bad value, as ``data.<key>=<value>`` with a value that works.
    """
    check_section(cfg, CHECKS, prefix="data.")
    _check_features(cfg.get("features"))
    _check_combinations(cfg)


def _check_features(features: Any) -> None:
    from genre_lightning.features.mel import MelFeatures

    if features is None:
        return
    if not isinstance(features, Mapping):
        raise bad("data.features", features, "must be a group of mel settings", "{n_mels:64}")
    known = [p for p in inspect.signature(MelFeatures).parameters if p != "sample_rate"]
    checks = _feature_checks()
    for key in features:
        if key not in known:
            raise UserError(
                f"data.features.{key} is not a mel setting; the settings are "
                f"{', '.join(f'data.features.{k}' for k in known)}"
            )
        check = checks.get(str(key))
        if check is not None:
            check(f"data.features.{key}", features[key])
    n_fft, win = features.get("n_fft"), features.get("win_length")
    if n_fft is not None and win is not None and win > n_fft:
        raise bad(
            "data.features.win_length", win, f"exceeds data.features.n_fft={n_fft}", str(n_fft)
        )


def _check_combinations(cfg: Mapping[str, Any]) -> None:
    """Settings that are fine alone but not together (each key was checked on its own)."""
    split = cfg.get("split")
    if split == "random" and "split_fractions" in cfg:
        fractions = cfg["split_fractions"]
        numbers_ok = isinstance(fractions, Sequence) and not isinstance(fractions, str)
        numbers_ok = numbers_ok and all(is_number(f) for f in fractions)
        if not numbers_ok or len(fractions) != 3 or min(fractions) <= 0:
            raise bad(
                "data.split_fractions", fractions, "must be three positive numbers", "[0.8,0.1,0.1]"
            )
        if abs(sum(fractions) - 1.0) > 1e-6:
            raise bad("data.split_fractions", fractions, "must sum to 1", "[0.8,0.1,0.1]")
    if split == "kfold":
        fold, folds = cfg.get("fold", 0), cfg.get("num_folds", 10)
        if not 0 <= fold < folds:
            raise bad(
                "data.fold", fold, f"must be in [0, {folds - 1}] with data.num_folds={folds}", "0"
            )
    chunk, hop = cfg.get("chunk_seconds"), cfg.get("train_hop_seconds")
    if chunk is None and cfg.get("train_chunks", "random") == "all":
        raise UserError(
            "data.train_chunks=all trains on every chunk of each track, but "
            "data.chunk_seconds=null cuts none: add data.chunk_seconds=3.0, or leave "
            "data.train_chunks=random (whole clips)"
        )
    if hop is not None:
        if chunk is None or cfg.get("train_chunks", "random") != "all":
            raise bad(
                "data.train_hop_seconds",
                hop,
                "spaces fixed training chunks: it needs data.chunk_seconds and "
                "data.train_chunks=all",
                "null",
            )
        if hop > chunk:
            raise bad(
                "data.train_hop_seconds",
                hop,
                f"exceeds data.chunk_seconds={chunk} (parts of each track would never be seen)",
                str(chunk / 2),
            )
    _check_lengths(cfg)
    if "cache_features" in cfg:  # the plan owns which parts can have a features table
        make_plan(
            cfg.get("crop", "start"),
            chunk is not None,
            bool(cfg.get("on_device", False)),
            cfg["cache_features"],
            cfg.get("train_chunks", "random"),
        )


def _check_lengths(cfg: Mapping[str, Any]) -> None:
    """Chunk, window, hop and frame counts that fit the clips (each key checked alone before).

    Each of these would otherwise run: chunks longer than the clip or frames beyond its end
    train on padding, a chunk shorter than one FFT window is all padding (and a tiny one makes
    thousands of chunks per clip), a hop longer than the window never reads the samples
    between windows.
    """
    features = cfg.get("features")
    rate, clip = cfg.get("sample_rate"), cfg.get("clip_samples")
    if not isinstance(features, Mapping) or rate is None or clip is None:
        return
    from genre_lightning.features.mel import mel_settings

    features = mel_settings(features)  # MelFeatures' defaults for the keys left out
    n_fft, hop = features["n_fft"], features["hop_length"]
    window = features["win_length"] or n_fft
    analysis_rate = features.get("resample_to") or rate
    if analysis_rate > rate:
        # Upsampling adds no content: the front end's bands above rate/2 would hold nothing.
        raise bad(
            "data.sample_rate",
            rate,
            f"is below data.features.resample_to={analysis_rate}: the clips would be decoded at "
            f"{rate} Hz and upsampled, leaving the front end nothing above {rate / 2:g} Hz; "
            f"decode at its rate or above",
            str(analysis_rate),
        )
    if hop > window:
        raise bad(
            "data.features.hop_length",
            hop,
            f"exceeds the window ({window} samples): the samples between windows are never read",
            str(window // 2),
        )
    chunk = cfg.get("chunk_seconds")
    if chunk is not None:
        if chunk > clip / rate:
            raise bad(
                "data.chunk_seconds",
                chunk,
                f"exceeds the clips' length ({clip / rate:g} s of data.clip_samples={clip})",
                f"{clip / rate / 2:.3g}",
            )
        if chunk * analysis_rate < n_fft:
            raise bad(
                "data.chunk_seconds",
                chunk,
                f"is shorter than one FFT window ({n_fft} samples at {analysis_rate} Hz)",
                f"{n_fft / analysis_rate * 4:.2g}",
            )
    n_mels = features["n_mels"]
    if _empty_mel_bands(n_mels, n_fft, analysis_rate):
        fitting = max(n for n in range(1, n_mels) if not _empty_mel_bands(n, n_fft, analysis_rate))
        raise bad(
            "data.features.n_mels",
            n_mels,
            f"is more bands than data.features.n_fft={n_fft} resolves at {analysis_rate} Hz "
            f"(some bands would hold no frequency bin and stay zero); use a larger n_fft",
            str(fitting),
        )
    frames = features.get("num_frames")
    span = chunk * analysis_rate if chunk is not None else clip * analysis_rate / rate
    available = int(span) // hop + 1
    if frames is not None and frames > available:
        raise bad(
            "data.features.num_frames",
            frames,
            f"exceeds the {available} frames a {'chunk' if chunk else 'clip'} gives (the rest "
            f"would be padding)",
            f"{available} (or null: every frame)",
        )
    if frames is not None and frames < 0.9 * available:
        # E.g. a hop edited beside the paper's 668 frames: the rest of each clip went unheard.
        unit = "chunk" if chunk else "clip"
        raise bad(
            "data.features.num_frames",
            frames,
            f"reads only the first {frames} of the {available} frames a {unit} gives "
            f"(data.features.hop_length={hop}): the rest of each {unit} would never be heard",
            f"{available} (or null: every frame)",
        )


def _empty_mel_bands(n_mels: int, n_fft: int, sample_rate: int) -> bool:
    """Whether a mel band of the front end's filterbank covers no frequency bin."""
    from torchaudio.functional import melscale_fbanks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchaudio warns of exactly this: asked, not news
        bank = melscale_fbanks(
            n_fft // 2 + 1,
            0.0,
            sample_rate // 2,
            n_mels,
            sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
    return bool((bank.amax(dim=0) == 0).any())
