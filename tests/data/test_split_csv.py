"""data/split_csv.py: split.csv lists every track once, with its genre, part and path."""

from __future__ import annotations

import csv
from pathlib import Path

from genre_lightning.data.index import Clip
from genre_lightning.data.split_csv import write_split
from genre_lightning.data.splits import random_split


def test_write_split_lists_every_track(tmp_path: Path) -> None:
    clips = [Clip(Path(f"/x/{g}/{g}.0000{i}.wav"), k) for k, g in enumerate("ab") for i in range(5)]
    parts = random_split(len(clips), seed=1)
    write_split(tmp_path / "split.csv", clips, parts, ["a", "b"])
    with open(tmp_path / "split.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and {r["part"] for r in rows} == {"train", "val", "test"}
    assert {r["track"] for r in rows} == {c.track for c in clips}
    assert all(r["genre"] == r["track"][0] for r in rows)
