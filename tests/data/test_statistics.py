"""data/statistics.py: mean and std of every element, over all batches, on the given device."""

from __future__ import annotations

import torch

from genre_lightning.data.batches import FeatureBatch
from genre_lightning.data.statistics import feature_statistics


def test_statistics_equal_those_of_all_images_at_once() -> None:
    images = torch.randn(10, 1, 5, 3, generator=torch.Generator().manual_seed(0)) * 4 + 2
    ids = torch.arange(10)
    batches = [[images[:4], ids[:4]], [images[4:], ids[4:]]]  # uneven batches

    def to_features(batch: list[torch.Tensor]) -> FeatureBatch:
        return FeatureBatch(batch[0], batch[1], batch[1], batch[1])

    mean, std = feature_statistics(batches, to_features, "cpu")
    assert mean.shape == std.shape == (1, 5, 3) and mean.dtype == torch.float32
    torch.testing.assert_close(mean, images.mean(0))
    torch.testing.assert_close(std, images.std(0, unbiased=False))
