"""genre_lightning: music genre classification with PyTorch Lightning and Hydra.

Reproduces Xie, "AlexNet and ResNet for Music Genre Classification" (GTZAN), and goes beyond it.
"""

__version__ = "0.1.0"
