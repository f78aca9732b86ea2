"""Unpacking a tar archive that may have been crafted to write outside its folder.

Every member is checked here, one by one, instead of relying on ``tarfile``'s
``filter="data"``: on the Python this project runs (3.11.7) that filter is bypassed by a chain
of symbolic links longer than PATH_MAX (CVE-2025-4517, fixed only in 3.11.13 / 3.12.11 /
3.13.4). The rules below hold on every Python version the package supports:

* only regular files and directories are written, with plain permissions (no set-uid bits);
* names are relative, without ``..`` and without a NUL byte;
* a link (hard or symbolic) is accepted only when its target, resolved inside the archive, is a
  regular file extracted earlier; it is written as a copy of that file, never as a link, so no
  link exists on disk for a later member to be written through;
* every other member type (devices, FIFOs, ...) is refused;
* files are created with ``O_EXCL | O_NOFOLLOW`` under a fresh folder, so nothing already on
  disk is followed or overwritten; a member appended again replaces the copy this extraction
  wrote before (the later wins, as with ``tar``).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from pathlib import Path
from typing import IO

_CHUNK = 1 << 20


class UnsafeArchiveError(tarfile.TarError):
    """A member would write outside the target folder, or is of a kind that is not extracted."""


def extract_tar(archive: str | Path, dest: str | Path) -> list[str]:
    """Extract ``archive`` into the new folder ``dest``, member by member.

    Args:
        archive: A tar file, compressed or not.
        dest: A folder that must not exist yet; it is created.

    Returns:
        The relative names of the regular files written.

    Raises:
        UnsafeArchiveError: A member breaks one of the rules of this module.
        tarfile.TarError, EOFError, zlib.error, OSError: The archive is truncated or corrupt,
            or the disk refused a write. ``dest`` may then hold a part: callers extract into a
            temporary folder and delete it on failure.
    """
    dest = Path(dest)
    dest.mkdir(parents=True)
    written: dict[str, Path] = {}  # archive name -> file on disk, for links to copy
    with tarfile.open(archive, "r:*", errorlevel=2) as tf:
        for member in tf:
            name = _safe_name(member.name)
            target = dest / name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if name in written:  # appended again (tar -r): the later copy wins, as tar does
                written.pop(name).unlink()  # a file this call wrote, never a link
            if member.isfile():
                source = tf.extractfile(member)
                assert source is not None  # regular files always have data
                _write_new(target, source, member.mode)
            elif member.issym() or member.islnk():
                linked = _link_target(member, name)
                if linked not in written:
                    raise UnsafeArchiveError(
                        f"unsafe link in archive: {member.name} -> {member.linkname} (links are "
                        f"extracted only when they point to a file of the archive extracted "
                        f"before them)"
                    )
                with open(written[linked], "rb") as source_file:
                    _write_new(target, source_file, member.mode)
            else:
                raise UnsafeArchiveError(
                    f"unsupported member in archive: {member.name} (type {member.type!r}; only "
                    f"files, directories and links to files inside the archive are extracted)"
                )
            written[name] = target
    return sorted(written)


def _safe_name(name: str) -> str:
    """The member's name, normalised, or :class:`UnsafeArchiveError` if it could escape."""
    if "\x00" in name or name.startswith(("/", "\\")) or posixpath.isabs(name):
        raise UnsafeArchiveError(f"unsafe path in archive: {name!r} (absolute)")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeArchiveError(f"unsafe path in archive: {name!r} (leaves the folder)")
    return "/".join(parts)


def _link_target(member: tarfile.TarInfo, name: str) -> str:
    """The archive name a link points to, resolved lexically inside the archive."""
    link = member.linkname
    if "\x00" in link or posixpath.isabs(link) or link.startswith("\\"):
        raise UnsafeArchiveError(f"unsafe link in archive: {member.name} -> {link} (absolute)")
    # A hard link names an archive member; a symbolic link is relative to its own folder.
    base = "" if member.islnk() else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, link))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(
            f"unsafe link in archive: {member.name} -> {link} (leaves the folder)"
        )
    return _safe_name(resolved)


def _write_new(target: Path, source: IO[bytes], mode: int) -> None:
    """Create ``target`` (never through a link, never over a file) with ``source``'s bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o755 if mode & 0o111 else 0o644)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
