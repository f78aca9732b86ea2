"""Checkpoints are untrusted input: read as data only, built only from this package's classes."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest
import torch

from genre_lightning.errors import UserError
from genre_lightning.inference import load_classifier
from genre_lightning.training.checkpoint import UntrustedCheckpointError, read_checkpoint

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
