"""Where the waveform caches live, and how many of them are kept.

Nothing is written inside a user's data folder: by default a data root's caches go to the user
cache folder (:func:`~genre_lightning.userdirs.user_cache_dir`), in a sub-folder named after
the resolved root (``<cache>/waves/<name>-<hash>``), so a read-only dataset trains as is and two
datasets never share a folder. Each decode setting (clip length, rate, crop) of a root is a
cache of its own; the least recently used beyond :data:`KEEP` are removed, and the log says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path

from genre_lightning.errors import UserError
from genre_lightning.userdirs import user_cache_dir

log = logging.getLogger(__name__)

#: Caches kept per data root by default (``data.cache_keep``).
KEEP = 3


def root_key(root: str | Path) -> str:
    """``<name>-<hash>`` of a data root: readable, and distinct for distinct resolved paths."""
    resolved = Path(root).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", resolved.name) or "root"
    return f"{name}-{digest}"


def default_cache_dir(root: str | Path) -> Path:
    """The cache folder of a data root when ``data.cache_dir`` is not set (created here).

    The user cache folder, or, where that cannot be written (a read-only home), the system's
    temporary folder, with a warning that it may not outlive a reboot.

    Raises:
        UserError: Neither place can be written.
    """
    key = root_key(root)
    tried: list[str] = []
    for base in (user_cache_dir(), Path(tempfile.gettempdir()) / f"genre_lightning-{_user()}"):
        folder = base / "waves" / key
        problem = _unwritable(folder)
        if problem is None:
            if tried:
                log.warning(
                    "the waveform cache goes to %s, since %s; it may not outlive a reboot: set "
                    "GENRE_LIGHTNING_CACHE or data.cache_dir to a writable folder to keep it",
                    folder,
                    tried[0],
                )
            return folder
        tried.append(f"{folder} cannot be written ({problem})")
    raise UserError(
        f"no writable place for the waveform cache of data.root={root}: {'; '.join(tried)}. "
        f"Set data.cache_dir=/a/writable/folder (or the environment variable "
        f"GENRE_LIGHTNING_CACHE=/a/writable/folder)."
    )


def _user() -> str:
    # One temporary folder per user: another user's folder would not be writable.
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made if missing), or None when they can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "no write permission"
    return None


def mark_used(meta: Path) -> None:
    """Record that a cache was used now: the modification time of ``meta``, its manifest (or,
    for the embedding store, its folder), which pruning ranks caches by."""
    with contextlib.suppress(OSError):  # a read-only cache folder still serves its caches
        os.utime(meta)


def prune(folder: Path, root: str, keep: int) -> list[Path]:
    """Remove the least recently used caches of ``root`` in ``folder`` beyond ``keep``.

    Only caches whose manifest names ``root`` are counted and touched: a ``data.cache_dir``
    shared by several datasets keeps each one's caches.

    Args:
        folder: The cache folder.
        root: The resolved data root, as the manifests record it.
        keep: Caches of ``root`` to keep, most recently used first.

    Returns:
        The ``.npy`` files removed (each with its manifest).
    """
    used = []
    for meta in folder.glob("waves-*.json"):
        try:
            owner = json.loads(meta.read_text()).get("root")
            stamp = meta.stat().st_mtime_ns
        except (OSError, ValueError, AttributeError):
            continue  # unreadable or another version's manifest: not ours to judge
        if owner == root:
            used.append((stamp, meta))
    used.sort(reverse=True)
    removed = []
    for _, meta in used[keep:]:
        npy = meta.with_suffix(".npy")
        with contextlib.suppress(OSError):
            # The array first: a manifest without its array reads as "no cache yet".
            npy.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            removed.append(npy)
            log.info(
                "removed the old waveform cache %s: data.root=%s keeps its %d most recently "
                "used caches (data.cache_keep)",
                npy,
                root,
                keep,
            )
    return removed
