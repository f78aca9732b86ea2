"""models/: the paper's exact networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genre_lightning.models import AlexNet, ResNet


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("cls", "expected"), [(AlexNet, 93_550_218), (ResNet, 11_178_378)])
def test_parameter_counts_match_the_paper(cls: type[nn.Module], expected: int) -> None:
    assert n_params(cls(num_classes=10)) == expected


@pytest.mark.parametrize("cls", [AlexNet, ResNet])
def test_output_shape_and_backward(cls: type[nn.Module]) -> None:
    model = cls(num_classes=7)
    x = torch.randn(2, 1, 668, 64)
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_alexnet_first_linear_layer_is_8960_to_6400() -> None:
    fc = AlexNet(num_classes=10).classifier[0]
    assert isinstance(fc, nn.Linear) and (fc.in_features, fc.out_features) == (8960, 6400)


def test_resnet_accepts_other_lengths() -> None:
    assert ResNet(num_classes=10)(torch.randn(2, 1, 89, 64)).shape == (2, 10)


@pytest.mark.parametrize("cls", [AlexNet, ResNet])
def test_xavier_uniform_init(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    for m in cls(num_classes=10).modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            assert m.bias is not None and m.bias.abs().max() == 0
            fan_in = m.weight[0].numel()
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            assert m.weight.abs().max() <= bound
            assert m.weight.abs().max() > 0.9 * bound  # uniform fills its range


def test_adaptive_alexnet_keeps_the_paper_layers_for_any_length() -> None:
    from genre_lightning.models import MfccLinear

    adaptive = AlexNet(num_classes=10, adaptive=True)
    assert n_params(adaptive) == 93_550_218
    for frames in (57, 223, 668):
        assert adaptive(torch.randn(1, 1, frames, 64)).shape == (1, 10)
    mfcc = MfccLinear(num_classes=4)
    assert mfcc(torch.randn(3, 1, 67, 64)).shape == (3, 4)
    assert n_params(mfcc) == 40 * 4 + 4  # one linear layer on 20 means + 20 stds


def test_mfcc_linear_keeps_at_most_one_coefficient_per_mel_band() -> None:
    from genre_lightning.models import MfccLinear

    assert MfccLinear(num_classes=4, n_mels=64, n_mfcc=64).dct.shape == (64, 64)
    with pytest.raises(ValueError, match="n_mfcc=65 exceeds n_mels=64"):
        MfccLinear(num_classes=4, n_mels=64, n_mfcc=65)


def test_mfcc_linear_refuses_images_it_would_misread() -> None:
    from genre_lightning.models import MfccLinear

    mfcc = MfccLinear(num_classes=4)
    assert torch.isfinite(mfcc(torch.randn(2, 1, 2, 64))).all()
    # A second channel was dropped, and one frame's standard deviation gave NaN logits.
    for shape in ((2, 2, 89, 64), (2, 1, 1, 64), (2, 1, 89, 32), (2, 89, 64)):
        with pytest.raises(ValueError, match=r"expects \(B, 1, frames >= 2, 64 mels\)"):
            mfcc(torch.randn(*shape))
