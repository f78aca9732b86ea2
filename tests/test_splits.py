"""data/splits.py: the paper's seeded 80/10/10 split by track."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from genre_lightning.data.index import Clip
from genre_lightning.data.splits import random_split, write_split


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(1000, (800, 100, 100)), (999, (799, 100, 100)), (50, (40, 5, 5)), (3, (1, 1, 1))],
)
def test_sizes_are_80_10_10(n: int, sizes: tuple[int, int, int]) -> None:
    parts = random_split(n, seed=0)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == sizes
    together = parts["train"] + parts["val"] + parts["test"]
    assert sorted(together) == list(range(n))  # disjoint and complete


def test_same_seed_same_split_other_seed_other_split() -> None:
    assert random_split(200, seed=7) == random_split(200, seed=7)
    assert random_split(200, seed=7)["test"] != random_split(200, seed=8)["test"]


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.8, 0.1, 0.2), (1.0, 0.0, 0.0)])
def test_bad_fractions_are_rejected(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="split_fractions"):
        random_split(10, fractions=bad)


def test_write_split_lists_every_track(tmp_path: Path) -> None:
    clips = [Clip(Path(f"/x/{g}/{g}.0000{i}.wav"), k) for k, g in enumerate("ab") for i in range(5)]
    parts = random_split(len(clips), seed=1)
    write_split(tmp_path / "split.csv", clips, parts, ["a", "b"])
    with open(tmp_path / "split.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and {r["part"] for r in rows} == {"train", "val", "test"}
    assert {r["track"] for r in rows} == {c.track for c in clips}
    assert all(r["genre"] == r["track"][0] for r in rows)
