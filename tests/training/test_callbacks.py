"""callbacks.py + sampler + atomic checkpoints: a killed run resumes to the same result."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import yaml
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from genre_lightning import runs
from genre_lightning.data.sampler import EpochShuffleSampler
from genre_lightning.errors import Interrupted
from genre_lightning.train import train
from genre_lightning.training.callbacks import RunCheckpoint
from genre_lightning.training.module import CHECKPOINT_KEY

from ..conftest import NO_PROGRESS_BAR, TINY, dead_pid, run_cli, start_process, tiny_for

EPOCHS = 3
#: The improved recipe's random parts on the tiny set: random 1 s chunks, SpecAugment, mixup,
#: AdamW with cosine decay, dropout-free ResNet; small batches, so an epoch has many steps and a
#: signal lands inside one.
RECIPE = [
    *TINY,
    f"trainer.max_epochs={EPOCHS}",
    "data.chunk_seconds=1.0",
    "data.batch_size=8",
    "data.features.log=true",
    "module.normalize=mel",
    "module.spec_augment={time_masks:1,time_width:4,freq_masks:1,freq_width:4}",
    "module.mixup_alpha=0.2",
    "optimizer=adamw",
    "scheduler=cosine",
]
#: Curves compared between runs (per epoch).
CURVES = ("train/loss", "train/acc", "val/loss", "val/acc", "lr-AdamW")


def _stop_mid_epoch(
    run: Path, data_dir: Path, sig: signal.Signals, epochs_done: int
) -> subprocess.CompletedProcess[str]:
    """Start the recipe into ``run``; once ``last.ckpt`` holds ``epochs_done`` completed epochs
    and the next epoch has begun (the last of them has its training curve point on disk, which
    GracefulStop writes at an epoch's start), send ``sig``; return how the process ended."""
    args = [*RECIPE, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"]
    proc = start_process(args, run.parent, "genre_lightning")
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if last.exists():
            try:
                epoch = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
            except Exception:  # a file being renamed into place: look again
                epoch = -1
            if epoch + 1 >= epochs_done and _train_points(run) >= epochs_done:
                # At once: the next epoch's first steps are under way. (A pause here let a fast
                # machine finish the run first: the signal came after training, and it exited 0.
                # The checkpoint alone was too early: it is written before the epoch's training
                # curve point, and a SIGKILL in between lost that point.)
                proc.send_signal(sig)
                stdout, stderr = proc.communicate(timeout=120)
                return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"run ended or stalled before epoch {epochs_done}: rc={proc.poll()}")


def _train_points(run: Path) -> int:
    """Epochs whose train/loss point the run's event file holds so far."""
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    if "train/loss" not in events.Tags()["scalars"]:
        return 0
    return len({e.step for e in events.Scalars("train/loss")})


def _comparable(run: Path) -> dict[str, object]:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["best_ckpt"] = Path(metrics["best_ckpt"]).relative_to(run).as_posix()
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    # One point per epoch: the value the run logged last for it (a resumed run logs the
    # epochs after the checkpoint again).
    for tag in CURVES:
        per_epoch = {e.step: e.value for e in events.Scalars(tag)}
        metrics[tag] = [round(per_epoch[k], 6) for k in sorted(per_epoch)]
    # The table of the curves, which a resumed run rewrites from the rows its checkpoint holds.
    with (run / runs.LAYOUT["curves"]).open(newline="") as f:
        metrics["curves.csv"] = list(csv.reader(f))
    return metrics


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, object]:
    """An uninterrupted run's metrics and curves (equal to a resumed run's: the run is
    deterministic on CPU, which the comparisons below rely on and so check too)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    proc = run_cli([*RECIPE, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"], cwd=run.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _comparable(run)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(
    reference: dict[str, object], tmp_path: Path, data_dir: Path
) -> None:
    run = tmp_path / "run"
    _stop_mid_epoch(run, data_dir, signal.SIGKILL, epochs_done=2)
    assert not (run / "metrics.json").exists()  # it really died before finishing

    # Moved before it is resumed: its checkpoints' records name the old folder, and the resumed
    # run must still choose and test its best epoch as the uninterrupted run did, from here.
    moved = tmp_path / "moved"
    run.rename(moved)
    _resume_and_compare(reference, moved, data_dir, f"resume={moved}")


def _steps_done_in_epoch(checkpoint: Path) -> tuple[int, int]:
    """(epoch, batches of it trained) of a checkpoint, from Lightning's loop progress."""
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    # "processed": the step is trained; Lightning counts it "completed" only after the
    # on_train_batch_end hooks, one of which saved this checkpoint.
    progress = ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"]
    return ckpt["epoch"], progress


@pytest.mark.slow
def test_sigterm_saves_the_step_and_resumes_to_the_same_result(
    reference: dict[str, object], tmp_path: Path, data_dir: Path
) -> None:
    run = tmp_path / "run"
    stopped = _stop_mid_epoch(run, data_dir, signal.SIGTERM, epochs_done=1)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert f"resume={run}" in stopped.stderr and "Traceback" not in stopped.stderr
    epoch, done = _steps_done_in_epoch(run / "checkpoints" / "last.ckpt")
    assert epoch < EPOCHS - 1 and done > 0  # saved inside an epoch, not at its end

    _resume_and_compare(reference, run, data_dir, f"hydra.run.dir={run}", "ckpt_path=last")


def _resume_and_compare(reference: dict[str, object], run: Path, data_dir: Path, *how: str) -> None:
    """Resume the stopped ``run`` as ``how`` says; it must end as the uninterrupted run did."""
    started = (run / ".hydra" / "overrides.yaml").read_bytes()
    resumed = run_cli([*RECIPE, f"paths.data_dir={data_dir}", *how], cwd=run.parent)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _comparable(run) == reference
    # The start's step-0 records are not logged again by the resume, and every curve reads
    # back with one value a step, in step order.
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("data/skipped_files")].count(0) == 1
    assert 0 not in [e.step for e in events.Scalars(runs.VAL_ACC_BEST)]  # no placeholder point
    sessions = [
        value.tag
        for path in (run / "tensorboard").glob("events.out.tfevents.*")
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
        if value.tag == "_hparams_/session_start_info"
    ]
    assert len(sessions) == 1  # one entry in the hparams tab
    for tag, points in runs.load_run(run).scalars().items():
        steps = [step for step, _ in points]
        assert steps == sorted(set(steps)), tag
    if how[0].startswith("resume="):
        # The run's record of how it was started is kept; the resume records itself beside it.
        assert (run / ".hydra" / "overrides.yaml").read_bytes() == started
        records = list((run / ".hydra").glob("resume-*/overrides.yaml"))
        assert len(records) == 1 and how[0] in yaml.safe_load(records[0].read_text())


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    a, b = EpochShuffleSampler(50, seed=3), EpochShuffleSampler(50, seed=3)
    a.set_epoch(5)
    b.set_epoch(5)
    assert list(a) == list(b) and sorted(i for i, _ in a) == list(range(50))
    assert {epoch for _, epoch in a} == {5}  # each position names its epoch for the dataset
    b.set_epoch(6)
    assert list(a) != list(b)
    c = EpochShuffleSampler(50, seed=3)
    c.set_epoch(5)
    torch.manual_seed(123)  # the global RNG plays no part
    assert list(c) == list(a)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli([*TINY, f"hydra.run.dir={tmp_path / 'run'}", "ckpt_path=last"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "ckpt_path=last" in proc.stderr and "no checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_resume_of_a_missing_run_directory_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    proc = run_cli([*TINY, f"resume={missing}"], cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: resume={missing}: no such run directory")
    assert not missing.exists()  # Hydra would have made it the run directory


@pytest.mark.slow
def test_resume_with_other_data_network_or_optimizer_settings_is_refused(
    tmp_path: Path, data_dir: Path
) -> None:
    # A short real run from the command line (so with Hydra's record of its command).
    run = tmp_path / "run"
    short = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    first = run_cli([*TINY, *short, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _files(run)
    assert (run / ".hydra" / "overrides.yaml").is_file()  # the run's record, to be kept

    def refused(*changes: str) -> str:
        """stderr of a resume of ``run`` that makes ``changes``; it must write nothing."""
        args = [*tiny_for(*changes), f"paths.data_dir={data_dir}", f"resume={run}", *changes]
        proc = run_cli(args, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        # Not even Hydra's record or log of the refused resume is written.
        assert _files(run) == before
        return proc.stderr

    stderr = refused("data.split_seed=7")
    assert stderr.startswith(
        "error: data.split_seed=7, but the run being resumed was trained with data.split_seed=42"
    )
    # The message quotes the command the run was started with (its .hydra record).
    started = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert f"(it was started with: {shlex.join(started)})" in stderr
    # The key typed, not the clip length derived from it (data.clip_samples came first).
    assert refused("data.seconds=3.0").startswith(
        "error: data.seconds=3.0, but the run being resumed was trained with data.seconds=2.0"
    )
    # Another network's weights would not load: refused on its settings, before any data is
    # read, naming the setting (not Lightning's state-dict traceback halfway into the run).
    assert refused("model=alexnet").startswith(
        "error: model._target_=genre_lightning.models.alexnet.AlexNet, but the run "
        "being resumed was trained with model._target_=genre_lightning.models.resnet.ResNet"
    )
    # Another optimizer's state would not load (a traceback in the first step), and another
    # learning rate or schedule would be overwritten by the saved one, or change the run.
    assert refused("optimizer=sgd").startswith(
        "error: optimizer._target_=torch.optim.SGD, but the run being resumed was trained "
        "with optimizer._target_=torch.optim.Adam"
    )
    assert refused("optimizer.lr=0.1").startswith("error: optimizer.lr=0.1, but the run being")
    assert refused("scheduler=cosine").startswith("error: scheduler.scheduler=")
    # A schedule stepped per batch is as long as the run it was made for: OneCycle stepped
    # past its end (a traceback) when resumed with more epochs.
    cycle = tmp_path / "cycle"
    args = [*TINY, *short, f"paths.data_dir={data_dir}", "scheduler=onecycle"]
    assert run_cli([*args, f"hydra.run.dir={cycle}"], tmp_path).returncode == 0
    longer = run_cli([*args, "trainer.max_epochs=2", f"resume={cycle}"], cwd=tmp_path)
    assert longer.returncode == 2 and "Traceback" not in longer.stderr, longer.stderr[-2000:]
    assert longer.stderr.startswith(
        "error: trainer.max_epochs=2, but the run being resumed was trained with "
        "trainer.max_epochs=1"
    )
    # A finished run has nothing to resume: it was tested again, a second set of test points
    # on its curves.
    events = list((cycle / "tensorboard").glob("events.out.tfevents.*"))
    again = run_cli([*args, f"resume={cycle}"], cwd=tmp_path)
    assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr[-2000:]
    assert again.stderr == (
        f"error: resume={cycle}: that run finished ({cycle / 'metrics.json'} is written) after "
        f"1 epoch(s) of trainer.max_epochs=1, so nothing is left to resume; test it again with "
        f"python -m genre_lightning.evaluate ckpt_path={cycle / 'checkpoints' / 'best.ckpt'}\n"
    )  # its schedule ends with the run: no advice to train it longer
    assert list((cycle / "tensorboard").glob("events.out.tfevents.*")) == events
    plain = [a for a in args if a != "scheduler=onecycle"]
    assert run_cli([*plain, f"hydra.run.dir={tmp_path / 'plain'}"], tmp_path).returncode == 0
    again = run_cli([*plain, f"resume={tmp_path / 'plain'}"], cwd=tmp_path)
    assert (
        again.returncode == 2
        and "nothing is left to resume; add trainer.max_epochs=2 to "
        "train it longer, or test it again"
        in again.stderr
    ), again.stderr[-2000:]
    # The same settings, but a checkpoint whose weights were damaged (or edited): found once
    # the network is built, one error line instead of Lightning's state-dict traceback, and
    # the checkpoints are left as they are.
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.dim() == 4)
    shape = list(ckpt["state_dict"][name].shape)
    ckpt["state_dict"][name] = ckpt["state_dict"][name][:, :, :2]
    torch.save(ckpt, last)
    checkpoints = _files(run / "checkpoints")
    proc = run_cli([*TINY, f"paths.data_dir={data_dir}", f"resume={run}"], cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (error,) = (line for line in proc.stderr.splitlines() if line.startswith("error:"))
    assert error + "\n" == (
        f"error: resume: the checkpoint {last} does not fit the network its settings build "
        f"({name} is {[*shape[:2], 2, *shape[3:]]} there, {shape} here); the file is damaged: "
        f"resume from another checkpoint of the run (ckpt_path=...), or start a new run\n"
    )
    assert _files(run / "checkpoints") == checkpoints


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_atomic_checkpoint_io_leaves_no_partial_file(tmp_path: Path) -> None:
    from genre_lightning.training.checkpoint import AtomicCheckpointIO, CheckpointWriteError

    io = AtomicCheckpointIO()
    target = tmp_path / "ckpts" / "last.ckpt"
    # What a run killed while saving leaves: a half-written checkpoint under a dead process id.
    dead = dead_pid()
    target.parent.mkdir()
    (target.parent / f".best.ckpt.tmp-{dead}").write_bytes(b"half a checkpoint")
    os.utime(target.parent / f".best.ckpt.tmp-{dead}", (1e9, 1e9))
    io.save_checkpoint({"epoch": 3, "w": torch.ones(3)}, target)
    assert torch.load(target, weights_only=True)["epoch"] == 3
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(CheckpointWriteError, match=r"hydra\.run\.dir"):
        io.save_checkpoint({"epoch": 1}, blocked / "last.ckpt")
    assert sorted(os.listdir(tmp_path)) == ["ckpts", "file"]


def test_early_stopping_config_stops_training(make_cfg: Callable[..., DictConfig]) -> None:
    # min_delta=1 can never be met after the first epoch: patience 1 stops after epoch 2.
    cfg = make_cfg(
        [
            *TINY,
            "trainer.max_epochs=10",
            "callbacks=early_stopping",
            "callbacks.early_stopping.patience=1",
            "callbacks.early_stopping.min_delta=1.0",
            "callbacks.model_summary=null",
        ]
    )
    metrics = train(cfg)
    assert metrics["epochs"] == 2
    assert Path(metrics["best_ckpt"]).is_file()  # the best checkpoint is still tested


def test_last_checkpoint_is_every_epoch_even_without_improvement(
    make_cfg: Callable[..., DictConfig],
) -> None:
    # Monitoring the epoch number with mode=min: the best checkpoint never improves after the
    # first epoch, which is when Lightning's own save_last stops writing last.ckpt.
    overrides = ["callbacks.model_checkpoint.monitor=epoch", "callbacks.model_checkpoint.mode=min"]
    cfg = make_cfg([*TINY, "trainer.max_epochs=3", *overrides])
    metrics = train(cfg)
    folder = Path(metrics["best_ckpt"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(folder / "best.ckpt", weights_only=True)["epoch"] == 0
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 2


@pytest.mark.slow
def test_resume_on_a_changed_data_folder_is_refused(tmp_path: Path) -> None:
    # A folder of real files; one training track is removed after the first epoch, so the same
    # settings split the rest otherwise. Resuming would train on other tracks and test on some
    # it trained on: refused, naming the track, before the run's split.csv is rewritten.
    from genre_lightning.data.synthetic import ensure_synthetic_dataset

    folder = ensure_synthetic_dataset(tmp_path / "music", clips_per_class=6, seconds=2.0, seed=0)
    run = tmp_path / "run"
    args = [
        "data=folder",
        f"data.root={folder}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.clip_samples=44100",
        "data.features.num_frames=null",
        "data.batch_size=16",
        *NO_PROGRESS_BAR,
        "+trainer.limit_train_batches=2",
    ]
    first = run_cli([*args, "trainer.max_epochs=1", f"hydra.run.dir={run}"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    split = (run / "split.csv").read_bytes()
    track, genre, part, path = split.decode().splitlines()[1].split(",", 3)
    assert part == "train"
    Path(path).unlink()
    proc = run_cli([*args, "trainer.max_epochs=2", f"resume={run}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "was trained on another split of the data" in line
    assert f"{genre}/{track} (train -> absent)" in line and "Traceback" not in proc.stderr
    assert (run / "split.csv").read_bytes() == split
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 1  # the first run's


class SigtermInValidation(pl.Callback):
    """Sends this process a real SIGTERM at the first validation batch of epoch 1, where
    Lightning's own handler (beside GracefulStop's) stops the loop itself."""

    def on_validation_batch_start(
        self,
        trainer: pl.Trainer,
        module: pl.LightningModule,
        batch: object,
        batch_idx: int,
        *_: int,
    ) -> None:
        if trainer.current_epoch == 1 and not trainer.sanity_checking and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGTERM)


class SigtermInAnEpochsLastStep(pl.Callback):
    """Sends this process a real SIGTERM as the last training step of epoch 1 starts."""

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if trainer.current_epoch == 1 and batch_idx == trainer.num_training_batches - 1:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.slow
def test_a_sigterm_in_an_epoch_s_last_step_resumes_to_the_same_result(
    reference: dict[str, object], make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    # Saved after the epoch's last step, the checkpoint resumed into an epoch with no batch
    # left: Lightning skipped its validation, folded its training curves into the next epoch's
    # and chose another best epoch (another test result).
    target = f"{SigtermInAnEpochsLastStep.__module__}.{SigtermInAnEpochsLastStep.__qualname__}"
    with pytest.raises(Interrupted) as caught:
        train(make_cfg([*RECIPE, f"+callbacks.sigterm._target_={target}"]))
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    assert str(caught.value) == (
        f"stopped by SIGTERM in epoch 1 at its last step; {last} holds the last completed "
        f"epoch. Resume with the same command plus `resume={run}`."
    )
    assert torch.load(last, weights_only=True)["epoch"] == 0  # the epoch before
    train(make_cfg([*RECIPE, "ckpt_path=last"]))
    assert _comparable(run) == reference


def test_sigterm_during_validation_is_a_stop_with_its_resume_command(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    # Lightning ended such a stop as SystemExit with status 0: a preempted run "succeeded".
    target = f"{SigtermInValidation.__module__}.{SigtermInValidation.__qualname__}"
    overrides = [*TINY, "trainer.max_epochs=3", "data.batch_size=4"]  # 3 validation batches
    cfg = make_cfg([*overrides, f"+callbacks.sigterm._target_={target}"])
    with pytest.raises(Interrupted) as caught:
        train(cfg)
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    assert str(caught.value) == (
        f"stopped by SIGTERM in epoch 1; {last} holds the last completed epoch. Resume with the "
        f"same command plus `resume={run}`."
    )
    assert caught.value.status == 143
    assert torch.load(last, weights_only=True)["epoch"] == 0 and not (run / "metrics.json").exists()


@pytest.mark.slow
def test_ctrl_c_is_one_interrupted_line_and_status_130(tmp_path: Path, data_dir: Path) -> None:
    # Lightning ended it with exit status 1 and a log line, like a crash.
    run = tmp_path / "run"
    stopped = _stop_mid_epoch(run, data_dir, signal.SIGINT, epochs_done=1)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    [line] = [line for line in stopped.stderr.splitlines() if line.startswith("interrupted:")]
    assert line.startswith("interrupted: stopped by Ctrl-C in epoch ")
    assert line.endswith(
        f"holds the last completed epoch. Resume with the same command plus `resume={run}`."
    )
    assert "Traceback" not in stopped.stderr


def test_a_checkpoint_record_follows_a_moved_run_but_not_another_run(tmp_path: Path) -> None:
    old, here = tmp_path / "old" / "checkpoints", tmp_path / "new" / "checkpoints"
    record = {
        "dirpath": str(old),
        "monitor": "val/acc",
        "best_model_score": torch.tensor(0.5),
        "best_model_path": str(old / "best.ckpt"),
        "kth_best_model_path": str(old / "best.ckpt"),
        "last_model_path": "",
        "best_k_models": {str(old / "best.ckpt"): torch.tensor(0.5)},
    }
    # Another run's checkpoint (ckpt_path=): its best is not here, so this run starts its own
    # record; kept, the test looked for a best.ckpt here that no epoch had written.
    fresh = RunCheckpoint(dirpath=here, monitor="val/acc", mode="max")
    fresh.load_state_dict(dict(record))
    assert fresh.best_model_path == "" and fresh.best_model_score is None
    # A moved (or copied) run: its best is here, under the same name, and keeps its score.
    here.mkdir(parents=True)
    (here / "best.ckpt").write_bytes(b"")
    moved = RunCheckpoint(dirpath=here, monitor="val/acc", mode="max")
    moved.load_state_dict(dict(record))
    assert moved.best_model_path == str(here / "best.ckpt")
    assert moved.best_model_score is not None and float(moved.best_model_score) == 0.5


@pytest.mark.slow
def test_training_on_from_another_run_s_checkpoint(
    tiny_ckpt: Path, data_dir: Path, tmp_path: Path
) -> None:
    base = [*TINY, "+trainer.limit_train_batches=2", f"paths.data_dir={data_dir}"]
    base.append(f"ckpt_path={tiny_ckpt}")
    # Its run trained its one epoch: nothing would train, and the test had no checkpoint here.
    none = tmp_path / "none"
    proc = run_cli([*base, "trainer.max_epochs=1", f"hydra.run.dir={none}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == (
        f"error: ckpt_path={tiny_ckpt}: its run trained 1 epoch(s), so trainer.max_epochs=1 "
        f"leaves none to train from it; raise trainer.max_epochs (e.g. 2), or test it with "
        f"python -m genre_lightning.evaluate ckpt_path={tiny_ckpt}\n"
    )
    assert not none.exists()
    # One epoch more: trained and tested in this run's own folder.
    run = tmp_path / "run"
    proc = run_cli([*base, "trainer.max_epochs=2", f"hydra.run.dir={run}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = runs.Run(run).metrics
    assert metrics["epochs"] == 2 and Path(metrics["best_ckpt"]).parent == run / "checkpoints"
    best = torch.load(metrics["best_ckpt"], weights_only=True)
    assert best["epoch"] == 1
    # Its record is its own, like its best epoch: val/acc_best counted the other run's epoch 0.
    assert best[CHECKPOINT_KEY]["val_history"] == [metrics["val/acc"]] == [metrics["val/acc_best"]]
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    # The event file holds the value as float32.
    best_f32 = float(np.float32(metrics["val/acc_best"]))
    assert [e.value for e in events.Scalars("val/acc_best")] == [best_f32]
    # And its own entry in the hparams tab (a new folder's run was taken for a resume).
    assert "optimizer.lr" in yaml.safe_load((run / "tensorboard" / "hparams.yaml").read_text())
