"""trainer=ddp_sim: two real processes (gloo on CPU) give the metrics one process gives."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ..conftest import run_cli, run_tiny, run_tiny_multirun


@pytest.mark.slow
def test_two_processes_report_what_one_process_measures(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    # 13 tracks per part and 3 chunks per track: 39 test chunks do not split evenly over two
    # ranks, so the distributed sampler repeats one; it must still count once.
    proc = run_tiny(
        run,
        data_dir,
        "data.clips_per_class=13",
        "data.chunk_seconds=0.6",
        "trainer=ddp_sim",
        own_process=True,  # Lightning starts the second rank by re-running this program
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "train_ddp_process_1.log").is_file()  # the second rank ran
    # Both ranks test; only rank zero writes metrics.json and prints the final line.
    final = r"test/acc \d\.\d{4} \(95% CI \d\.\d\d-\d\.\d\d\)  test/f1_macro"
    assert len(re.findall(final, proc.stdout + proc.stderr)) == 1
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["num_clips"]["test"] == 13
    assert sum(map(sum, trained["confusion_matrix"])) == 13  # each track once, not per rank

    proc = run_cli(
        [f"ckpt_path={trained['best_ckpt']}", "device=cpu", f"output={run / 'evaluate'}"],
        cwd=tmp_path,
        module="genre_lightning.evaluate",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = json.loads((run / "evaluate" / "metrics.json").read_text())
    for key in ("test/acc", "test/f1_macro", "test/f1_per_class", "confusion_matrix"):
        assert single[key] == trained[key], key


@pytest.mark.slow
def test_ddp_jobs_in_a_multirun_start_their_own_ranks(tmp_path: Path, data_dir: Path) -> None:
    # A DDP job, a one-process job, a DDP job. Before sweep_job_ranks the first job's extra rank
    # replayed the whole sweep: it ran beside the one-process job and was reused by the third.
    sweep = tmp_path / "sweep"
    proc = run_tiny_multirun(
        sweep,
        data_dir,
        "trainer=ddp_sim,cpu,ddp_sim",
        "+trainer.limit_train_batches=2",
        own_process=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ["sweep"]  # no stray run dirs of the ranks
    assert proc.stdout.count("Sweep summary") == 1  # only the sweep's own process summarises
    second_rank_logs = {job: (sweep / job / "train_ddp_process_1.log").is_file() for job in "012"}
    assert second_rank_logs == {"0": True, "1": False, "2": True}
    for job in "012":
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_clips"]["test"]
    # Each rank ran one job: its log names its own run directory only.
    for job in "02":
        log = (sweep / job / "train_ddp_process_1.log").read_text()
        assert log.count("outputs: ") == 1 and f"outputs: {sweep / job}  " in log


def test_ddp_sweep_on_a_parallel_launcher_is_a_clear_error(tmp_path: Path, data_dir: Path) -> None:
    # A joblib worker cannot re-run the program to start ranks (it used to re-run its own).
    sweep = tmp_path / "sweep"
    proc = run_tiny_multirun(sweep, data_dir, "hydra/launcher=joblib", "trainer=ddp_sim")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert (
        "JoblibLauncher cannot do" in proc.stderr and "hydra.launcher.tasks_per_node" in proc.stderr
    )


def test_gpu_and_ddp_trainer_configs_compose(make_cfg: Callable[..., DictConfig]) -> None:
    # Their values are the yaml's own; what matters is that they compose on a CPU machine,
    # and that the CPU simulation leaves out what needs CUDA.
    for trainer in ("gpu", "ddp"):
        assert make_cfg([f"trainer={trainer}"]).trainer.accelerator == "gpu"
    sim = make_cfg(["trainer=ddp_sim"]).trainer
    assert sim.accelerator == "cpu" and sim.devices > 1
    assert "sync_batchnorm" not in sim  # SyncBatchNorm needs CUDA
