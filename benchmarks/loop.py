"""``loop`` and ``data_wait``: Lightning's step time against a plain PyTorch loop, and the time
between steps (loading the next batch, and its mel, timed apart).

Both train the paper's ResNet on the real GTZAN sample (cached int16 waveforms, mel computed per
batch in ``on_after_batch_transfer``) for the same number of steps at the same batch size. The
Lightning run is configured as a user runs it: TensorBoard logger, progress bar, epoch metrics.
Times exclude the first steps (allocator and thread-pool warm-up) on both sides.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from benchmarks.common import Row, median, sample_root
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.models.resnet import ResNet
from genre_lightning.training.module import GenreClassifier

BATCH = 8
WARMUP = 2  # steps left out of the timings
ROUNDS = 3  # turns of each loop, alternating


class StepTimes(pl.Callback):
    """Wall-clock time of every training step, and the gaps between steps (waiting for data)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.epochs: list[tuple[int, int]] = []  # (first step, end step) of each epoch

    def on_train_epoch_start(self, *args: Any) -> None:
        self.epochs.append((len(self.starts), len(self.starts)))

    def on_train_epoch_end(self, *args: Any) -> None:
        self.epochs[-1] = (self.epochs[-1][0], len(self.starts))

    def on_train_batch_start(self, *args: Any) -> None:
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, *args: Any) -> None:
        self.ends.append(time.perf_counter())


def sample_datamodule(root: Path, cache: Path, **kwargs: Any) -> GenreDataModule:
    """The GTZAN sample, set up (mel per batch unless ``kwargs`` say otherwise)."""
    kwargs = {"cache_features": False, **kwargs}
    dm = GenreDataModule(
        root=str(root),
        cache_dir=str(cache),
        class_names=list(GTZAN_GENRES),
        batch_size=BATCH,
        **kwargs,
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def paper_resnet(dm: GenreDataModule) -> GenreClassifier:
    """The paper's ResNet with the training set's statistics, seeded."""
    torch.manual_seed(0)
    model = GenreClassifier(
        ResNet(num_classes=10),
        partial(torch.optim.Adam, lr=5e-4),
        dm.class_names,
        dm.feature_shape(),
    )
    model.normalize.set_statistics(*dm.feature_statistics())
    return model


def lightning_steps(
    dm: GenreDataModule,
    steps: int,
    log_dir: Path,
    epochs: int | None = None,
    model: GenreClassifier | None = None,
) -> StepTimes:
    """Fit ``steps`` steps (or ``epochs`` epochs) with Lightning as users run it; step times."""
    times = StepTimes()
    trainer = pl.Trainer(
        max_steps=-1 if epochs else steps,
        max_epochs=epochs,
        limit_val_batches=0,
        logger=TensorBoardLogger(str(log_dir), name="bench"),
        callbacks=[times],
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=True,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(model or paper_resnet(dm), datamodule=dm)
    return times


def plain_steps(dm: GenreDataModule, steps: int) -> list[float]:
    """The same steps in a hand-written loop: batch -> mel -> normalise -> ResNet -> Adam."""
    model = paper_resnet(dm)
    optimizer = model.optimizer_factory(model.parameters())
    model.train()
    durations: list[float] = []
    while len(durations) < steps:
        start = time.perf_counter()
        for batch in dm.train_dataloader():
            mel, target, _, _ = dm.on_after_batch_transfer(batch, 0)
            loss = model.criterion(model.net(model.normalize(mel)), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            durations.append(time.perf_counter() - start)
            start = time.perf_counter()
            if len(durations) == steps:
                break
    return durations


@contextlib.contextmanager
def timed_mel(dm: GenreDataModule) -> Iterator[list[float]]:
    """Time every ``on_after_batch_transfer`` of ``dm`` (the mel of a batch) while inside; the
    list yielded fills with the seconds of each call, in order."""
    seconds: list[float] = []
    hook = dm.on_after_batch_transfer

    def timed(batch: Any, dataloader_idx: int) -> Any:
        start = time.perf_counter()
        out = hook(batch, dataloader_idx)
        seconds.append(time.perf_counter() - start)
        return out

    dm.on_after_batch_transfer = timed  # type: ignore[method-assign]
    try:
        yield seconds
    finally:
        del dm.on_after_batch_transfer  # the class's own method again


def _measure(quick: bool) -> tuple[list[float], list[float], float, float] | None:
    root = sample_root()
    if root is None:
        return None
    steps = 6 if quick else 12
    plain: list[float] = []
    lightning: list[float] = []
    waits: list[float] = []
    mels: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gl-bench-loop-") as tmp:
        dm = sample_datamodule(root, Path(tmp) / "cache")
        # The two loops take turns, so that a change in the machine's speed during the
        # benchmark (another process, clock boost running out) falls on both sides of the ratio.
        for turn in range(ROUNDS):
            plain += plain_steps(dm, steps)[WARMUP:]
            with timed_mel(dm) as mel:
                times = lightning_steps(dm, steps, Path(tmp) / f"turn{turn}")
            # A Lightning step runs from one batch's start to the next's: data waits included.
            starts, after = times.starts[WARMUP:], times.starts[WARMUP + 1 :]
            lightning += [b - a for a, b in zip(starts, after, strict=False)]
            waits += [s - e for e, s in zip(times.ends[WARMUP:], after, strict=False)]
            # Between two steps the next batch is loaded and its mel computed (batch i's mel is
            # the i-th call): the mel is work, not a wait, so it is counted apart.
            mels += mel[WARMUP + 1 : WARMUP + 1 + len(after)]
    return plain, lightning, sum(waits) / sum(lightning), sum(mels) / sum(lightning)


def run(quick: bool = False) -> list[Row]:
    """Rows for both benchmarks (``loop`` and ``data_wait``)."""
    measured = _measure(quick)
    if measured is None:
        return [Row("loop", "skipped: no GTZAN sample (set GENRE_LIGHTNING_SAMPLE)", 0, "")]
    plain, lightning, between, mel = measured
    loading = between - mel
    p, lt = median(plain), median(lightning)
    # Lightning's steps are start-to-start gaps: one fewer than the steps timed plainly.
    note = f"ResNet, batch {BATCH}, {len(plain)} / {len(lightning)} timed steps in {ROUNDS} turns"
    return [
        Row("loop", "plain PyTorch loop step", p * 1e3, "ms", note),
        Row("loop", "Lightning step (logger + progress bar)", lt * 1e3, "ms", note),
        Row("loop", "ratio Lightning / plain", lt / p, "x", "target <= 1.05"),
        Row("data_wait", "share of a step spent loading data", loading * 100, "%", "target <= 5"),
        Row("data_wait", "share of a step computing the mel, between steps", mel * 100, "%", ""),
    ]
