"""sweep.py and the Hydra plugins: summaries after multiruns, Optuna, joblib, SLURM config."""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from genre_lightning.hydra_conf import CONFIG_DIR
from genre_lightning.training.sweep import (
    SweepSummary,
    format_table,
    split_overrides,
    summarize_sweep,
)

from ..conftest import TINY, run_cli, run_tiny_multirun


def _fake_job(
    sweep: Path,
    num: int,
    lr: str,
    val: float | None,
    test: float,
    common: tuple[str, ...] = (),
    best_epoch: float | None = None,
) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    overrides = [*common, f"optimizer.lr={lr}"]
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if val is not None:
        metrics = {
            "val/acc": val,  # of the tested checkpoint
            "val/acc_best": val if best_epoch is None else best_epoch,
            "test/acc": test,
            "test/f1_macro": test,
            "epochs": 3,
        }
        (job / "metrics.json").write_text(json.dumps(metrics))


def test_summary_sorts_by_validation_and_keeps_failed_jobs(tmp_path: Path) -> None:
    _fake_job(tmp_path, 0, "1e-4", 0.5, 0.9)
    _fake_job(tmp_path, 1, "1e-3", 0.8, 0.4)
    _fake_job(tmp_path, 2, "1e-2", None, 0.0)  # crashed: no metrics.json
    # A recipe testing its last epoch: an earlier epoch, not kept, validated best of all.
    _fake_job(tmp_path, 3, "1e-1", 0.6, 0.5, best_epoch=0.9)
    # Tied with job 0 on validation, better on test: the tie is not broken by the test part.
    _fake_job(tmp_path, 4, "1", 0.5, 0.95)
    _fake_job(tmp_path, 5, "10", 0.0, 0.1)  # a real 0.0 ranks above a failed job
    rows = summarize_sweep(tmp_path)
    # Selected on the tested checkpoints' validation, not on test, nor on an epoch not kept.
    assert [r["job"] for r in rows] == ["1", "3", "0", "4", "5", "2"]
    with open(tmp_path / "sweep_summary.csv") as f:
        written = list(csv.DictReader(f))
    assert [r["overrides"] for r in written] == [
        "optimizer.lr=1e-3",
        "optimizer.lr=1e-1",
        "optimizer.lr=1e-4",
        "optimizer.lr=1",
        "optimizer.lr=10",
        "optimizer.lr=1e-2",
    ]
    assert [float(written[1][k]) for k in ("val/acc", "val/acc_best")] == [0.6, 0.9]
    table = format_table(rows)
    assert "0.8000" in table.splitlines()[1] and table.splitlines()[6].count("-") >= 4


def test_the_table_shows_only_what_differs_between_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("experiment=demo", "data.root=/a/long/path/to/the/data", "trainer.max_epochs=40")
    _fake_job(tmp_path, 0, "1e-4", 0.5, 0.9, common)
    _fake_job(tmp_path, 1, "1e-3", 0.8, 0.4, common)
    summarize_sweep(tmp_path)
    with open(tmp_path / "sweep_summary.csv") as f:
        assert [r["overrides"] for r in csv.DictReader(f)] == [
            "optimizer.lr=1e-3",
            "optimizer.lr=1e-4",
        ]
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    SweepSummary().on_multirun_end(config)
    printed = capsys.readouterr().out
    assert printed.count("data.root=/a/long/path") == 1  # once, above the table
    assert "every job: experiment=demo data.root=/a/long/path/to/the/data" in printed
    assert max(len(line) for line in printed.splitlines() if "optimizer.lr" in line) < 80


def test_split_overrides() -> None:
    rows = [["a=1", "b=2", "c=3"], ["a=1", "b=5", "c=3"], ["c=3", "a=1"]]
    assert split_overrides(rows) == (["a=1", "c=3"], [["b=2"], ["b=5"], []])
    assert split_overrides([["a=1"]]) == (["a=1"], [[]])
    assert split_overrides([]) == ([], [])


@pytest.mark.slow
def test_optuna_two_trials(tmp_path: Path, data_dir: Path) -> None:
    sweep = tmp_path / "optuna"
    proc = run_tiny_multirun(
        sweep, data_dir, "hparams_search=lr_optuna", "hydra.sweeper.n_trials=2"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(sweep / "sweep_summary.csv")))  # noqa: SIM115
    assert len(rows) == 2
    assert all(
        "optimizer.lr=" in r["overrides"] and "optimizer.weight_decay=" in r["overrides"]
        for r in rows
    )
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    # The tested checkpoint's validation accuracy, which the summary ranks by too.
    assert best["best_value"] == pytest.approx(float(rows[0]["val/acc"]))
    assert best["best_value"] == pytest.approx(max(float(r["val/acc"]) for r in rows))


def _sweep_with_a_batch_too_large(
    tmp_path: Path, data_dir: Path, batch_sizes: str, *overrides: str
) -> tuple[Path, subprocess.CompletedProcess[str], list[str]]:
    """A one-epoch multirun of the tiny demo in which ``data.batch_size=1000`` fails (it is
    larger than the training part, which only its job finds out); the sweep folder, the
    process and its ``error:`` lines."""
    sweep = tmp_path / "sweep"
    tiny = [o for o in TINY if not o.startswith("data.batch_size=")]
    args = ["-m", *tiny, f"data.batch_size={batch_sizes}", "trainer.max_epochs=1", *overrides]
    proc = run_cli([*args, f"paths.data_dir={data_dir}", f"hydra.sweep.dir={sweep}"], tmp_path)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return sweep, proc, errors


@pytest.mark.slow
def test_an_optuna_search_whose_every_trial_fails_ends_in_one_line(
    tmp_path: Path, data_dir: Path
) -> None:
    # Failed trials are allowed (lr_optuna's max_failure_rate=1.0: a diverged trial must not
    # end the search); the search's end asked Optuna for a best trial there was none of: "No
    # trials are completed yet", a traceback.
    sweep, proc, errors = _sweep_with_a_batch_too_large(
        tmp_path, data_dir, "1000", "hparams_search=lr_optuna", "hydra.sweeper.n_trials=2"
    )
    # The sweeper logs a trial it lets fail; the last one's line and the summary are said.
    assert len(errors) == 2, proc.stderr[-3000:]
    assert errors[0].startswith(f"error: job 1 ({sweep / '1'}): data.batch_size=1000 is larger")
    assert errors[1].startswith(f"error: 2 of the 2 jobs run failed: {sweep / '0'}, {sweep / '1'}")
    assert "data.batch_size=1000 is larger" in (sweep / "0" / "train.log").read_text()
    assert proc.stderr.rstrip().endswith(errors[-1])


def test_optuna_refuses_a_refit_that_has_no_validation_accuracy(
    tmp_path: Path, data_dir: Path
) -> None:
    sweep = tmp_path / "optuna"
    overrides = ["data.train_on_val=true", "callbacks.model_checkpoint.monitor=null"]
    proc = run_tiny_multirun(
        sweep, data_dir, "hparams_search=lr_optuna", "hydra.sweeper.n_trials=1", *overrides
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert errors == [
        "error: data.train_on_val=true leaves no validation accuracy for the Optuna search "
        "(hparams_search) to maximise; search with data.train_on_val=false, then train the "
        "best trial's settings again with data.train_on_val=true"
    ]
    assert not list(sweep.glob("*/checkpoints"))  # refused before training


def test_a_job_that_fails_does_not_stop_the_sweep(tmp_path: Path, data_dir: Path) -> None:
    # Job 0's batch is larger than its training part, which only its job finds out (after
    # decoding): the jobs after it still train, and the sweep ends naming it (Hydra's basic
    # sweep stopped at it before).
    sweep, proc, errors = _sweep_with_a_batch_too_large(
        tmp_path, data_dir, "1000,16", "+trainer.limit_train_batches=2"
    )
    assert errors[0].startswith(f"error: job 0 ({sweep / '0'}): data.batch_size=1000 is larger")
    assert errors[1:] == [
        f"error: 1 of the 2 jobs run failed: {sweep / '0'} (each one's error line is above, "
        f"and in the log in its folder); the other jobs' results are in theirs; run the "
        f"failed ones again once their error is fixed"
    ]
    assert proc.stderr.rstrip().endswith(errors[-1])
    assert (
        errors[0].removeprefix(f"error: job 0 ({sweep / '0'}): ")
        in (sweep / "0" / "train.log").read_text()
    )
    assert json.loads((sweep / "1" / "metrics.json").read_text())["epochs"] == 1
    rows = {r["job"]: r for r in csv.DictReader(open(sweep / "sweep_summary.csv"))}  # noqa: SIM115
    assert rows["1"]["test/acc"] != "" and rows["0"]["test/acc"] == ""


@pytest.mark.slow
def test_a_job_that_fails_on_a_parallel_launcher_is_named_at_the_sweep_s_end(
    tmp_path: Path, data_dir: Path
) -> None:
    # A joblib worker's failure ended the sweep as Hydra's "Error executing job" with a hint
    # about HYDRA_FULL_ERROR; any other failed job went unsaid, and no last line named them.
    sweep, proc, errors = _sweep_with_a_batch_too_large(
        tmp_path,
        data_dir,
        "1000,16",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "+trainer.limit_train_batches=2",
    )
    assert "HYDRA_FULL_ERROR" not in proc.stderr and "Error executing job" not in proc.stderr
    assert errors[0].startswith(f"error: job 0 ({sweep / '0'}): data.batch_size=1000 is larger")
    assert errors[1:] == [
        f"error: 1 of the sweep's jobs failed: {sweep / '0'} (each one's error line is above, "
        f"and in the log in its folder); the other jobs' results are in theirs; run the failed "
        f"ones again once their error is fixed"
    ]
    assert json.loads((sweep / "1" / "metrics.json").read_text())["epochs"] == 1
    rows = {r["job"]: r for r in csv.DictReader(open(sweep / "sweep_summary.csv"))}  # noqa: SIM115
    assert rows["1"]["test/acc"] != "" and rows["0"]["test/acc"] == ""


@pytest.mark.slow
def test_joblib_two_parallel_jobs(tmp_path: Path, data_dir: Path) -> None:
    sweep = tmp_path / "joblib"
    proc = run_tiny_multirun(
        sweep, data_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Sweep summary" in proc.stdout
    for job in ("0", "1"):
        assert json.loads((sweep / job / "metrics.json").read_text())["seed"] in (1, 2)
    assert len((sweep / "sweep_summary.csv").read_text().splitlines()) == 3


def test_slurm_launcher_config_composes(make_cfg: Callable[..., object]) -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", "trainer=gpu", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert (
        launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    )
    assert launcher.gpus_per_node == 1 and launcher.partition == "gpu"
    assert launcher.timeout_min == 240 and launcher.cpus_per_task == 8
