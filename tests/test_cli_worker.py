"""The CLI worker (``cli_worker.py``) gives what a process of its own gives.

Most of the suite's command lines run in the worker; these tests hold it to a process of its own
on the same command, after earlier commands have changed what a process-wide state can hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from .conftest import run_cli, run_tiny


def _weights(run: Path) -> dict[str, torch.Tensor]:
    metrics = json.loads((run / "metrics.json").read_text())
    return torch.load(metrics["best_ckpt"], map_location="cpu", weights_only=True)["state_dict"]


def _results(run: Path) -> dict[str, object]:
    metrics = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k != "best_ckpt"}


@pytest.mark.slow
def test_commands_give_what_their_own_process_gives(tmp_path: Path, data_dir: Path) -> None:
    # The commands before them leave Hydra's config of a finished job and of a help page,
    # another seed and loggers behind in the worker; the commands after them must not see them.
    mfcc = ["model=mfcc_linear", "data.features.log=true", "module.normalize=none"]
    assert run_tiny(tmp_path / "before", data_dir, "seed=7", *mfcc).returncode == 0
    assert run_cli(["--help"], tmp_path).returncode == 0

    refused = [f"data.root={tmp_path / 'absent'}", f"hydra.run.dir={tmp_path / 'refused'}"]
    alone = run_cli(refused, tmp_path, own_process=True)
    shared = run_cli(refused, tmp_path)
    assert alone.returncode == 2, alone.stderr[-3000:]
    assert alone.stderr.startswith("error: no audio found under data.root=")
    assert (shared.returncode, shared.stdout, shared.stderr) == (
        alone.returncode,
        alone.stdout,
        alone.stderr,
    )

    shared = run_tiny(tmp_path / "shared", data_dir)
    alone = run_tiny(tmp_path / "alone", data_dir, own_process=True)
    assert shared.returncode == alone.returncode == 0, shared.stderr[-3000:]
    assert _results(tmp_path / "shared") == _results(tmp_path / "alone")
    ours, theirs = _weights(tmp_path / "shared"), _weights(tmp_path / "alone")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    # Hydra's job log of the run is its own: the run before it did not log into it.
    log = (tmp_path / "shared" / "train.log").read_text()
    assert str(tmp_path / "before") not in log and str(tmp_path / "shared") in log
