"""runs.py: a finished run read back from its directory (metrics, split, curves, checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genre_lightning.errors import UserError
from genre_lightning.runs import latest_run, load_run

from .conftest import TINY, run_cli


def test_run_reads_back_what_training_wrote(tiny_ckpt: Path) -> None:
    run = load_run(tiny_ckpt.parents[1])
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert run.metrics == metrics
    assert run.best_ckpt == tiny_ckpt
    with pytest.raises(UserError, match="not started from the CLI"):
        run.config  # noqa: B018 -- trained in-process: no .hydra folder
    # The test part of split.csv is what the test metrics were computed on.
    test = run.split("test")
    assert len(test) == sum(sum(row) for row in metrics["confusion_matrix"])
    assert len(run.split()) == sum(metrics["num_clips"].values())
    scalars = run.scalars()
    assert {"train/loss", "val/acc", "test/acc"} <= set(scalars)
    assert scalars["test/acc"][-1][1] == pytest.approx(metrics["test/acc"])
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == sorted(steps) and len(steps) >= 1


def test_latest_run_and_errors(tiny_ckpt: Path, tmp_path: Path) -> None:
    # evaluate writes a newer metrics.json into <run>/evaluate: still the run is found.
    evaluated = tiny_ckpt.parents[1] / "evaluate"
    evaluated.mkdir(exist_ok=True)
    (evaluated / "metrics.json").write_text("{}")
    assert latest_run(tiny_ckpt.parents[2]).path == tiny_ckpt.parents[1]
    with pytest.raises(UserError, match="no finished run"):
        latest_run(tmp_path)
    with pytest.raises(UserError, match="not a finished run directory"):
        load_run(tmp_path)


def test_config_of_a_cli_run(tmp_path: Path, data_dir: Path) -> None:
    proc = run_cli(
        [*TINY, "trainer.max_epochs=1", f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = load_run(tmp_path)
    assert run.config["model"]["_target_"].endswith("ResNet")
    assert run.config["trainer"]["max_epochs"] == 1
