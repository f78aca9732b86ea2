"""Result files a reader sees whole or not at all: written beside the target, then renamed.

A run killed mid-write (or a notebook reading ``metrics.json`` while a run finishes) must never
find half a file: the rename is atomic within one file system.
"""

from __future__ import annotations

import json
import os
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
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as indented JSON, in one step."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
