"""Cutting the decoded clips into the split's parts, each a dataset of windows served by plan."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.index import Clip
from genre_lightning.data.load import LoadedData
from genre_lightning.data.plan import Plan
from genre_lightning.data.splits import DEALT_SPLITS, PARTS, make_split
from genre_lightning.errors import UserError

log = logging.getLogger(__name__)


def cut_split(
    data: LoadedData,
    kind: str,
    *,
    fractions: Sequence[float],
    seed: int,
    fold: int,
    num_folds: int,
    val_fraction: float,
    train_on_val: bool = False,
    split_by: str = "track",
) -> dict[str, list[int]]:
    """Split the decoded clips by track, or by folder (``data.split``, ``data.split_by``).

    Args:
        data: The decoded clips.
        kind: ``data.split``; the keywords are its settings (``data.*``).
        train_on_val: Move the validation tracks into the training part, leaving validation
            empty (a refit on train + validation; the test part is the split's own).
        split_by: ``folder``: the clips of one first-level folder of a genre folder (an
            artist's, an album's) stay in one part; clips directly in the genre folder are
            each their own. ``track``: every clip is dealt alone.

    Returns:
        Rows of the waveform cache for each of ``train``, ``val`` and ``test``.
    """
    kept = data.kept_clips
    if split_by == "track" and kind in DEALT_SPLITS:
        _warn_of_shared_folders(kept)
    rows = make_split(
        kind,
        [clip.track for clip in kept],
        [clip.label for clip in kept],
        fractions=fractions,
        seed=seed,
        fold=fold,
        num_folds=num_folds,
        val_fraction=val_fraction,
        groups=[_group(clip) for clip in kept] if split_by == "folder" else None,
    )
    _warn_of_untested_genres(kind, rows["test"], kept, data.class_names, fold, num_folds, split_by)
    if train_on_val:
        rows = {"train": sorted(rows["train"] + rows["val"]), "val": [], "test": rows["test"]}
    return rows


def _warn_of_untested_genres(
    kind: str,
    test: Sequence[int],
    clips: Sequence[Clip],
    class_names: Sequence[str],
    fold: int,
    num_folds: int,
    split_by: str,
) -> None:
    """Warn where the test part holds no track of some genres.

    The test accuracy then speaks for the other genres only, and those genres have no test
    scores: with few tracks per genre, kfold's default ten folds (or a random split's small
    test share) leave some out of every part tested, which nothing else would say.
    """
    tested = {clips[i].label for i in test}
    untested = [name for label, name in enumerate(class_names) if label not in tested]
    if kind not in (*DEALT_SPLITS, "filtered") or not test or not untested:
        return
    unit = "folder" if split_by == "folder" else "track"
    units: dict[int, set[str]] = defaultdict(set)
    for clip in clips:
        units[clip.label].add(_group(clip) if unit == "folder" else clip.track)
    fewest = min(len(u) for u in units.values())
    if kind == "filtered":
        fix = "GTZAN's fixed lists test none of their tracks in data.root"
    elif fewest < 2:
        fix = f"a genre of a single {unit} can be tested in one fold of data.split=kfold only"
    else:
        fix = (
            f"{'' if kind == 'kfold' else 'data.split=kfold '}data.num_folds={fewest} tests "
            f"every genre in each fold (and each {unit} once over the folds)"
        )
    where = f"data.split={kind}" + (f", fold {fold} of {num_folds}" if kind == "kfold" else "")
    log.warning(
        "%s: the test part holds no %s of %d genre%s (%s), so its scores speak for the other "
        "genres only; %s",
        where,
        unit,
        len(untested),
        "" if len(untested) == 1 else "s",
        ", ".join(untested),
        fix,
    )


def _group(clip: Clip) -> str:
    """The clip's first folder under its genre folder, or (lying directly in the genre folder)
    its own name; the NUL keeps the two kinds apart, since no file name holds one."""
    return clip.folders.split("/")[0] if clip.folders else f"\0{clip.track}"


def _warn_of_shared_folders(clips: Sequence[Clip]) -> None:
    """Warn where tracks dealt alone lie in shared sub-folders of their genre folders.

    Tracks of one artist or album sound alike beyond their genre (the same voice, mix and
    recording), so with some of them trained on, the others are easier to test: the score
    flatters the network (the artist effect that GTZAN's filtered split removes).
    """
    nested = [clip for clip in clips if clip.folders]
    if nested:
        log.warning(
            "%d of the %d clips lie in sub-folders of their genre folders (artists or albums?): "
            "data.split_by=track deals each track alone, so one folder's tracks can be both "
            "trained on and tested, which flatters the test score; data.split_by=folder keeps "
            "each first-level folder in one part",
            len(nested),
            len(clips),
        )


def make_datasets(
    data: LoadedData,
    rows: dict[str, list[int]],
    plan: Plan,
    window: int,
    draws: int,
    seed: int = 0,
) -> dict[str, WaveformDataset]:
    """One dataset of windows per part, cut and located as the part's plan says.

    Args:
        data: The decoded clips.
        rows: Rows of the waveform cache for each part.
        plan: How each part cuts its windows and whether its batches carry samples.
        window: Samples per window.
        draws: Random chunks per track and epoch (parts that draw random chunks).
        seed: Seed of random windows (with the epoch and the item).
    """
    cache, kept = data.cache, data.kept_clips
    datasets = {}
    for code, part in enumerate(PARTS):
        part_plan = plan[part]
        datasets[part] = WaveformDataset(
            cache.waves,
            rows[part],
            [kept[r].label for r in rows[part]],
            [cache.lengths[r] for r in rows[part]],
            window,
            part_plan.crop,
            chunks=part_plan.chunks,
            draws=draws,
            locate_only=not part_plan.carries_samples,
            part=code,
            seed=seed,
            hop=part_plan.hop,
        )
    return datasets


def check_batch_size(
    batch_size: int, windows: int, tracks: int, chunk_seconds: float | None
) -> None:
    """Refuse a batch larger than an epoch of training windows.

    Lightning would run each epoch as one batch of everything, a different optimisation from
    the one the settings describe, without a word.

    Args:
        batch_size: ``data.batch_size``.
        windows: Training windows per epoch (``len()`` of the training dataset): one per track,
            or every chunk of every track when training on chunks.
        tracks: Training tracks.
        chunk_seconds: ``data.chunk_seconds`` (``None``: whole clips, one window per track).

    Raises:
        UserError: ``batch_size`` exceeds ``windows``; the message counts windows as what
            they are (tracks or chunks) and suggests the largest power of two that fits.
    """
    if batch_size <= windows:
        return
    if chunk_seconds is None:
        size = f"{windows} track{'' if windows == 1 else 's'}"
    else:
        size = (
            f"{windows} chunk{'' if windows == 1 else 's'} of {chunk_seconds:g} s per epoch, "
            f"from {tracks} track{'' if tracks == 1 else 's'}"
        )
    # The largest power of two that fits: the same rule whatever the size (30 -> 16, 40 -> 32).
    fits = 1 << (max(windows, 1).bit_length() - 1)
    up_to = f" (any value up to {windows} fits)" if fits < windows else ""
    raise UserError(
        f"data.batch_size={batch_size} is larger than the training set ({size}): every epoch "
        f"would be a single batch of all {windows}. Use data.batch_size={fits}{up_to}, or "
        f"more data."
    )
