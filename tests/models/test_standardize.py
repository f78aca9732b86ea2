"""models/standardize.py: the linear heads' input standardisation, batches of one included."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from genre_lightning.models.standardize import Standardize
from tests.conftest import run_cli, tiny_for


def test_a_training_batch_of_one_uses_the_running_statistics() -> None:
    torch.manual_seed(0)
    norm = Standardize(3)
    norm(torch.randn(16, 3) * 4 + 2)  # a training batch: the running estimates move
    assert norm.running_mean is not None and norm.running_var is not None
    mean, var = norm.running_mean.clone(), norm.running_var.clone()
    one = torch.randn(1, 3)
    out = norm(one)  # BatchNorm1d refuses this batch in training
    assert torch.allclose(out, (one - mean) / torch.sqrt(var + norm.eps))
    assert torch.equal(norm.running_mean, mean) and torch.equal(norm.running_var, var)


def test_it_is_batchnorm_otherwise_and_loads_its_checkpoints() -> None:
    torch.manual_seed(0)
    ours, theirs = Standardize(5), nn.BatchNorm1d(5, affine=False)
    x = torch.randn(8, 5)
    assert torch.equal(ours(x), theirs(x))
    ours.eval()
    theirs.eval()
    assert torch.equal(ours(x[:1]), theirs(x[:1]))
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    Standardize(5).load_state_dict(theirs.state_dict())


def test_mfcc_baseline_trains_when_the_last_batch_holds_one_track(
    tmp_path: Path, data_dir: Path
) -> None:
    # The tiny set's 96 training tracks in batches of 95: the second batch is one track. The
    # baseline's standardisation (BatchNorm1d) stopped the run there with a traceback.
    run = tmp_path / "run"
    proc = run_cli(
        [
            "experiment=mfcc_baseline",
            "data=synthetic",
            "trainer=cpu",
            *tiny_for("experiment=mfcc_baseline")[1:],
            "trainer.max_epochs=2",
            "data.batch_size=95",
            f"paths.data_dir={data_dir}",
            f"hydra.run.dir={run}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_clips"]["train"] % 95 == 1 and metrics["epochs"] == 2
