"""Whole-epoch classification metrics of the validation and test tracks.

Computed with torchmetrics over every track of the epoch (the predictions of all ranks, gathered
by :class:`~genre_lightning.training.tracks.TrackLogits`), never averaged over batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from genre_lightning import runs


@dataclass
class TestResults:
    """One test's numbers.

    Attributes:
        acc: Track accuracy.
        f1_macro: Macro-averaged F1.
        f1_per_class: F1 of each class, by name.
        confusion: Rows: true class, columns: predicted (tracks).
    """

    acc: float
    f1_macro: float
    f1_per_class: dict[str, float]
    confusion: torch.Tensor

    def as_metrics(self, class_names: Sequence[str]) -> dict[str, object]:
        """The entries ``metrics.json`` holds (training and evaluate alike)."""
        return {
            runs.TEST_ACC: self.acc,
            runs.TEST_F1_MACRO: self.f1_macro,
            runs.TEST_F1_PER_CLASS: dict(self.f1_per_class),
            runs.CLASS_NAMES: list(class_names),
            runs.CONFUSION_MATRIX: self.confusion.tolist(),
        }


class GenreMetrics(nn.Module):
    """Validation accuracy and the test metrics.

    Args:
        class_names: Class names in label order.
    """

    def __init__(self, class_names: Sequence[str]) -> None:
        super().__init__()
        self.class_names = list(class_names)
        n = len(self.class_names)
        # Fed the predictions of every rank already: syncing again would count each track
        # once per rank.
        local = False  # sync_on_compute
        self.val_acc = MulticlassAccuracy(n, average="micro", sync_on_compute=local)
        self.test_acc = MulticlassAccuracy(n, average="micro", sync_on_compute=local)
        self.test_f1 = MulticlassF1Score(n, average="macro", sync_on_compute=local)
        self.test_f1_per_class = MulticlassF1Score(n, average=None, sync_on_compute=local)
        self.test_confusion = MulticlassConfusionMatrix(n, sync_on_compute=local)

    def validation(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Accuracy of one validation epoch."""
        acc = self.val_acc(pred, target)
        self.val_acc.reset()
        return acc

    def test(self, pred: torch.Tensor, target: torch.Tensor) -> TestResults:
        """Accuracy, macro and per-class F1 and the confusion matrix of one test."""
        metrics = (self.test_acc, self.test_f1, self.test_f1_per_class, self.test_confusion)
        for metric in metrics:
            metric.update(pred, target)
        per_class = self.test_f1_per_class.compute()
        results = TestResults(
            acc=float(self.test_acc.compute()),
            f1_macro=float(self.test_f1.compute()),
            f1_per_class={n: float(v) for n, v in zip(self.class_names, per_class, strict=True)},
            confusion=self.test_confusion.compute().cpu(),
        )
        for metric in metrics:
            metric.reset()
        return results
