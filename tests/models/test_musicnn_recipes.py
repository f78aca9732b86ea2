"""experiment=musicnn_probe / musicnn_finetune end to end: real checkpoint, real clips, real CLI.

The probe trains on four genres of the shared sample (a folder of links to its clips), then its
checkpoint is used by predict (which must fetch nothing) and export.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
import torch

from genre_lightning.models.musicnn_tf import pretrained_musicnn
from genre_lightning.runs import Run

from ..conftest import one_error_line, run_cli

GENRES = ("classical", "hiphop", "jazz", "metal")
QUIET = ["callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def four_genres(tmp_path_factory: pytest.TempPathFactory, gtzan_sample: Path) -> Path:
    """A data=folder root of links to the sample's clips of four genres (5 each)."""
    root = tmp_path_factory.mktemp("four") / "music"
    for genre in GENRES:
        (root / genre).mkdir(parents=True)
        for clip in sorted((gtzan_sample / "genres_original" / genre).glob("*.wav")):
            (root / genre / clip.name).symlink_to(clip)
    return root


def _train(run: Path, root: Path, wheel: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        "data=folder",
        f"data.root={root}",
        f"model.source={wheel}",
        "data.split=kfold",
        "data.num_folds=5",  # 4 test tracks (one per genre), 2 validation, 14 training
        f"hydra.run.dir={run}",
        *QUIET,
        *extra,
    ]
    return run_cli(args, cwd=run.parent)


@pytest.fixture(scope="module")
def probe_run(
    tmp_path_factory: pytest.TempPathFactory, four_genres: Path, musicnn_wheel: Path
) -> Path:
    run = tmp_path_factory.mktemp("probe") / "run"
    proc = _train(run, four_genres, musicnn_wheel, "experiment=musicnn_probe")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


def test_weights_that_cannot_be_fetched_are_refused_before_the_run_starts(
    tmp_path: Path, four_genres: Path
) -> None:
    # They used to be fetched in the job: the data was decoded, the run folder written, and
    # the error read "model (...MusicnnClassifier): FetchError('...')".
    broken = tmp_path / "musicnn-0.1.0-py3-none-any.whl"
    broken.write_bytes(b"not a wheel")
    run = tmp_path / "run"
    cache = f"model.cache_dir={tmp_path / 'weights'}"  # empty: the user cache may hold them
    proc = _train(run, four_genres, broken, "experiment=musicnn_probe", cache)
    line = one_error_line(proc)
    assert line.startswith(f"error: {broken}: SHA-256 ") and "nothing was unpacked" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [broken.name]  # no run, no weights


@pytest.mark.slow
def test_probe_learns_the_genres(probe_run: Path) -> None:
    metrics = json.loads((probe_run / "metrics.json").read_text())
    assert metrics["class_names"] == list(GENRES)
    assert metrics["num_clips"] == {"train": 14, "val": 2, "test": 4}
    # Four distinct genres from musicnn's features: chance is 0.25.
    assert metrics["test/acc"] >= 0.75, metrics
    assert metrics["epochs"] == 60 and metrics["val/acc"] is not None
    log = (probe_run / "train.log").read_text()
    assert "features table for train" in log  # fixed training windows: mel computed once


@pytest.mark.slow
def test_a_rerun_reads_the_stored_features_and_trains_the_same_head(
    tmp_path: Path, four_genres: Path, musicnn_wheel: Path, probe_run: Path
) -> None:
    """The probe's features are kept in the user cache (module.embedding_cache_dir): a rerun
    computes none of them and ends with bit-identical weights."""
    run = tmp_path / "run"
    proc = _train(run, four_genres, musicnn_wheel, "experiment=musicnn_probe")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run / "train.log").read_text()
    read = [line for line in log.splitlines() if "embedding cache" in line]
    # Sanity check, training, validation and test each report what they read.
    assert read and all(line.endswith(", 0 computed and stored") for line in read), read
    chunks = sum(int(line.split("features of ")[1].split()[0]) for line in read)
    assert chunks >= 20 * 10  # every chunk of the 20 tracks (10 chunks of 3 s each), once
    state = {
        name: torch.load(r / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        for name, r in (("first", probe_run), ("rerun", run))
    }
    first, rerun = state["first"]["state_dict"], state["rerun"]["state_dict"]
    assert first.keys() == rerun.keys()
    assert all(torch.equal(first[k], rerun[k]) for k in first)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/acc"] == json.loads((probe_run / "metrics.json").read_text())["test/acc"]


@pytest.mark.slow
def test_probe_on_two_layers_refitted_on_train_and_val(
    tmp_path: Path, four_genres: Path, musicnn_wheel: Path, probe_run: Path
) -> None:
    """model.layer as a list feeds the head both layers side by side; data.train_on_val
    trains on the validation tracks too and validates nothing."""
    run = tmp_path / "run"
    layers = "model.layer=[penultimate,pooled]"
    proc = _train(
        run,
        four_genres,
        musicnn_wheel,
        "experiment=musicnn_probe",
        layers,
        "data.train_on_val=true",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_clips"] == {"train": 16, "val": 0, "test": 4}
    assert metrics["val/acc"] is None and metrics["val/acc_best"] is None
    assert metrics["test/acc"] >= 0.75, metrics
    assert Run(run).split("test") == Run(probe_run).split("test")  # the same test tracks
    ckpt = run / "checkpoints" / "best.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["state_dict"]["net.head.2.weight"].shape == (4, 200 + 1506)
    # predict rebuilds the two-layer head from the checkpoint, and agrees with the test.
    folder = _test_tracks(run, tmp_path / "input")
    proc = run_cli(
        [f"ckpt_path={ckpt}", f"input={folder}", f"output={tmp_path / 'preds.csv'}"],
        cwd=tmp_path,
        module="genre_lightning.predict",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "preds.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    right = sum(Path(r["file"]).parent.name == r["genre"] for r in rows)
    assert len(rows) == 4 and right / 4 == pytest.approx(metrics["test/acc"])


def _test_tracks(run: Path, folder: Path) -> Path:
    """A folder of genre folders linking to a run's test tracks."""
    for row in Run(run).split("test"):
        (folder / row["genre"]).mkdir(parents=True, exist_ok=True)
        (folder / row["genre"] / Path(row["path"]).name).symlink_to(row["path"])
    return folder


@pytest.mark.slow
def test_evaluate_tests_every_clip_of_a_folder_with_the_test_split(
    probe_run: Path, four_genres: Path, tmp_path: Path
) -> None:
    """data.split=test: a folder the run never trained or validated on (here, its test tracks
    alone) is tested whole, as the run's own test scored it. Without it, the log says which
    share of the folder the checkpoint's split tests; the training folder tested whole is
    refused, since it holds tracks the probe learned."""
    ckpt = probe_run / "checkpoints" / "best.ckpt"

    def evaluate(name: str, *data: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        out = tmp_path / name
        args = [f"ckpt_path={ckpt}", *data, f"hydra.run.dir={out}"]
        return run_cli(args, cwd=tmp_path, module="genre_lightning.evaluate"), out

    folder = _test_tracks(probe_run, tmp_path / "unseen")
    proc, out = evaluate("whole", f"data.root={folder}", "data.split=test")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    trained = json.loads((probe_run / "metrics.json").read_text())
    assert metrics["num_clips"] == {"test": 4}
    assert metrics["confusion_matrix"] == trained["confusion_matrix"]
    assert "testing" not in "".join(p.read_text() for p in out.glob("*.log"))

    proc, out = evaluate("own")  # the checkpoint's own data: one fold of five
    assert proc.returncode == 0, proc.stderr[-3000:]
    (log,) = out.glob("*.log")
    assert f"testing 4 of the 20 tracks under {four_genres}: the test part of " in log.read_text()
    assert "data.split=kfold (a folder of recordings the run never saw is tested whole with " in (
        log.read_text()
    )

    proc, out = evaluate("learned", "data.split=test")
    line = one_error_line(proc)
    assert line.startswith("error: 16 of the 20 test tracks were in the training or validation")
    assert not list(out.glob("*.json")) and not list(out.glob("*.png"))  # Hydra's log alone


@pytest.mark.slow
def test_predict_uses_the_checkpoint_alone(probe_run: Path, tmp_path: Path) -> None:
    """predict on the test tracks: the checkpoint carries the weights, nothing is fetched, and
    its verdicts are the test's (same windows, logits averaged per track). Predicting them
    again reads the features the first predict stored."""
    folder = _test_tracks(probe_run, tmp_path / "input")
    empty_cache = tmp_path / "cache"
    empty_cache.mkdir()

    def predict(out: Path) -> tuple[list[dict[str, str]], str]:
        proc = run_cli(
            [
                f"ckpt_path={probe_run / 'checkpoints' / 'best.ckpt'}",
                f"input={folder}",
                f"output={out}",
                f"hydra.run.dir={out.with_suffix('')}",
            ],
            cwd=tmp_path,
            module="genre_lightning.predict",
            env={"GENRE_LIGHTNING_CACHE": str(empty_cache)},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        (log,) = out.with_suffix("").glob("*.log")
        return rows, log.read_text()

    rows, log = predict(tmp_path / "preds.csv")
    # No musicnn wheel, no unpacked weights: only the features this predict computed.
    assert [p.name for p in empty_cache.iterdir()] == ["embeddings"]
    assert "features of 0 chunks read, 40 computed and stored" in log  # 4 tracks x 10 windows
    right = sum(Path(r["file"]).parent.name == r["genre"] for r in rows)
    metrics = json.loads((probe_run / "metrics.json").read_text())
    assert len(rows) == 4 and right / len(rows) == pytest.approx(metrics["test/acc"])
    again, log = predict(tmp_path / "again.csv")
    assert "features of 40 chunks read, 0 computed and stored" in log
    assert again == rows  # the same probabilities, digit for digit


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch(probe_run: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"model.{fmt}"
    proc = run_cli(
        [f"ckpt_path={probe_run / 'checkpoints' / 'best.ckpt'}", f"format={fmt}", f"output={out}"],
        cwd=tmp_path,
        module="genre_lightning.export",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check: exported logits differ from PyTorch's by at most" in proc.stdout
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["window_samples"] == 66150 and meta["class_names"] == list(GENRES)


@pytest.mark.slow
def test_finetune_trains_the_network_and_keeps_its_statistics(
    tmp_path: Path, four_genres: Path, musicnn_wheel: Path, musicnn_cache: Path
) -> None:
    run = tmp_path / "run"
    proc = _train(
        run,
        four_genres,
        musicnn_wheel,
        "experiment=musicnn_finetune",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tuned = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = tuned["state_dict"]
    original = pretrained_musicnn("MSD_musicnn", cache_dir=musicnn_cache).state_dict()
    # Two steps at lr 1e-4 move every trained weight, a little.
    for key in ("front.0.conv.weight", "mid.2.conv.weight", "dense.weight"):
        assert not torch.equal(state[f"net.backbone.{key}"], original[key]), key
    # The pretrained batch-norm statistics stay what a million songs estimated.
    for key in ("input_norm.running_mean", "mid.0.norm.running_var", "dense_norm.running_mean"):
        assert torch.equal(state[f"net.backbone.{key}"], original[key]), key
