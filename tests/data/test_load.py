"""data/load.py: index, check the classes, decode into a cache outside the dataset."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from genre_lightning.data.cache_dir import root_key
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.load import load_data
from genre_lightning.errors import UserError

from ..conftest import copy_sample, run_cli


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``root`` (itself included) with its mode, size and mtime."""
    entries = [root, *sorted(root.rglob("*"))]
    return {
        str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in entries
    }


@pytest.fixture
def read_only_root(gtzan_sample: Path, tmp_path: Path) -> Iterator[Path]:
    """Real clips of three genres in a folder nobody may write to (``chmod -R a-w``)."""
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues", "jazz", "metal"), 3)
    writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~writable)
    yield root
    for path in [root, *root.rglob("*")]:  # so that pytest can delete it
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_read_only_dataset_is_read_and_never_written(
    read_only_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENRE_LIGHTNING_CACHE", str(tmp_path / "user-cache"))
    if os.geteuid() != 0:  # root ignores write bits: there only the snapshot below can tell
        assert not os.access(read_only_root, os.W_OK)
    before = _snapshot(read_only_root)
    dm = GenreDataModule(root=str(read_only_root), class_names=None, clip_samples=2205)
    dm.prepare_data()
    dm.setup("fit")
    dm.feature_statistics()
    dm.write_split(tmp_path / "split.csv")
    assert _snapshot(read_only_root) == before
    assert dm.num_classes == 3 and sum(d.num_tracks for d in dm.datasets.values()) == 9
    assert dm.cache is not None
    assert dm.cache.path.parent == tmp_path / "user-cache" / "waves" / root_key(read_only_root)


@pytest.mark.slow
def test_read_only_dataset_trains_with_default_settings(
    read_only_root: Path, tmp_path: Path
) -> None:
    before = _snapshot(read_only_root)
    run = tmp_path / "run"
    args = [
        "data=folder",
        f"data.root={read_only_root}",
        "data.clip_samples=22050",
        "data.features.num_frames=null",
        "data.batch_size=2",
        "trainer=debug",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run}",
    ]
    proc = run_cli(args, cwd=tmp_path)  # the cache goes to the session's user cache
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "metrics.json").is_file() and (run / "split.csv").is_file()
    assert _snapshot(read_only_root) == before


def test_explicit_cache_dir_is_used_as_is(gtzan_sample: Path, tmp_path: Path) -> None:
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues", "jazz"), 2)
    loaded = load_data(root, None, 2, tmp_path / "mine", 22050, 2205, keep=3)
    assert loaded.cache.path.parent == tmp_path / "mine" and loaded.root == root
    assert [c.track for c in loaded.kept_clips] == [c.track for c in loaded.clips]
    assert loaded.class_names == ["blues", "jazz"]


def test_class_count_and_undecodable_genres_are_named(gtzan_sample: Path, tmp_path: Path) -> None:
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues", "jazz"), 2)
    with pytest.raises(UserError, match=r"data\.num_classes=3 but the data has 2 classes"):
        load_data(root, None, 3, tmp_path / "cache", 22050, 2205, keep=3)
    assert not (tmp_path / "cache").exists()  # checked before decoding
    (root / "rock").mkdir()
    (root / "rock" / "rock.00000.wav").write_bytes(b"RIFF....WAVEfmt broken")
    with pytest.raises(UserError, match=r"genre 'rock' has no usable clip.*rock\.00000\.wav"):
        load_data(root, None, None, tmp_path / "cache", 22050, 2205, keep=3)
    (root / "rock" / "Live").mkdir()  # a genre's files at any depth are its files
    (root / "rock" / "rock.00000.wav").rename(root / "rock" / "Live" / "rock.00000.wav")
    with pytest.raises(UserError, match=r"all 1 of its files failed to decode \(Live/rock\."):
        load_data(root, None, None, tmp_path / "cache", 22050, 2205, keep=3)
