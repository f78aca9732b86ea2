"""Whole-epoch classification metrics of the validation and test tracks.

Computed over every track of the epoch (the predictions of all ranks, gathered
by :class:`~genre_lightning.training.tracks.TrackLogits`), never averaged over batches.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix

from genre_lightning import runs


@dataclass
class TestResults:
    """One test's numbers.

    Attributes:
        acc: Track accuracy.
        f1_macro: Macro-averaged F1.
        f1_per_class: F1 of each class, by name; None for a class with no test track and no
            prediction (its F1 is undefined, and 0 would read as a class the network fails).
        confusion: Rows: true class, columns: predicted (tracks).
        chunk_acc: Accuracy of the chunks one by one, where tracks were cut into several
            (``None`` otherwise).
    """

    acc: float
    f1_macro: float
    f1_per_class: dict[str, float | None]
    confusion: torch.Tensor
    chunk_acc: float | None = None

    def as_metrics(self, class_names: Sequence[str]) -> dict[str, object]:
        """The entries ``metrics.json`` holds (training and evaluate alike)."""
        total = int(self.confusion.sum())
        hits = int(self.confusion.diagonal().sum())
        return {
            runs.TEST_ACC: self.acc,
            runs.TEST_ACC_CI95: list(wilson_interval(hits, total)),
            runs.TEST_F1_MACRO: self.f1_macro,
            runs.TEST_F1_PER_CLASS: dict(self.f1_per_class),
            runs.CLASS_NAMES: list(class_names),
            runs.CONFUSION_MATRIX: self.confusion.tolist(),
            **({runs.TEST_CHUNK_ACC: self.chunk_acc} if self.chunk_acc is not None else {}),
        }


class GenreMetrics(nn.Module):
    """Validation accuracy and the test metrics.

    Args:
        class_names: Class names in label order.
    """

    def __init__(self, class_names: Sequence[str]) -> None:
        super().__init__()
        self.class_names = list(class_names)
        # Fed the predictions of every rank already: syncing again would count each track
        # once per rank.
        self.test_confusion = MulticlassConfusionMatrix(len(class_names), sync_on_compute=False)

    def validation(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Accuracy of one validation epoch (float64: 4 of 5 is 0.8, not 0.800000011920929)."""
        return (pred == target).double().mean()

    def test(self, pred: torch.Tensor, target: torch.Tensor) -> TestResults:
        """Accuracy, macro and per-class F1 and the confusion matrix of one test."""
        self.test_confusion.update(pred, target)
        confusion = self.test_confusion.compute().cpu()
        self.test_confusion.reset()
        acc, f1_macro, per_class = scores(confusion)
        return TestResults(
            acc=acc,
            f1_macro=f1_macro,
            f1_per_class=dict(zip(self.class_names, per_class, strict=True)),
            confusion=confusion,
        )


#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson_interval(hits: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``hits / total`` (95 % by default).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or ``total``
    hits, which matters on the few test tracks of a small collection.

    Returns:
        Lower and upper bound; (0, 1) when there is nothing to count.
    """
    if total <= 0:
        return 0.0, 1.0
    p = hits / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    scale = 1 + z * z / total
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def accuracy_summary(metrics: Mapping[str, Any]) -> str:
    """``test/acc 0.8000 (95% CI 0.49-0.94)``: the final line's accuracy, with its interval."""
    text = f"{runs.TEST_ACC} {metrics[runs.TEST_ACC]:.4f}"
    ci = metrics.get(runs.TEST_ACC_CI95)
    return f"{text} (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if ci else text


def per_genre_table(metrics: Mapping[str, Any]) -> str:
    """The test's numbers per genre as exact decimals, one line each (the table Lightning
    prints shows its float32 copies, ``0.8999999761581421``)::

        genre  tracks  correct  predicted  F1
        blues       2        1          1  0.667
        jazz        0        0          0  -

    ``-``: no test track and no prediction, so no F1 (see :class:`TestResults`).
    """
    names = metrics[runs.CLASS_NAMES]
    confusion = metrics[runs.CONFUSION_MATRIX]
    f1 = metrics[runs.TEST_F1_PER_CLASS]
    width = max(len("genre"), *(len(n) for n in names))
    lines = [f"{'genre':<{width}}  tracks  correct  predicted  F1"]
    for i, name in enumerate(names):
        score = "-" if f1[name] is None else f"{f1[name]:.3f}"
        tracks, correct = sum(confusion[i]), confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        lines.append(f"{name:<{width}}  {tracks:>6}  {correct:>7}  {predicted:>9}  {score}")
    return "\n".join(lines)


def scores(confusion: torch.Tensor) -> tuple[float, float, list[float | None]]:
    """Accuracy, macro F1 and per-class F1 of a confusion matrix, exactly (float64).

    float32 counts, as torchmetrics computes them, put 0.800000011920929 and a macro F1 of
    1.0000001 into ``metrics.json``. As in torchmetrics, a class with no track and no
    prediction is left out of the macro mean; its own F1 is None rather than torchmetrics' 0,
    since a small split often lacks a genre and a 0 there reads as a genre never recognised.

    Args:
        confusion: (classes, classes) counts; rows: true class, columns: predicted.

    Returns:
        Accuracy, macro F1, and the F1 of each class in label order (None where unscored).
    """
    counts = confusion.double()
    hits = counts.diagonal()
    total = counts.sum()
    acc = float(hits.sum() / total) if total > 0 else 0.0
    involved = counts.sum(dim=0) + counts.sum(dim=1)  # 2 TP + FP + FN of each class
    f1 = torch.where(involved > 0, 2 * hits / involved.clamp(min=1), torch.zeros_like(hits))
    present = involved > 0
    f1_macro = float(f1[present].mean()) if present.any() else 0.0
    per_class = [v if p else None for v, p in zip(f1.tolist(), present.tolist(), strict=True)]
    return acc, f1_macro, per_class
