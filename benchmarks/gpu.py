"""``gpu`` (``make bench-gpu``): training throughput on one CUDA GPU, and mel of all of GTZAN.

On a GTZAN-sized synthetic set (1000 clips x 30 s, generated once under the scratch folder),
the paper's ResNet and AlexNet train at batch 256 for a few epochs in each configuration:

* precision ``32-true`` or ``bf16-mixed`` (with channels-last and cuDNN autotuning);
* samples through the DataLoader (pinned, non-blocking) with mel per batch, the whole int16
  set on the GPU (``data.on_device``) with mel per batch, or on the GPU with the mel table.

The first epoch (cuDNN autotuning, table build) is left out. ``100 epochs`` projects the
paper's schedule (validation excluded).

Then real training commands on the same set, each in a fresh process, as a user runs them:
``experiment=seed_resnet trainer=gpu data.on_device=true`` eagerly and with ``compile=true``, and
``experiment=musicnn_probe trainer=gpu``. Their seconds per epoch (training and validation) come
from the wall times of the run's own TensorBoard events, the first epoch left out. musicnn's
features of all 1000 clips (10 patches of 3 s each) are also timed on their own.

Without CUDA, ``benchmarks.run`` refuses it (``run`` alone returns a "skipped" row);
``--quick`` (20 clips, fewer epochs) also runs on CPU, to check the code path.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from benchmarks.common import CLIP_SAMPLES, REPO, SYNTHETIC_SECONDS, Row, synthetic_gtzan_root
from benchmarks.loop import StepTimes
from benchmarks.musicnn import CHUNK, musicnn_parts, musicnn_source
from genre_lightning import runs
from genre_lightning.audio import from_int16
from genre_lightning.data.synthetic import SyntheticDataModule
from genre_lightning.features.mel import MelFeatures
from genre_lightning.models.alexnet import AlexNet
from genre_lightning.models.resnet import ResNet
from genre_lightning.training.module import GenreClassifier

SOURCES: dict[str, dict[str, Any]] = {
    "loader": {"on_device": False, "cache_features": False},
    "on_device": {"on_device": True, "cache_features": False},
    "on_device+table": {"on_device": True, "cache_features": "auto"},
}


def _datamodule(per_class: int, batch: int, **source: Any) -> SyntheticDataModule:
    dm = SyntheticDataModule(
        root=str(synthetic_gtzan_root()),
        clips_per_class=per_class,
        seconds=SYNTHETIC_SECONDS,
        seed=0,
        clip_samples=CLIP_SAMPLES,
        features={"num_frames": 668},
        batch_size=batch,
        **source,
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _epochs_per_second(
    dm: SyntheticDataModule, net: torch.nn.Module, precision: str, epochs: int, accelerator: str
) -> float:
    model = GenreClassifier(
        net, partial(torch.optim.Adam, lr=5e-4), dm.class_names, dm.feature_shape()
    )
    # The paper's per-element normalisation, from the training set (as train.py does).
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    model.normalize.set_statistics(*(s.cpu() for s in dm.feature_statistics(device)))
    times = StepTimes()
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,  # type: ignore[arg-type]
        benchmark=accelerator == "gpu",
        max_epochs=epochs + 1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[times],
    )
    trainer.fit(model, datamodule=dm)
    # Step ends are synchronised: every step reads its loss (the non-finite check).
    first, _ = times.epochs[1]
    seconds = times.ends[-1] - times.starts[first]
    return epochs / seconds


def _second_round(device: torch.device, work: Callable[[], None]) -> float:
    """Seconds of ``work``'s second call on ``device`` (the first warms up cuFFT plans and
    cuDNN), synchronised before and after so the GPU's queued work is counted."""
    with torch.no_grad():
        for _ in range(2):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            work()
            if device.type == "cuda":
                torch.cuda.synchronize()
    return time.perf_counter() - start


def _device_waves(dm: SyntheticDataModule, device: torch.device) -> torch.Tensor:
    waves = dm.batch_features.device_waves(device) if dm.batch_features else None
    assert waves is not None, "an on_device data module, set up"
    return waves


def _mel_all(dm: SyntheticDataModule, device: torch.device) -> float:
    """Seconds to turn every clip of the set into paper mel images on ``device``."""
    waves = _device_waves(dm, device)
    mel = MelFeatures().to(device)

    def work() -> None:  # each chunk's output dropped at once, as a loop over batches does
        for chunk in waves.split(250):
            mel(from_int16(chunk))

    return _second_round(device, work)


def _musicnn_features(dm: SyntheticDataModule, device: torch.device) -> float:
    """Seconds for musicnn's features (front end + frozen network) of every 3 s patch."""
    front, net = (part.to(device) for part in musicnn_parts())
    waves = _device_waves(dm, device)
    count = waves.shape[1] // CHUNK
    patches = waves[:, : count * CHUNK].reshape(-1, CHUNK)

    def work() -> None:
        for chunk in patches.split(640):
            net(front(from_int16(chunk)))

    return _second_round(device, work)


def _epoch_times(run: Path) -> list[float]:
    """Wall times of the run's per-epoch ``train/loss`` events (TensorBoard's own record)."""
    times: list[float] = []
    for events in sorted(runs.Run(run).file("tensorboard").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if runs.TRAIN_LOSS in acc.Tags()["scalars"]:
            times += [e.wall_time for e in acc.Scalars(runs.TRAIN_LOSS)]
    return sorted(times)


def training_command(label: str, args: list[str], timeout: float) -> list[Row]:
    """Run ``python -m genre_lightning *args`` and time it: wall, s/epoch, test accuracy."""
    with tempfile.TemporaryDirectory(prefix="gl-bench-gpu-") as tmp:
        run = Path(tmp) / "run"
        command = [
            sys.executable,
            "-m",
            "genre_lightning",
            *args,
            f"hydra.run.dir={run}",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
        ]
        start = time.perf_counter()
        try:
            done = subprocess.run(
                command, cwd=REPO, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return [Row("gpu", f"{label}: timed out", timeout, "s", " ".join(args))]
        wall = time.perf_counter() - start
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return [Row("gpu", f"{label}: failed", wall, "s", last[-300:])]
        times = _epoch_times(run)
        metrics = runs.Run(run).metrics
    # The first epoch (cuDNN autotuning, compilation, features computed) is left out.
    per_epoch = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else float("nan")
    note = (
        f"{len(times)} epochs in {wall:.0f} s wall (start, test included); "
        f"100 epochs: {100 * per_epoch / 60:.2f} min; test acc {metrics[runs.TEST_ACC]:.3f}"
    )
    # compile=true trains eagerly, warned, where a graph cannot be compiled: say so.
    eager = [
        line.strip()
        for line in done.stderr.splitlines()
        if "eagerly" in line or "WON'T CONVERT" in line or "falling back" in line.lower()
    ]
    if eager:
        note += f"; {len(eager)} eager fallback(s): {eager[0][:200]}"
    return [Row("gpu", f"{label}: s/epoch after the first", per_epoch, "s", note)]


def _shown(row: Row) -> Row:
    # Each row as soon as it is measured: the whole run takes minutes on a lent GPU.
    print(f"   {row.metric}: {row.value:.4g} {row.unit}  {row.note}", file=sys.stderr, flush=True)
    return row


def run(quick: bool = False) -> list[Row]:
    """Rows: epochs/s per model, precision and data source; projected 100-epoch minutes."""
    cuda = torch.cuda.is_available()
    if not cuda and not quick:
        return [Row("gpu", "skipped: no CUDA device (bench-gpu needs one)", 0, "")]
    accelerator = "gpu" if cuda else "cpu"
    per_class, batch, epochs = (2, 8, 2) if quick else (100, 256, 6)
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(0) if cuda else "CPU (code-path check)"
    dm = _datamodule(per_class, batch, **SOURCES["on_device"])
    clips = per_class * 10
    seconds = _mel_all(dm, device)
    rows = [_shown(Row("gpu", f"mel of all {clips} clips", seconds, "s", f"{name}; target <= 0.1"))]
    seconds = _musicnn_features(dm, device)
    note = "10 patches of 3 s each, front end + network"
    rows.append(_shown(Row("gpu", f"musicnn features of all {clips} clips", seconds, "s", note)))
    precisions = ("32-true", "bf16-mixed") if cuda else ("32-true",)
    for model_name, net_class in (("ResNet", ResNet), ("AlexNet", AlexNet)):
        for precision in precisions:
            for source, kwargs in SOURCES.items():
                dm = _datamodule(per_class, batch, **kwargs)
                torch.manual_seed(0)
                net = net_class(num_classes=10)
                rate = _epochs_per_second(dm, net, precision, epochs, accelerator)
                note = f"100 epochs: {100 / rate / 60:.2f} min; batch {batch}"
                metric = f"{model_name} {precision} {source}"
                rows.append(_shown(Row("gpu", metric, rate, "epochs/s", note)))
    return rows + [_shown(row) for row in commands(quick, cuda)]


def commands(quick: bool, cuda: bool) -> list[Row]:
    """The real training commands on the synthetic set: paper ResNet (eager, compiled), probe."""
    per_class, epochs = (2, 3) if quick else (100, 6)
    data = [
        "data=synthetic",
        f"data.root={synthetic_gtzan_root()}",
        f"data.clips_per_class={per_class}",
        f"data.seconds={SYNTHETIC_SECONDS}",
    ]
    device = ["trainer=gpu"] if cuda else ["trainer=cpu", "data.batch_size=8"]
    paper = [
        "experiment=seed_resnet",
        *data,
        f"data.clip_samples={CLIP_SAMPLES}",
        "data.features.num_frames=668",
        *device,
        f"trainer.max_epochs={epochs}",
        "data.on_device=true",
    ]
    probe = ["experiment=musicnn_probe", *data, *device]
    if musicnn_source():
        probe.append(f"model.source={musicnn_source()}")
    if quick:
        probe.append("trainer.max_epochs=3")
    return [
        *training_command("experiment=seed_resnet", paper, timeout=300),
        *training_command("experiment=musicnn_probe", probe, timeout=300),
        # Last: compiling takes minutes, and a compiler missing on the machine fails it.
        *training_command("experiment=seed_resnet compile=true", [*paper, "compile=true"], 300),
    ]
