"""speed.py: compile and channels-last change how the network runs, not what it computes."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from genre_lightning.models.resnet import ResNet
from genre_lightning.training.speed import channels_last, compile_network

from ..conftest import run_tiny


def _net() -> ResNet:
    torch.manual_seed(0)
    return ResNet(num_classes=10).eval()


def test_compiled_network_matches_eager_and_keeps_its_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", False)  # restored afterwards
    net, x = _net(), torch.randn(2, 1, 64, 32)
    expected, keys = net(x), list(net.state_dict())
    assert compile_network(net, backend="eager")  # dynamo traces; no C++ build needed
    torch.testing.assert_close(net(x), expected)
    assert list(net.state_dict()) == keys  # checkpoints load into an eager network


def test_compile_failure_warns_and_stays_eager(caplog: pytest.LogCaptureFixture) -> None:
    net, x = _net(), torch.randn(2, 1, 64, 32)
    expected = net(x)
    with caplog.at_level(logging.WARNING):
        assert not compile_network(net, backend="no-such-backend")
    assert "training eagerly" in caplog.text and "no-such-backend" in caplog.text
    torch.testing.assert_close(net(x), expected)


def test_channels_last_gives_the_same_logits() -> None:
    net, x = _net(), torch.randn(2, 1, 64, 32)
    expected = net(x)
    channels_last(net)
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(
        net(x.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-4, atol=1e-5
    )


@pytest.mark.slow
def test_gpu_recipe_trains_on_cpu_too(tmp_path: Path, data_dir: Path) -> None:
    # Everything trainer=gpu turns on, minus CUDA: bf16 autocast, channels-last, the waveform set
    # on the device with windows cut there (random chunks), so CI runs the GPU path's code.
    run = tmp_path / "run"
    proc = run_tiny(
        run,
        data_dir,
        "trainer=gpu",
        "trainer.accelerator=cpu",
        "module.channels_last=true",
        "data.on_device=true",
        "data.chunk_seconds=0.6",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "data.on_device: 120 clips" in log
    assert "features table for val" in log and "features table for train" not in log
    metrics = json.loads((run / "metrics.json").read_text())
    assert sum(map(sum, metrics["confusion_matrix"])) == 12
    assert math.isfinite(metrics["test/f1_macro"])
    ckpt = torch.load(metrics["best_ckpt"], weights_only=True, map_location="cpu")
    assert ckpt["hyper_parameters"]["channels_last"] is True
    assert all(
        v.dtype == torch.float32 for v in ckpt["state_dict"].values() if v.is_floating_point()
    )
