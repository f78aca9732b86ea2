"""The one way this package replaces a file or a folder: write beside it, then rename.

Guarantees of every writer here, on a POSIX file system:

* **Whole or not at all.** A reader (a notebook reading ``metrics.json`` while a run finishes,
  a second run opening the cache) sees the old content or the new, never half of either: the
  data goes to a temporary name in the same folder and is renamed over the target, and a
  rename within one file system is atomic.
* **Durable once returned.** The temporary file is flushed and ``fsync``-ed before the rename,
  and the folder after it, so a power loss right after a write does not leave an empty file.
* **Nothing left behind on failure.** An exception while writing removes the temporary file.
  A process killed outright (SIGKILL, OOM) cannot clean up; its temporary names carry its
  process id, and :func:`~genre_lightning.temp_files.remove_stale_temps` (called by the next
  run that writes there) deletes those whose process is gone.
* **Concurrent writers do not mix.** Each writer (process or thread) writes its own temporary
  name; the last rename wins with a complete file.

:func:`streaming_write` is the one exception to "whole or not at all", for results produced
over a long time (predict's CSV): rows go to a visible ``<name>.partial`` as they are made, so
a crash keeps the work done, and the final name appears only when everything is written.
:func:`check_writable` checks an output place before any work starts.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from genre_lightning.errors import UserError
from genre_lightning.temp_files import temp_path


def commit(tmp: Path, path: Path) -> None:
    """Make ``tmp`` (a file or a folder this process wrote) durable and rename it to ``path``."""
    for file in [tmp] if tmp.is_file() else sorted(p for p in tmp.rglob("*") if p.is_file()):
        with open(file, "rb+") as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; some file systems do not allow opening a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w", **open_args: Any) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it is replaced only when the block succeeds.

    Args:
        path: The file to (over)write; its folder must exist.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        **open_args: Passed to :func:`open` (``encoding``, ``newline``, ...).

    Yields:
        The open temporary file.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, mode, **open_args) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def partial_path(path: Path) -> Path:
    """The visible name :func:`streaming_write` fills before renaming it to ``path``."""
    return path.with_name(f"{path.name}.partial")


@contextlib.contextmanager
def streaming_write(path: Path, **open_args: Any) -> Iterator[IO[str]]:
    """Open ``path`` for text written bit by bit; it gets its final name only when complete.

    The text goes to :func:`partial_path` (``<name>.partial``), which the caller flushes after
    each unit of work, so what was written survives a crash of the process (SIGKILL, OOM) or an
    error later on. When the block ends normally the file is ``fsync``-ed and renamed over
    ``path``. When it raises (including ``KeyboardInterrupt``), the ``.partial`` file is kept
    with every flushed row: the caller says where it is. A rerun starts it afresh.

    Args:
        path: The final file; its folder must exist.
        **open_args: Passed to :func:`open` (``encoding``, ``errors``, ``newline``, ...).

    Yields:
        The open ``.partial`` file, in text mode.
    """
    path = Path(path)
    partial = partial_path(path)
    with open(partial, "w", **open_args) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    _fsync_dir(path.parent)


def check_writable(
    path: str | Path,
    key: str,
    folder: bool = False,
    example: str = "NAME",
    reads: Mapping[str, Any] | None = None,
) -> Path:
    """Fail early, in one line, if a tool could not write its result at ``path``.

    Called before any model is loaded or any audio decoded, so a bad output path costs
    nothing. Nothing is left behind: the nearest existing folder above ``path`` is probed with
    a temporary file, which also catches read-only file systems and folders such as ``/proc``
    where the permission bits (or being root) say yes but creating a file fails.

    Args:
        path: The file (or with ``folder=True``, the folder) the tool will write.
        key: The config key that set it (e.g. ``output``), for the message.
        folder: Whether ``path`` is a folder that results are written into.
        example: A file name to suggest when ``path`` is a folder but a file is expected.
        reads: The files the tool reads (key -> path, e.g. ``ckpt_path``), which ``path``
            must not name: writing it would replace what is being read.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        UserError: ``path`` is a folder where a file is expected (or a file where a folder
            is), is one of the files read, lies under a file, or its nearest existing folder
            cannot be written.
    """
    path = Path(path)
    if path.is_dir() and not folder:
        raise UserError(
            f"{key}={path}: is a folder, but {key} names the file to write; give a file name, "
            f"e.g. {key}={path / example}"
        )
    if path.exists() and not path.is_dir() and folder:
        raise UserError(
            f"{key}={path}: is a file, but {key} names a folder to write results into; give a "
            f"folder (it is created if missing)"
        )
    for name, given in (reads or {}).items():
        if given is not None and path.is_file() and _same_file(path, Path(str(given))):
            raise UserError(
                f"{key}={path}: is the file {name} names, which writing the result would "
                f"replace; give another file, e.g. {key}={path.with_name(example)}"
            )
    existing = path if path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(
            f"{key}={path}: {existing} is a file, so nothing can be created under it; give "
            f"a path in a folder"
        )
    probe = temp_path(existing / ".write-check")
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"{key}={path}: cannot create files in {existing} ({exc.strerror or exc}); give "
            f"a path in a folder you can write to"
        ) from None
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:  # b is missing or unreadable: not the same file
        return False


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, line ends as given)."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as indented JSON."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], header: bool = True) -> str:
    """Rows as CSV text (``\\r\\n`` line ends, as the csv module writes them)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv_atomic(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``path`` with a CSV table (header first).

    Args:
        path: The file to (over)write.
        columns: Column names, in order.
        rows: One mapping per row, keyed by column name.
    """
    write_text_atomic(path, csv_text(columns, rows))


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Build a folder under a temporary name; it appears as ``path`` only when the block ends.

    If ``path`` appeared meanwhile (another process built the same thing), the copy built here
    is dropped and the existing one kept.

    Yields:
        The temporary folder to fill.
    """
    path = Path(path)
    tmp = temp_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        try:
            commit(tmp, path)
        except OSError:
            if not path.is_dir():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
