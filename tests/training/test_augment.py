"""augment.py: SpecAugment masks and mixup."""

from __future__ import annotations

import pytest
import torch

from genre_lightning.training.augment import SpecAugment, mixup


def test_spec_augment_masks_bands_in_training_only() -> None:
    torch.manual_seed(0)
    x = torch.ones(16, 1, 50, 20)
    augment = SpecAugment(time_masks=1, time_width=6, freq_masks=1, freq_width=4)
    augment.train()
    out = augment(x)
    assert out.shape == x.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    for example in out[:, 0]:
        zero_frames = (example == 0).all(dim=1).nonzero().flatten()
        zero_bands = (example == 0).all(dim=0).nonzero().flatten()
        for idx, width in ((zero_frames, 6), (zero_bands, 4)):
            assert len(idx) <= width
            if len(idx):
                assert idx.tolist() == list(range(idx[0], idx[0] + len(idx)))  # contiguous
    assert (out == 0).any(dim=(1, 2, 3)).float().mean() > 0.5  # most examples get a mask
    assert not torch.equal(out[0], out[1]) or not torch.equal(out[1], out[2])  # per example
    augment.eval()
    assert torch.equal(augment(x), x)


@pytest.mark.parametrize(("alpha", "middle"), [(0.2, (0.1, 0.4)), (1.0, (0.75, 0.85))])
def test_mixup_is_a_convex_combination(alpha: float, middle: tuple[float, float]) -> None:
    torch.manual_seed(1)
    x, y = torch.randn(8, 1, 5, 4), torch.arange(8)
    mixed, a, b, lam = mixup(x, y, alpha)
    assert torch.equal(a, y) and sorted(b.tolist()) == list(range(8))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[b])
    # lam ~ Beta(alpha, alpha): U-shaped for alpha < 1 (mostly one example), uniform for 1.
    draws = torch.tensor([mixup(x, y, alpha)[3] for _ in range(2000)])
    share = ((draws > 0.1) & (draws < 0.9)).float().mean().item()
    assert middle[0] < share < middle[1] and abs(draws.mean().item() - 0.5) < 0.03
