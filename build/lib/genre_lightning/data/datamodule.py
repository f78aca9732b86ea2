"""The LightningDataModule: index, decode once into a cached int16 array, split, batch.

Batches leave the DataLoader as int16 waveforms (half the bytes of float32 to move to the
device), or only as the places of their windows, and become mel images on the device itself,
in :meth:`on_after_batch_transfer` (see :mod:`genre_lightning.data.batches`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from genre_lightning.audio import SAMPLE_RATE
from genre_lightning.data.batches import BatchFeatures, FeatureBatch, WindowBatch
from genre_lightning.data.cache import WaveformCache, load_or_build
from genre_lightning.data.dataset import CROPS, WaveformDataset
from genre_lightning.data.download import DEFAULT_URL, ensure_gtzan
from genre_lightning.data.index import GTZAN_GENRES, Clip, index_clips
from genre_lightning.data.sampler import EpochShuffleSampler
from genre_lightning.data.splits import PARTS, SPLIT_KINDS, make_split, write_split
from genre_lightning.errors import UserError
from genre_lightning.features.mel import MelFeatures
from genre_lightning.features.normalize import RunningMoments
from genre_lightning.training.speed import trains_on_cuda

log = logging.getLogger(__name__)


def window_samples(clip_samples: int, chunk_seconds: float | None, sample_rate: int) -> int:
    """Samples per network input: the whole clip, or one ``chunk_seconds`` chunk of it."""
    if chunk_seconds is None:
        return int(clip_samples)
    return min(int(clip_samples), round(chunk_seconds * sample_rate))


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
        split: ``random`` (the paper's shuffled split by track), ``filtered`` (the artist-
            disjoint, fault-filtered GTZAN split) or ``kfold`` (stratified, by track).
        split_fractions: Train/validation/test fractions (``random``).
        split_seed: Seed of the split (independent of the training seed).
        fold: Test fold of ``kfold`` (0-based).
        num_folds: Number of folds of ``kfold``.
        val_fraction: Share of ``kfold``'s non-test tracks held out (stratified) for
            validation, which picks the checkpoint that is tested.
        crop: Which ``clip_samples`` of a longer file are used: ``start``, ``centre``, or
            ``random`` (a new random window every time a training clip is drawn; validation and
            test use the centre). ``centre`` and ``random`` cache up to ``max_seconds`` per file.
        max_seconds: Longest stretch of a file kept in the cache for ``centre``/``random``.
        chunk_seconds: Train on random chunks of this length (as many draws per track and
            epoch as the clip holds chunks) and evaluate on every chunk of each track, averaging
            the chunks' logits per track. ``None``: whole clips, as in the paper.
        download: Fetch GTZAN into ``root`` first when it is not there (``url``, ``sha256``).
        url: Where GTZAN's ``genres.tar.gz`` is fetched from.
        sha256: Its expected checksum (``None`` skips the check).
        batch_size: Clips per batch.
        num_workers: DataLoader worker processes (0 loads in the main process: the data is an
            in-memory array, so workers only pay off on slow storage). Parts whose batches
            carry no samples (``on_device``, ``cache_features``) always load in-process.
        pin_memory: Pin host memory for faster, non-blocking copies to a GPU; ``None`` pins
            when the trainer runs on CUDA.
        on_device: Copy the whole int16 waveform array to the accelerator once and batch by
            index (GTZAN is 1.3 GB as int16); windows are cut there.
        cache_features: ``auto``: compute the mel images of every part whose windows are
            fixed (no ``crop=random``, no random training chunks) once, on the device, and
            reuse them every epoch; ``True``: the same, and an error if the training part
            draws random windows; ``False``: mel per batch, every time.
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
        fold: int = 0,
        num_folds: int = 10,
        val_fraction: float = 0.1,
        crop: str = "start",
        max_seconds: float = 120.0,
        chunk_seconds: float | None = None,
        download: bool = False,
        url: str | None = None,
        sha256: str | None = None,
        batch_size: int = 256,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        on_device: bool = False,
        cache_features: bool | str = "auto",
        shuffle_seed: int = 0,
        features: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # Saved in checkpoints; not logged, since the model logs the same data config (with the
        # class names resolved from the folders, where this holds None).
        self.save_hyperparameters(logger=False)
        if split not in SPLIT_KINDS:
            raise UserError(
                f"data.split={split} is not known; use data.split={'|'.join(SPLIT_KINDS)}"
            )
        if crop not in CROPS:
            raise UserError(f"data.crop={crop} is not known; use data.crop={'|'.join(CROPS)}")
        if cache_features not in (True, False, "auto"):
            raise UserError(
                f"data.cache_features={cache_features} is not known; use auto, true or false"
            )
        self.root = Path(root)
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / ".cache"
        self.features = MelFeatures(sample_rate=sample_rate, **(features or {}))
        self.class_names: list[str] = list(class_names) if class_names is not None else []
        self.clips: list[Clip] = []
        self.cache: WaveformCache | None = None
        self.parts: dict[str, list[int]] = {}
        self.datasets: dict[str, WaveformDataset] = {}
        self.batch_features: BatchFeatures | None = None

    # -- building -------------------------------------------------------------------------
    def dataset_root(self) -> Path:
        """The folder that is indexed (subclasses may generate it first)."""
        return self.root

    def prepare_data(self) -> None:
        """Download if asked, index and decode (once, on one process); later runs hit the cache."""
        if self.hparams["download"]:
            ensure_gtzan(self.root, self.hparams["url"] or DEFAULT_URL, self.hparams["sha256"])
        self._load()

    def setup(self, stage: str | None = None) -> None:
        """Load the cache and cut the split (idempotent)."""
        if self.datasets:
            return
        self._load()
        assert self.cache is not None
        kept = self.cache.kept
        hp = self.hparams
        self.parts = make_split(
            hp["split"],
            [self.clips[i].track for i in kept],
            [self.clips[i].label for i in kept],
            fractions=hp["split_fractions"],
            seed=hp["split_seed"],
            fold=hp["fold"],
            num_folds=hp["num_folds"],
            val_fraction=hp["val_fraction"],
        )
        tables = set()
        for code, part in enumerate(PARTS):
            rows = self.parts[part]
            labels = [self.clips[kept[r]].label for r in rows]
            lengths = [self.cache.lengths[r] for r in rows]
            crop = "centre" if hp["crop"] == "random" and part != "train" else hp["crop"]
            chunked = hp["chunk_seconds"] is not None
            self.datasets[part] = WaveformDataset(
                self.cache.waves,
                rows,
                labels,
                lengths,
                self.window_samples(),
                crop,
                chunks=("random" if part == "train" else "all") if chunked else None,
                draws=max(1, hp["clip_samples"] // self.window_samples()),
                part=code,
            )
            dataset = self.datasets[part]
            if hp["cache_features"] and dataset.fixed_windows:
                tables.add(part)
            dataset.locate_only = hp["on_device"] or part in tables
        if hp["cache_features"] is True and "train" not in tables:
            raise UserError(
                "data.cache_features=true, but the training part draws a new window every "
                "time (data.crop=random or data.chunk_seconds): its mel images cannot be "
                "computed once. Use data.cache_features=auto (tables for validation and test "
                "only) or false."
            )
        self.batch_features = BatchFeatures(
            self.features,
            self.cache.waves,
            self.datasets,
            on_device=hp["on_device"],
            tables=tables,
            batch_size=hp["batch_size"],
        )
        sizes = {p: d.num_tracks for p, d in self.datasets.items()}
        log.info(
            "data: %d clips (%d skipped) from %s, split %s (tracks)%s; mel %s",
            len(kept),
            len(self.cache.skipped),
            self.dataset_root(),
            sizes,
            f", {self.window_samples()}-sample chunks" if hp["chunk_seconds"] is not None else "",
            f"computed once for {', '.join(sorted(tables))}"
            + (", per batch for the rest" if len(tables) < len(PARTS) else "")
            if tables
            else "per batch",
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
            self.clips, self.cache_dir, self.hparams["sample_rate"], self._stored_samples()
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

    def _stored_samples(self) -> int:
        """Samples cached per clip: the window itself, or more to choose a window from."""
        hp = self.hparams
        if hp["crop"] == "start":
            return int(hp["clip_samples"])
        return max(int(hp["clip_samples"]), round(hp["max_seconds"] * hp["sample_rate"]))

    # -- facts for the rest of the run -------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of genres (known after setup)."""
        return len(self.class_names)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that could not be decoded."""
        return self.cache.skipped if self.cache else []

    def window_samples(self) -> int:
        """Samples per network input: the whole clip, or one chunk."""
        hp = self.hparams
        return window_samples(hp["clip_samples"], hp["chunk_seconds"], hp["sample_rate"])

    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one mel image, (1, frames, mels)."""
        frames = self.features(torch.zeros(1, self.window_samples())).shape[2]
        return (1, frames, self.features.n_mels)

    def write_split(self, path: str | Path) -> None:
        """Write which track went into which part (CSV) for auditing."""
        assert self.cache is not None
        kept_clips = [self.clips[i] for i in self.cache.kept]
        write_split(path, kept_clips, self.parts, self.class_names)

    # -- batches --------------------------------------------------------------------------
    def _loader(self, part: str, shuffle: bool) -> DataLoader[Any]:
        dataset = self.datasets[part]
        # Batches of window places are a few integers: worker processes would only cost.
        workers = 0 if dataset.locate_only else self.hparams["num_workers"]
        sampler = (
            EpochShuffleSampler(len(dataset), self.hparams["shuffle_seed"]) if shuffle else None
        )
        return DataLoader(
            dataset,
            batch_size=self.hparams["batch_size"],
            sampler=sampler,
            num_workers=workers,
            pin_memory=self._pin_memory() and not dataset.locate_only,
            persistent_workers=workers > 0,
        )

    def _pin_memory(self) -> bool:
        pin = self.hparams["pin_memory"]
        if pin is None:  # pinned pages only pay off for copies to a GPU
            return trains_on_cuda(self.trainer)
        return bool(pin)

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> FeatureBatch:
        """Turn a collated batch of windows into a :class:`FeatureBatch` on its device."""
        assert self.batch_features is not None, "setup() first"
        windows = WindowBatch(*batch)
        return self.batch_features(windows, PARTS[int(windows.part[0])])

    @torch.no_grad()
    def feature_statistics(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """Per-element mean and std of the training set's mel images, computed on ``device``."""
        moments = RunningMoments()
        for batch in self._loader("train", shuffle=False):
            mel = self.on_after_batch_transfer([t.to(device) for t in batch], 0).mel
            moments.update(mel)
        return moments.compute()
