"""What produced a result: the code, the libraries and the device it ran on.

A number put in a paper must be traceable to the code that measured it. Training and evaluate
write :func:`provenance` into their ``metrics.json`` (``runs.PROVENANCE``); the report lists
the code versions its rows come from. Nothing here depends on time or on the run, so a resumed
run writes what the uninterrupted one writes (on the same machine and code).

The commit is that of the git work tree the package is imported from: an editable install or a
clone on ``PYTHONPATH``. An installed wheel has none (``null``), and neither has a package
inside another project's repository (a virtual environment within it): its commit would be
the project's, not this code's.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: The distributions whose versions decide the numbers (decoding, the mel, training).
LIBRARIES = ("torch", "torchaudio", "pytorch-lightning", "numpy", "soundfile")

#: The package's own folder; its changes not yet committed make a run's commit inexact.
_PACKAGE = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    """``git -C <the folder holding the package> ARGS``'s output; None where git cannot say."""
    # GIT_DIR and the like (set inside a git hook, say) would point git at another repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(
            ["git", "-C", str(_PACKAGE.parent), *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env=env,
        )
    except (OSError, subprocess.SubprocessError):  # no git, or a hung file system
        return None
    return done.stdout if done.returncode == 0 else None


def source_commit() -> tuple[str | None, bool | None]:
    """The commit the package's code is at, and whether its files differ from it.

    Returns:
        ``(commit, modified)``: the full hash, and whether any file under the package (its
        configs included) is changed, added or deleted since that commit. ``(None, None)``
        where the package is not the top of a git work tree's package folder (a wheel).
        Asked anew each time (~50 ms): code edited in a long session is seen.
    """
    found = _git("rev-parse", "--show-toplevel", "HEAD")
    if found is None or len(found.split("\n")) < 2:
        return None, None
    top, commit = found.split("\n")[:2]
    if Path(top).resolve() != _PACKAGE.parent:  # another project's repository holds it
        return None, None
    status = _git("status", "--porcelain", "--", _PACKAGE.name)
    return commit, (None if status is None else bool(status.strip()))


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def provenance(device: Any = None) -> dict[str, Any]:
    """The code, libraries and device behind a result, as ``metrics.json`` records them.

    Args:
        device: The ``torch.device`` the result was computed on (None: not recorded).

    Returns:
        ``genre_lightning`` (its version), ``commit`` and ``modified`` (:func:`source_commit`),
        ``python``, one entry per :data:`LIBRARIES` (null where not installed), and ``device``
        (``cpu``, or the GPU's name).
    """
    commit, modified = source_commit()
    record: dict[str, Any] = {
        "genre_lightning": _version("genre_lightning"),
        "commit": commit,
        "modified": modified,
        "python": platform.python_version(),
        **{name: _version(name) for name in LIBRARIES},
    }
    if device is not None:
        record["device"] = _device_name(device)
    return record


def _device_name(device: Any) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type
