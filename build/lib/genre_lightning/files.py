"""Files a reader sees whole or not at all: written beside the target, then renamed.

A run killed mid-write (or a notebook reading ``metrics.json`` while a run finishes) must never
find half a file (results, cache metadata, the download marker): the rename is atomic within
one file system.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step.

    Args:
        path: The file to (over)write.
        text: Its new content.
    """
    # The process id keeps two writers of the same file (DDP ranks, parallel jobs) apart.
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, newline="")  # as given: CSV rows end in \r\n already
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as indented JSON, in one step."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_csv_atomic(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``path`` with a CSV table (header first), in one step.

    Args:
        path: The file to (over)write.
        columns: Column names, in order.
        rows: One mapping per row, keyed by column name.
    """
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
