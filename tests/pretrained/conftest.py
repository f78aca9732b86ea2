"""Session fixtures for the musicnn tests: the real musicnn 0.1.0 wheel, fetched once.

CI downloads the wheel (29 MB) from the package index with pip, once per test session. To skip
the download in development, fetch it once yourself and point the tests at it::

    pip download musicnn==0.1.0 --no-deps --only-binary=:all: -d /tmp/musicnn-wheel
    export GENRE_LIGHTNING_MUSICNN_WHEEL=/tmp/musicnn-wheel/musicnn-0.1.0-py3-none-any.whl

``tests/models/conftest.py`` imports these fixtures too; both share the session's base temp
folder, so the wheel is downloaded and each checkpoint unpacked only once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genre_lightning.pretrained.fetch import REQUIREMENT, WHEEL_NAME, musicnn_checkpoint

WHEEL_ENV = "GENRE_LIGHTNING_MUSICNN_WHEEL"
MODELS = ("MSD_musicnn", "MTT_musicnn")


@pytest.fixture(scope="session")
def musicnn_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real ``musicnn-0.1.0-py3-none-any.whl``: ``$GENRE_LIGHTNING_MUSICNN_WHEEL`` or pip's."""
    given = os.environ.get(WHEEL_ENV)
    if given:
        if not Path(given).is_file():
            pytest.fail(f"{WHEEL_ENV}={given} is not a file")
        return Path(given)
    folder = tmp_path_factory.getbasetemp() / "musicnn-wheel"
    wheel = folder / WHEEL_NAME
    if not wheel.is_file():
        command = [sys.executable, "-m", "pip", "download", REQUIREMENT, "--no-deps"]
        command += ["--only-binary=:all:", "--disable-pip-version-check", "-d", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"pip could not download {REQUIREMENT}: {done.stderr[-2000:]}")
    return wheel


@pytest.fixture(scope="session")
def musicnn_cache(tmp_path_factory: pytest.TempPathFactory, musicnn_wheel: Path) -> Path:
    """A cache root holding the MSD and MTT checkpoints, unpacked from the real wheel."""
    root = tmp_path_factory.getbasetemp() / "musicnn-cache"
    for model in MODELS:
        musicnn_checkpoint(model, source=musicnn_wheel, cache_dir=root)  # reused if there
    return root


@pytest.fixture(scope="session")
def msd_prefix(musicnn_cache: Path) -> Path:
    """The real MSD_musicnn checkpoint (a folder prefix). Copy it before changing anything."""
    return musicnn_checkpoint("MSD_musicnn", cache_dir=musicnn_cache)
