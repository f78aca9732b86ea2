"""files.py: result files are replaced whole, and a failed write leaves the old one."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest

from genre_lightning.errors import UserError
from genre_lightning.files import (
    atomic_folder,
    check_writable,
    partial_path,
    streaming_write,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from genre_lightning.temp_files import remove_stale_temps

from .conftest import dead_pid


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


def test_stale_temps_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = dead_pid()
    stale_file = tmp_path / f".waves-abc.npy.tmp-{dead}"
    stale_dir = tmp_path / f".synthetic-1.tmp-{dead}"
    stale_file.write_bytes(b"half")
    (stale_dir / "blues").mkdir(parents=True)
    mine = tmp_path / f".metrics.json.tmp-{os.getpid()}"
    mine.write_text("{")
    alive = tmp_path / ".best.ckpt.tmp-1"  # pid 1 always runs
    alive.write_bytes(b"x")
    fresh = tmp_path / f".last.ckpt.tmp-{dead}"  # changed after this process started
    fresh.write_bytes(b"x")
    old = time.time() - 3600
    for path in (stale_file, stale_dir, mine, alive):
        os.utime(path, (old, old))
    os.utime(fresh, (time.time() + 60, time.time() + 60))
    user_file = tmp_path / "notes.tmp-123"  # not our naming: never touched
    user_file.write_text("keep")
    os.utime(user_file, (old, old))

    assert sorted(remove_stale_temps(tmp_path)) == sorted([stale_file, stale_dir])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, alive.name, fresh.name, user_file.name]
    )


def test_atomic_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "set"
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("1")
        raise RuntimeError("killed halfway")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_streamed_rows_stay_in_partial_after_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv"
    path.write_text("an earlier, complete result\n")
    with pytest.raises(RuntimeError), streaming_write(path, encoding="utf-8") as f:
        f.write("row 1\n")
        f.flush()
        raise RuntimeError("a later file fails hard")
    assert partial_path(path).read_text() == "row 1\n"
    assert path.read_text() == "an earlier, complete result\n"  # replaced only when complete
    with streaming_write(path, encoding="utf-8") as f:  # a rerun starts afresh
        f.write("row 1\nrow 2\n")
    assert path.read_text() == "row 1\nrow 2\n" and not partial_path(path).exists()


def test_output_places_are_checked_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    assert check_writable(tmp_path / "new" / "deeper" / "a.csv", "output") == (
        tmp_path / "new" / "deeper" / "a.csv"
    )
    assert not (tmp_path / "new").exists()  # checked, not created
    cases = [
        (tmp_path, False, "is a folder, but output names the file to write"),
        (tmp_path / "file.txt", True, "is a file, but output names a folder"),
        (tmp_path / "file.txt" / "a" / "b.csv", False, f"{tmp_path / 'file.txt'} is a file"),
        # /proc refuses new files even to root, whatever its permission bits say.
        (Path("/proc/genre_lightning/out.csv"), False, "cannot create files in /proc"),
    ]
    for path, folder, message in cases:
        with pytest.raises(UserError, match=r"^output=") as err:
            check_writable(path, "output", folder=folder)
        assert message in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # the probe is gone


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(UserError, match="Permission denied"):
        check_writable(tmp_path / "ro" / "a.csv", "output")
