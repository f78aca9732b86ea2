"""``make bench-gpu``'s code paths, run on the CPU with tiny inputs (the numbers need a GPU)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu
from genre_lightning.models.resnet import ResNet

from .conftest import REPO, TINY, one_error_line


@pytest.mark.slow
def test_throughput_path_trains_the_paper_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The per-element statistics must be set before fit, as train.py sets them.
    monkeypatch.setattr(gpu, "synthetic_gtzan_root", lambda: tmp_path / "synthetic")
    dm = gpu._datamodule(2, 4, **gpu.SOURCES["on_device+table"])
    net = ResNet(num_classes=10)
    before = [p.detach().clone() for p in net.parameters()]
    rate = gpu._epochs_per_second(dm, net, "32-true", 1, "cpu")
    assert math.isfinite(rate) and rate > 0
    # The timed epochs were optimiser steps: every weight the loss reaches has moved.
    moved = [not torch.equal(b, p) for b, p in zip(before, net.parameters(), strict=True)]
    assert all(moved), moved


@pytest.mark.slow
def test_training_command_is_timed_from_its_tensorboard_events(
    tmp_path: Path, data_dir: Path
) -> None:
    args = [*TINY, "trainer.max_epochs=3", f"paths.data_dir={data_dir}"]
    [row] = gpu.training_command("demo", args, timeout=300)
    assert row.metric == "demo: s/epoch after the first", row
    assert math.isfinite(row.value) and row.value > 0
    assert row.note.startswith("3 epochs in "), row.note


def test_a_failing_command_is_a_row_not_an_exception() -> None:
    [row] = gpu.training_command("bad", ["data.batch_size=0"], timeout=120)
    assert row.metric == "bad: failed"
    assert "data.batch_size" in row.note


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_bench_gpu_without_cuda_refuses_and_keeps_the_results(tmp_path: Path) -> None:
    out = tmp_path / "results-gpu.json"
    out.write_text("measured on a GPU\n")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "gpu", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert one_error_line(proc).startswith("error: --only gpu (make bench-gpu) needs a CUDA")
    assert out.read_text() == "measured on a GPU\n"


@pytest.mark.slow
def test_a_quick_run_writes_beside_the_measurements(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text("measured\n")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "mel", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text() == "measured\n"
    quick = json.loads((tmp_path / "results-quick.json").read_text())
    assert quick["quick"] is True and quick["rows"]
