"""Cutting the decoded clips into the split's parts, each a dataset of windows served by plan."""

from __future__ import annotations

from collections.abc import Sequence

from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.load import LoadedData
from genre_lightning.data.plan import Plan
from genre_lightning.data.splits import PARTS, make_split


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
) -> dict[str, list[int]]:
    """Split the decoded clips by track (``data.split``).

    Args:
        data: The decoded clips.
        kind: ``data.split``; the keywords are its settings (``data.*``).
        train_on_val: Move the validation tracks into the training part, leaving validation
            empty (a refit on train + validation; the test part is the split's own).

    Returns:
        Rows of the waveform cache for each of ``train``, ``val`` and ``test``.
    """
    kept = data.kept_clips
    rows = make_split(
        kind,
        [clip.track for clip in kept],
        [clip.label for clip in kept],
        fractions=fractions,
        seed=seed,
        fold=fold,
        num_folds=num_folds,
        val_fraction=val_fraction,
    )
    if train_on_val:
        rows = {"train": sorted(rows["train"] + rows["val"]), "val": [], "test": rows["test"]}
    return rows


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
