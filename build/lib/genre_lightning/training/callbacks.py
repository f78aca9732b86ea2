"""Callbacks that make runs reproducible and interruptible."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

import pytorch_lightning as pl
import torch

from genre_lightning.errors import Interrupted

log = logging.getLogger(__name__)


class EpochSeed(pl.Callback):
    """Reseeds torch's global RNG at the start of every training epoch from (seed, epoch).

    Dropout and any other random op then depend only on the seed and the epoch, so a run
    resumed from ``last.ckpt`` continues exactly as the uninterrupted run would have.

    Args:
        seed: The run's seed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        torch.manual_seed(self.seed * 100_003 + trainer.current_epoch + 1)


class GracefulStop(pl.Callback):
    """The first SIGTERM finishes the current step and stops training; a second one kills.

    Stopping raises :class:`Interrupted` from the end of the step instead of setting
    ``trainer.should_stop``: Lightning would otherwise validate and write ``last.ckpt`` from the
    half-finished epoch. ``last.ckpt`` therefore always holds a completed epoch, and a resume
    replays the interrupted epoch exactly.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.warning("SIGTERM: finishing the current step, then stopping (again to kill now)")
        self.interrupted = True
        signal.signal(signal.SIGTERM, self._previous or signal.SIG_DFL)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread (e.g. a notebook worker): leave signals alone
            self._previous = None

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.interrupted:
            raise Interrupted(
                f"stopped by SIGTERM in epoch {trainer.current_epoch} after global step "
                f"{trainer.global_step}"
            )

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous is not None and not self.interrupted:
            signal.signal(signal.SIGTERM, self._previous)
        self._previous = None
