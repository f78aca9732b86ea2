"""data/cache_dir.py: caches live in the user cache, per data root, and old ones are pruned."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from genre_lightning.data.cache import load_or_build
from genre_lightning.data.cache_dir import default_cache_dir, root_key
from genre_lightning.data.index import index_clips
from genre_lightning.errors import UserError

from ..conftest import copy_sample


@pytest.fixture
def small_root(tmp_path: Path, gtzan_sample: Path) -> Path:
    return copy_sample(gtzan_sample, tmp_path / "gtzan", ("jazz", "metal"), per_genre=2)


def test_root_key_is_readable_and_one_per_resolved_root(tmp_path: Path) -> None:
    key = root_key(tmp_path / "My Music")
    assert key.startswith("My_Music-") and len(key) == len("My_Music-") + 12
    assert root_key(tmp_path / "x" / ".." / "My Music") == key  # the same folder
    assert root_key(tmp_path / "other" / "My Music") != key


def test_default_folder_is_the_user_cache_keyed_by_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENRE_LIGHTNING_CACHE", str(tmp_path / "mine"))
    folder = default_cache_dir(tmp_path / "gtzan")
    assert folder == tmp_path / "mine" / "waves" / root_key(tmp_path / "gtzan")
    assert folder.is_dir() and not (tmp_path / "gtzan").exists()
    monkeypatch.delenv("GENRE_LIGHTNING_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir(tmp_path / "gtzan").parent == tmp_path / "xdg/genre_lightning/waves"


def test_unwritable_user_cache_falls_back_to_temp_then_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GENRE_LIGHTNING_CACHE", str(blocker / "cache"))  # cannot be created
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    with caplog.at_level(logging.WARNING):
        folder = default_cache_dir(tmp_path / "gtzan")
    assert folder.is_dir() and folder.is_relative_to(tmp_path / "tmp")
    assert "GENRE_LIGHTNING_CACHE" in caplog.text
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    with pytest.raises(UserError) as caught:
        default_cache_dir(tmp_path / "gtzan")
    message = str(caught.value)
    assert "data.cache_dir=" in message and str(blocker / "cache") in message


def test_old_caches_of_a_root_are_pruned_least_recently_used_first(
    small_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clips, _ = index_clips(small_root)
    folder = tmp_path / "cache"
    other = load_or_build(clips, folder, 22050, 500, root=tmp_path / "elsewhere", keep=3)

    def build(samples: int) -> Path:
        return load_or_build(clips, folder, 22050, samples, root=small_root, keep=3).path

    first, second, third = build(1000), build(1001), build(1002)
    assert load_or_build(clips, folder, 22050, 1000, root=small_root, keep=3).hit  # used again
    with caplog.at_level(logging.INFO):
        fourth = build(1003)
    assert set(folder.glob("waves-*.npy")) == {other.path, first, third, fourth}
    assert not second.with_suffix(".json").exists()
    assert f"removed the old waveform cache {second}" in caplog.text
    unpruned = tmp_path / "unpruned"
    for samples in (1000, 1001, 1002, 1003):
        load_or_build(clips, unpruned, 22050, samples, root=small_root, keep=None)
    assert len(list(unpruned.glob("waves-*.npy"))) == 4
