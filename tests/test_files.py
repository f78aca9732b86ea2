"""files.py: result files are replaced whole, and a failed write leaves the old one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from genre_lightning.files import write_csv_atomic, write_json_atomic, write_text_atomic


def test_json_is_replaced_and_no_temporary_file_stays(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"test/acc": 0.5})
    write_json_atomic(path, {"test/acc": 0.75, "classes": ["blues", "rock"]})
    assert json.loads(path.read_text()) == {"test/acc": 0.75, "classes": ["blues", "rock"]}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_write_that_fails_midway_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "marker"
    write_text_atomic(path, "old\n")
    # A lone surrogate cannot be encoded: the write fails after the file was opened.
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "new \ud800\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["marker"]


def test_csv_round_trips_through_the_csv_reader(tmp_path: Path) -> None:
    path = tmp_path / "preds.csv"
    rows = [{"file": 'a, "quoted".wav', "genre": "blues"}, {"file": "b.wav", "genre": "rock"}]
    write_csv_atomic(path, ["file", "genre"], rows)
    with open(path, newline="") as f:
        assert list(csv.DictReader(f)) == rows
    assert path.read_bytes().startswith(b"file,genre\r\n")  # the csv module's own line ends
