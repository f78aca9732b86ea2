"""training/curves.py: curves.csv in a real run, without TensorBoard, with epochs not validated."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from genre_lightning import runs
from genre_lightning.errors import UserError

from ..conftest import run_tiny


def test_an_epoch_not_validated_has_no_validation_numbers(tmp_path: Path, data_dir: Path) -> None:
    # Lightning keeps the last value logged of each metric: an epoch that is not validated must
    # not repeat the validated one's. No logger: the table does not depend on TensorBoard.
    run = tmp_path / "run"
    done = run_tiny(
        run,
        data_dir,
        "trainer.max_epochs=3",
        "trainer.check_val_every_n_epoch=2",
        "logger=none",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (run / runs.LAYOUT["tensorboard"]).exists()
    with (run / runs.LAYOUT["curves"]).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert [bool(r[runs.VAL_ACC]) for r in rows] == [False, True, False]
    assert all(r[runs.TRAIN_LOSS] and r["lr"] for r in rows)
    # The one validated epoch is the best, so the checkpoint tested: its numbers are the run's.
    metrics = runs.Run(run).metrics
    assert float(rows[1][runs.VAL_ACC]) == pytest.approx(metrics[runs.VAL_ACC])
    assert float(rows[1][runs.VAL_ACC_BEST]) == pytest.approx(metrics[runs.VAL_ACC_BEST])
    # Read back as curves (the notebook's): by epoch, the epochs without a value left out.
    curves = runs.Run(run).curves()
    assert [epoch for epoch, _ in curves[runs.TRAIN_LOSS]] == [0, 1, 2]
    assert curves[runs.VAL_ACC] == [(1, pytest.approx(metrics[runs.VAL_ACC]))]
    (run / runs.LAYOUT["curves"]).unlink()
    with pytest.raises(UserError, match=r"curves.csv does not exist: .*callbacks.curves=null"):
        runs.Run(run).curves()
