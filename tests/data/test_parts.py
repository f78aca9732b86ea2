"""data/parts.py: the split cut by track, each part a dataset built as its plan says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genre_lightning.data.load import LoadedData, load_data
from genre_lightning.data.parts import check_batch_size, cut_split, make_datasets
from genre_lightning.data.plan import make_plan
from genre_lightning.errors import UserError


@pytest.fixture(scope="module")
def loaded(gtzan_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedData:
    root = tmp_path_factory.mktemp("music")
    for genre in ("blues", "jazz"):
        shutil.copytree(gtzan_sample / "genres_original" / genre, root / genre)
    cache = tmp_path_factory.mktemp("cache")
    return load_data(root, None, None, cache, 22050, 44_100, keep=3)


def test_split_is_by_track_and_covers_every_clip(loaded: LoadedData) -> None:
    rows = cut_split(
        loaded, "random", fractions=(0.6, 0.2, 0.2), seed=1, fold=0, num_folds=5, val_fraction=0.1
    )
    assert {p: len(r) for p, r in rows.items()} == {"train": 6, "val": 2, "test": 2}
    assert sorted(rows["train"] + rows["val"] + rows["test"]) == list(range(10))


def test_a_nested_library_is_split_by_folder_or_warned_about(
    gtzan_sample: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tracks in artist folders: data.split_by=folder keeps each artist in one part, and
    data.split_by=track (the default) says that it does not."""
    root = tmp_path / "music"
    for genre in ("blues", "jazz"):
        clips = sorted((gtzan_sample / "genres_original" / genre).glob("*.wav"))
        for clip, artist in zip(clips, ("A", "A", "B", "B", "C"), strict=True):
            (root / genre / artist).mkdir(parents=True, exist_ok=True)
            shutil.copy(clip, root / genre / artist / clip.name)
    data = load_data(root, None, None, tmp_path / "cache", 22050, 44_100, keep=3)
    for kind in ("random", "kfold"):
        caplog.clear()
        rows = _cut(data, kind, split_by="folder")
        assert "flatters the test score" not in caplog.text
        placed = {
            (data.kept_clips[i].label, data.kept_clips[i].folders, p) for p in rows for i in rows[p]
        }
        assert len(placed) == 6  # three artists of two genres, each in one part only
        _cut(data, kind)
        assert "10 of the 10 clips lie in sub-folders of their genre folders" in caplog.text


def _cut(
    data: LoadedData, kind: str, train_on_val: bool = False, split_by: str = "track"
) -> dict[str, list[int]]:
    """cut_split with 60/20/20 (random) or fold 1 of 5, a quarter validating (kfold)."""
    return cut_split(
        data,
        kind,
        fractions=(0.6, 0.2, 0.2),
        seed=1,
        fold=1,
        num_folds=5,
        val_fraction=0.25,
        train_on_val=train_on_val,
        split_by=split_by,
    )


def test_a_test_part_without_some_genres_is_warned_of_with_the_folds_that_cover_them(
    loaded: LoadedData, caplog: pytest.LogCaptureFixture
) -> None:
    """Five tracks a genre: ten folds test one genre per fold, five folds test both. Each
    fold's warning names what its test part lacks; a random split's test part is checked the
    same way."""
    lacking = []
    for fold in range(10):
        caplog.clear()
        with caplog.at_level("WARNING", logger="genre_lightning.data.parts"):
            rows = cut_split(
                loaded,
                "kfold",
                fractions=(0.8, 0.1, 0.1),
                seed=1,
                fold=fold,
                num_folds=10,
                val_fraction=0.1,
            )
        (tested,) = {loaded.class_names[loaded.kept_clips[i].label] for i in rows["test"]}
        (message,) = (r.getMessage() for r in caplog.records)
        untested = ({"blues", "jazz"} - {tested}).pop()
        assert message == (
            f"data.split=kfold, fold {fold} of 10: the test part holds no track of 1 genre "
            f"({untested}), so its scores speak for the other genres only; data.num_folds=5 "
            f"tests every genre in each fold (and each track once over the folds)"
        )
        lacking.append(untested)
    assert sorted(lacking) == ["blues"] * 5 + ["jazz"] * 5
    caplog.clear()
    with caplog.at_level("WARNING", logger="genre_lightning.data.parts"):
        _cut(loaded, "kfold")  # fold 1 of 5
        _cut(loaded, "random")  # seed 1's test part: a track of each genre
    assert not caplog.records
    with caplog.at_level("WARNING", logger="genre_lightning.data.parts"):
        rows = cut_split(  # a test part of one track
            loaded,
            "random",
            fractions=(0.8, 0.1, 0.1),
            seed=3,
            fold=0,
            num_folds=10,
            val_fraction=0.1,
        )
    assert len({loaded.kept_clips[i].label for i in rows["test"]}) == 1
    assert caplog.records[0].getMessage().startswith("data.split=random: the test part holds no")
    assert (
        caplog.records[0]
        .getMessage()
        .endswith(
            "; data.split=kfold data.num_folds=5 tests "
            "every genre in each fold (and each track once over the folds)"
        )
    )


def test_train_on_val_moves_the_validation_tracks_into_training(loaded: LoadedData) -> None:
    for kind in ("random", "kfold"):
        split, refit = _cut(loaded, kind), _cut(loaded, kind, train_on_val=True)
        assert refit["val"] == [] and refit["test"] == split["test"]
        assert refit["train"] == sorted(split["train"] + split["val"])
        assert split["val"]


def test_datasets_follow_the_plan(loaded: LoadedData) -> None:
    rows = {"train": [0, 1, 5, 6], "val": [2, 7], "test": [3, 8]}
    plan = make_plan("random", chunked=True, on_device=False, cache_features="auto")
    datasets = make_datasets(loaded, rows, plan, window=22_050, draws=2)
    for part, dataset in datasets.items():
        assert dataset.locate_only == (not plan[part].carries_samples)
        assert dataset.fixed_windows == plan[part].fixed_windows
        assert dataset.labels == [loaded.kept_clips[r].label for r in rows[part]]
    assert len(datasets["train"]) == 8  # two random chunks per track and epoch
    assert len(datasets["val"]) == 4  # every chunk: 44,100 samples hold two
    assert datasets["train"][0].wave.shape == (22_050,)
    assert datasets["val"][0].wave.numel() == 0 and datasets["val"][1].offset == 22_050


@pytest.mark.parametrize(
    ("windows", "tracks", "chunk", "size", "use"),
    [
        (30, 3, 3.0, "30 chunks of 3 s per epoch, from 3 tracks", "16 (any value up to 30 fits)"),
        (40, 4, 3.0, "40 chunks of 3 s per epoch, from 4 tracks", "32 (any value up to 40 fits)"),
        (32, 32, None, "32 tracks", "32"),
        (1, 1, None, "1 track", "1"),
    ],
)
def test_batch_size_check_counts_what_an_epoch_holds(
    windows: int, tracks: int, chunk: float | None, size: str, use: str
) -> None:
    with pytest.raises(UserError) as caught:
        check_batch_size(64, windows, tracks, chunk)
    message = str(caught.value)
    assert f"data.batch_size=64 is larger than the training set ({size}):" in message
    assert message.endswith(f"Use data.batch_size={use}, or more data.")
    check_batch_size(windows, windows, tracks, chunk)  # one full batch per epoch is allowed
