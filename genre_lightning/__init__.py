"""genre_lightning: music genre classification with PyTorch Lightning and Hydra.

Reproduces Xie, "AlexNet and ResNet for Music Genre Classification" (GTZAN), and goes beyond it.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # pyproject.toml states the version; the installed package's metadata carries it here
    __version__ = version("genre_lightning")
except PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"
