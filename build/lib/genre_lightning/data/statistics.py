"""The normalisation statistics: per-element mean and std of the training set's mel images."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from genre_lightning.data.batches import FeatureBatch
from genre_lightning.features.normalize import RunningMoments


@torch.no_grad()
def feature_statistics(
    batches: Iterable[Sequence[torch.Tensor]],
    to_features: Callable[[list[torch.Tensor]], FeatureBatch],
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of every element of the mel images of ``batches``, computed on ``device``.

    Args:
        batches: Collated batches as the training loader yields them (in a fixed order).
        to_features: Turns a batch already on ``device`` into mel images, as training does.
        device: Where the mel images are computed (the model's device).

    Returns:
        ``(mean, std)``, each of one image's shape, float32.
    """
    moments = RunningMoments()
    for batch in batches:
        moments.update(to_features([t.to(device) for t in batch]).mel)
    return moments.compute()
