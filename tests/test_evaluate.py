"""evaluate.py: a checkpoint re-tested alone gives exactly the numbers its training run wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.evaluate import main, run_dir

from .conftest import run_cli


def test_cli_reproduces_the_training_metrics(tiny_ckpt: Path, tmp_path: Path) -> None:
    proc = run_cli(
        [f"ckpt_path={tiny_ckpt}", "accelerator=cpu"],
        cwd=tmp_path,
        module="genre_lightning.evaluate",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = run_dir(tiny_ckpt)
    trained = json.loads((run / "metrics.json").read_text())
    assert Path(trained["best_ckpt"]) == tiny_ckpt

    out = run / "evaluate"  # the default output folder
    assert str(out / "metrics.json") in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    # Same checkpoint, same split, same features: the very same numbers, not approximately.
    for key in ("test/acc", "test/f1_macro", "test/f1_per_class"):
        assert metrics[key] == trained[key], key
    assert metrics["ckpt_path"] == str(tiny_ckpt.resolve())
    assert metrics["num_clips"] == trained["num_clips"]["test"]
    confusion = metrics["confusion_matrix"]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == metrics["num_clips"]
    correct = sum(confusion[i][i] for i in range(10))
    assert correct / metrics["num_clips"] == pytest.approx(metrics["test/acc"])
    with Image.open(out / "confusion_matrix.png") as image:
        assert image.format == "PNG" and min(image.size) > 100


def _on_gtzan(ckpt: Path, gtzan_sample: Path, tmp_path: Path, *extra: str) -> list[str]:
    """Arguments that evaluate the (synthetic-genre) checkpoint on real GTZAN clips."""
    return [
        f"ckpt_path={ckpt}",
        "data._target_=genre_lightning.data.datamodule.GenreDataModule",
        f"data.root={gtzan_sample}",
        f"data.cache_dir={tmp_path / 'cache'}",
        *extra,
        f"output_dir={tmp_path / 'out'}",
    ]


def test_other_classes_are_refused(
    tiny_ckpt: Path,
    gtzan_sample: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _on_gtzan(
        tiny_ckpt, gtzan_sample, tmp_path, f"data.class_names=[{','.join(GTZAN_GENRES)}]"
    )
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the checkpoint was trained on the classes [drone, chorale,")
    assert "the data has the classes [blues, classical, country" in err
    assert not (tmp_path / "out").exists()


def test_classes_found_in_folders_are_checked_too(
    tiny_ckpt: Path,
    gtzan_sample: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # data=folder style: no class list in the config, the folders decide (after indexing).
    # data.clip_samples=2205: decode a tenth of a second per clip (fast).
    args = _on_gtzan(
        tiny_ckpt, gtzan_sample, tmp_path, "data.class_names=null", "data.clip_samples=2205"
    )
    assert main(args) == 2
    assert "the data has the classes [blues, classical" in capsys.readouterr().err


def test_changed_features_are_refused(
    tiny_ckpt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [f"ckpt_path={tiny_ckpt}", "data.features.num_frames=30", f"output_dir={tmp_path}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "features of shape (1, 30, 64)" in err and "(1, 45, 64)" in err


def test_unknown_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ckpt_path=x.ckpt", "outdir=y"]) == 2
    assert "unknown key 'outdir'" in capsys.readouterr().err
