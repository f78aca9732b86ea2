"""Checkpoints are untrusted input: read as data only, built only from this package's classes."""

from __future__ import annotations

import builtins
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from genre_lightning.errors import UserError
from genre_lightning.inference import load_classifier
from genre_lightning.training.checkpoint import (
    UntrustedCheckpointError,
    check_resumable,
    read_checkpoint,
)

from ..conftest import run_cli, run_tiny


class Payload:
    """Unpickling this runs ``exec`` of code that leaves a marker file: what an attacker ships."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",)


def _saved(tiny_ckpt: Path) -> dict[str, Any]:
    return dict(torch.load(tiny_ckpt, map_location="cpu", weights_only=True))


@pytest.fixture
def evil_ckpt(tiny_ckpt: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A real checkpoint with a code-running pickle added to its hyperparameters."""
    marker = tmp_path / "payload-ran"
    ckpt = _saved(tiny_ckpt)
    ckpt["hyper_parameters"] = {**ckpt["hyper_parameters"], "note": Payload(marker)}
    path = tmp_path / "evil.ckpt"
    torch.save(ckpt, path)
    return path, marker


def test_payload_does_not_run_when_read(evil_ckpt: tuple[Path, Path]) -> None:
    path, marker = evil_ckpt
    with pytest.raises(
        UntrustedCheckpointError, match=r"refused to load: it needs the Python object exec\b"
    ):
        read_checkpoint(path)
    with pytest.raises(UntrustedCheckpointError):
        load_classifier(path)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("genre_lightning.predict", ["input={music}", "output={tmp}/p.csv"]),
        ("genre_lightning.evaluate", ["output={tmp}/eval"]),
        ("genre_lightning.export", ["format=torchscript", "output={tmp}/m.pt"]),
    ],
)
def test_payload_does_not_run_in_the_tools(
    evil_ckpt: tuple[Path, Path], tmp_path: Path, module: str, args: list[str]
) -> None:
    path, marker = evil_ckpt
    music = tmp_path / "music"
    music.mkdir()
    (music / "x.wav").write_bytes(b"")
    filled = [a.format(music=music, tmp=tmp_path) for a in args]
    proc = run_cli([f"ckpt_path={path}", *filled], cwd=tmp_path, module=module)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "refused to load" in proc.stderr and "Python object exec" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_payload_does_not_run_in_training(
    evil_ckpt: tuple[Path, Path], tmp_path: Path, data_dir: Path
) -> None:
    path, marker = evil_ckpt
    proc = run_tiny(tmp_path / "run", data_dir, f"ckpt_path={path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "refused to load" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    "net_config",
    [
        {"_target_": "builtins.exec", "_args_": ["open({marker!r}, 'w')"]},
        {
            "_target_": "genre_lightning.models.resnet.ResNet",
            "num_classes": {"_target_": "builtins.exec", "_args_": ["open({marker!r}, 'w')"]},
        },
    ],
)
def test_foreign_targets_are_never_built(
    tiny_ckpt: Path, tmp_path: Path, net_config: dict[str, Any]
) -> None:
    # Pure data, so weights_only lets it through: the class it names is what must be refused.
    marker = str(tmp_path / "built")

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        return node.format(marker=marker) if isinstance(node, str) else node

    ckpt = _saved(tiny_ckpt)
    ckpt["hyper_parameters"] = {**ckpt["hyper_parameters"], "net_config": fill(net_config)}
    path = tmp_path / "target.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(UntrustedCheckpointError, match=r"_target_=.builtins\.exec"):
        load_classifier(path)
    assert not Path(marker).exists()


def test_truncated_and_foreign_files_are_clear_errors(tiny_ckpt: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(tiny_ckpt.read_bytes()[:5000])
    with pytest.raises(UserError, match="not a readable checkpoint"):
        read_checkpoint(truncated)
    foreign = tmp_path / "weights.pt"
    torch.save(_saved(tiny_ckpt)["state_dict"], foreign)
    with pytest.raises(UserError, match="not a genre_lightning checkpoint"):
        load_classifier(foreign)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["truncated", "foreign"])
def test_training_refuses_a_bad_resume_checkpoint(
    tiny_ckpt: Path, tmp_path: Path, data_dir: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.ckpt"
    if kind == "truncated":
        path.write_bytes(tiny_ckpt.read_bytes()[:5000])
    else:
        torch.save(_saved(tiny_ckpt)["state_dict"], path)
    proc = run_tiny(tmp_path / "run", data_dir, f"ckpt_path={path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr


#: A real checkpoint of training (the MFCC baseline, 44 KB), kept in the repository.
FIXTURE = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "mfcc_linear_2026-11-25.ckpt"


def write_damaged(kind: str, path: Path) -> Path:
    """Write a file that is not a readable checkpoint: each fails torch.load differently.

    ``junk`` is a few text bytes the unpickler reads as opcodes (a KeyError inside torch), the
    ``cut`` ones are a real checkpoint cut short (the zip's directory is lost), ``zip`` is a
    zip archive of something else and ``zip-pickle`` holds a checkpoint's file names with
    garbage in them.
    """
    real = FIXTURE.read_bytes()
    if kind == "junk":
        path.write_bytes(b"junk\n")
    elif kind == "cut-early":
        path.write_bytes(real[:100])
    elif kind == "cut-late":
        path.write_bytes(real[: len(real) // 2])
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "not a checkpoint")
    elif kind == "zip-pickle":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", b"junk\n")
            archive.writestr("archive/version", "3\n")
    else:
        raise ValueError(kind)
    return path


DAMAGED = ["junk", "cut-early", "cut-late", "zip", "zip-pickle"]


@pytest.mark.parametrize("kind", DAMAGED)
def test_damaged_files_are_one_clear_error(kind: str, tmp_path: Path) -> None:
    path = write_damaged(kind, tmp_path / f"{kind}.ckpt")
    with pytest.raises(UserError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"ckpt_path={path}: not a readable checkpoint (")
    assert message.endswith(
        "pass a .ckpt written by genre_lightning training (a run's checkpoints/ folder)"
    )
    assert "\n" not in message and len(message) < 400, message
    # The resume check of training reads it the same way (mapped, not read).
    with pytest.raises(UserError, match="not a readable checkpoint"):
        check_resumable(path)


def test_the_fixture_itself_reads(tmp_path: Path) -> None:
    # The files above are damaged copies of this one: it is the damage that is refused.
    assert "state_dict" in read_checkpoint(FIXTURE)


def test_damaged_hyperparameters_are_one_clear_error(tmp_path: Path) -> None:
    # A file that loads as data but whose settings no longer build anything (a flipped byte in
    # a key name, say) is refused as the user's file, not a crash of ours.
    saved = torch.load(FIXTURE, map_location="cpu", weights_only=True)
    features = saved["hyper_parameters"]["data_config"]["features"]
    features["wn_length"] = features.pop("win_length")
    torch.save(saved, tmp_path / "features.ckpt")
    with pytest.raises(UserError, match=r"its data config cannot rebuild the mel front end .*wn"):
        load_classifier(tmp_path / "features.ckpt")
    saved = torch.load(FIXTURE, map_location="cpu", weights_only=True)
    del saved["hyper_parameters"]["class_names"]
    torch.save(saved, tmp_path / "classes.ckpt")
    with pytest.raises(UserError, match=r"its class_names \(None\) are not a list of distinct"):
        load_classifier(tmp_path / "classes.ckpt")


class _SystemPayload:
    """Unpickling calls os.system: a module torch blocks by name (its own wording)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, ("true",)


def test_a_blocked_module_s_object_and_a_torchscript_file_are_named(tmp_path: Path) -> None:
    evil = tmp_path / "system.ckpt"
    torch.save({"x": _SystemPayload()}, evil)
    with pytest.raises(UntrustedCheckpointError, match=r"needs the Python object posix\.system"):
        read_checkpoint(evil)
    scripted = tmp_path / "model.torchscript.pt"
    with pytest.warns(FutureWarning):  # torch.jit is deprecated, and what export writes
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(scripted))
    with pytest.raises(UserError, match=r"is a TorchScript model \(what export writes\)"):
        read_checkpoint(scripted)
