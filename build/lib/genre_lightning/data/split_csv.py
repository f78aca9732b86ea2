"""``split.csv``: which track went into which part, so a run can be audited."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genre_lightning.data.index import Clip
from genre_lightning.data.splits import PARTS
from genre_lightning.files import write_csv_atomic

COLUMNS = ("track", "genre", "part", "path")


def write_split(
    path: str | Path, clips: Sequence[Clip], parts: dict[str, list[int]], class_names: Sequence[str]
) -> None:
    """Write which track went where as CSV (``track,genre,part,path``), atomically.

    Args:
        path: The CSV file (a run's ``split.csv``).
        clips: The clips the split indexes.
        parts: Indices into ``clips`` for each of ``train``, ``val`` and ``test``.
        class_names: Genre names in label order.
    """
    rows = [
        {
            "track": clips[i].track,
            "genre": class_names[clips[i].label],
            "part": part,
            "path": str(clips[i].path),
        }
        for part in PARTS
        for i in parts[part]
    ]
    write_csv_atomic(Path(path), COLUMNS, rows)
