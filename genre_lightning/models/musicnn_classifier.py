"""musicnn as a genre classifier: the pretrained tagger's features and a new head.

``model=musicnn`` builds it. Which of musicnn's layers feeds the head is a choice
(``model.layer``): the 200-d penultimate features (what musicnn's authors used for transfer),
the 1506-d max and mean pool of the mid-end, the 50 tag logits, or a list of them side by side
(``[penultimate,pooled]``: 1706-d). With ``model.freeze=true``
the pretrained network is a fixed feature extractor (a linear probe); with ``false`` it is
fine-tuned with the head.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from genre_lightning.errors import UserError
from genre_lightning.models.musicnn import INPUT_RATE, PATCH_FRAMES, Musicnn
from genre_lightning.models.musicnn_layers import LAYERS, layer_names
from genre_lightning.models.musicnn_tf import musicnn_weights, pretrained_musicnn
from genre_lightning.models.standardize import Standardize


def classifier_head(width: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """The new head on musicnn's features: standardised, dropout, one linear layer.

    The features differ in scale by layer (logits, pooled activations): standardising them
    (batch statistics, no learned scale) keeps one learning rate right for every choice.
    """
    return nn.Sequential(Standardize(width), nn.Dropout(dropout), nn.Linear(width, num_classes))


class MusicnnClassifier(nn.Module):
    """musicnn's network with a head for the data's classes.

    Args:
        num_classes: Classes of the data.
        n_mels: Mel bands of the input: musicnn was trained on 96.
        pretrained: ``MSD_musicnn`` or ``MTT_musicnn``: load those weights (fetched once, see
            :mod:`genre_lightning.pretrained.fetch`); ``None``: random weights, which is how a
            trained checkpoint rebuilds the network before its own weights are loaded.
        layer: What feeds the head: ``penultimate``, ``pooled`` or ``tags``, or a list of
            them, whose features are concatenated in that order.
        freeze: Keep the pretrained weights fixed (a probe). Either way, the batch-norm
            statistics of pretrained weights stay as they are: small batches of one data set
            would overwrite what a million songs estimated.
        dropout: Dropout before the head's linear layer.
        source: Where the weights come from: the musicnn wheel or an unpacked model folder
            (``None``: pip downloads the wheel).
        cache_dir: Where unpacked weights are kept (``None``: the user cache directory).
    """

    #: What musicnn reads, as training settings (training checks the data gives it before
    #: decoding anything): 16 kHz, n_fft 512, hop 256, 96 slaney mels, reflect padding,
    #: log10(10000 x + 1), patches of 187 frames: the 3 s chunks ``data.chunk_seconds`` cuts
    #: (a longer chunk would be cut to its first 187 frames). Its experiment sets them all.
    INPUT_MELS = 96
    REQUIRED_SETTINGS: ClassVar[dict[str, object]] = {
        # First: a user who sets only this learns of the rest from the message.
        "data.features.n_mels": INPUT_MELS,
        "data.features.resample_to": INPUT_RATE,
        "data.features.n_fft": 512,
        "data.features.win_length": 512,
        "data.features.hop_length": 256,
        "data.features.num_frames": PATCH_FRAMES,
        "data.features.log": "musicnn",
        "data.features.pad_mode": "reflect",
        "data.chunk_seconds": 3.0,
    }
    RECIPE: ClassVar[str] = "musicnn_probe"

    def __init__(
        self,
        num_classes: int,
        n_mels: int = INPUT_MELS,
        pretrained: str | None = "MSD_musicnn",
        layer: str | Sequence[str] = "penultimate",
        freeze: bool = True,
        dropout: float = 0.0,
        source: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        self.layers = layer_names(layer)
        if n_mels != self.INPUT_MELS:
            raise UserError(
                f"model=musicnn reads {self.INPUT_MELS} mel bands, the data gives {n_mels}: use "
                f"experiment=musicnn_probe (or its data.features) for musicnn's front end"
            )
        self.freeze = freeze
        self.keep_statistics = pretrained is not None
        self.backbone = (
            pretrained_musicnn(pretrained, source, cache_dir) if pretrained else Musicnn()
        )
        if freeze:
            self.backbone.requires_grad_(False)
        self.head = classifier_head(sum(LAYERS[n] for n in self.layers), num_classes, dropout)

    @staticmethod
    def prepare(
        pretrained: str | None = "MSD_musicnn",
        source: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        **_: Any,
    ) -> None:
        """Fetch the pretrained weights into the cache (nothing to do once they are there), as
        the constructor would; see :func:`~genre_lightning.models.build.prepare_network`.

        Raises:
            UserError: The weights cannot be fetched, verified or unpacked.
        """
        if pretrained:
            musicnn_weights(pretrained, source, cache_dir)

    def train(self, mode: bool = True) -> MusicnnClassifier:
        """Training mode, except for what stays fixed: a frozen backbone, and the batch-norm
        statistics of pretrained weights (their affine weights still train when fine-tuned)."""
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
        elif self.keep_statistics:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def encoder_identity(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """What :meth:`embed`'s features depend on besides the input: the backbone's weights
        and statistics, and the layers read (the key of their stored copies,
        :mod:`~genre_lightning.training.embedding_store`)."""
        setting = {"network": type(self.backbone).__qualname__, "layers": list(self.layers)}
        return dict(self.backbone.state_dict()), setting

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The chosen layers' features (B, width) of log-mel patches (B, 1, frames, 96)."""
        out = self.backbone(x)
        features = [getattr(out, "logits" if name == "tags" else name) for name in self.layers]
        return features[0] if len(features) == 1 else torch.cat(features, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of log-mel patches (B, 1, frames, 96)."""
        return self.head(self.embed(x))
