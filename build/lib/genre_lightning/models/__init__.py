"""The paper's networks."""

from genre_lightning.models.alexnet import AlexNet
from genre_lightning.models.mfcc_linear import MfccLinear
from genre_lightning.models.resnet import ResNet

__all__ = ["AlexNet", "MfccLinear", "ResNet"]
