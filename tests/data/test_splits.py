"""data/splits.py: the paper's seeded 80/10/10 split, the fault-filtered split and k-fold."""

from __future__ import annotations

import logging
import random
from importlib import resources
from pathlib import Path

import pytest

from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.data.splits import (
    FILTERED_FILES,
    PARTS,
    check_every_class_trains,
    check_split_keys,
    filtered_lists,
    filtered_split,
    kfold_split,
    make_split,
    random_split,
)
from genre_lightning.errors import UserError

from ..conftest import GTZAN_SAMPLE


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(1000, (800, 100, 100)), (999, (799, 100, 100)), (50, (40, 5, 5)), (3, (1, 1, 1))],
)
def test_sizes_are_80_10_10(n: int, sizes: tuple[int, int, int]) -> None:
    parts = random_split(n, seed=0)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == sizes
    together = parts["train"] + parts["val"] + parts["test"]
    assert sorted(together) == list(range(n))  # disjoint and complete


def test_same_seed_same_split_other_seed_other_split() -> None:
    assert random_split(200, seed=7) == random_split(200, seed=7)
    assert random_split(200, seed=7)["test"] != random_split(200, seed=8)["test"]


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.8, 0.1, 0.2), (1.0, 0.0, 0.0)])
def test_bad_fractions_are_rejected(bad: tuple[float, ...]) -> None:
    with pytest.raises(UserError, match="split_fractions"):
        random_split(10, fractions=bad)


def test_fractions_that_leave_nothing_to_train_on_are_refused() -> None:
    # 3 tracks: validation and test get at least one each and test rounds up to 3; the cut
    # would then deal train's tracks to test as well.
    with pytest.raises(UserError) as caught:
        random_split(3, fractions=(0.1, 0.05, 0.85), seed=1)
    assert str(caught.value).startswith(
        "data.split_fractions=[0.1, 0.05, 0.85] of 3 tracks gives validation 1 and test 3, "
        "which leaves none to train on"
    )
    parts = random_split(4, fractions=(0.5, 0.25, 0.25))
    assert sorted(i for part in parts.values() for i in part) == [0, 1, 2, 3]


# --- fault-filtered split (Kereliuk, Sturm & Larsen 2015) -------------------------------------

SHARED_SPLITS = GTZAN_SAMPLE.parent / "gtzan-splits"


def _all_listed() -> list[str]:
    return [t for part in PARTS for t in filtered_lists()[part]]


def test_package_lists_match_the_published_lists() -> None:
    if not SHARED_SPLITS.is_dir():
        pytest.skip(f"published split lists not found at {SHARED_SPLITS}")
    for part, name in FILTERED_FILES.items():
        shipped = (
            resources.files("genre_lightning.data")
            .joinpath("filtered_split", name)
            .read_text("utf-8")
        )
        assert shipped == (SHARED_SPLITS / name).read_text()
        assert filtered_lists()[part] == set(shipped.split())
    sizes = {p: len(filtered_lists()[p]) for p in PARTS}
    assert sizes == {"train": 443, "val": 197, "test": 290}
    assert "jazz.00054" in filtered_lists()["train"]


def test_filtered_split_on_the_real_sample(
    gtzan_sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracks = sorted(p.stem for p in (gtzan_sample / "genres_original").glob("*/*.wav"))
    assert len(tracks) == 50
    with caplog.at_level(logging.INFO, logger="genre_lightning.data.splits"):
        parts, missing = filtered_split(tracks)
    assert {p: len(v) for p, v in parts.items()} == {"train": 19, "val": 24, "test": 4}
    assert missing == {"train": 443 - 19, "val": 197 - 24, "test": 290 - 4}
    used = parts["train"] + parts["val"] + parts["test"]
    assert len(set(used)) == len(used) == 47  # disjoint; 3 clips are faults
    for part in PARTS:
        assert parts[part] == sorted(parts[part])
        assert all(tracks[i] in filtered_lists()[part] for i in parts[part])
    (line,) = [r.getMessage() for r in caplog.records if "filtered split" in r.getMessage()]
    assert "train 19 present/424 missing" in line and "3 present clips excluded" in line


def test_filtered_split_on_all_930_names_misses_nothing() -> None:
    tracks = _all_listed()
    random.Random(0).shuffle(tracks)
    parts, missing = filtered_split([*tracks, "blues.99999"])  # one fault at the end
    assert {p: len(v) for p, v in parts.items()} == {"train": 443, "val": 197, "test": 290}
    assert missing == {"train": 0, "val": 0, "test": 0}
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(930))
    assert tracks.index("jazz.00054") in parts["train"]


def test_filtered_split_with_an_empty_part_is_a_user_error() -> None:
    with pytest.raises(
        UserError, match=r"290 tracks listed for the 'test' part.*data\.split=random"
    ):
        filtered_split(["blues.00029", "blues.00030", *sorted(filtered_lists()["val"])[:2]])


# --- stratified k-fold ------------------------------------------------------------------------

LABELS = [k for k, n in enumerate([13, 10, 7, 21]) for _ in range(n)]  # uneven classes, 51 tracks


@pytest.mark.parametrize("num_folds", [2, 5, 10])
def test_kfold_test_folds_partition_and_stratify(num_folds: int) -> None:
    folds = [kfold_split(LABELS, f, num_folds, seed=3) for f in range(num_folds)]
    tests = [set(p["test"]) for p in folds]
    assert sorted(i for t in tests for i in t) == list(range(len(LABELS)))  # once each
    for label in set(LABELS):
        counts = [sum(LABELS[i] == label for i in t) for t in tests]
        assert max(counts) - min(counts) <= 1
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for p in folds:
        together = p["train"] + p["val"] + p["test"]
        assert sorted(together) == list(range(len(LABELS)))  # disjoint and complete
        assert all(p[k] == sorted(p[k]) and p[k] for k in PARTS)


def test_kfold_validation_is_a_stratified_tenth() -> None:
    labels = [k for k in range(10) for _ in range(100)]
    parts = kfold_split(labels, 0, 10, val_fraction=0.1)
    assert len(parts["test"]) == 100 and len(parts["val"]) == 90
    assert all(sum(labels[i] == k for i in parts["val"]) == 9 for k in range(10))
    tiny = kfold_split([0, 0, 1, 1], 1, 2, val_fraction=0.01)
    assert (len(tiny["train"]), len(tiny["val"])) == (1, 1)


def test_kfold_validation_fewer_than_the_classes_takes_every_class_in_turn() -> None:
    # The shared sample's CV: 40 non-test tracks, 8 validate, 10 genres. Ties between classes
    # were broken by label: reggae and rock (the last two) were never validated, in any fold or
    # deal of the folds.
    labels = [k for k in range(10) for _ in range(5)]
    validated: dict[int, int] = dict.fromkeys(range(10), 0)
    for seed in (42, 1, 2, 3):
        folds = [kfold_split(labels, f, 5, seed=seed, val_fraction=0.2) for f in range(5)]
        for parts in folds:
            counts = [sum(labels[i] == k for i in parts["val"]) for k in range(10)]
            assert len(parts["val"]) == 8 and max(counts) == 1  # still one a genre at most
            for k in range(10):
                validated[k] += counts[k]
        # The test folds are dealt as before: the turns are drawn apart from the shuffles.
        assert sorted(i for p in folds for i in p["test"]) == list(range(50))
    assert min(validated.values()) >= 8, validated  # of 20 folds; by label: 0 for two genres


def test_kfold_is_deterministic_for_a_seed() -> None:
    assert kfold_split(LABELS, 2, 5, seed=9) == kfold_split(LABELS, 2, 5, seed=9)
    assert kfold_split(LABELS, 2, 5, seed=9)["test"] != kfold_split(LABELS, 2, 5, seed=10)["test"]


@pytest.mark.parametrize(
    ("fold", "num_folds", "match"),
    [
        (10, 10, r"data\.fold=10: must be in \[0, 9\]"),
        (-1, 5, r"data\.fold=-1: must be in \[0, 4\]"),
        (0, 1, r"data\.num_folds=1: must be in \[2, 51\]"),
        (0, 52, r"data\.num_folds=52"),
    ],
)
def test_kfold_rejects_bad_fold_settings(fold: int, num_folds: int, match: str) -> None:
    with pytest.raises(UserError, match=match):
        kfold_split(LABELS, fold, num_folds)


# --- dispatcher -------------------------------------------------------------------------------


def test_make_split_dispatches_each_kind() -> None:
    tracks = _all_listed()
    labels = [GTZAN_GENRES.index(t.split(".")[0]) for t in tracks]
    assert make_split("random", tracks, labels, seed=5) == random_split(930, seed=5)
    assert make_split("filtered", tracks, labels) == filtered_split(tracks)[0]
    kfold = make_split("kfold", tracks, labels, seed=5, fold=3, num_folds=4)
    assert kfold == kfold_split(labels, 3, 4, seed=5)
    # evaluate's split of other recordings: every track is tested, none trains.
    everything = make_split("test", tracks, labels)
    assert everything == {"train": [], "val": [], "test": list(range(930))}


@pytest.mark.parametrize("kind", ["random", "kfold"])
def test_split_by_folder_keeps_each_folder_in_one_part(kind: str) -> None:
    """data.split_by=folder: 3 genres x 6 artists of 1-4 tracks each (random sizes), plus
    loose tracks that are each their own group. No artist is in two parts; kfold deals each
    genre's artists into every fold; one track per group gives the tracks' own split."""
    rng = random.Random(0)
    labels, groups = [], []
    for genre in range(3):
        for artist in range(6):
            n = rng.randint(1, 4)
            labels += [genre] * n
            groups += [f"artist{artist}"] * n  # the same names in every genre: distinct groups
    tracks = [f"t{i}" for i in range(len(labels))]

    def cut(by: list[str] | None) -> dict[str, list[int]]:
        return make_split(
            kind, tracks, labels, fractions=(0.6, 0.2, 0.2), seed=3, fold=1, num_folds=3, groups=by
        )

    split = cut(groups)
    assert sorted(i for part in PARTS for i in split[part]) == list(range(len(labels)))
    where: dict[tuple[int, str], str] = {}
    for part in PARTS:
        for i in split[part]:
            assert where.setdefault((labels[i], groups[i]), part) == part, (i, part)
    if kind == "kfold":  # 6 artists per genre over 3 folds: two of each genre tested
        tested = {(labels[i], groups[i]) for i in split["test"]}
        assert sorted(g for g, _ in tested) == [0, 0, 1, 1, 2, 2]
    # Each track its own group: exactly the split by track.
    assert cut(tracks) == cut(None)


def test_too_few_folders_are_counted_as_folders() -> None:
    with pytest.raises(UserError, match=r"need at least 3 folders .* got 2.*data.split_by=track"):
        make_split("random", ["a", "b", "c"], [0, 0, 1], groups=["x", "x", "y"])


def test_make_split_unknown_kind_lists_the_options() -> None:
    with pytest.raises(UserError, match=r"data\.split=random\|filtered\|kfold\|all\|test"):
        make_split("artist", ["a.1", "a.2", "a.3"], [0, 0, 0])


# --- every genre trains -----------------------------------------------------------------------


def test_a_genre_without_training_tracks_is_named_with_its_count_and_the_fix() -> None:
    # Five blues tracks and one jazz track: the seeded random split sends jazz to test.
    labels = [0, 0, 0, 0, 0, 1]
    parts = random_split(len(labels), seed=42)
    assert 5 in parts["test"] and 5 not in parts["train"]
    with pytest.raises(UserError) as caught:
        check_every_class_trains("random", parts, labels, ["blues", "jazz"])
    message = str(caught.value)
    assert message.startswith(
        "data.split=random leaves genre 'jazz' (1 track: 0 val, 1 test) without a training "
        "track, so the network could never learn it."
    )
    assert "give each genre more tracks, or use data.split=kfold" in message
    assert "data.class_names=" not in message  # leaving jazz out would leave one genre
    assert "\n" not in message


def test_every_genre_missing_is_listed_and_leaving_them_out_is_offered() -> None:
    labels = [0, 0, 1, 1, 2, 3]
    parts = {"train": [0, 1, 2, 3], "val": [4], "test": [5]}
    with pytest.raises(UserError) as caught:
        check_every_class_trains("filtered", parts, labels, ["a", "b", "c", "d"])
    message = str(caught.value)
    assert "genres 'c' (1 track: 1 val, 0 test), 'd' (1 track: 0 val, 1 test)" in message
    assert "train.txt" in message and message.endswith("leave them out: data.class_names=[a,b].")


def test_kfold_names_the_fold_fix() -> None:
    labels = [0, 0, 0, 1, 1, 1, 2]  # genre c: one track, so the fold that tests it has none
    folds = [kfold_split(labels, fold, num_folds=3) for fold in range(3)]
    (testing_c,) = [parts for parts in folds if 6 in parts["test"]]
    with pytest.raises(UserError) as caught:
        check_every_class_trains("kfold", testing_c, labels, ["a", "b", "c"])
    message = str(caught.value)
    assert "genre 'c' (1 track: 0 val, 1 test)" in message
    assert "give each genre at least 3 tracks, or lower data.val_fraction" in message
    assert message.endswith("leave it out: data.class_names=[a,b].")


def test_splits_where_every_genre_trains_pass() -> None:
    labels = [i // 5 for i in range(50)]  # the shared sample's shape: 10 genres of 5
    names = [str(g) for g in range(10)]
    check_every_class_trains("random", random_split(50), labels, names)
    for fold in range(5):  # stratified: 3 tracks per genre and more always train
        check_every_class_trains("kfold", kfold_split(labels, fold, 5), labels, names)


def test_a_key_of_another_split_is_refused_naming_the_split_that_reads_it() -> None:
    check_split_keys("kfold", {"fold": 3, "num_folds": 5}, "this run is split")  # read: fine
    with pytest.raises(UserError) as caught:
        check_split_keys("random", {"fold": 3}, "this run is split")
    assert str(caught.value) == (
        "data.fold=3 has no effect: this run is split data.split=random, and only "
        "data.split=kfold reads it; add data.split=kfold data.num_folds=5, or leave data.fold out"
    )
    with pytest.raises(UserError, match=r"^data.split_fractions=\[0.5,0.25,0.25\] has no effect"):
        check_split_keys("filtered", {"split_fractions": [0.5, 0.25, 0.25]}, "this run is split")
    # data.split_by is read by the two splits that deal tracks by chance, and by no other.
    for kind in ("random", "kfold"):
        check_split_keys(kind, {"split_by": "folder"}, "this run is split")
    with pytest.raises(UserError) as caught:
        check_split_keys("filtered", {"split_by": "folder"}, "this run is split")
    assert str(caught.value).startswith(
        "data.split_by=folder has no effect: this run is split data.split=filtered, and only "
        "data.split=random and data.split=kfold read it"
    )
