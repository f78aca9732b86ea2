"""Temporary names for this package's writers, and removing those a killed process left.

:mod:`genre_lightning.files` writes every result under a :func:`temp_path` first; the name
carries the writer's process id, which is how :func:`remove_stale_temps` tells a stale one
from a live writer's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: ``.<name>.tmp-<pid>-<token>``: hidden, and the owner's process id says when it is stale.
_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)(-[0-9a-f]+)?$")
#: When this process started writing (about): temporary files changed since are never stale.
_STARTED = time.time()


def temp_path(path: Path) -> Path:
    """A new temporary name to write ``path`` under before renaming it.

    The process id tells :func:`remove_stale_temps` whether its writer still runs; the random
    token keeps concurrent writers of one process (threads) apart.
    """
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files and folders in ``folder`` left by processes that no longer run.

    Only names of :func:`temp_path`'s form are touched, and only when their process id is not
    alive on this machine and they were last changed before this process started: a concurrent
    writer, here or on another machine sharing the folder, keeps changing its file.

    Returns:
        What was removed.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in Path(folder).iterdir():
            found = _TEMP.match(entry.name)
            if found is None or _alive(int(found["pid"])):
                continue
            if entry.lstat().st_mtime >= _STARTED:
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
    for entry in removed:
        log.info("removed %s, left by a process that was killed while writing it", entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
