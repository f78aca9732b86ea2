"""musicnn (Pons & Serra, 2019), the pretrained music tagger, ported to PyTorch.

The network reads log-mel patches of 187 frames x 96 mels (3 s at 16 kHz, see
:mod:`genre_lightning.models.musicnn_frontend`) in three stages:

- front end: input batch norm, then five "musically motivated" convolutions, each followed by
  ReLU, batch norm and a max over frequency: two timbral ones (7 frames x 38 and x 67 mels, 204
  filters) and three temporal ones (128, 64 and 32 frames x 1 mel, 51 filters). 561 features
  per frame.
- mid end: three convolutions of width 7 over all features (64 filters), ReLU then batch norm,
  with residual connections on the second and third. The front-end features and the three
  outputs are concatenated: 753 features per frame.
- back end: max and mean over time, batch norm, dense 200 + ReLU + batch norm (the
  "penultimate" features), dense to the 50 tags.

:meth:`Musicnn.from_pretrained` loads the original TensorFlow weights (from the musicnn wheel on
PyPI, see :mod:`genre_lightning.pretrained.fetch`) with a strict name and shape map.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, cast

import numpy as np
import torch
from torch import nn

from genre_lightning.errors import UserError

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


class _FrontEndConv(nn.Module):
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


class _MidEndConv(nn.Module):
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
        tags: Tag names of the outputs, set by :meth:`from_pretrained` (empty otherwise).
    """

    def __init__(self, num_tags: int = 50, n_mels: int = 96, dropout: float = 0.5) -> None:
        super().__init__()
        self.tags: tuple[str, ...] = ()
        self.input_norm = nn.BatchNorm2d(1, eps=_EPS)
        timbral = [_FrontEndConv(204, (7, int(share * n_mels))) for share in (0.4, 0.7)]
        temporal = [_FrontEndConv(51, (frames, 1)) for frames in (128, 64, 32)]
        self.front = nn.ModuleList([*timbral, *temporal])
        front_features = 2 * 204 + 3 * 51
        self.mid = nn.ModuleList(
            [_MidEndConv(front_features, 64), _MidEndConv(64, 64), _MidEndConv(64, 64)]
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
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"Musicnn expects (B, 1, frames, mels), got {tuple(x.shape)}")
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

    @classmethod
    def from_pretrained(
        cls,
        model: str = "MSD_musicnn",
        source: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Musicnn:
        """Build the network and load musicnn's original weights, in eval mode.

        Args:
            model: ``MSD_musicnn`` or ``MTT_musicnn``.
            source: The musicnn wheel, a folder holding the model's ``.index``/``.data``
                files, or ``None`` to download the wheel with pip (see
                :func:`genre_lightning.pretrained.fetch.musicnn_checkpoint`).
            cache_dir: Where unpacked checkpoints are kept (default: the user cache).

        Raises:
            UserError: The model is unknown, the checkpoint cannot be fetched or read, or a
                variable is missing or of the wrong shape.
        """
        from genre_lightning.pretrained.fetch import musicnn_checkpoint
        from genre_lightning.pretrained.tf_checkpoint import read_checkpoint

        if model not in TAGS:
            raise UserError(f"musicnn model {model!r} is not known; use one of {', '.join(TAGS)}")
        prefix = musicnn_checkpoint(model, source=source, cache_dir=cache_dir)
        network = cls(num_tags=len(TAGS[model]))
        load_tf_variables(network, read_checkpoint(prefix), origin=Path(prefix))
        network.tags = TAGS[model]
        return network.eval()


def load_tf_variables(
    network: Musicnn, variables: Mapping[str, np.ndarray], origin: Path | None = None
) -> None:
    """Copy musicnn's TensorFlow variables into ``network``, checking every name and shape.

    Args:
        network: The network to fill.
        variables: Arrays by TensorFlow name (:func:`read_checkpoint`'s output).
        origin: The checkpoint, named in error messages.

    Raises:
        UserError: A variable is missing, of the wrong shape, or not part of this network.
    """
    where = f"{origin}: " if origin is not None else ""
    targets = _tf_names(network)
    extra = sorted(set(variables) - set(targets))
    if extra:
        raise UserError(f"{where}variables {', '.join(extra[:5])} are not part of musicnn")
    with torch.no_grad():
        for name, (tensor, to_torch) in targets.items():
            if name not in variables:
                raise UserError(f"{where}variable {name} is missing from the checkpoint")
            expected = _tf_shape(tuple(tensor.shape), to_torch)
            found = tuple(variables[name].shape)
            if found != expected:
                raise UserError(
                    f"{where}variable {name} has shape {list(found)}, expected {list(expected)}"
                )
            value = torch.from_numpy(np.ascontiguousarray(variables[name], dtype=np.float32))
            tensor.copy_(value.permute(*to_torch) if to_torch else value)


# How each kind of TensorFlow tensor maps to PyTorch: a permutation of its axes.
_CONV2D = (3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
_MIDEND = (3, 1, 0, 2)  # [k, features, 1, out] -> [out, features, k, 1]
_DENSE = (1, 0)  # [in, out] -> [out, in]


def _tf_names(network: Musicnn) -> dict[str, tuple[torch.Tensor, tuple[int, ...]]]:
    """Each TensorFlow variable name, with the tensor it fills and the axis permutation.

    TensorFlow names layers by creation order: ``conv2d``, ``conv2d_1``, ...;
    ``batch_normalization`` (the input's), ``batch_normalization_1``, ...
    """
    targets: dict[str, tuple[torch.Tensor, tuple[int, ...]]] = {}

    def norm(name: str, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> None:
        assert bn.running_mean is not None and bn.running_var is not None
        targets[f"{name}/gamma"] = (bn.weight, ())
        targets[f"{name}/beta"] = (bn.bias, ())
        targets[f"{name}/moving_mean"] = (bn.running_mean, ())
        targets[f"{name}/moving_variance"] = (bn.running_var, ())

    norm("batch_normalization", network.input_norm)
    blocks = cast(list[_FrontEndConv | _MidEndConv], [*network.front, *network.mid])
    for i, block in enumerate(blocks):
        conv = "conv2d" if i == 0 else f"conv2d_{i}"
        assert block.conv.bias is not None
        if isinstance(block, _FrontEndConv):
            targets[f"{conv}/kernel"] = (block.conv.weight, _CONV2D)
        else:
            # [7, features, 1, out]: the Conv1d weight [out, features, 7] with a unit axis
            # added (a view, so copying into it fills the weight).
            targets[f"{conv}/kernel"] = (block.conv.weight.unsqueeze(-1), _MIDEND)
        targets[f"{conv}/bias"] = (block.conv.bias, ())
        norm(f"batch_normalization_{i + 1}", block.norm)
    norm(f"batch_normalization_{len(blocks) + 1}", network.pool_norm)
    targets["dense/kernel"] = (network.dense.weight, _DENSE)
    targets["dense/bias"] = (network.dense.bias, ())
    norm(f"batch_normalization_{len(blocks) + 2}", network.dense_norm)
    targets["dense_1/kernel"] = (network.classifier.weight, _DENSE)
    targets["dense_1/bias"] = (network.classifier.bias, ())
    return targets


def _tf_shape(torch_shape: tuple[int, ...], to_torch: tuple[int, ...]) -> tuple[int, ...]:
    """The TensorFlow shape whose permutation by ``to_torch`` gives ``torch_shape``."""
    if not to_torch:
        return torch_shape
    shape = [0] * len(torch_shape)
    for torch_axis, tf_axis in enumerate(to_torch):
        shape[tf_axis] = torch_shape[torch_axis]
    return tuple(shape)
