"""Checkpoint files: never half-written, and read as data only.

Trust model: a checkpoint is untrusted input (they are shared between people). It is read with
``torch.load(weights_only=True)``, which unpickles tensors, numbers, strings and containers
only, so a crafted file cannot run code while it is loaded; a file that needs any other Python
object is refused. The classes a checkpoint names in its configs (``_target_``) are built only
when they belong to this package's networks or data modules (:func:`check_target`).
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from genre_lightning import runs
from genre_lightning.errors import UserError
from genre_lightning.files import atomic_write
from genre_lightning.runs import CKPT_FIX
from genre_lightning.temp_files import remove_stale_temps

#: A zip archive's first bytes (a local file header): ``torch.save`` writes zip archives.
_ZIP = b"PK\x03\x04"
#: The PROTO opcode that starts every pickle of protocol 2 and later.
_PICKLE = b"\x80"

#: Where the classes a checkpoint may name live: ``net_config`` and ``data_config`` targets.
TRUSTED_TARGETS = {
    "net_config": "genre_lightning.models.",
    "data_config": "genre_lightning.data.",
}
#: The fix for a checkpoint that is damaged, foreign or not from training, closing its message.
USE_TRAINING_CKPT = "use a .ckpt from a training run's checkpoints/ folder"


class UntrustedCheckpointError(UserError):
    """A checkpoint holds something other than data, or names a class outside this package."""


def check_checkpoint_file(path: Path) -> None:
    """Refuse a file that cannot be a PyTorch checkpoint, saying what is wrong with it.

    Reads the first bytes and the zip directory only. ``torch.load`` would report such a file
    with whatever its unpickler tripped over (a WAV file: ``IndexError: pop from empty list``),
    which says nothing about the file; a file that passes is left to it.

    Raises:
        UserError: The file is empty, unreadable, not a zip archive (the format ``torch.save``
            writes; a legacy pickle checkpoint passes), a cut-off zip, a zip without the
            ``data.pkl`` of a checkpoint, or one whose ``data.pkl`` is not a pickle.
    """
    try:
        problem = _checkpoint_file_problem(path)
    except (OSError, zipfile.BadZipFile) as exc:  # unreadable, or a zip directory that lies
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = f"cannot be read: {reason}"
    if problem is not None:
        raise UserError(f"ckpt_path={path}: not a readable checkpoint ({problem}); {CKPT_FIX}")


def _checkpoint_file_problem(path: Path) -> str | None:
    """What keeps ``path`` from being a PyTorch checkpoint, in plain words (None: nothing seen)."""
    with open(path, "rb") as f:
        head = f.read(len(_ZIP))
    if not head:
        return "an empty file"
    if head.startswith(_PICKLE):
        return None  # torch.save's legacy format (before PyTorch 1.6): torch.load reads it
    if head != _ZIP:
        return "not a PyTorch checkpoint: not a zip archive, the format torch.save writes"
    if not zipfile.is_zipfile(path):
        return (
            "a zip archive cut short, as a truncated copy is: its directory at the end is missing"
        )
    with zipfile.ZipFile(path) as archive:
        # torch.save's layout: every record in one folder, the pickled object in <folder>/data.pkl
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if not names:
            return "a zip archive, but not a PyTorch checkpoint: it holds no data.pkl"
        with archive.open(names[0]) as record:
            if not record.read(1).startswith(_PICKLE):
                return (
                    f"a zip archive laid out as a PyTorch checkpoint, but its {names[0]} is not a "
                    f"pickle: the file is damaged"
                )
    return None


def read_checkpoint(
    path: str | Path, map_location: Any = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """Load a checkpoint file as data only (``weights_only=True``).

    Args:
        path: The ``.ckpt`` file.
        map_location: Where tensors are loaded (as :func:`torch.load`'s argument).
        mmap: Map the tensors' bytes instead of reading them (a cheap check of a large file).

    Returns:
        The checkpoint's dictionary.

    Raises:
        UntrustedCheckpointError: The file needs a Python object beyond tensors and plain
            containers (a pickle that would run code, or a foreign framework's objects).
        UserError: The file is missing, truncated, damaged or not a checkpoint at all.
    """
    path = Path(path)
    if path.is_file():
        check_checkpoint_file(path)  # plain words for a file that is no checkpoint at all
    try:
        with warnings.catch_warnings():
            # Bytes that are not a checkpoint can start like a pickle of an unusual protocol;
            # torch warns about it before failing, and the error below says all there is.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            # A TorchScript file (an export): torch warns, then refuses it (said below).
            warnings.filterwarnings("ignore", message=".*looks like a TorchScript archive")
            # Explicit True: not even TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD can turn it off.
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        # torch's two wordings: "Unsupported global: GLOBAL x" and "unsupported GLOBAL x".
        found = re.search(r"[Uu]nsupported(?: global:)? GLOBAL (\S+)", str(exc))
        if not found:  # not a pickle of anything: a text file, random bytes
            raise UserError(
                f"ckpt_path={path}: not a readable checkpoint (not a .ckpt file); {CKPT_FIX}"
            ) from None
        raise UntrustedCheckpointError(
            f"ckpt_path={path}: refused to load: it needs the Python object {found.group(1)}, and "
            f"checkpoints are read as data only "
            f"(tensors, numbers, strings). genre_lightning's own checkpoints never need one; "
            f"{USE_TRAINING_CKPT}."
        ) from None
    except FileNotFoundError:
        raise UserError(f"ckpt_path={path}: no such checkpoint file; {CKPT_FIX}") from None
    except RuntimeError as exc:
        if "TorchScript archive" not in str(exc):
            raise _unreadable(path, exc) from None
        raise UserError(
            f"ckpt_path={path}: is a TorchScript model (what export writes), not a training "
            f"checkpoint; load it with torch.jit.load, or give the .ckpt it was exported from"
        ) from None
    except Exception as exc:
        # torch.load's unpickler runs on whatever bytes the file holds: junk, a cut-off copy or
        # another program's zip fails with any error (KeyError, IndexError, UnicodeDecodeError,
        # RuntimeError from the zip reader, ...), none of which is a bug of ours.
        raise _unreadable(path, exc) from None
    if not isinstance(ckpt, dict):
        raise UserError(
            f"ckpt_path={path}: not a training checkpoint (it holds a "
            f"{type(ckpt).__name__}); {CKPT_FIX}"
        )
    return ckpt


def _unreadable(path: Path, exc: BaseException) -> UserError:
    return UserError(
        f"ckpt_path={path}: not a readable checkpoint (truncated, damaged or not a .ckpt file: "
        f"{_reason(exc)}); {CKPT_FIX}"
    )


def _reason(exc: BaseException, limit: int = 120) -> str:
    """What went wrong, short: the error's type and its first sentence, without torch's advice."""
    text = str(exc).strip().split("\n")[0]
    text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", text)  # torch's C++ location
    text = re.split(r"\.\s|\.$| This is an internal", text)[0].strip()
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_resumable(path: str | Path) -> dict[str, Any]:
    """Check, before any data is decoded, that ``path`` is a checkpoint training can resume.

    Returns:
        Its ``hyper_parameters`` (the run's settings, ``data_config`` among them).

    Raises:
        UserError: It is unreadable, untrusted, or not a genre_lightning training checkpoint
            (a bare state dict, another framework's file).
    """
    ckpt = read_checkpoint(path, mmap=True)
    hparams = ckpt.get("hyper_parameters")
    missing = [k for k in ("state_dict", "loops", "optimizer_states") if k not in ckpt]
    if missing or not isinstance(hparams, dict) or "net_config" not in hparams:
        raise UserError(
            f"ckpt_path={path}: not a genre_lightning training checkpoint (it lacks "
            f"{', '.join(missing) or 'hyper_parameters.net_config'}); resume from a run's "
            f"{runs.checkpoint_place(runs.LAST)}, or leave ckpt_path unset to start afresh"
        )
    check_target(path, "net_config", hparams["net_config"])
    return hparams


def check_target(path: str | Path, key: str, config: Any) -> None:
    """Refuse a ``_target_`` anywhere in a checkpoint's ``key`` config that is not one of ours.

    Hydra's ``instantiate`` calls whatever a ``_target_`` names, at any depth of the config, so
    a checkpoint naming, say, ``os.system`` would run code as soon as it is built.

    Raises:
        UntrustedCheckpointError: A target lies outside :data:`TRUSTED_TARGETS`.
    """
    prefix = TRUSTED_TARGETS[key]
    if isinstance(config, dict):
        target = config.get("_target_", f"{prefix}none")  # no target: nothing is called
        if not isinstance(target, str) or not re.fullmatch(re.escape(prefix) + r"[\w.]+", target):
            raise UntrustedCheckpointError(
                f"{path}: refused to build {key} with _target_={target!r}: a checkpoint may "
                f"only name classes under {prefix}* (use a .ckpt from a genre_lightning run)"
            )
        children = list(config.values())
    elif isinstance(config, list | tuple):
        children = list(config)
    else:
        return
    for child in children:
        check_target(path, key, child)


class CheckpointWriteError(UserError):
    """A checkpoint could not be written (disk full, unwritable run directory)."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same folder, then renames it.

    A run killed while saving leaves the previous ``last.ckpt`` intact (a rename is atomic on
    POSIX file systems), so resuming always finds a complete checkpoint; the half-written file
    it leaves is removed by the next run that saves into that folder (the resumed one).
    """

    def __init__(self) -> None:
        super().__init__()
        self._swept: set[Path] = set()

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Save ``checkpoint`` to ``path`` atomically."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.parent not in self._swept:  # once per folder: half-written files of kills
                self._swept.add(path.parent)
                remove_stale_temps(path.parent)
            with atomic_write(path, "wb") as f:
                torch.save(checkpoint, f)
        except OSError as exc:
            raise CheckpointWriteError(
                f"cannot write checkpoint {path} ({exc}). Free disk space or make the run "
                f"directory writable (hydra.run.dir=...); the previous checkpoints are intact."
            ) from exc

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable[..., Any] | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read a checkpoint as data only, whatever Lightning asks (see :func:`read_checkpoint`)."""
        return read_checkpoint(path, map_location)
