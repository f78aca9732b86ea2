"""train.py end to end in real subprocesses: training, TensorBoard events, multirun, errors."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from genre_lightning import runs
from genre_lightning.errors import UserError
from genre_lightning.evaluate import evaluate
from genre_lightning.hydra_conf import CONFIG_DIR
from genre_lightning.inference import load_classifier
from genre_lightning.provenance import source_commit
from genre_lightning.runs import load_run
from genre_lightning.train import train

from .conftest import TINY, run_cli, run_tiny, run_tiny_multirun, write_tone

SCALARS = {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "test/f1_macro"}


def _scalars(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    return events


def _hparams_plugin_data(run_dir: Path) -> dict[str, bytes]:
    """The hparams tab's records (EventAccumulator drops them, so read the files directly)."""
    found = {}
    for path in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    found[value.tag] = value.metadata.plugin_data.content
    return found


@pytest.mark.slow
def test_short_training_beats_chance(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    proc = run_cli(
        [*TINY, "trainer.max_epochs=8", f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test/acc", "test/f1_macro", "val/acc_best", "best_ckpt", "epochs", "seed"):
        assert key in metrics
    assert metrics["epochs"] == 8 and metrics["seed"] == 42
    # What produced the numbers: this code (its commit and edits), its libraries, the device.
    record = metrics["provenance"]
    assert (record["commit"], record["modified"]) == source_commit() and record["device"] == "cpu"
    assert record["genre_lightning"] == version("genre_lightning")
    assert record["pytorch-lightning"] == version("pytorch-lightning")
    # The last line gives the tested checkpoint's validation accuracy beside the best epoch's.
    assert (
        f"val/acc {metrics['val/acc']:.4f}  val/acc_best {metrics['val/acc_best']:.4f}  -> "
        in (run / "train.log").read_text()
    )
    assert len(metrics["test/f1_per_class"]) == 10
    # 10 classes: chance is 0.1. Measured 0.8-1.0 on this tiny set; 0.5 is a clear margin.
    assert metrics["test/acc"] >= 0.5, metrics
    assert Path(metrics["best_ckpt"]) == run / "checkpoints" / "best.ckpt"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "split.csv").is_file()

    events = _scalars(run)
    assert set(events.Tags()["scalars"]) >= SCALARS
    # What a callback may monitor is what training logs (val/chunk_acc: chunked data only).
    logged = set(runs.MONITORABLE) - {runs.VAL_CHUNK_ACC, "epoch", "step"}
    assert logged <= set(events.Tags()["scalars"])
    assert len(events.Scalars("val/acc")) == 8 and len(events.Scalars("train/loss")) == 8
    # One point each: the hparams tab's metrics are registered without a placeholder 0.
    assert [e.value for e in events.Scalars("test/acc")] == pytest.approx([metrics["test/acc"]])
    assert len(events.Scalars("val/acc_best")) == 8
    assert max(e.value for e in events.Scalars("val/acc")) == pytest.approx(metrics["val/acc_best"])
    loss = [e.value for e in events.Scalars("train/loss")]
    assert loss[-1] < loss[0]
    assert {"val/acc_best", "lr-Adam"} <= set(events.Tags()["scalars"])
    # One F1 curve per genre the test split holds or the network predicted; the others are null.
    scored = {g for g, f1 in metrics["test/f1_per_class"].items() if f1 is not None}
    assert scored and {t for t in events.Tags()["scalars"] if t.startswith("test/f1/")} == {
        f"test/f1/{g}" for g in scored
    }
    assert events.Scalars("lr-Adam")[0].value == pytest.approx(5e-4)
    images = set(events.Tags()["images"])
    assert {"test/confusion_matrix", "val_examples/clip_0"} <= images
    # Each epoch's example images at the step of its validation scalars, the confusion matrix
    # at test/acc's: TensorBoard's step slider shows them together.
    val_steps = [e.step for e in events.Scalars("val/acc")]
    assert [e.step for e in events.Images("val_examples/clip_0")] == val_steps
    test_steps = [e.step for e in events.Scalars("test/acc")]
    assert [e.step for e in events.Images("test/confusion_matrix")] == test_steps
    # curves.csv: the same curves as a table, one row per epoch.
    with (run / "curves.csv").open(newline="") as f:
        curves = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in curves] == list(range(8))
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best"):
        values = [e.value for e in events.Scalars(tag)]
        assert [float(r[tag]) for r in curves] == pytest.approx(values, rel=1e-6), tag
    assert {float(r["lr"]) for r in curves} == {5e-4}
    steps = [int(r["step"]) for r in curves]
    assert steps == sorted(steps) and steps[-1] == events.Scalars("test/acc")[0].step
    hparams = _hparams_plugin_data(run)
    # A session without an experiment record: the tab's columns come from every run shown.
    assert "_hparams_/experiment" not in hparams
    assert b"optimizer.lr" in hparams["_hparams_/session_start_info"]
    params, metrics = _hparams_tab(run)
    assert "optimizer.lr" in params and {runs.VAL_ACC_BEST, runs.TEST_ACC} <= metrics


def _hparams_tab(logdir: Path) -> tuple[set[str], set[str]]:
    """The hyper-parameter and metric columns TensorBoard's hparams tab shows for ``logdir``,
    as its own backend computes them from the event files."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    tab = backend_context.Context(
        base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer, data_provider=provider)
    )
    ctx = context.RequestContext()
    metadata = tab.hparams_metadata(ctx, "")
    from_provider = tab.hparams_from_data_provider(ctx, "", None)
    experiment = tab.experiment_from_metadata(ctx, "", True, metadata, from_provider)
    return {h.name for h in experiment.hparam_infos}, {m.name.tag for m in experiment.metric_infos}


@pytest.mark.slow
def test_multirun_sweeps_optimizers(tmp_path: Path, data_dir: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_tiny_multirun(sweep, data_dir, "optimizer=adam,sgd")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lrs = []
    for job in ("0", "1"):
        run = sweep / job
        assert json.loads((run / "metrics.json").read_text())["epochs"] == 1
        assert set(_scalars(run).Tags()["scalars"]) >= SCALARS
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        lrs.append(float(config["optimizer"]["lr"]))
    assert lrs == [5e-4, 1e-2]  # each optimizer's own
    with open(sweep / "sweep_summary.csv") as f:
        summary = list(csv.DictReader(f))
    chosen = sorted(o for r in summary for o in r["overrides"].split() if o.startswith("optim"))
    assert chosen == ["optimizer=adam", "optimizer=sgd"]
    assert "Sweep summary" in proc.stdout
    # The hparams tab of the sweep shows both jobs' keys (it showed the first job's only:
    # SGD's momentum was missing) and, as metrics, the curves the runs logged.
    params, metrics = _hparams_tab(sweep)
    assert {"optimizer", "optimizer.betas", "optimizer.momentum", "optimizer.lr", "model"} <= params
    assert {runs.VAL_ACC, runs.VAL_ACC_BEST, runs.TEST_ACC, "train/loss"} <= metrics


def test_a_run_without_logger(tmp_path: Path, data_dir: Path) -> None:
    # logger=none drops TensorBoard; the learning-rate monitor must not make that an error.
    run = tmp_path / "run"
    proc = run_tiny(run, data_dir, "logger=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 1
    assert not (run / "tensorboard").exists()
    assert "tensorboard --logdir" not in (run / "train.log").read_text()
    with pytest.raises(UserError, match="logger=none"):
        load_run(run).scalars()


def test_help_names_the_program_and_lists_every_group(tmp_path: Path) -> None:
    proc = run_cli(["--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("genre_lightning: train and test a music genre classifier")
    assert "trainer: cpu, ddp, ddp_sim, debug, default, gpu" in proc.stdout
    assert "logger: none, tensorboard" in proc.stdout


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli([f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert str(tmp_path / "data" / "gtzan") in proc.stderr
    assert "data.root=" in proc.stderr and "experiment=demo" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unknown_model_lists_the_options(tmp_path: Path) -> None:
    proc = run_cli(["model=vgg"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: model=vgg: no such option (available: alexnet")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["hydra.run.dir=afile/run"], "error: hydra.run.dir=afile/run: afile is a file"),
        (["-m", "seed=1,2", "hydra.sweep.dir=afile/x"], "error: hydra.sweep.dir=afile/x: afile"),
        (["-m", "hydra/launcher=slurm", "seed=1,2"], "error: hydra/launcher=slurm: srun is not"),
    ],
)
def test_launch_problems_are_one_error_line(args: list[str], expected: str, tmp_path: Path) -> None:
    if "hydra/launcher=slurm" in args and shutil.which("srun"):
        pytest.skip("this machine has srun")
    (tmp_path / "afile").write_text("")
    proc = run_cli([*args, "experiment=demo"], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith(expected), proc.stderr[-2000:]
    assert len(proc.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing was started


def test_console_script_composes_the_config(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "genre-lightning"
    assert script.is_file(), "console script not installed (pip install -e .)"
    proc = subprocess.run(
        [str(script), "--cfg", "job", "experiment=seed_alexnet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"]["_target_"] == "genre_lightning.models.alexnet.AlexNet"
    assert cfg["optimizer"]["lr"] == 5.0e-4 and cfg["optimizer"]["betas"] == [0.9, 0.999]
    assert cfg["data"]["batch_size"] == 256 and cfg["trainer"]["max_epochs"] == 100
    assert cfg["data"]["features"]["num_frames"] == 668 and cfg["data"]["split"] == "random"


def _real_clip(gtzan_sample: Path, genre: str) -> Path:
    return gtzan_sample / "genres_original" / genre / f"{genre}.00000.wav"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["optimizer=adamx"], ["adam", "adamw", "sgd"]),
        (["experiment=nope"], ["demo", "seed_alexnet", "seed_resnet"]),
        (["trainer=tpu"], ["cpu", "debug", "gpu"]),
    ],
)
def test_unknown_names_list_the_options(
    tmp_path: Path, args: list[str], expected: list[str]
) -> None:
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert all(option in proc.stderr for option in expected), proc.stderr


def _fails_cleanly(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-3000:]


def test_batch_larger_than_the_training_set(tmp_path: Path, data_dir: Path) -> None:
    # Found only once the data is indexed: the training set of the tiny demo has 96 tracks.
    proc = run_tiny(tmp_path / "run", data_dir, "data.batch_size=1000")
    _fails_cleanly(proc, "data.batch_size=1000", "training set (96 tracks)", "data.batch_size=64")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_gpu_trainer_without_a_gpu_fails_before_the_data(tmp_path: Path) -> None:
    # The accelerator is checked with the config, before Hydra writes the run folder and
    # before the data is decoded (only listed).
    for genre in ("blues", "rock"):
        write_tone(tmp_path / "music" / genre / "a.wav", seconds=0.1)
    args = ["trainer=gpu", "data=folder", f"data.root={tmp_path / 'music'}"]
    proc = run_cli([*args, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    _fails_cleanly(proc, "trainer.accelerator=gpu", "no CUDA GPU is visible", "trainer=cpu")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "run").exists()


def test_root_without_audio(tmp_path: Path) -> None:
    for genre in ("blues", "rock"):
        (tmp_path / "data" / genre).mkdir(parents=True)
        (tmp_path / "data" / genre / "notes.txt").write_text("no audio here")
    proc = run_cli(
        [f"data.root={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path
    )
    _fails_cleanly(proc, "no audio found", str(tmp_path / "data"))


def test_genre_with_no_usable_file(tmp_path: Path, gtzan_sample: Path) -> None:
    root = tmp_path / "data"
    (root / "blues").mkdir(parents=True)
    shutil.copy(_real_clip(gtzan_sample, "blues"), root / "blues")
    (root / "rock").mkdir()
    (root / "rock" / "rock.00000.wav").write_bytes(b"RIFF-broken")
    proc = run_cli(
        [
            f"data.root={root}",
            "data.class_names=[blues,rock]",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    _fails_cleanly(proc, "genre 'rock' has no usable clip", "rock.00000.wav")


@pytest.mark.slow
def test_non_finite_loss_stops_at_the_step_and_keeps_checkpoints(
    tmp_path: Path, data_dir: Path
) -> None:
    run = tmp_path / "run"
    # One batch per epoch: epoch 0 completes (last.ckpt written), its huge step makes epoch 1 NaN.
    proc = run_cli(
        [
            *TINY,
            f"paths.data_dir={data_dir}",
            "data.batch_size=96",
            "optimizer=sgd",
            "optimizer.lr=1e38",
            "trainer.max_epochs=3",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
    )
    _fails_cleanly(proc, "training loss is nan at global step 1", "optimizer.lr")
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0


def test_unwritable_checkpoint_folder(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").write_text("a file where the checkpoint folder should be")
    proc = run_cli(
        [*TINY, f"paths.data_dir={data_dir}", "trainer.max_epochs=1", f"hydra.run.dir={run}"],
        cwd=tmp_path,
    )
    _fails_cleanly(proc, "cannot write checkpoint", "hydra.run.dir")


def test_the_final_model_trains_on_every_track(tmp_path: Path, data_dir: Path) -> None:
    """data.split=all: every track trains, none is validated or tested; metrics.json says so
    (no test numbers), the last epoch's checkpoint is the one to predict with, its split record
    lists every track as trained, and evaluate on its own data says there is nothing to test."""
    run = tmp_path / "run"
    proc = run_tiny(run, data_dir, "data.split=all", "callbacks.model_checkpoint.monitor=null")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics[runs.TEST_ACC] is None and metrics[runs.VAL_ACC_BEST] is None
    assert metrics[runs.NUM_CLIPS] == {"train": 120, "val": 0, "test": 0}  # 12 of 10 genres
    assert Path(metrics[runs.BEST_CKPT]) == run / "checkpoints" / "best.ckpt"
    assert (
        f"trained on all 120 tracks (data.split=all): nothing validated or tested; the last "
        f"epoch's checkpoint, for predict: {run / 'checkpoints' / 'best.ckpt'}"
    ) in (run / "train.log").read_text()
    classifier = load_classifier(metrics[runs.BEST_CKPT])
    assert classifier.split is not None and len(classifier.split["train"]) == 120
    assert not classifier.split["val"] and not classifier.split["test"]
    # No score of 0 in TensorBoard: the hparams tab's placeholders were never replaced.
    scalars = set(_scalars(run).Tags()["scalars"])
    assert not scalars & {runs.TEST_ACC, runs.VAL_ACC_BEST} and "train/loss" in scalars
    with pytest.raises(UserError, match=r"^data\.split=all leaves no test track: the checkpoint"):
        evaluate(metrics[runs.BEST_CKPT], tmp_path / "out", device="cpu")


def test_a_config_composed_in_python_is_told_to_give_its_run_directory() -> None:
    # Composed outside a Hydra app, paths.output_dir (Hydra's run directory) failed to resolve
    # with an interpolation traceback.
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=demo"])
    with pytest.raises(UserError, match=r"^paths\.output_dir: a config composed outside a Hydra"):
        train(cfg)
