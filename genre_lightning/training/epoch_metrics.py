"""The ends of GenreClassifier's validation and test epochs: whole-epoch, track-level metrics.

The steps (in :mod:`~genre_lightning.training.module`) add every chunk's logits to
``epoch_logits``; the hooks here average an epoch of them per track, log the metrics and keep
the record of validation accuracy that checkpoints carry.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytorch_lightning as pl
import torch

from genre_lightning import runs
from genre_lightning.training.figures import tensorboard_log_confusion, tensorboard_log_examples
from genre_lightning.training.metrics import GenreMetrics, TestResults
from genre_lightning.training.tracks import TrackLogits


class EpochMetrics(pl.LightningModule):
    """The validation and test epoch hooks of a classifier whose steps fill ``epoch_logits``.

    The subclass (:class:`~genre_lightning.training.module.GenreClassifier`) sets the
    attributes below in its ``__init__``.

    Attributes:
        class_names: Genre names in label order.
        metrics: The validation and test metrics.
        epoch_logits: The validation/test chunks of the current epoch (the steps add them).
        val_history: Validation accuracy of every finished epoch.
        test_results_: The last test's numbers (``None`` before a test).
    """

    class_names: list[str]
    metrics: GenreMetrics
    epoch_logits: TrackLogits
    val_history: list[float]
    test_results_: TestResults | None
    #: A few clips of the epoch's first validation batch, their labels and predictions.
    _val_examples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None

    def _track_predictions(
        self, chunk_acc_tag: str
    ) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """Track-level predictions and labels of the epoch (all ranks), and the accuracy of
        the chunks one by one where tracks hold several (logged as ``chunk_acc_tag``, e.g.
        :data:`~genre_lightning.runs.VAL_CHUNK_ACC`; else ``None``)."""

        def gather(x: torch.Tensor) -> torch.Tensor:
            return cast(torch.Tensor, self.all_gather(x))

        result = self.epoch_logits.compute(gather if self.trainer.world_size > 1 else None)
        self.epoch_logits.reset()
        chunk_acc = None
        if len(result.chunk_labels) > len(result.labels):  # several chunks per track
            chunk_pred = result.chunk_logits.argmax(1)
            # Counted, then divided in float64: a float32 mean wrote 7/10 as 0.699999988.
            chunk_acc = int((chunk_pred == result.chunk_labels).sum()) / len(chunk_pred)
            self.log(chunk_acc_tag, chunk_acc, sync_dist=True)
        return result.logits.argmax(dim=1), result.labels, chunk_acc

    def on_validation_epoch_start(self) -> None:
        self.epoch_logits.reset()

    # Epoch-level numbers below come from every rank's predictions (already equal on all
    # ranks); sync_dist only keeps Lightning's reduction consistent and quiet under DDP.
    def on_validation_epoch_end(self) -> None:
        if not self.epoch_logits:
            return
        pred, target, _ = self._track_predictions(runs.VAL_CHUNK_ACC)
        acc = self.metrics.validation(pred, target)
        self.log(runs.VAL_ACC, acc, prog_bar=True, sync_dist=True)
        if not self.trainer.sanity_checking:
            self.val_history.append(float(acc))
            self.log(runs.VAL_ACC_BEST, max(self.val_history), sync_dist=True)
            if self._val_examples is not None:
                mels, targets, preds = self._val_examples
                # The front end's compression: musicnn's log mel would pass for a power mel.
                features = (self.hparams.get("data_config") or {}).get("features") or {}
                log = features.get("log")
                tensorboard_log_examples(self, mels, targets, preds, self.class_names, log)
        self._val_examples = None

    def on_test_epoch_start(self) -> None:
        self.epoch_logits.reset()

    def on_test_epoch_end(self) -> None:
        pred, target, chunk_acc = self._track_predictions(runs.TEST_CHUNK_ACC)
        results = dataclasses.replace(self.metrics.test(pred, target), chunk_acc=chunk_acc)
        self.log(runs.TEST_ACC, results.acc, sync_dist=True)
        self.log(runs.TEST_F1_MACRO, results.f1_macro, sync_dist=True)
        for name, value in results.f1_per_class.items():
            if value is not None:  # a genre the test split lacks has no F1 to show
                self.log(runs.f1_tag(name), value, sync_dist=True)
        tensorboard_log_confusion(self, results.confusion, self.class_names)
        self.test_results_ = results

    def test_results(self) -> dict[str, Any]:
        """The last test's numbers as ``metrics.json`` holds them (train and evaluate alike)."""
        if self.test_results_ is None:
            raise RuntimeError("test_results() needs a finished trainer.test()")
        return self.test_results_.as_metrics(self.class_names)
