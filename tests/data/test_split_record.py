"""data/split_record.py: the split a checkpoint records, and the checks against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_lightning.data.index import Clip
from genre_lightning.data.split_record import (
    check_same_split,
    check_unseen_test,
    read_record,
    track_ids,
)
from genre_lightning.errors import UserError

SPLIT = {"train": ["a/1", "a/2", "b/1"], "val": ["b/2"], "test": ["a/3", "b/3"]}


def test_track_ids_name_genre_and_track_sorted_per_part() -> None:
    clips = [Clip(Path(f"/m/{g}/{n}.wav"), label) for label, g in enumerate("ab") for n in "123"]
    parts = {"train": [4, 0], "val": [1], "test": [2, 3, 5]}
    assert track_ids(clips, parts, ["rock", "jazz"]) == {
        "train": ["jazz/2", "rock/1"],
        "val": ["rock/2"],
        "test": ["jazz/1", "jazz/3", "rock/3"],
    }


@pytest.mark.parametrize(
    "state",
    [None, [], {"split": None}, {"split": {"train": []}}, {"split": {**SPLIT, "test": [3]}}],
)
def test_a_missing_or_malformed_record_is_none(state: object) -> None:
    assert read_record(state) is None
    assert read_record({"split": SPLIT}) == SPLIT


def test_the_same_split_resumes_and_a_changed_one_names_the_tracks() -> None:
    check_same_split(SPLIT, {k: list(v) for k, v in SPLIT.items()}, "ckpt_path=x")
    now = {"train": ["a/1", "b/1", "a/3"], "val": ["b/2"], "test": ["b/3", "c/1"]}
    with pytest.raises(UserError) as info:
        check_same_split(SPLIT, now, "ckpt_path=x")
    message = str(info.value)
    assert message.startswith("ckpt_path=x was trained on another split of the data: 3 track(s)")
    assert "a/2 (train -> absent), a/3 (test -> train), c/1 (absent -> test)" in message


def test_a_test_part_holding_trained_tracks_is_refused() -> None:
    check_unseen_test(SPLIT, ["a/3", "b/3", "c/9"], "ckpt_path=x")
    with pytest.raises(UserError, match=r"^2 of the 3 test tracks were in the training or "):
        check_unseen_test(SPLIT, ["a/1", "a/3", "b/2"], "ckpt_path=x")
