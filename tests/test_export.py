"""export.py: TorchScript and ONNX files give the PyTorch model's logits on a real GTZAN clip."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genre_lightning.audio import fix_length, load_audio
from genre_lightning.export import main
from genre_lightning.inference import Classifier, load_classifier

from .conftest import BLUES, run_cli

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
HAS_ONNXSCRIPT = importlib.util.find_spec("onnxscript") is not None


@pytest.fixture(scope="module")
def gtzan(gtzan_ckpt: Path) -> Classifier:
    return load_classifier(gtzan_ckpt)


@pytest.fixture(scope="module")
def real_clips(gtzan: Classifier, gtzan_sample: Path) -> torch.Tensor:
    """Two real GTZAN clips as the model's input (2, window_samples)."""
    paths = [gtzan_sample / BLUES, gtzan_sample / "genres_original/metal/metal.00000.wav"]
    waves = [fix_length(load_audio(p, gtzan.sample_rate), gtzan.window_samples) for p in paths]
    return torch.stack(waves)


def _reference(classifier: Classifier, waves: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return classifier.waveform_model()(waves).numpy()


def _assert_close(got: np.ndarray, expected: np.ndarray) -> None:
    # Relative to the scale of the logits: the DFT convolution rounds differently than an FFT.
    scale = max(1.0, float(np.abs(expected).max()))
    assert float(np.abs(got - expected).max()) <= 1e-4 * scale, (got, expected)


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed")
@pytest.mark.parametrize(
    "exporter",
    [
        "legacy",
        pytest.param(
            "dynamo",
            marks=pytest.mark.skipif(not HAS_ONNXSCRIPT, reason="needs onnxscript"),
        ),
    ],
)
def test_onnx_cli_matches_pytorch(
    exporter: str,
    gtzan: Classifier,
    gtzan_ckpt: Path,
    real_clips: torch.Tensor,
    tmp_path: Path,
) -> None:
    import onnxruntime

    proc = run_cli(
        [
            f"ckpt_path={gtzan_ckpt}",
            "format=onnx",
            f"exporter={exporter}",
            f"output={tmp_path / 'm.onnx'}",
        ],
        cwd=tmp_path,
        module="genre_lightning.export",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check: exported logits differ" in proc.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    expected = _reference(gtzan, real_clips)
    for batch in (real_clips[:1], real_clips):  # the batch axis is dynamic
        got = session.run(["logits"], {"waveform": batch.numpy()})[0]
        _assert_close(got, expected[: len(batch)])

    meta = json.loads((tmp_path / "m.onnx.json").read_text())
    assert meta["class_names"] == gtzan.class_names and meta["sample_rate"] == 22050
    assert meta["input"]["shape"] == ["batch", 662_688] and meta["format"] == "onnx"


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_matches_pytorch(
    gtzan: Classifier,
    gtzan_ckpt: Path,
    real_clips: torch.Tensor,
) -> None:
    # Default output: beside the checkpoint.
    assert main([f"ckpt_path={gtzan_ckpt}", "format=torchscript"]) == 0
    path = gtzan_ckpt.with_suffix(".torchscript.pt")
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        got = loaded(real_clips).numpy()
    _assert_close(got, _reference(gtzan, real_clips))
    assert json.loads(path.with_name(path.name + ".json").read_text())["format"] == "torchscript"


def test_bad_format(gtzan_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"ckpt_path={gtzan_ckpt}", "format=tflite"]) == 2
    assert "format=tflite: use format=onnx|torchscript" in capsys.readouterr().err
    assert main([f"ckpt_path={gtzan_ckpt}"]) == 2
    assert "missing format=" in capsys.readouterr().err
