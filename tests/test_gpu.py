"""The GPU path (trainer=gpu, data.on_device, mel on the device); skipped without CUDA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genre_lightning.data.datamodule import GenreDataModule

from .conftest import TINY, run_cli

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_mel_on_the_gpu_matches_the_cpu(gtzan_sample: Path, tmp_path: Path) -> None:
    dm = GenreDataModule(
        root=str(gtzan_sample), cache_dir=str(tmp_path), batch_size=8, cache_features=False
    )
    dm.setup("fit")
    batch = next(iter(dm._loader("val", shuffle=False)))
    cpu = dm.on_after_batch_transfer(batch, 0).mel
    gpu = dm.on_after_batch_transfer([t.cuda() for t in batch], 0).mel
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-6 * float(cpu.max()))


def test_on_device_set_and_table_live_on_the_gpu(gtzan_sample: Path, tmp_path: Path) -> None:
    dm = GenreDataModule(
        root=str(gtzan_sample), cache_dir=str(tmp_path), batch_size=8, on_device=True
    )
    dm.setup("fit")
    assert dm.batch_features is not None
    batch = next(iter(dm._loader("train", shuffle=True)))
    assert batch.wave.numel() == 0  # nothing but indices crossed the bus
    mel = dm.on_after_batch_transfer([t.cuda() for t in batch], 0).mel
    assert mel.is_cuda and mel.shape == (8, 1, 668, 64)
    assert dm.batch_features.device_waves(torch.device("cuda")).dtype == torch.int16


@pytest.mark.slow
def test_bf16_training_run(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY, "trainer=gpu", "trainer.max_epochs=2", "data.on_device=true"]
    proc = run_cli([*args, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    confusion = metrics["confusion_matrix"]
    correct = sum(row[i] for i, row in enumerate(confusion))
    assert metrics["test/acc"] == pytest.approx(correct / sum(map(sum, confusion)))
    assert "bf16" in (run / ".hydra" / "config.yaml").read_text()
