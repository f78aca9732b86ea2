"""Callbacks that make runs reproducible and interruptible."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from genre_lightning.errors import EXIT_CTRL_C, Interrupted

log = logging.getLogger(__name__)


class StepSeed(pl.Callback):
    """Reseeds torch's global RNG before every training step from (seed, epoch, step).

    Dropout, SpecAugment and mixup draw from it, so they depend only on where a step is, not
    on what ran before it: a run resumed from any checkpoint (the end of an epoch, or the step
    a SIGTERM stopped at) draws what the uninterrupted run drew. It also tells the training
    loader how many batches of the epoch are done, which checkpoints record
    (:class:`~genre_lightning.data.sampler.ResumableLoader`).

    Args:
        seed: The run's seed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        torch.manual_seed((self.seed * 100_003 + trainer.current_epoch) * 100_003 + batch_idx)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        _set_completed(trainer, args[-1] + 1)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _set_completed(trainer, 0)


def _set_completed(trainer: pl.Trainer, batches: int) -> None:
    loader: Any = trainer.train_dataloader
    if hasattr(loader, "completed"):
        loader.completed = batches


class GracefulStop(pl.Callback):
    """The first SIGTERM finishes the current step, saves where it is, and stops training.

    The checkpoint written at that step (``last``) holds the weights, the optimizer, the
    loops' progress, the loader's place in the epoch and the module's records, so resuming from
    it continues with the next step exactly as the uninterrupted run would have. At an epoch's
    last step, and during validation, nothing is saved: ``last`` is the last completed epoch,
    as after a second SIGTERM (which kills at once) or a SIGKILL. The loggers are saved at the
    start of every epoch, so the curves hold every completed epoch too.

    Args:
        last: Where the interrupted run's checkpoint goes (the run's ``last.ckpt``).
    """

    def __init__(self, last: str | Path | None = None) -> None:
        self.last = Path(last) if last is not None else None
        self.interrupted = False
        #: How a stop outside a training step ended the fit (Lightning's own: a SIGTERM during
        #: validation or at an epoch's end, or Ctrl-C), for the entry point to say.
        self.stopped: Interrupted | None = None
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.warning("SIGTERM: finishing the current step, then saving and stopping")
        self.interrupted = True
        signal.signal(signal.SIGTERM, self._previous or signal.SIG_DFL)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread (e.g. a notebook worker): leave signals alone
            self._previous = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # An epoch's checkpoint is written at its validation's end, and its training curve
        # points are logged after that: written out here, before the next epoch's first step,
        # they are on disk for a run killed in that epoch (its resume does not log them again).
        for logger in trainer.loggers:
            logger.save()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if not self.interrupted:
            return
        if args[-1] + 1 >= trainer.num_training_batches:
            # The epoch's last step: its checkpoint would resume into an epoch with no batch
            # left, where Lightning skips the epoch's validation and adds its training curves
            # to the next epoch's. Stopped as in validation: the last completed epoch resumes.
            raise Interrupted(self._where("SIGTERM", trainer, "at its last step"))
        where = f"in epoch {trainer.current_epoch} after global step {trainer.global_step}"
        if self.last is not None:
            # Raising from here instead of setting trainer.should_stop: Lightning would run
            # validation and the epoch-end checkpoints of a half-finished epoch.
            trainer.save_checkpoint(self.last)
            raise Interrupted(f"stopped by SIGTERM {where}; {self.last} holds that step")
        raise Interrupted(f"stopped by SIGTERM {where}")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # Lightning's own stops end the process without a word: Ctrl-C with exit status 1, a
        # SIGTERM outside a training step (Lightning's handler runs beside this one's, and
        # stops validation or an epoch's end) as SystemExit with status 0, as if it finished.
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if isinstance(exception, KeyboardInterrupt):
            self.stopped = Interrupted(self._where("Ctrl-C", trainer), EXIT_CTRL_C)
        elif isinstance(exception, SIGTERMException):
            self.stopped = Interrupted(self._where("SIGTERM", trainer))

    def _where(self, what: str, trainer: pl.Trainer, when: str = "") -> str:
        """Where a stop outside a training step (or ``when`` in it) left the run: its last
        completed epoch."""
        if trainer.testing:
            return f"stopped by {what} while testing (training had finished)"
        stopped = f"stopped by {what} in epoch {trainer.current_epoch}{' ' + when if when else ''}"
        if self.last is not None and self.last.is_file():
            return f"{stopped}; {self.last} holds the last completed epoch"
        return f"{stopped}, before any epoch was completed"

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous is not None and not self.interrupted:
            signal.signal(signal.SIGTERM, self._previous)
        self._previous = None


_said: set[tuple[object, ...]] = set()


def _say_once(message: str, *args: object) -> None:
    """Log ``message`` once a process: each of a run's checkpoint callbacks (best, last)
    loads the same record."""
    if (message, *args) not in _said:
        _said.add((message, *args))
        log.info(message, *args)


class RunCheckpoint(ModelCheckpoint):
    """Lightning's :class:`~pytorch_lightning.callbacks.ModelCheckpoint`, whose record follows
    its run folder.

    A run folder moved or copied, then resumed, has its checkpoint records written under the
    old folder. Lightning then keeps only the old path of the best checkpoint. It would test
    the other folder's file (or fail where that is gone), and it would forget the best score,
    so the next epoch would count as best whatever its score. Here the record is moved to this
    folder first: each checkpoint path names the file of the same name here, which is its copy.
    """

    @property
    def state_key(self) -> str:
        # Lightning's class's key: a checkpoint written by either class resumes with the other.
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old = state_dict.get("dirpath")
        if old is None or self.dirpath is None or Path(old) == Path(self.dirpath):
            super().load_state_dict(state_dict)
            return
        here = Path(self.dirpath)

        def moved(path: Any) -> Any:
            if not path or Path(path).parent != Path(old):
                return path
            return str(here / Path(path).name)

        best = moved(state_dict.get("best_model_path"))
        if best and not Path(best).is_file():
            # Not a moved run: another run's checkpoint (ckpt_path=) that this run trains on
            # from. Its best file is not here, so this run chooses its own best among the
            # epochs it trains (the old best would be tested from a file that is not there).
            _say_once(
                "training on from %s: the best checkpoint is chosen among this run's epochs", old
            )
            return
        _say_once("the run's checkpoint record names %s; resuming in %s", old, here)
        super().load_state_dict(
            {
                **state_dict,
                "dirpath": self.dirpath,
                "best_model_path": best,
                "kth_best_model_path": moved(state_dict.get("kth_best_model_path")),
                "last_model_path": moved(state_dict.get("last_model_path")),
                "best_k_models": {
                    moved(p): v for p, v in (state_dict.get("best_k_models") or {}).items()
                },
            }
        )
