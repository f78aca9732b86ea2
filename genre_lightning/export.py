"""Export a checkpoint as one waveform-in, logits-out model: ONNX or TorchScript.

Usage (a Hydra app: ``--help``, ``--cfg job`` and ``-m`` sweeps work as for training)::

    python -m genre_lightning.export ckpt_path=RUN/checkpoints/best.ckpt \\
        [format=onnx|torchscript] [output=PATH] [exporter=auto|dynamo|legacy] [check=true|false]

The config is ``conf/export.yaml``. By default the model goes to the tool's own run directory:
``outputs/export/<date>/<time>/model.onnx`` (or ``model.torchscript.pt``).

The exported model maps float waveforms (batch, window_samples) in [-1, 1], decoded at the
training sample rate, to logits (batch, classes): mel features, normalisation and network in
one graph. ``window_samples`` is the training clip length (or chunk length with
``data.chunk_seconds``). Zero-pad a shorter recording; cut a longer one into windows and average
their logits, as ``genre_lightning.predict`` does. ``PATH.json`` beside the model holds the
class names, sample rate and window length. ``check=true`` runs the exported file once and
compares it with the PyTorch model.

ONNX has no complex numbers, so the ONNX graph computes the STFT as a convolution with DFT
kernels (same values as torchaudio's, to float32 rounding). ``exporter=auto`` uses the
torch.export-based exporter when ``onnxscript`` is installed, else the TorchScript-based one.

torch and Lightning take seconds to import, so they are imported by the functions that use
them: ``--help``, ``--cfg job`` and a bad command line or output path answer at once.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.cli.app import hydra_app
from genre_lightning.cli.command_line import check_tool_files
from genre_lightning.cli.console import say
from genre_lightning.errors import UserError
from genre_lightning.files import check_writable, write_json_atomic
from genre_lightning.temp_files import temp_path
from genre_lightning.validate import Check, choice, flag, text

if TYPE_CHECKING:
    import torch

    from genre_lightning.inference import Classifier

#: The formats, each the name of its model file's place in a run directory (runs.LAYOUT).
FORMATS = ("onnx", "torchscript")
EXPORTERS = ("auto", "dynamo", "legacy")


#: The check input's band limit (Hz). Recorded music has little energy above it, and GTZAN's
#: clips (from MP3s) almost none: the paper's per-element normalisation divides those mel
#: bands by standard deviations near 1e-8. White noise there amplifies float32 rounding 1e7
#: times, so a paper checkpoint's logits would differ between any two correct programs.
CHECK_BAND_HZ = 8000.0


def example_input(classifier: Classifier, batch: int = 1) -> torch.Tensor:
    """A fixed noise waveform (batch, window_samples), band-limited to :data:`CHECK_BAND_HZ`,
    to trace and check with."""
    import torch

    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(batch, classifier.window_samples, generator=generator)
    spectrum = torch.fft.rfft(noise)
    spectrum[:, torch.fft.rfftfreq(noise.shape[1], 1 / classifier.sample_rate) > CHECK_BAND_HZ] = 0
    band = torch.fft.irfft(spectrum, noise.shape[1])
    return 0.1 * band / band.std()


def export_torchscript(classifier: Classifier, path: Path) -> None:
    """Trace the waveform model (torchaudio's STFT traces as it is) and save it."""
    import torch

    from genre_lightning.inference import OneWindow

    model = classifier.waveform_model()
    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but is what this format means.
        warnings.simplefilter("ignore", FutureWarning)
        # Frame counts follow from the fixed input length; constants in the trace are right.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, (example_input(classifier),))
        # The trace fixed the frame count: a longer input would be read only as far as its
        # first window, without a word (ONNX refuses it), so the length is checked first.
        checked = OneWindow(traced, classifier.window_samples)
        torch.jit.script(checked).save(str(path))


def export_onnx(classifier: Classifier, path: Path, exporter: str = "auto") -> str:
    """Export the export-friendly waveform model (DFT convolution) to ONNX.

    Returns:
        The exporter used: ``dynamo`` or ``legacy``.
    """
    import torch

    if exporter == "auto":
        exporter = "dynamo" if importlib.util.find_spec("onnxscript") else "legacy"
    needs = ["onnx", "onnxscript"] if exporter == "dynamo" else ["onnx"]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"format=onnx exporter={exporter} needs: pip install {' '.join(missing)}")
    model = classifier.waveform_model(export_friendly=True)
    options: dict[str, Any] = (
        {
            "dynamo": True,
            "dynamic_shapes": ({0: torch.export.Dim("batch")},),
            "external_data": False,  # one self-contained file
            "verbose": False,
        }
        if exporter == "dynamo"
        else {"dynamo": False, "dynamic_axes": {"waveform": {0: "batch"}, "logits": {0: "batch"}}}
    )
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated; it is the fallback without onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding")
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # see export_torchscript
        torch.onnx.export(
            model,
            (example_input(classifier),),
            str(path),
            input_names=["waveform"],
            output_names=["logits"],
            **options,
        )
    return exporter


def check_export(classifier: Classifier, path: Path, fmt: str) -> tuple[float, float] | None:
    """Largest |logit| difference between the exported file and PyTorch, and the logits'
    scale (None: not checked).

    Raises:
        UserError: The difference exceeds 0.1 % of the logits' scale, or the genres differ.
    """
    import numpy as np
    import torch

    wave = example_input(classifier, batch=2)
    with torch.no_grad():
        expected = classifier.waveform_model()(wave).numpy()
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            got = torch.jit.load(str(path))(wave).detach().numpy()
    else:
        if importlib.util.find_spec("onnxruntime") is None:
            return None
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"waveform": wave.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    scale = max(1.0, float(np.abs(expected).max()))
    if diff > 1e-3 * scale or (got.argmax(axis=1) != expected.argmax(axis=1)).any():
        raise UserError(
            f"output: the exported logits differ from PyTorch's by {diff:.3g} (their scale: "
            f"{scale:.3g}), so the file was not written; try exporter=legacy, or "
            f"format=torchscript"
        )
    return diff, scale


def export(
    ckpt_path: str | Path,
    fmt: str,
    output: str | Path,
    exporter: str = "auto",
    check: bool = True,
) -> Path:
    """Export a checkpoint; write ``<output>.json`` with what a consumer must know.

    The settings and the output path are checked before the checkpoint is read.

    Args:
        ckpt_path: The checkpoint.
        fmt: ``onnx`` or ``torchscript``.
        output: The model file (its folder is created).
        exporter: ONNX only: ``auto``, ``dynamo`` (needs onnxscript) or ``legacy``.
        check: Run the exported file once and compare it with PyTorch.

    Returns:
        The model file.
    """
    check_format(fmt, exporter)
    check_suffix(fmt, output)
    path = check_writable(
        output, "output", example=runs.LAYOUT[fmt], reads={"ckpt_path": ckpt_path}
    )
    from genre_lightning.inference import load_classifier  # after the quick checks

    classifier = load_classifier(ckpt_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written and checked under a temporary name, then renamed: a failed export leaves no file
    # (and an earlier good one at the path stays).
    staged = temp_path(path)
    try:
        if fmt == "torchscript":
            export_torchscript(classifier, staged)
            used = "jit.trace"
        else:
            used = export_onnx(classifier, staged, exporter)
        checked = check_export(classifier, staged, fmt) if check else None
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    meta = {
        "format": fmt,
        "exporter": used,
        "checkpoint": str(classifier.path.resolve()),
        "input": {"name": "waveform", "shape": ["batch", classifier.window_samples]},
        "output": {"name": "logits", "shape": ["batch", len(classifier.class_names)]},
        "sample_rate": classifier.sample_rate,
        "window_samples": classifier.window_samples,
        "class_names": classifier.class_names,
    }
    write_json_atomic(path.with_name(path.name + ".json"), meta)
    if check and checked is None:
        say("check skipped: onnxruntime is not installed")
    elif checked is not None:
        diff, scale = checked
        say(
            f"check: exported logits differ from PyTorch's by at most {diff:.2e} "
            f"({diff / scale:.1e} of their scale), the same genre for every check input"
        )
    return path


def check_format(fmt: Any, exporter: Any) -> None:
    """Raise a UserError naming the key unless ``format`` and ``exporter`` are known, and an
    exporter other than ``auto`` is asked of ONNX only (TorchScript has one way to export)."""
    CHECKS["format"]("format", fmt)
    CHECKS["exporter"]("exporter", exporter)
    if fmt != "onnx" and exporter != "auto":
        raise UserError(
            f"exporter={exporter} chooses an ONNX exporter, but format={fmt}; leave exporter "
            f"out, or export format=onnx exporter={exporter}"
        )


#: File name endings that say a format: an output named for the other one is refused.
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts")}
_NAMED = {"onnx": "an ONNX", "torchscript": "a TorchScript"}


def check_suffix(fmt: str, output: str | Path) -> None:
    """Refuse an ``output`` named for the other format: ``model.pt`` holding ONNX (the
    default format) would fail to load as TorchScript, far from its cause."""
    suffix = Path(output).suffix.lower()
    for other, endings in SUFFIXES.items():
        if other != fmt and suffix in endings:
            raise UserError(
                f"output={output} is named as {_NAMED[other]} file, but format={fmt}; add "
                f"format={other}, or name the file for {fmt} (e.g. {runs.LAYOUT[fmt]})"
            )


#: The keys of conf/export.yaml, in order: ``format`` before ``output``, whose default file
#: name is the format's.
CHECKS: dict[str, Check] = {
    "ckpt_path": text(runs.EXAMPLE_CKPT),
    "format": choice(FORMATS),
    "exporter": choice(EXPORTERS),
    "check": flag(),
    "output": text("models/genre.onnx"),
}


def _job(cfg: DictConfig) -> None:
    path = export(cfg.ckpt_path, cfg.format, cfg.output, cfg.exporter, cfg.check)
    say(f"exported {cfg.format} -> {path} (+ {path.name}.json)")


def _before_launch(cfg: DictConfig, given: list[str], here: bool) -> None:
    """:func:`export`'s quick checks before the run folder is written."""
    check_format(cfg.format, cfg.exporter)
    output = OmegaConf.select(cfg, "output", throw_on_resolution_failure=False)
    if output is not None:  # the default lies in the run folder, named for the format
        check_suffix(cfg.format, output)
    check_tool_files(cfg, here, {"example": runs.LAYOUT[cfg.format]})


#: ``python -m genre_lightning.export`` / ``genre-lightning-export``.
main = hydra_app("export", _job, CHECKS, before_launch=_before_launch)


if __name__ == "__main__":
    main()
