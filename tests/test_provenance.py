"""provenance.py: the commit is the package's own work tree's, with its edits, or none."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

import genre_lightning.provenance as installed

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


_QUIET_GIT = [
    *("-c", "user.name=t", "-c", "user.email=t@t"),
    *("-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"),
]


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        # The machine's own git settings (signing, hooks) must not decide the test.
        ["git", "-C", str(folder), *_QUIET_GIT, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _package_at(root: Path) -> ModuleType:
    """provenance.py imported from a copy in ``root/genre_lightning/`` (its own folder is the
    package it reports on)."""
    package = root / "genre_lightning"
    package.mkdir(parents=True)
    shutil.copy(installed.__file__, package / "provenance.py")
    spec = importlib.util.spec_from_file_location("provenance_copy", package / "provenance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_clone_s_commit_and_its_edits(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    module = _package_at(clone)
    assert module.source_commit() == (None, None)  # not a repository yet
    (clone / "README.md").write_text("x\n")
    _git(clone, "init", "-q")
    _git(clone, "add", ".")
    _git(clone, "commit", "-qm", "first")
    head = _git(clone, "rev-parse", "HEAD")
    assert module.source_commit() == (head, False)
    # Edits outside the package do not change its results; edits inside do, new files too.
    (clone / "README.md").write_text("y\n")
    assert module.source_commit() == (head, False)
    (clone / "genre_lightning" / "conf.yaml").write_text("lr: 1\n")
    assert module.source_commit() == (head, True)
    _git(clone, "add", ".")
    _git(clone, "commit", "-qm", "second")
    assert module.source_commit() == (_git(clone, "rev-parse", "HEAD"), False)


def test_git_s_environment_does_not_point_it_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside a git hook GIT_DIR names the hook's repository, whatever folder git runs in.
    clone, other = tmp_path / "clone", tmp_path / "other"
    module = _package_at(clone)
    for folder in (clone, other):
        folder.mkdir(exist_ok=True)
        (folder / "f").write_text(folder.name)
        _git(folder, "init", "-q")
        _git(folder, "add", ".")
        _git(folder, "commit", "-qm", folder.name)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert module.source_commit()[0] == _git(
        clone, "--git-dir", str(clone / ".git"), "rev-parse", "HEAD"
    )


def test_a_package_inside_another_project_s_repository_has_no_commit(tmp_path: Path) -> None:
    # E.g. a wheel installed into a virtual environment kept inside the user's own repository.
    project = tmp_path / "project"
    module = _package_at(project / ".venv" / "site-packages")
    _git(project, "init", "-q")
    _git(project, "add", "-f", ".")
    _git(project, "commit", "-qm", "theirs")
    assert module.source_commit() == (None, None)
    record = module.provenance("cpu")
    assert record["commit"] is None and record["device"] == "cpu"
    assert record["torch"] == version("torch")
