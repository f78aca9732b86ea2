"""Data: from audio folders to batches of mel images, one job per module.

``config`` (checks of ``data.*``), ``index`` (find the files), ``cache`` and ``cache_dir`` (decode
once, into the user cache), ``load``, ``splits`` and ``parts`` (the split by track), ``build``
(both from the settings), ``plan`` (per part: windows and where mel images come from),
``dataset``, ``loaders``, ``batches``, ``statistics``, ``split_csv``, ``windows``; ``datamodule``
wires them, its base class ``serving`` serves the batches; ``synthetic`` (with ``synthesis``) and
``download`` provide data.

The DataModules are loaded on first use, so ``python -m genre_lightning.data.download`` starts
without importing Lightning.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GENRE_DATA_MODULE", "GenreDataModule", "SyntheticDataModule"]

#: The data module of folders of genre folders (``data=gtzan|folder``) as configs name it, for
#: the checks that run before it is imported.
GENRE_DATA_MODULE = "genre_lightning.data.datamodule.GenreDataModule"


def __getattr__(name: str) -> Any:
    if name == "GenreDataModule":
        from genre_lightning.data.datamodule import GenreDataModule

        return GenreDataModule
    if name == "SyntheticDataModule":
        from genre_lightning.data.synthetic import SyntheticDataModule

        return SyntheticDataModule
    raise AttributeError(name)
