"""training/metrics.py: exact test scores, with torchmetrics' conventions."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassF1Score

from genre_lightning import runs
from genre_lightning.training.metrics import (
    GenreMetrics,
    per_genre_table,
    scores,
    wilson_interval,
)


def test_scores_are_exact_where_float32_is_not() -> None:
    metrics = GenreMetrics(["a", "b", "c"])
    # 4 of 5 right; every class predicted perfectly in the second case.
    results = metrics.test(torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 1, 2, 2, 2]))
    assert results.acc == 0.8  # float32 would give 0.800000011920929
    perfect = metrics.test(torch.tensor([0, 1, 2, 1, 0]), torch.tensor([0, 1, 2, 1, 0]))
    assert perfect.f1_macro == 1.0 and set(perfect.f1_per_class.values()) == {1.0}
    assert perfect.confusion.trace() == 5  # the confusion matrix was reset in between
    assert float(metrics.validation(torch.tensor([1, 1, 0]), torch.tensor([1, 0, 0]))) == 2 / 3


def test_scores_follow_torchmetrics_on_random_predictions() -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        classes = int(torch.randint(2, 6, (), generator=generator))
        tracks = int(torch.randint(1, 15, (), generator=generator))
        pred = torch.randint(0, classes, (tracks,), generator=generator)
        target = torch.randint(0, classes, (tracks,), generator=generator)
        confusion = MulticlassConfusionMatrix(classes)(pred, target)
        acc, f1_macro, per_class = scores(confusion)
        assert abs(acc - float((pred == target).double().mean())) < 1e-12
        # Classes absent from both predictions and targets are left out of the macro mean.
        expected_macro = MulticlassF1Score(classes, average="macro")(pred, target)
        expected = MulticlassF1Score(classes, average=None)(pred, target)
        assert abs(f1_macro - float(expected_macro)) < 1e-6
        # Where torchmetrics says 0 for a class absent from both, the score says None.
        seen = torch.bincount(pred, minlength=classes) + torch.bincount(target, minlength=classes)
        absent = seen == 0
        assert [v is None for v in per_class] == absent.tolist()
        filled = torch.tensor([0.0 if v is None else v for v in per_class], dtype=torch.float64)
        assert torch.allclose(filled, expected.double(), atol=1e-6)


def test_a_genre_the_test_split_lacks_has_no_f1() -> None:
    # Three test tracks of genres a and b, none of c, and c never predicted.
    results = GenreMetrics(["a", "b", "c"]).test(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1]))
    assert results.f1_per_class == {"a": 2 / 3, "b": 2 / 3, "c": None}
    assert results.f1_macro == 2 / 3
    # A genre predicted without a test track is scored: its F1 is 0, and it lowers the mean.
    wrong = GenreMetrics(["a", "b", "c"]).test(torch.tensor([0, 2]), torch.tensor([0, 1]))
    assert wrong.f1_per_class == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert wrong.f1_macro == 1 / 3


def test_test_accuracy_carries_its_wilson_interval() -> None:
    # Textbook values (Wilson 1927; Newcombe 1998): 8 of 10, 0 of 10, 10 of 10.
    for hits, total, (low, high) in ((8, 10, (0.4902, 0.9433)), (0, 10, (0.0, 0.2775))):
        assert wilson_interval(hits, total) == pytest.approx((low, high), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    # Narrower with more tracks at the same accuracy; no tracks: nothing is known.
    assert wilson_interval(80, 100)[0] > wilson_interval(8, 10)[0]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # metrics.json holds the interval of the tracks tested: 4 of 5 right.
    pred, target = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 1, 2, 2, 2])
    results = GenreMetrics(["a", "b", "c"]).test(pred, target)
    metrics = results.as_metrics(["a", "b", "c"])
    assert metrics[runs.TEST_ACC_CI95] == list(wilson_interval(4, 5))


def test_the_per_genre_table_shows_exact_scores_and_counts() -> None:
    """The console's per-genre table reads metrics.json's exact values: F1 2/3 as 0.667 (not
    Lightning's float32 0.6666666865348816), the tracks, hits and predictions of each genre from
    the confusion matrix, and ``-`` for a genre neither tested nor predicted."""
    pred, target = torch.tensor([0, 0, 1, 0]), torch.tensor([0, 1, 1, 0])
    names = ["blues", "classical", "jazz"]
    metrics = GenreMetrics(names).test(pred, target).as_metrics(names)
    assert per_genre_table(metrics).splitlines() == [
        "genre      tracks  correct  predicted  F1",
        "blues           2        2          3  0.800",
        "classical       2        1          1  0.667",
        "jazz            0        0          0  -",
    ]
