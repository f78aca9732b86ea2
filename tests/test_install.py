"""A regular (non-editable) install works from any folder: the configs ship in the wheel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, TINY, cli_env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built as a wheel from this checkout and installed into a fresh folder."""
    dist, site = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("site")
    # Built from a copy of the sources: setuptools writes build/ beside them, and a stale build/
    # in the checkout would put deleted modules into the wheel.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "genre_lightning", source / "genre_lightning", ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # The venv's own setuptools builds it (no download of a build environment).
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
    subprocess.run(build, check=True, capture_output=True, text=True, cwd=dist)
    (wheel,) = dist.glob("genre_lightning-*.whl")
    install = [*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, text=True)
    assert not (site / "conf").exists()  # nothing beside the package: conf/ is inside it
    return site


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The installed copy comes first on the path; the dependencies come from this venv.
    env = cli_env({"PYTHONPATH": str(site)})
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_wheel_install_runs_from_an_unrelated_folder(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    show = "import genre_lightning as g; print(g.__file__); print(g.__version__)"
    where = _run(installed, elsewhere, "-c", show)
    location, version = where.stdout.split()
    assert Path(location).is_relative_to(installed), where.stdout + where.stderr
    # The version pyproject.toml states (the one place it is written).
    stated = re.search(r'^version = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert stated is not None and version == stated.group(1)

    cfg = _run(installed, elsewhere, "-m", "genre_lightning", "--cfg", "job", "experiment=demo")
    assert cfg.returncode == 0, cfg.stderr[-2000:]
    assert "genre_lightning.data.synthetic.SyntheticDataModule" in cfg.stdout

    run = elsewhere / "run"
    args = [*TINY, "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    demo = _run(
        installed,
        elsewhere,
        "-m",
        "genre_lightning",
        *args,
        f"paths.data_dir={tmp_path / 'data'}",
        f"hydra.run.dir={run}",
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (run / "metrics.json").is_file() and (run / "checkpoints" / "best.ckpt").is_file()
