"""musicnn (Pons & Serra, 2019), the pretrained music tagger, ported to PyTorch.

The network reads log-mel patches of 187 frames x 96 mels (3 s at 16 kHz, see
:class:`~genre_lightning.features.mel.MelFeatures` as ``experiment=musicnn_probe`` configures it)
in three stages:

- front end: input batch norm, then five "musically motivated" convolutions, each followed by
  ReLU, batch norm and a max over frequency: two timbral ones (7 frames x 38 and x 67 mels, 204
  filters) and three temporal ones (128, 64 and 32 frames x 1 mel, 51 filters). 561 features
  per frame.
- mid end: three convolutions of width 7 over all features (64 filters), ReLU then batch norm,
  with residual connections on the second and third. The front-end features and the three
  outputs are concatenated: 753 features per frame.
- back end: max and mean over time, batch norm, dense 200 + ReLU + batch norm (the
  "penultimate" features), dense to the 50 tags.

:func:`genre_lightning.models.musicnn_tf.pretrained_musicnn` loads the original TensorFlow
weights (from the musicnn wheel on PyPI, see :mod:`genre_lightning.pretrained.fetch`) with a
strict name and shape map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

#: Tags of the model trained on the Million Song Dataset (musicnn's ``configuration.py``).
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
#: Tags of the model trained on MagnaTagATune (musicnn's ``configuration.py``).
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
#: The musicnn checkpoints this port loads, with their tags.
TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}

#: TensorFlow's batch-norm epsilon (``tf.compat.v1.layers.batch_normalization``).
_EPS = 1e-3
#: Frames per patch: ``librosa.time_to_frames(3 s) + 1`` at 16 kHz and hop 256, the input the
#: weights were trained on (``experiment=musicnn_probe`` cuts its windows to it).
PATCH_FRAMES = 187
#: The rate the weights were trained at (the audio is resampled to it before the mel).
INPUT_RATE = 16000


class MusicnnOutput(NamedTuple):
    """What :class:`Musicnn` computes for a batch of patches.

    Attributes:
        logits: (B, num_tags) tag logits (``dense_1``); musicnn reports their sigmoid.
        penultimate: (B, 200) back-end features after dense 200, ReLU and batch norm, the
            output musicnn's extractor calls ``penultimate``.
        pooled: (B, 1506) max and mean over time of the 753 mid-end features, interleaved
            (max of feature 0, mean of feature 0, max of feature 1, ...) as TensorFlow
            flattens them; before the back end's batch norm.
    """

    logits: torch.Tensor
    penultimate: torch.Tensor
    pooled: torch.Tensor


class FrontEndConv(nn.Module):
    """Front-end convolution, ReLU, batch norm, max over frequency: (B, 1, T, mels) -> (B, C, T).

    Padded with zeros as TensorFlow's "same" in time (after the input batch norm, as the
    original), not at all in frequency.
    """

    def __init__(self, filters: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        # TensorFlow's "same" puts the extra frame of an even kernel at the end.
        self.time_pad = ((kernel[0] - 1) // 2, kernel[0] // 2)
        self.conv = nn.Conv2d(1, filters, kernel)
        self.norm = nn.BatchNorm2d(filters, eps=_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (0, 0, *self.time_pad))
        return self.norm(torch.relu(self.conv(x))).amax(dim=3)


class MidEndConv(nn.Module):
    """Convolution of width 7 over all features, ReLU, batch norm: (B, C, T) -> (B, 64, T).

    TensorFlow writes it as a 2-D convolution whose kernel spans the whole feature axis;
    that is a 1-D convolution with the features as channels.
    """

    def __init__(self, in_features: int, filters: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_features, filters, 7, padding=3)
        self.norm = nn.BatchNorm1d(filters, eps=_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(torch.relu(self.conv(x)))


class Musicnn(nn.Module):
    """The musicnn network of ``MSD_musicnn`` and ``MTT_musicnn`` (same graph, 50 tags each).

    Args:
        num_tags: Outputs of the last layer.
        n_mels: Mel bands of the input; the timbral kernels span 40 % and 70 % of them.
        dropout: Dropout before each dense layer (the original's 0.5; only active in training).

    Attributes:
        tags: Tag names of the outputs, set by ``pretrained_musicnn`` (empty otherwise).
    """

    def __init__(self, num_tags: int = 50, n_mels: int = 96, dropout: float = 0.5) -> None:
        super().__init__()
        self.tags: tuple[str, ...] = ()
        self.n_mels = n_mels
        self.input_norm = nn.BatchNorm2d(1, eps=_EPS)
        timbral = [FrontEndConv(204, (7, int(share * n_mels))) for share in (0.4, 0.7)]
        temporal = [FrontEndConv(51, (frames, 1)) for frames in (128, 64, 32)]
        self.front = nn.ModuleList([*timbral, *temporal])
        front_features = 2 * 204 + 3 * 51
        self.mid = nn.ModuleList(
            [MidEndConv(front_features, 64), MidEndConv(64, 64), MidEndConv(64, 64)]
        )
        features = front_features + 3 * 64  # 753
        self.pool_norm = nn.BatchNorm1d(2 * features, eps=_EPS)
        self.dense = nn.Linear(2 * features, 200)
        self.dense_norm = nn.BatchNorm1d(200, eps=_EPS)
        self.classifier = nn.Linear(200, num_tags)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> MusicnnOutput:
        """Tag log-mel patches.

        Args:
            x: (B, 1, frames, mels) images, the layout of the rest of the framework, or
                (B, frames, mels) as musicnn feeds them. The weights were trained on 187
                frames (3 s); other lengths work (the back end pools over time) but were not
                what the network saw.

        Returns:
            Logits, penultimate and pooled features (see :class:`MusicnnOutput`).
        """
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[3] != self.n_mels:
            raise ValueError(
                f"Musicnn expects (B, 1, frames, {self.n_mels} mels), got {tuple(x.shape)}: its "
                f"timbral kernels span fixed shares of n_mels={self.n_mels} bands"
            )
        x = self.input_norm(x)
        front = torch.cat([block(x) for block in self.front], dim=1)  # (B, 561, T)
        mid1 = self.mid[0](front)
        mid2 = self.mid[1](mid1) + mid1
        mid3 = self.mid[2](mid2) + mid2
        features = torch.cat([front, mid1, mid2, mid3], dim=1)  # (B, 753, T)
        # Interleaved (max0, mean0, max1, ...): TensorFlow concatenates the two poolings on a
        # trailing axis before flattening, and the dense weights expect that order.
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        hidden = torch.relu(self.dense(self.dropout(self.pool_norm(pooled))))
        penultimate = self.dense_norm(hidden)
        logits = self.classifier(self.dropout(penultimate))
        return MusicnnOutput(logits, penultimate, pooled)


def mel_patches(mel: torch.Tensor, frames: int = PATCH_FRAMES) -> torch.Tensor:
    """Cut mel images into non-overlapping patches, as musicnn's extractor does.

    Frames after the last whole patch are dropped (a 30 s clip gives 1876 frames: 10 patches).

    Args:
        mel: (B, 1, T, mels) images.
        frames: Frames per patch.

    Returns:
        (B, T // frames, 1, frames, mels); flatten the first two axes to feed the network.

    Raises:
        ValueError: The images are shorter than one patch.
    """
    if mel.dim() != 4:
        raise ValueError(f"mel_patches expects (B, 1, frames, mels), got {tuple(mel.shape)}")
    count = mel.shape[2] // frames
    if count == 0:
        raise ValueError(f"{mel.shape[2]} frames are fewer than one patch of {frames}")
    patches = mel[:, :, : count * frames].unflatten(2, (count, frames))  # (B, 1, P, f, m)
    return patches.transpose(1, 2)
