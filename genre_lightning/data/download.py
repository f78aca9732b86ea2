"""Fetching GTZAN: a resumable, checksummed download and an atomic extraction.

``ensure_gtzan(root)`` leaves the original tarball's layout, ``root/genres/<genre>/*.au``, and a
completion marker; later calls see the marker (or data placed by hand) and return at once, so it
is safe to call before every run. Where the download cannot work (offline, a moved URL), the
error says how to place the data by hand. Also a Hydra app (``conf/download.yaml``, with
``--help`` and ``--cfg job``)::

    python -m genre_lightning.data.download root=data/gtzan [archive=genres.tar.gz] [sha256=null]
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from genre_lightning.app import hydra_app
from genre_lightning.data.archive import UnsafeArchiveError, extract_tar
from genre_lightning.errors import UserError
from genre_lightning.files import write_text_atomic
from genre_lightning.temp_files import remove_stale_temps, temp_path
from genre_lightning.validate import Check, positive, text

DEFAULT_URL = "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz"
#: Published SHA-256 of the original ``genres.tar.gz`` (1.23 GB).
DEFAULT_SHA256 = "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"
ARCHIVE_NAME = "genres.tar.gz"
#: Written last, so its presence means the extraction finished; holds the archive's digest.
MARKER_NAME = ".gtzan_complete"
_CHUNK = 1 << 20  # 1 MiB: large enough to be fast, small enough to keep memory flat


class GTZANDownloadError(UserError):
    """GTZAN could not be downloaded, verified or extracted; the message says how to fix it."""


def ensure_gtzan(
    root: str | Path,
    url: str = DEFAULT_URL,
    sha256: str | None = DEFAULT_SHA256,
    archive: str | Path | None = None,
    timeout: float = 10.0,
) -> Path:
    """Make GTZAN available under ``root``, downloading and extracting it if needed.

    Args:
        root: Folder to hold the data set (``data.root``); created if missing.
        url: Where to download ``genres.tar.gz`` from when ``archive`` is not given.
        sha256: Expected hex digest of the archive; ``None`` skips verification.
        archive: A local copy of the tarball to use instead of downloading.
        timeout: Seconds to wait for the server to connect or send data before giving up.

    Returns:
        ``root``, as a :class:`~pathlib.Path`.

    Raises:
        GTZANDownloadError: The download, the checksum or the extraction failed.
    """
    root = Path(root)
    if (root / MARKER_NAME).is_file() or _has_data(root):
        return root
    root.mkdir(parents=True, exist_ok=True)
    downloaded = archive is None
    if archive is None:
        archive = root / ARCHIVE_NAME
        if not archive.is_file():  # a verified-but-unextracted archive from last time is reused
            _download(url, archive, timeout)
    archive = Path(archive)
    if not archive.is_file():
        raise GTZANDownloadError(f"archive {archive} does not exist.")
    if sha256 is not None:
        _verify(archive, sha256)
    _extract(archive, root)
    write_text_atomic(root / MARKER_NAME, f"{sha256 or 'unverified'}\n")
    if downloaded:  # the extracted copy is what gets used; 1.2 GB more is not worth keeping
        archive.unlink()
    return root


def _has_data(root: Path) -> bool:
    """Whether genre folders with audio are already there, e.g. extracted by hand."""
    # Imported here: the index pulls in torch (seconds), which --help need not wait for.
    from genre_lightning.data.index import DataNotFoundError, find_genre_root

    try:
        find_genre_root(root)
    except (DataNotFoundError, OSError):
        return False
    return True


def _manual_help(root: Path) -> str:
    return (
        f"To place the data by hand: download {ARCHIVE_NAME} elsewhere and run `python -m "
        f"genre_lightning.data.download archive=PATH root={root}`, or extract it yourself "
        f"so that {root}/genres/<genre>/<genre>.000NN.au exists (the Kaggle layout "
        f"{root}/Data/genres_original/<genre>/*.wav also works). To use another mirror, "
        f"override data.url=... (and data.sha256=... for its checksum)."
    )


def _download(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` to ``dest``, resuming a ``.part`` file left by an interrupted run."""
    part = dest.with_name(dest.name + ".part")
    try:
        for attempt in range(2):  # the second attempt restarts from zero
            offset = part.stat().st_size if part.is_file() and attempt == 0 else 0
            headers = {"User-Agent": "genre_lightning"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            try:
                response = urllib.request.urlopen(
                    urllib.request.Request(url, headers=headers), timeout=timeout
                )
            except urllib.error.HTTPError as e:
                if e.code == 416 and offset:  # .part is not a prefix the server can extend
                    continue
                raise
            with response:
                if offset and response.status != 206:
                    offset = 0  # the server ignored the range and sends it all: start over
                elif offset and _range_start(response.headers.get("Content-Range")) != offset:
                    continue  # a range we did not ask for: resend without one
                length = int(response.headers.get("Content-Length") or 0)
                _stream(response, part, offset, offset + length if length else None)
            part.replace(dest)
            return
        raise GTZANDownloadError(f"the server at {url} would not resume {part}; delete it.")
    except (OSError, http.client.HTTPException) as e:  # URLError and timeouts are OSErrors
        # URLError wraps the socket error in .reason; HTTPError's str() has the status code.
        reason = e.reason if type(e) is urllib.error.URLError else e
        resume = f" Rerunning resumes from {part}." if part.is_file() else ""
        raise GTZANDownloadError(
            f"could not download {url}: {reason}.{resume}\n" + _manual_help(dest.parent)
        ) from e


def _range_start(content_range: str | None) -> int | None:
    """First byte offset of a ``Content-Range: bytes N-M/T`` header, or None."""
    try:
        return int(content_range.split()[1].split("-")[0]) if content_range else None
    except (IndexError, ValueError):
        return None


def _stream(response: http.client.HTTPResponse, part: Path, offset: int, total: int | None) -> None:
    """Append the response body to ``part`` (truncating it first when ``offset`` is 0)."""
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    # stderr, so that the CLI's stdout carries only the result.
    with (
        Progress(*columns, console=Console(stderr=True), transient=True) as progress,
        open(part, "ab" if offset else "wb") as f,
    ):
        task = progress.add_task("GTZAN", total=total, completed=offset)
        while chunk := response.read(_CHUNK):
            f.write(chunk)
            progress.advance(task, len(chunk))
        received = f.tell()
    if total is not None and received != total:
        raise GTZANDownloadError(
            f"download stopped at {received} of {total} bytes; rerun to resume from {part}."
        )


def _verify(archive: Path, expected: str) -> None:
    """Raise unless the SHA-256 of ``archive`` is ``expected``."""
    h = hashlib.sha256()
    with open(archive, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    actual = h.hexdigest()
    if actual != expected.strip().lower():
        raise GTZANDownloadError(
            f"sha256 mismatch for {archive}: expected {expected}, got {actual}. The file is "
            f"corrupt or a different release; delete it and retry, or, if you trust it, pass "
            f"sha256={actual} (training: data.sha256={actual}), or sha256=null "
            f"(data.sha256=null) to skip verification."
        )


def _extract(archive: Path, root: Path) -> None:
    """Extract ``archive`` into a temporary folder in ``root``, then move its entries up.

    The temporary folder is on the same file system, so the final moves are renames and a
    failure part-way through the (slow) extraction leaves nothing behind. Each member is checked
    by :func:`~genre_lightning.data.archive.extract_tar`, whatever the Python version. The
    entries are moved only when they hold audio in a known layout, so an archive of something
    else is never marked as a ready data set.
    """
    remove_stale_temps(root)  # extractions of runs that were killed
    tmp = temp_path(root / "extract")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        extract_tar(archive, tmp)
        if not _has_data(tmp):
            raise GTZANDownloadError(
                f"{archive} holds no audio in genre folders (looked for genres/<genre>/*.au, "
                f"Data/genres_original/<genre>/*.wav or <genre>/*.<audio>); nothing was kept. "
                f"Check that data.url / --archive is GTZAN's genres.tar.gz."
            )
        entries = sorted(tmp.iterdir())
        clashes = [e.name for e in entries if (root / e.name).exists()]
        if clashes:
            raise GTZANDownloadError(f"{root} already holds {clashes}; move them away and retry.")
        for entry in entries:
            os.replace(entry, root / entry.name)
    except UnsafeArchiveError as e:
        raise GTZANDownloadError(
            f"refused to extract {archive}: {e}. The archive may have been crafted to write "
            f"outside {root}; nothing was kept. Use GTZAN's genres.tar.gz from a source you trust."
        ) from e
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise GTZANDownloadError(
            f"could not extract {archive}: {e}. The archive is probably truncated or corrupt; "
            f"delete it and retry.\n" + _manual_help(root)
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: The keys of conf/download.yaml (``paths.*`` and ``task_name``: :data:`app.RUN_CHECKS`).
CHECKS: dict[str, Check] = {
    "root": text("data/gtzan"),
    "url": text(DEFAULT_URL),
    "sha256": text(f"{DEFAULT_SHA256} (or null: not checked)", optional=True),
    "archive": text("~/Downloads/genres.tar.gz", optional=True),
    "timeout": positive("10.0"),
}


def _job(cfg: DictConfig) -> None:
    root = ensure_gtzan(cfg.root, cfg.url, cfg.sha256, cfg.archive, float(cfg.timeout))
    print(f"GTZAN is ready under {root.resolve()}")


#: ``python -m genre_lightning.data.download`` / ``genre-lightning-download``.
main = hydra_app("download", _job, CHECKS)


if __name__ == "__main__":
    main()
