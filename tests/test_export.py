"""export.py: TorchScript and ONNX files give the PyTorch model's logits on a real GTZAN clip."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from genre_lightning import runs
from genre_lightning.audio import fix_length, load_audio
from genre_lightning.errors import UserError
from genre_lightning.export import export
from genre_lightning.inference import Classifier, load_classifier

from .conftest import BLUES, one_error_line, run_cli, start_cli
from .training.test_checkpoint import FIXTURE, write_damaged

MODULE = "genre_lightning.export"

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


def _loud(classifier: Classifier, waves: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The clips 4x louder, past full scale, and the logits of them clipped to it, as
    training's int16 cache hears such a float file; they differ from the unclipped logits."""
    loud = waves * 4.0
    clipped = _reference(classifier, loud.clamp(-1.0, 32767 / 32768))
    model = classifier.waveform_model()
    with torch.no_grad():
        unclipped = model.net(model.normalize(model.features(loud))).numpy()
    assert float(np.abs(unclipped - clipped).max()) > 1e-2 * float(np.abs(clipped).max())
    return loud, clipped


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

    # No output=: the model goes into this run's own directory under outputs/export/.
    proc = run_cli([f"ckpt_path={gtzan_ckpt}", f"exporter={exporter}"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = (tmp_path / "outputs" / "export").glob(f"*/*/{runs.LAYOUT['onnx']}")
    assert f"exported onnx -> {path}" in proc.stdout
    assert "check: exported logits differ" in proc.stdout
    assert "of their scale), the same genre for every check input" in proc.stdout
    # Written under a temporary name, then renamed: nothing else is left in the folder.
    assert {p.name for p in path.parent.iterdir() if p.name.startswith(".model")} == set()
    # The exporters' own chatter (torchvision's missing ops, graph passes) is not shown.
    assert proc.stderr == "" and proc.stdout.count("\n") == 2, (proc.stdout, proc.stderr)
    log = (path.parent / "export.log").read_text()  # the run folder keeps both lines
    assert all(line in log for line in proc.stdout.splitlines()), log
    session = onnxruntime.InferenceSession(str(path))
    expected = _reference(gtzan, real_clips)
    for batch in (real_clips[:1], real_clips):  # the batch axis is dynamic
        got = session.run(["logits"], {"waveform": batch.numpy()})[0]
        _assert_close(got, expected[: len(batch)])
    loud, clipped = _loud(gtzan, real_clips)
    _assert_close(session.run(["logits"], {"waveform": loud.numpy()})[0], clipped)

    meta = json.loads(path.with_name(path.name + ".json").read_text())
    assert meta["class_names"] == gtzan.class_names and meta["sample_rate"] == 22050
    assert meta["input"]["shape"] == ["batch", 662_688] and meta["format"] == "onnx"
    assert meta["exporter"] == exporter


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_matches_pytorch(
    gtzan: Classifier,
    gtzan_ckpt: Path,
    real_clips: torch.Tensor,
    tmp_path: Path,
) -> None:
    path = export(gtzan_ckpt, "torchscript", tmp_path / "models" / "genre.pt")
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        got = loaded(real_clips).numpy()
    _assert_close(got, _reference(gtzan, real_clips))
    loud, clipped = _loud(gtzan, real_clips)
    with torch.no_grad():
        _assert_close(loaded(loud).numpy(), clipped)
        # A whole recording was read only as far as its first window, without a word.
        longer = torch.cat([real_clips, real_clips], dim=1)
        # And int16 samples, cast to float, scored as a square wave.
        pcm = torch.round(real_clips * 32767).to(torch.int16)
        for refused in (longer, pcm):
            with pytest.raises(
                torch.jit.Error, match=r"expected float .* of shape \(batch, 662688\)"
            ):
                loaded(refused)
    assert json.loads(path.with_name(path.name + ".json").read_text())["format"] == "torchscript"


def test_bad_settings_and_outputs_are_refused_before_the_checkpoint_is_read(
    tmp_path: Path,
) -> None:
    unread = tmp_path / "not-read.ckpt"
    with pytest.raises(
        UserError, match=re.escape("format=tflite is not known; use format=onnx|torchscript")
    ):
        export(unread, "tflite", tmp_path / "m")
    with pytest.raises(
        UserError, match=re.escape("exporter=tvm is not known; use exporter=auto|dynamo|legacy")
    ):
        export(unread, "onnx", tmp_path / "m", exporter="tvm")
    # As the command line writes them (not Python's None and ['onnx']).
    with pytest.raises(UserError, match=re.escape("format=null is not known")):
        export(unread, None, tmp_path / "m")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=re.escape("format=[onnx] is not known")):
        export(unread, ["onnx"], tmp_path / "m")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"is a folder, but output names the file to write"):
        export(unread, "onnx", tmp_path)
    assert f"output={tmp_path / 'model.onnx'}" in _message(lambda: export(unread, "onnx", tmp_path))
    assert list(tmp_path.iterdir()) == []


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(UserError) as err:
        call()
    return str(err.value)


def test_bad_values_are_one_error_line(tmp_path: Path) -> None:
    # A real checkpoint, so only the value is wrong. check=no used to run the check (any text
    # was true), output=null crashed, format=null and [onnx] were shown as Python writes them.
    cases = {
        "check=no": "error: check=no must be true or false; e.g. check=true",
        "output=null": "error: output=null must be a text; e.g. output=models/genre.onnx",
        "format=null": "error: format=null is not known; use format=onnx|torchscript",
        "format=[onnx]": "error: format=[onnx] is not known; use format=onnx|torchscript",
        "exporter=null": "error: exporter=null is not known; use exporter=auto|dynamo|legacy",
        "ckpt_path=[a,b]": "error: ckpt_path=[a,b] must be a text",
        # Used to be ignored: TorchScript has no exporters to choose from.
        "format=torchscript exporter=legacy": "error: exporter=legacy chooses an ONNX exporter, "
        "but format=torchscript; leave exporter out",
        # An ONNX file under a TorchScript name (and back) failed to load, far from its cause.
        "format=torchscript": "error: output=m.onnx is named as an ONNX file, but "
        "format=torchscript; add format=onnx, or name the file for torchscript (e.g. "
        "model.torchscript.pt)",
    }
    started = {
        arg: start_cli([f"ckpt_path={FIXTURE}", "output=m.onnx", *arg.split()], tmp_path, MODULE)
        for arg in cases
    }
    for arg, proc in started.items():
        assert one_error_line(proc).startswith(cases[arg]), arg
    assert not list(tmp_path.glob("**/m.onnx*"))


def test_a_damaged_checkpoint_is_one_error_line(tmp_path: Path) -> None:
    ckpt = write_damaged("cut-late", tmp_path / "cut.ckpt")
    proc = run_cli([f"ckpt_path={ckpt}", "format=torchscript", "output=m.pt"], tmp_path, MODULE)
    assert one_error_line(proc).startswith(f"error: ckpt_path={ckpt}: not a readable checkpoint (")
    assert not (tmp_path / "m.pt").exists()


def test_check_false_skips_the_check(tmp_path: Path) -> None:
    # The real boolean still works both ways (the fixture is a 44 KB MFCC model: seconds).
    args = [f"ckpt_path={FIXTURE}", "format=torchscript", "output=m.pt"]
    proc = run_cli([*args, "check=false"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check:" not in proc.stdout and (tmp_path / "m.pt").is_file()
