"""Train/validation/test splits by track."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import torch

from genre_lightning.data.index import Clip

PARTS = ("train", "val", "test")


def random_split(
    num_items: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 42
) -> dict[str, list[int]]:
    """Shuffle item indices with a fixed seed and cut them into train/val/test, as the paper.

    Args:
        num_items: Number of tracks.
        fractions: Train, validation and test fractions (must sum to 1).
        seed: Seed of the shuffle; the same seed always gives the same split.

    Returns:
        Sorted indices for each of ``train``, ``val`` and ``test``.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise ValueError(
            f"data.split_fractions must be three positive numbers summing to 1, "
            f"got {list(fractions)}"
        )
    if num_items < 3:
        raise ValueError(f"need at least 3 tracks to split into train/val/test, got {num_items}")
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed)).tolist()
    # Validation and test get their rounded share (at least one track); train takes the rest,
    # so 999 tracks split 799/100/100 and 1000 split 800/100/100.
    n_val = max(1, round(fractions[1] * num_items))
    n_test = max(1, round(fractions[2] * num_items))
    n_train = num_items - n_val - n_test
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {k: sorted(v) for k, v in parts.items()}


def write_split(
    path: str | Path, clips: Sequence[Clip], parts: dict[str, list[int]], class_names: Sequence[str]
) -> None:
    """Write which track went where as CSV (``track,genre,part,path``) so a run can be audited."""
    rows = [
        (clips[i].track, class_names[clips[i].label], part, str(clips[i].path))
        for part in PARTS
        for i in parts[part]
    ]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["track", "genre", "part", "path"])
        writer.writerows(rows)
