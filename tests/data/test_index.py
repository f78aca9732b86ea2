"""data/index.py: GTZAN layouts found under data.root; clear error when nothing is there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genre_lightning.data.index import GTZAN_GENRES, DataNotFoundError, index_clips

from ..conftest import copy_sample


def test_indexes_the_real_sample_in_label_order(gtzan_sample: Path) -> None:
    clips, names = index_clips(gtzan_sample, GTZAN_GENRES)
    assert names == list(GTZAN_GENRES)
    assert len(clips) == 50
    assert [c.label for c in clips] == sorted(c.label for c in clips)
    assert all(c.path.parent.name == names[c.label] for c in clips)
    assert clips[0].track == "blues.00000"


@pytest.mark.parametrize("layout", ["Data/genres_original", "genres", "."])
def test_finds_each_gtzan_layout(tmp_path: Path, gtzan_sample: Path, layout: str) -> None:
    root = tmp_path / "gtzan"
    target = copy_sample(gtzan_sample, root / layout, ("blues", "rock"), per_genre=2)
    (target / "blues" / "blues.mf").write_text("not audio\n")  # GTZAN ships these lists
    (target / "rock" / ".DS_Store").write_bytes(b"\0")
    clips, names = index_clips(root, ["blues", "rock"])
    assert names == ["blues", "rock"] and len(clips) == 4
    assert all(c.path.suffix == ".wav" for c in clips)


def test_class_names_default_to_sorted_folders(tmp_path: Path, gtzan_sample: Path) -> None:
    for genre in ("rock", "jazz"):
        (tmp_path / genre).mkdir()
        shutil.copy(
            gtzan_sample / "genres_original" / genre / f"{genre}.00000.wav", tmp_path / genre
        )
    _, names = index_clips(tmp_path)
    assert names == ["jazz", "rock"]


def test_missing_data_names_the_path_and_both_ways_out(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as err:
        index_clips(root, GTZAN_GENRES)
    message = str(err.value)
    assert str(root) in message and "data.root=" in message and "experiment=demo" in message


def test_a_genre_without_audio_is_a_clear_error(tmp_path: Path, gtzan_sample: Path) -> None:
    (tmp_path / "blues").mkdir()
    shutil.copy(gtzan_sample / "genres_original" / "blues" / "blues.00000.wav", tmp_path / "blues")
    (tmp_path / "rock").mkdir()
    with pytest.raises(DataNotFoundError, match="'rock' has no audio"):
        index_clips(tmp_path, ["blues", "rock"])


def test_a_folder_dataset_error_speaks_of_genre_folders_not_gtzan(tmp_path: Path) -> None:
    (tmp_path / "music" / "notes").mkdir(parents=True)
    (tmp_path / "music" / "notes" / "readme.txt").write_text("no audio here")
    for names in (None, ["rock", "jazz"]):
        with pytest.raises(DataNotFoundError) as caught:
            index_clips(tmp_path / "music", names)
        message = str(caught.value)
        assert "GTZAN" not in message and "experiment=demo" not in message
        assert f"data.root={tmp_path / 'music'}" in message and "one folder per genre" in message
        assert "data=folder data.root=/path/to/genre/folders" in message
    with pytest.raises(DataNotFoundError, match="your copy of GTZAN"):
        index_clips(tmp_path / "music", GTZAN_GENRES)
