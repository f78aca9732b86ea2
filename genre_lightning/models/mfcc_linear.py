"""A classical baseline: MFCC mean/std statistics and one linear layer.

Cepstral coefficients are the DCT of each frame's log-mel spectrum; their mean and standard
deviation over time summarise timbre, the features of Tzanetakis & Cook's GTZAN baseline. Use it
with dB features and no normalisation (``experiment=mfcc_baseline`` sets ``data.features.log=true
module.normalize=none``): the DCT then acts on the dB log-mel itself, which gives librosa's MFCCs
(orthonormal DCT-II of ``power_to_db`` with an 80 dB floor). The statistics are standardised
before the linear layer, so it is a multinomial logistic regression on standardised features.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torchaudio.functional as AF
from torch import nn

from genre_lightning.models.standardize import Standardize


class MfccLinear(nn.Module):
    """Linear classifier on per-clip MFCC statistics.

    Args:
        num_classes: Number of genres.
        n_mels: Mel bands of the input image.
        n_mfcc: Cepstral coefficients kept (at most ``n_mels``).

    Raises:
        ValueError: ``n_mfcc`` exceeds ``n_mels``.
    """

    #: Its MFCCs are the cepstrum of the dB mel itself, standardised by the model (training
    #: checks the data gives that): of a power mel normalised per element (the defaults), they
    #: were the under-fitted baseline's 0.40. Its experiment sets them.
    REQUIRED_SETTINGS: ClassVar[dict[str, object]] = {
        "data.features.log": True,
        "module.normalize": "none",
    }
    RECIPE: ClassVar[str] = "mfcc_baseline"

    dct: torch.Tensor

    def __init__(self, num_classes: int, n_mels: int = 64, n_mfcc: int = 20) -> None:
        super().__init__()
        if n_mfcc > n_mels:  # the DCT's coefficients past n_mels repeat earlier ones
            raise ValueError(f"n_mfcc={n_mfcc} exceeds n_mels={n_mels}: use at most {n_mels}")
        self.register_buffer("dct", AF.create_dct(n_mfcc, n_mels, norm="ortho"))
        # Standardising the statistics keeps the model linear but makes it train at any lr.
        self.stats_norm = Standardize(2 * n_mfcc)
        self.classifier = nn.Linear(2 * n_mfcc, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, 1, frames, mels) images (at least 2 frames: a standard deviation is taken
        over them) to logits (B, num_classes)."""
        n_mels = self.dct.shape[0]
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] < 2 or x.shape[3] != n_mels:
            raise ValueError(
                f"MfccLinear expects (B, 1, frames >= 2, {n_mels} mels), got {tuple(x.shape)}"
            )
        mfcc = x[:, 0] @ self.dct  # (B, frames, n_mfcc)
        stats = torch.cat([mfcc.mean(dim=1), mfcc.std(dim=1)], dim=1)
        return self.classifier(self.stats_norm(stats))
