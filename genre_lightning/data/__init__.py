"""Data: indexing, decoding cache, splits, the DataModules and the synthetic set."""

from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.synthetic import SyntheticDataModule

__all__ = ["GenreDataModule", "SyntheticDataModule"]
