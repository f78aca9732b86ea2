"""Fetching GTZAN: a resumable, checksummed download and an atomic extraction.

``ensure_gtzan(root)`` leaves the original tarball's layout, ``root/genres/<genre>/*.au``, and a
completion marker; later calls see the marker (or data placed by hand) and return at once, so it
is safe to call before every run. Where the download cannot work (offline, a moved URL), the
error says how to place the data by hand. Also a Hydra app (``conf/download.yaml``, with
``--help`` and ``--cfg job``)::

    python -m genre_lightning.data.download root=data/gtzan [archive=genres.tar.gz] [sha256=null]

Its messages name the settings of whoever called it: training's ``data.url=`` / ``data.sha256=``
/ ``data.root=`` (``data.download=true``), or the tool's own ``url=`` / ``sha256=`` / ``root=`` /
``archive=``. An archive the user gave (``archive=``) is never called for deletion: a wrong one
is "not GTZAN's genres.tar.gz"; only the tool's own download in ``root`` may be deleted and
fetched again.
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
from dataclasses import dataclass
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

from genre_lightning.cli.app import hydra_app
from genre_lightning.cli.console import say
from genre_lightning.data.archive import UnsafeArchiveError, extract_tar
from genre_lightning.errors import UserError
from genre_lightning.files import write_text_atomic
from genre_lightning.temp_files import remove_stale_temps, temp_path
from genre_lightning.validate import Check, positive, sha256_digest, text

DEFAULT_URL = "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz"
#: Published SHA-256 of the original ``genres.tar.gz`` (1.23 GB).
DEFAULT_SHA256 = "24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6"
ARCHIVE_NAME = "genres.tar.gz"
#: Written last, so its presence means the extraction finished; holds the archive's digest.
MARKER_NAME = ".gtzan_complete"
_CHUNK = 1 << 20  # 1 MiB: large enough to be fast, small enough to keep memory flat
#: How training's data config names the settings (the data module's call of ensure_gtzan).
DATA_KEYS = "data."
#: How the download tool names them (``python -m genre_lightning.data.download url=...``).
TOOL_KEYS = ""


class GTZANDownloadError(UserError):
    """GTZAN could not be downloaded, verified or extracted; the message says how to fix it."""


def ensure_gtzan(
    root: str | Path,
    url: str = DEFAULT_URL,
    sha256: str | None = DEFAULT_SHA256,
    archive: str | Path | None = None,
    timeout: float = 10.0,
    keys: str = DATA_KEYS,
) -> Path:
    """Make GTZAN available under ``root``, downloading and extracting it if needed.

    Args:
        root: Folder to hold the data set (``data.root``); created if missing.
        url: Where to download ``genres.tar.gz`` from when ``archive`` is not given.
        sha256: Expected hex digest of the archive; ``None`` skips verification.
        archive: A local copy of the tarball to use instead of downloading.
        timeout: Seconds to wait for the server to connect or send data before giving up.
        keys: How the messages name ``url``, ``sha256`` and ``root``: :data:`DATA_KEYS`
            (``data.url=...``, training's data config: the default, as the data module calls
            it) or :data:`TOOL_KEYS` (``url=...``, the download tool). ``archive`` is the
            tool's ``archive=`` either way (training has no such key).

    Returns:
        ``root``, as a :class:`~pathlib.Path`.

    Raises:
        GTZANDownloadError: The download, the checksum or the extraction failed.
    """
    root = Path(root)
    if (root / MARKER_NAME).is_file() or _has_data(root):
        return root
    if archive is not None:
        _check_readable(Path(archive))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file there or above it, or no permission
        why = "it is a file" if root.is_file() else f"{e.strerror}: {e.filename}"
        raise GTZANDownloadError(
            f"{keys}root={root}: cannot be the data set's folder ({why}); give a folder that "
            f"is, or can be created, e.g. {keys}root=data/gtzan"
        ) from None
    if archive is None:
        path = root / ARCHIVE_NAME
        fetched = not path.is_file()  # a verified-but-unextracted archive is reused
        if fetched:
            _download(url, path, timeout, keys)
        source = _Source(path, False, url, keys, fetched)
    else:
        source = _Source(Path(archive), True, url, keys)
    if sha256 is not None:
        _verify(source, sha256)
    _extract(source, root)
    write_text_atomic(root / MARKER_NAME, f"{sha256 or 'unverified'}\n")
    if not source.given:  # the extracted copy is what gets used; 1.2 GB more is not worth it
        source.path.unlink()
    return root


def _layouts() -> str:
    """The layouts an unpacked archive is searched for (index.py's, as :func:`_has_data`)."""
    from genre_lightning.data.index import LAYOUTS

    places = (f"{'' if layout == '.' else layout + '/'}<genre>/<clips>" for layout in LAYOUTS)
    return f"looked for {', '.join(places)}"


def _has_data(root: Path) -> bool:
    """Whether genre folders with audio are already there, e.g. extracted by hand."""
    # Imported here: the index pulls in torch (seconds), which --help need not wait for.
    from genre_lightning.data.index import DataNotFoundError, find_genre_root

    try:
        find_genre_root(root)
    except (DataNotFoundError, OSError):
        return False
    return True


def _check_readable(archive: Path) -> None:
    """Refuse an ``archive=`` that is missing or cannot be read, before anything is written."""
    problem = None
    if not archive.exists():
        problem = "no such file"
    elif not archive.is_file():  # a folder, or a pipe that opening would wait on
        problem = "not a file"
    else:
        try:
            with open(archive, "rb"):
                pass
        except OSError as e:
            problem = f"cannot be read ({e.strerror})"
    if problem is not None:
        raise GTZANDownloadError(
            f"archive={archive}: {problem}; pass the path of GTZAN's {ARCHIVE_NAME}, or leave "
            f"archive out to download it"
        )


@dataclass(frozen=True)
class _Source:
    """The archive being unpacked and how the messages speak of it.

    Attributes:
        path: The archive file.
        given: It is the user's own (``archive=``), not this module's download in ``root``.
        url: Where a download came from.
        keys: :data:`DATA_KEYS` or :data:`TOOL_KEYS`.
        fetched: This run downloaded it; else it was in ``root`` already (placed by hand, or
            left by an earlier run that did not unpack it).
    """

    path: Path
    given: bool
    url: str
    keys: str
    fetched: bool = False

    def __str__(self) -> str:
        if self.given:
            return f"archive={self.path}"
        if not self.fetched:
            return f"{self.path} (found there, not downloaded by this run)"
        return f"{self.path} (downloaded from {self.keys}url={self.url})"

    @property
    def fetch_anew(self) -> str:
        """The fix for an archive in ``root`` (never one given as ``archive=``): a clause."""
        return f"Delete {self.path} and rerun to download it{' again' if self.fetched else ''}"

    def advice(self, root: Path, wrong: bool) -> str:
        """What to do about an archive that is ``wrong`` (not GTZAN's) or damaged: sentences."""
        if self.given:  # the user's own file: never to be deleted on our say-so
            what = "GTZAN's" if wrong else "a complete copy of GTZAN's"
            return f"Pass {what} {ARCHIVE_NAME} as archive=PATH."
        if wrong and self.fetched:  # the url= gave something else
            again = (
                f"Delete {self.path} and rerun with {self.keys}url= pointing at GTZAN's "
                f"{ARCHIVE_NAME}."
            )
        else:
            again = f"{self.fetch_anew}."
        return f"{again} {_manual_help(root, self.keys)}"


def _manual_help(root: Path, keys: str) -> str:
    layout = (
        f"extract it yourself so that {root}/genres/<genre>/<genre>.000NN.au exists (the Kaggle "
        f"layout {root}/Data/genres_original/<genre>/*.wav also works)"
    )
    if keys == TOOL_KEYS:
        return (
            f"To place the data by hand: download {ARCHIVE_NAME} elsewhere and rerun with "
            f"archive=PATH, or {layout}. To use another mirror, set url=... (and sha256=... "
            f"for its checksum, or sha256=null to skip it)."
        )
    return (
        f"To place the data by hand: download {ARCHIVE_NAME} elsewhere and run `python -m "
        f"genre_lightning.data.download archive=PATH root={root}`, or {layout}. To use another "
        f"mirror, set {keys}url=... (and {keys}sha256=... for its checksum, or {keys}sha256=null "
        f"to skip it)."
    )


def _download(url: str, dest: Path, timeout: float, keys: str) -> None:
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
        raise GTZANDownloadError(
            f"{keys}url={url}: the server would not resume {part}; delete that file and rerun to "
            f"download from the start"
        )
    # URLError and timeouts are OSErrors; ValueError: not a URL at all (no scheme).
    except (OSError, http.client.HTTPException, ValueError) as e:
        # URLError wraps the socket error in .reason; HTTPError's str() has the status code.
        reason = e.reason if type(e) is urllib.error.URLError else e
        resume = f" Rerunning resumes from {part}." if part.is_file() else ""
        raise GTZANDownloadError(
            f"{keys}url={url}: could not download it: {reason}.{resume} "
            + _manual_help(dest.parent, keys)
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
    # stderr, so that the CLI's stdout carries only the result; and only to a terminal: a
    # redirected stderr kept an empty line of it, ahead of any error line.
    console = Console(stderr=True)
    with (
        Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as progress,
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


def _verify(source: _Source, expected: str) -> None:
    """Raise unless the SHA-256 of the archive is ``expected``."""
    h = hashlib.sha256()
    with open(source.path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    actual = h.hexdigest()
    if actual != expected.strip().lower():
        key = f"{source.keys}sha256"
        if source.given:
            what = f"it is not GTZAN's {ARCHIVE_NAME} (or is a damaged copy)"
            fix = f"Pass GTZAN's {ARCHIVE_NAME} as archive=PATH"
        else:
            what = f"a damaged {'download' if source.fetched else 'copy'}, or another release"
            fix = source.fetch_anew
        raise GTZANDownloadError(
            f"sha256 mismatch: {source} has SHA-256 {actual}, but {key}={expected}: {what}. "
            f"{fix}; or, if you trust the file, pass {key}={actual} "
            f"({key}=null skips the check)."
        )


def _unpack_problem(exc: BaseException) -> tuple[bool, str]:
    """Whether the archive is of the wrong kind (not a tar at all), and why, in plain words."""
    if isinstance(exc, tarfile.ReadError) and "could not be opened" in str(exc):
        return True, "it is not a tar archive (plain, gzip, bzip2 or xz)"
    if isinstance(exc, EOFError) or "unexpected end of data" in str(exc):
        return False, "it ends early, as a truncated copy does"
    return False, f"its data is damaged ({str(exc).strip() or 'unreadable'})"


def _extract(source: _Source, root: Path) -> None:
    """Extract the archive into a temporary folder in ``root``, then move its entries up.

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
        extract_tar(source.path, tmp)
        if not _has_data(tmp):
            raise GTZANDownloadError(
                f"{source} is not GTZAN's {ARCHIVE_NAME}: it holds no audio in genre folders "
                f"({_layouts()}); nothing was kept. {source.advice(root, wrong=True)}"
            )
        _refuse_other_genres(source, tmp, root)
        entries = sorted(tmp.iterdir())
        clashes = [e.name for e in entries if (root / e.name).exists()]
        if clashes:
            raise GTZANDownloadError(
                f"{source.keys}root={root} already holds {clashes}, which the archive would "
                f"replace; nothing was kept. Move them out of {root} and rerun."
            )
        for entry in entries:
            os.replace(entry, root / entry.name)
    except UnsafeArchiveError as e:
        raise GTZANDownloadError(
            f"refused to extract {source}: {e}. The archive may have been crafted to write "
            f"outside {root}; nothing was kept. Use GTZAN's {ARCHIVE_NAME} from a source you trust."
        ) from e
    except OSError as e:
        if e.errno is None:  # gzip's and the like's complaints about the bytes, not the disk
            raise _unpack_error(source, root, e) from e
        raise GTZANDownloadError(
            f"could not write the data into {source.keys}root={root}: {e.strerror}; nothing was "
            f"kept. Free disk space or choose another {source.keys}root=."
        ) from e
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise _unpack_error(source, root, e) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _refuse_other_genres(source: _Source, unpacked: Path, root: Path) -> None:
    """Refuse an archive of genre folders that GTZAN does not have (another data set, or a
    user's own music): marked ready, it would be trained on as GTZAN (``data=gtzan`` names
    GTZAN's ten genres, and found none of these)."""
    from genre_lightning.data.index import (
        GTZAN_GENRES,
        DataNotFoundError,
        find_genre_root,
        index_clips,
    )

    try:
        genre_root = find_genre_root(unpacked, GTZAN_GENRES)
    except DataNotFoundError:  # audio, but in none of GTZAN's layouts and genres
        found, other = False, []
    else:
        found = True
        other = [
            name for name in index_clips(genre_root, min_genres=1)[1] if name not in GTZAN_GENRES
        ]
    if not found or other:
        held = (
            f"its genre folders {', '.join(other)} are not GTZAN's"
            if other
            else "it holds no folder named after GTZAN's genres"
        )
        raise GTZANDownloadError(
            f"{source} is not GTZAN's {ARCHIVE_NAME}: {held} ({', '.join(GTZAN_GENRES)}; "
            f"{_layouts()}); nothing was kept. {source.advice(root, wrong=True)} A folder of your "
            f"own genres needs no download: extract it and train with data=folder "
            f"data.root=<the folder of its genre folders>."
        )


def ready_note(root: Path) -> str:
    """What the data under ``root`` holds, for the tool's last line: clips and genres, and
    the GTZAN genres it lacks (a partial copy) with the setting that trains on the rest."""
    from genre_lightning.data.index import GTZAN_GENRES, index_clips

    clips, genres = index_clips(root, min_genres=1)
    note = f"GTZAN is ready under {root.resolve()}: {len(clips)} clips of {len(genres)} genres"
    missing = [name for name in GTZAN_GENRES if name not in genres]
    if missing:
        note += (
            f"; it lacks {', '.join(missing)}, so train on it with "
            f"data.class_names=[{','.join(name for name in GTZAN_GENRES if name in genres)}]"
        )
    return note


def _unpack_error(source: _Source, root: Path, exc: BaseException) -> GTZANDownloadError:
    wrong, problem = _unpack_problem(exc)
    what = f"is not GTZAN's {ARCHIVE_NAME}" if wrong else "cannot be unpacked"
    return GTZANDownloadError(
        f"{source} {what}: {problem}; nothing was kept. {source.advice(root, wrong)}"
    )


#: The keys of conf/download.yaml (``paths.*``: the ``RUN_CHECKS`` of every tool).
CHECKS: dict[str, Check] = {
    "root": text("data/gtzan"),
    "url": text(DEFAULT_URL),
    "sha256": sha256_digest(f"{DEFAULT_SHA256} (or null: not checked)"),
    "archive": text("~/Downloads/genres.tar.gz", optional=True),
    "timeout": positive("10.0"),
}


def _job(cfg: DictConfig) -> None:
    root = ensure_gtzan(
        cfg.root, cfg.url, cfg.sha256, cfg.archive, float(cfg.timeout), keys=TOOL_KEYS
    )
    say(ready_note(root))


def _before_launch(cfg: DictConfig, given: list[str], here: bool) -> None:
    """The archive given is checked before the run folder is written (a mistyped path left
    the folder and its log behind)."""
    if here and cfg.archive is not None:
        _check_readable(Path(cfg.archive))


#: ``python -m genre_lightning.data.download`` / ``genre-lightning-download``.
main = hydra_app("download", _job, CHECKS, before_launch=_before_launch)


if __name__ == "__main__":
    main()
