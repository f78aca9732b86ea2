"""callbacks.py + sampler + atomic checkpoints: a killed run resumes to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genre_lightning.data.sampler import EpochShuffleSampler
from genre_lightning.train import train

from ..conftest import TINY, run_cli

EPOCHS = 4


def _start(run: Path, data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    args = [*TINY, f"trainer.max_epochs={EPOCHS}", f"paths.data_dir={data_dir}", *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "genre_lightning", *args, f"hydra.run.dir={run}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_epoch(run: Path, proc: subprocess.Popen[str], epochs_done: int) -> None:
    """Wait until the run's last.ckpt holds ``epochs_done`` completed epochs, then a little more."""
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if last.exists():
            try:
                if (
                    torch.load(last, map_location="cpu", weights_only=True)["epoch"] + 1
                    >= epochs_done
                ):
                    time.sleep(0.3)  # into the next epoch's steps
                    return
            except Exception:  # a file being renamed into place: look again
                pass
        time.sleep(0.05)
    raise AssertionError(f"run ended or stalled before epoch {epochs_done}: rc={proc.poll()}")


def _comparable(run: Path) -> dict[str, object]:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["best_ckpt"] = Path(metrics["best_ckpt"]).relative_to(run).as_posix()
    return metrics


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, object]:
    """An uninterrupted run's metrics."""
    run = tmp_path_factory.mktemp("reference") / "run"
    proc = run_cli(
        [
            *TINY,
            f"trainer.max_epochs={EPOCHS}",
            f"paths.data_dir={data_dir}",
            f"hydra.run.dir={run}",
        ],
        cwd=run.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _comparable(run)


@pytest.mark.slow
def test_same_seed_same_metrics(
    reference: dict[str, object], tmp_path: Path, data_dir: Path
) -> None:
    run = tmp_path / "again"
    proc = run_cli(
        [
            *TINY,
            f"trainer.max_epochs={EPOCHS}",
            f"paths.data_dir={data_dir}",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _comparable(run) == reference


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(
    reference: dict[str, object], tmp_path: Path, data_dir: Path
) -> None:
    run = tmp_path / "run"
    proc = _start(run, data_dir)
    _wait_for_epoch(run, proc, epochs_done=2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not (run / "metrics.json").exists()  # it really died before finishing

    resumed = run_cli(
        [*TINY, f"trainer.max_epochs={EPOCHS}", f"paths.data_dir={data_dir}", f"resume={run}"],
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _comparable(run) == reference
    # The resumed run continues the curves in the same folder: one val/acc point per epoch.
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    steps = [e.step for e in events.Scalars("val/acc")]
    assert len(set(steps)) == EPOCHS and steps == sorted(steps)


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_says_how_to_resume(
    reference: dict[str, object], tmp_path: Path, data_dir: Path
) -> None:
    run = tmp_path / "run"
    proc = _start(run, data_dir)
    _wait_for_epoch(run, proc, epochs_done=1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    assert f"resume={run}" in stderr and "Traceback" not in stderr
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] < EPOCHS - 1

    resumed = run_cli(
        [
            *TINY,
            f"trainer.max_epochs={EPOCHS}",
            f"paths.data_dir={data_dir}",
            f"hydra.run.dir={run}",
            "ckpt_path=last",
        ],
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _comparable(run) == reference


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    a.set_epoch(5)
    b.set_epoch(5)
    assert list(a) == list(b) and sorted(a) == list(range(50))
    b.set_epoch(6)
    assert list(a) != list(b)
    c = EpochShuffleSampler(50, seed=3)
    c.set_epoch(5)
    torch.manual_seed(123)  # the global RNG plays no part
    assert list(c) == list(a)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli([*TINY, f"hydra.run.dir={tmp_path / 'run'}", "ckpt_path=last"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "ckpt_path=last" in proc.stderr and "no checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_atomic_checkpoint_io_leaves_no_partial_file(tmp_path: Path) -> None:
    from genre_lightning.training.checkpoint import AtomicCheckpointIO, CheckpointWriteError

    io = AtomicCheckpointIO()
    target = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"epoch": 3, "w": torch.ones(3)}, target)
    assert torch.load(target)["epoch"] == 3
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(CheckpointWriteError, match=r"hydra\.run\.dir"):
        io.save_checkpoint({"epoch": 1}, blocked / "last.ckpt")
    assert sorted(os.listdir(tmp_path)) == ["ckpts", "file"]


def test_early_stopping_config_stops_training(make_cfg: Callable[..., DictConfig]) -> None:
    # min_delta=1 can never be met after the first epoch: patience 1 stops after epoch 2.
    cfg = make_cfg(
        [
            *TINY,
            "trainer.max_epochs=10",
            "callbacks=early_stopping",
            "callbacks.early_stopping.patience=1",
            "callbacks.early_stopping.min_delta=1.0",
            "callbacks.model_summary=null",
        ]
    )
    metrics = train(cfg)
    assert metrics["epochs"] == 2
    assert Path(metrics["best_ckpt"]).is_file()  # the best checkpoint is still tested


def test_last_checkpoint_is_every_epoch_even_without_improvement(
    make_cfg: Callable[..., DictConfig],
) -> None:
    # Monitoring the epoch number with mode=min: the best checkpoint never improves after the
    # first epoch, which is when Lightning's own save_last stops writing last.ckpt.
    overrides = ["callbacks.model_checkpoint.monitor=epoch", "callbacks.model_checkpoint.mode=min"]
    cfg = make_cfg([*TINY, "trainer.max_epochs=3", *overrides])
    metrics = train(cfg)
    folder = Path(metrics["best_ckpt"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(folder / "best.ckpt", weights_only=True)["epoch"] == 0
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2
