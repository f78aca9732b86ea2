"""Data: indexing, decoding cache, splits, the DataModules, the synthetic set and the download.

The DataModules are loaded on first use, so ``python -m genre_lightning.data.download`` starts
without importing Lightning.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GenreDataModule", "SyntheticDataModule"]


def __getattr__(name: str) -> Any:
    if name == "GenreDataModule":
        from genre_lightning.data.datamodule import GenreDataModule

        return GenreDataModule
    if name == "SyntheticDataModule":
        from genre_lightning.data.synthetic import SyntheticDataModule

        return SyntheticDataModule
    raise AttributeError(name)
