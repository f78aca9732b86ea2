"""Xie's AlexNet for (1, 668, 64) mel images.

The d2l.ai single-GPU AlexNet, adapted as the paper describes: one input channel, a 33x11 first
kernel with padding (0, 80), 9x3 kernels where AlexNet has 3x3 (padded in the mel axis only),
and a first fully connected layer of 8960 -> 6400. With 10 classes: 93,550,218 parameters.

``adaptive=True`` is this project's variant for inputs other than 668 frames (e.g. chunks of
``data.chunk_seconds``): the 9x3 convolutions are padded in time as well, and the last max
pooling becomes an adaptive max pooling to the paper's 7x5 grid, so the fully connected layers
and the parameter count stay the paper's. The default stays the paper's exact network.
"""

from __future__ import annotations

import torch
from torch import nn

from genre_lightning.features.mel import DEFAULT_IMAGE_SHAPE
from genre_lightning.models.init import xavier_init

#: The fewest frames the adaptive variant takes (~2.9 s at the paper's hop).
ADAPTIVE_MIN_FRAMES = 57


class AlexNet(nn.Module):
    """AlexNet as in Xie, "AlexNet and ResNet for Music Genre Classification".

    Args:
        num_classes: Number of genres.
        in_channels: Channels of the input image (1 for a mel spectrogram).
        dropout: Dropout before each hidden fully connected layer.
        input_shape: (frames, mels) of the input; fixes the size of the first linear layer
            (8960 for the paper's 668 x 64, the default front end's images). Ignored when
            ``adaptive``.
        adaptive: Accept any input of at least :data:`ADAPTIVE_MIN_FRAMES` frames (see the
            module docstring).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        dropout: float = 0.5,
        input_shape: tuple[int, int] | None = DEFAULT_IMAGE_SHAPE[1:],
        adaptive: bool = False,
    ) -> None:
        super().__init__()
        pad = (4, 1) if adaptive else (0, 1)
        last_pool = nn.AdaptiveMaxPool2d((7, 5)) if adaptive else nn.MaxPool2d(3, stride=2)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, kernel_size=(33, 11), stride=4, padding=(0, 80)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(96, 256, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(256, 384, kernel_size=(9, 3), padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=(9, 3), padding=pad),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=(9, 3), padding=pad),
            nn.ReLU(inplace=True),
            last_pool,
            nn.Flatten(),
        )
        if adaptive or input_shape is None:
            flat = 256 * 7 * 5
        else:
            with torch.no_grad():
                flat = self.features(torch.zeros(1, in_channels, *input_shape)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(flat, 6400),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(6400, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map mel images (B, C, frames, mels) to logits (B, num_classes)."""
        return self.classifier(self.features(x))
