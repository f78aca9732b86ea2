"""Xie's ResNet: the d2l.ai ResNet-18 for one-channel mel images.

A 7x7/2 stem with batch norm and 3x3/2 max pooling, four stages of two residual blocks
(64, 128, 256, 512 channels; a 1x1 strided projection where a stage halves the size), global
average pooling and one linear layer. With 10 classes: 11,178,378 parameters. The global pool
makes it accept any number of frames, not only 668.
"""

from __future__ import annotations

import torch
from torch import nn

from genre_lightning.models.init import xavier_init


class Residual(nn.Module):
    """Two 3x3 conv + batch-norm layers with an identity or 1x1-projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # The paper's Figure 7b: a 1x1 convolution matches channels and size on the shortcut.
        self.shortcut: nn.Module = (
            nn.Conv2d(in_channels, out_channels, 1, stride=stride)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block output relu(F(x) + shortcut(x))."""
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


def _stage(in_channels: int, out_channels: int, blocks: int, first: bool) -> nn.Sequential:
    layers = [Residual(in_channels, out_channels, stride=1 if first else 2)]
    layers += [Residual(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """ResNet-18 as in Xie, "AlexNet and ResNet for Music Genre Classification".

    Args:
        num_classes: Number of genres.
        in_channels: Channels of the input image (1 for a mel spectrogram).
        channels: Width of the four stages.
        blocks_per_stage: Residual blocks in each stage (2 for ResNet-18).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        channels: tuple[int, ...] = (64, 128, 256, 512),
        blocks_per_stage: int = 2,
    ) -> None:
        super().__init__()
        stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], kernel_size=7, stride=2, padding=3),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages = [
            _stage(c_in, c_out, blocks_per_stage, first=i == 0)
            for i, (c_in, c_out) in enumerate(
                zip((channels[0], *channels[:-1]), channels, strict=True)
            )
        ]
        self.features = nn.Sequential(stem, *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(channels[-1], num_classes)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map mel images (B, C, frames, mels) to logits (B, num_classes)."""
        return self.classifier(self.features(x))
