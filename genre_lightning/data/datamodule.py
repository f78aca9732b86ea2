"""The LightningDataModule: index, decode once into a cached int16 array, split, batch.

Batches leave the DataLoader as int16 waveforms (half the bytes of float32 to move to the
device) and become mel images on the device itself, in :meth:`on_after_batch_transfer`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from genre_lightning.audio import SAMPLE_RATE, from_int16
from genre_lightning.data.cache import WaveformCache, load_or_build
from genre_lightning.data.index import GTZAN_GENRES, Clip, index_clips
from genre_lightning.data.sampler import EpochShuffleSampler
from genre_lightning.data.splits import PARTS, random_split, write_split
from genre_lightning.errors import UserError
from genre_lightning.features import MelFeatures, RunningMoments

log = logging.getLogger(__name__)


class WaveformDataset(Dataset[tuple[torch.Tensor, int, int]]):
    """Rows of the memory-mapped waveform array: (int16 waveform, label, original length)."""

    def __init__(
        self, waves: np.ndarray, rows: Sequence[int], labels: Sequence[int], lengths: Sequence[int]
    ) -> None:
        self.waves, self.rows = waves, list(rows)
        self.labels, self.lengths = list(labels), list(lengths)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        # np.array copies the row out of the read-only memory map.
        wave = torch.from_numpy(np.array(self.waves[self.rows[i]]))
        return wave, self.labels[i], self.lengths[i]


class GenreDataModule(pl.LightningDataModule):
    """Audio folders laid out as ``<root>/<genre>/<clip>.<ext>`` (GTZAN and its layouts).

    Args:
        root: Data root; GTZAN's Kaggle (``Data/genres_original``) and original (``genres``)
            layouts are found under it.
        class_names: Genre folders in label order; ``None`` takes every sub-folder, sorted.
        num_classes: Expected number of classes (checked against ``class_names``).
        cache_dir: Where the decoded-waveform cache goes; default ``<root>/.cache``.
        sample_rate: Decode rate (other rates are resampled).
        clip_samples: Every clip is cropped or zero-padded to this many samples. GTZAN's
            default 662,688 = 667 hops of 992 plus half an FFT: exactly what the 668 centred
            frames of the paper's mel read, so cropping changes no feature value.
        split: ``random``: the paper's shuffled split by track.
        split_fractions: Train/validation/test fractions.
        split_seed: Seed of the split (independent of the training seed).
        batch_size: Clips per batch.
        num_workers: DataLoader worker processes (0 loads in the main process: the data is an
            in-memory array, so workers only pay off on slow storage).
        pin_memory: Pin host memory for faster, non-blocking copies to a GPU.
        shuffle_seed: Seed of the training order; each epoch's order depends only on it and
            the epoch number, so a resumed run sees the same batches.
        features: Keyword arguments of :class:`~genre_lightning.features.MelFeatures`.
    """

    def __init__(
        self,
        root: str = "data/gtzan",
        class_names: Sequence[str] | None = GTZAN_GENRES,
        num_classes: int | None = None,
        cache_dir: str | None = None,
        sample_rate: int = SAMPLE_RATE,
        clip_samples: int = 662_688,
        split: str = "random",
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        batch_size: int = 256,
        num_workers: int = 0,
        pin_memory: bool = False,
        shuffle_seed: int = 0,
        features: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if split != "random":
            raise UserError(f"data.split={split!r} is not known; the options are: random")
        self.root = Path(root)
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / ".cache"
        self.features = MelFeatures(sample_rate=sample_rate, **(features or {}))
        self.class_names: list[str] = list(class_names) if class_names is not None else []
        self.clips: list[Clip] = []
        self.cache: WaveformCache | None = None
        self.parts: dict[str, list[int]] = {}
        self.datasets: dict[str, WaveformDataset] = {}

    # -- building -------------------------------------------------------------------------
    def dataset_root(self) -> Path:
        """The folder that is indexed (subclasses may generate it first)."""
        return self.root

    def prepare_data(self) -> None:
        """Index and decode (once, on one process); later runs hit the cache."""
        self._load()

    def setup(self, stage: str | None = None) -> None:
        """Load the cache and cut the split (idempotent)."""
        if self.datasets:
            return
        self._load()
        assert self.cache is not None
        kept = self.cache.kept
        hp = self.hparams
        self.parts = random_split(len(kept), hp["split_fractions"], hp["split_seed"])
        for part in PARTS:
            rows = self.parts[part]
            labels = [self.clips[kept[r]].label for r in rows]
            lengths = [self.cache.lengths[r] for r in rows]
            self.datasets[part] = WaveformDataset(self.cache.waves, rows, labels, lengths)
        sizes = {p: len(d) for p, d in self.datasets.items()}
        log.info(
            "data: %d clips (%d skipped) from %s, split %s",
            len(kept),
            len(self.cache.skipped),
            self.dataset_root(),
            sizes,
        )

    def _load(self) -> None:
        if self.cache is not None:
            return
        names = self.hparams["class_names"]
        self.clips, self.class_names = index_clips(
            self.dataset_root(), list(names) if names is not None else None
        )
        expected = self.hparams["num_classes"]
        if expected is not None and expected != len(self.class_names):
            raise UserError(
                f"data.num_classes={expected} but the data has "
                f"{len(self.class_names)} classes ({', '.join(self.class_names)}); "
                f"set data.num_classes={len(self.class_names)}."
            )
        cache = load_or_build(
            self.clips, self.cache_dir, self.hparams["sample_rate"], self.hparams["clip_samples"]
        )
        labels = {self.clips[i].label for i in cache.kept}
        for label, name in enumerate(self.class_names):
            if label not in labels:
                bad = [Path(p).name for p, _ in cache.skipped if Path(p).parent.name == name]
                raise UserError(
                    f"genre '{name}' has no usable clip: all {len(bad)} of its files failed to "
                    f"decode ({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}). Replace "
                    f"them, or leave the genre out of data.class_names."
                )
        self.cache = cache

    # -- facts for the rest of the run -------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of genres (known after setup)."""
        return len(self.class_names)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that could not be decoded."""
        return self.cache.skipped if self.cache else []

    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one mel image, (1, frames, mels)."""
        frames = self.features(torch.zeros(1, self.hparams["clip_samples"])).shape[2]
        return (1, frames, self.features.n_mels)

    def write_split(self, path: str | Path) -> None:
        """Write which track went into which part (CSV) for auditing."""
        assert self.cache is not None
        kept_clips = [self.clips[i] for i in self.cache.kept]
        write_split(path, kept_clips, self.parts, self.class_names)

    # -- batches --------------------------------------------------------------------------
    def _loader(self, part: str, shuffle: bool) -> DataLoader[Any]:
        workers = self.hparams["num_workers"]
        dataset = self.datasets[part]
        sampler = (
            EpochShuffleSampler(len(dataset), self.hparams["shuffle_seed"]) if shuffle else None
        )
        return DataLoader(
            dataset,
            batch_size=self.hparams["batch_size"],
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.hparams["pin_memory"],
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Turn (int16 waveform, label, length) into (mel image, label) on the batch's device."""
        wave, label, lengths = batch
        self.features.to(wave.device)  # a no-op once the buffers live there
        return self.features(from_int16(wave), lengths), label

    @torch.no_grad()
    def feature_statistics(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """Per-element mean and std of the training set's mel images, computed on ``device``."""
        moments = RunningMoments()
        for batch in self._loader("train", shuffle=False):
            mel, _ = self.on_after_batch_transfer([t.to(device) for t in batch], 0)
            moments.update(mel)
        return moments.compute()
