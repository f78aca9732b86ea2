"""The LightningDataModule: wires the data parts together, each of which has one job.

:mod:`.config` checks the settings, :mod:`.load` indexes and decodes (once, into a cache
outside the dataset), :mod:`.parts` cuts the split, :mod:`.build` runs both from the settings,
:mod:`.plan` decides per part where its mel images come from, :mod:`.serving` (the base class)
holds the loader and batch hooks, :mod:`.loaders` builds the DataLoaders, :mod:`.batches` turns
batches into mel images on their device (in :meth:`GenreDataModule.on_after_batch_transfer`),
:mod:`.statistics` measures the normalisation and :mod:`.split_csv` writes ``split.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genre_lightning.audio_files import CLIP_SAMPLES, SAMPLE_RATE
from genre_lightning.data import split_csv, split_record
from genre_lightning.data.build import build_parts, index_and_decode
from genre_lightning.data.cache import WaveformCache
from genre_lightning.data.cache_dir import KEEP
from genre_lightning.data.config import check_data_config
from genre_lightning.data.download import DEFAULT_SHA256, DEFAULT_URL, ensure_gtzan
from genre_lightning.data.index import GTZAN_GENRES, Clip
from genre_lightning.data.load import LoadedData, index_classes
from genre_lightning.data.parts import check_batch_size
from genre_lightning.data.plan import make_plan
from genre_lightning.data.serving import PartServing
from genre_lightning.data.splits import check_every_class_trains
from genre_lightning.data.windows import hop_samples, window_samples
from genre_lightning.features.mel import MelFeatures


class GenreDataModule(PartServing):
    """Audio folders laid out as ``<root>/<genre>/<clip>.<ext>`` (GTZAN and its layouts).

    Args:
        root: Data root (any layout of :data:`~genre_lightning.data.index.LAYOUTS`); only read.
        class_names: Genre folders in label order; ``None`` takes every sub-folder, sorted.
        num_classes: Expected number of classes, checked against the folders (no config sets
            it any more: the class list decides; older checkpoints carry it).
        cache_dir: Folder of the decoded-waveform caches; ``None``: the root's own folder in
            the user cache (:mod:`~genre_lightning.data.cache_dir`).
        cache_keep: Caches of this root kept, the most recently used (``None``: all).
        sample_rate: Decode rate (other rates are resampled).
        clip_samples: Every clip is cropped or zero-padded to this many samples. GTZAN's
            662,688 are exactly what the paper's 668 centred mel frames read.
        split: ``random`` (shuffled, by track), ``filtered`` (GTZAN's artist-disjoint,
            fault-filtered split), ``kfold`` (stratified, by track), ``all`` (every track
            trained on, none validated or tested: the final model, once a held-out split has
            measured the recipe) or ``test`` (every track tested: for evaluating a
            checkpoint; training refuses it).
        split_by: What ``random`` and ``kfold`` deal into the parts: ``track`` (each alone)
            or ``folder`` (the tracks of one first-level folder of a genre folder, an artist's
            or album's, stay together: an artist filter for a nested music library).
        split_fractions: Train/validation/test fractions of ``random``.
        split_seed: Seed of the split (independent of the training seed).
        fold: Test fold of ``kfold`` (0-based).
        num_folds: Number of folds of ``kfold``.
        val_fraction: Share of ``kfold``'s non-test tracks held out for validation.
        train_on_val: The validation tracks join the training part and nothing is validated:
            the refit after settings were chosen on validation (the test part is unchanged).
        crop: Which ``clip_samples`` of a longer file are used: ``start``, ``centre``, or
            ``random`` (training only; validation and test use the centre).
        max_seconds: Longest stretch of a file cached for ``centre``/``random``.
        chunk_seconds: Train on chunks of this length and evaluate on every chunk of a track
            (logits averaged per track); ``None``: whole clips, as in the paper.
        train_chunks: With ``chunk_seconds``: ``random`` (random chunks, drawn anew every
            epoch) or ``all`` (every chunk of each training track, the same every epoch).
        train_hop_seconds: With ``train_chunks="all"``: seconds between the starts of
            consecutive training chunks (less than ``chunk_seconds``: overlapping chunks, more
            training windows per track); ``None``: ``chunk_seconds`` (no overlap). Validation
            and test always use non-overlapping chunks.
        download: Fetch GTZAN into ``root`` first when it is not there.
        url: Where GTZAN's ``genres.tar.gz`` is fetched from (the Hugging Face copy).
        sha256: Its expected checksum (the pinned one of that copy; ``None`` skips the check).
        batch_size: Windows per batch.
        num_workers: DataLoader worker processes of parts whose batches carry samples.
        pin_memory: Pin host memory for copies to a GPU; ``None`` pins when training on CUDA.
        on_device: Keep the whole int16 waveform array on the accelerator; batch by index.
        cache_features: ``auto``, ``True`` or ``False``: mel images computed once, for the
            parts with fixed windows (:mod:`~genre_lightning.data.plan`).
        shuffle_seed: Seed of the training order (with the epoch: exact resumes).
        features: :class:`~genre_lightning.features.mel.MelFeatures` settings; ``num_frames:
            None`` keeps every frame of a window.

    Raises:
        UserError: A bad setting (see :func:`~genre_lightning.data.config.check_data_config`).
    """

    def __init__(
        self,
        root: str | None = "data/gtzan",
        class_names: Sequence[str] | None = GTZAN_GENRES,
        num_classes: int | None = None,
        cache_dir: str | None = None,
        cache_keep: int | None = KEEP,
        sample_rate: int = SAMPLE_RATE,
        clip_samples: int = CLIP_SAMPLES,
        split: str = "random",
        split_by: str = "track",
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        fold: int = 0,
        num_folds: int = 10,
        val_fraction: float = 0.1,
        train_on_val: bool = False,
        crop: str = "start",
        max_seconds: float = 120.0,
        chunk_seconds: float | None = None,
        train_chunks: str = "random",
        train_hop_seconds: float | None = None,
        download: bool = False,
        url: str = DEFAULT_URL,
        sha256: str | None = DEFAULT_SHA256,
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
        check_data_config(self.hparams)
        self.root = Path(str(root))
        chunked = chunk_seconds is not None
        train_hop = hop_samples(train_hop_seconds, sample_rate)
        self.plan = make_plan(crop, chunked, on_device, cache_features, train_chunks, train_hop)
        self.features = MelFeatures(sample_rate=sample_rate, **(features or {}))
        self.cache_dir: Path | None = Path(cache_dir) if cache_dir else None
        self.class_names: list[str] = list(class_names) if class_names is not None else []
        self.loaded: LoadedData | None = None
        # The listing of check_data_found, kept so that loading neither repeats it nor its
        # warnings (in the same process: DDP's other ranks list the folder themselves).
        self.indexed: tuple[list[Clip], list[str]] | None = None
        self.parts: dict[str, list[int]] = {}
        self.datasets = {}
        self.batch_features = None

    # -- building -------------------------------------------------------------------------
    def dataset_root(self) -> Path:
        """The folder that is indexed (subclasses may generate it first)."""
        return self.root

    def check_data_found(self) -> None:
        """List the data, decoding nothing, and refuse a folder that holds none to train on.

        Cheap (a directory listing): the training entry point calls it before the Trainer is
        built, so that a wrong ``data.root`` is said first and leaves no run folder. Does
        nothing while the data is still to be downloaded (``data.download=true``).

        Raises:
            UserError: As :meth:`prepare_data` would for the same folder: no audio, fewer than
                two genres, a genre without files, a class count unlike ``data.num_classes``.
        """
        if not self.hparams["download"]:
            self.indexed = index_classes(
                self.dataset_root(), self.hparams["class_names"], self.hparams["num_classes"]
            )

    def prepare_data(self) -> None:
        """Download if asked, index and decode (once, on one process); later runs hit the cache."""
        if self.hparams["download"]:
            ensure_gtzan(self.root, self.hparams["url"] or DEFAULT_URL, self.hparams["sha256"])
        self._load()

    def setup(self, stage: str | None = None) -> None:
        """Load the cache, cut the split and build each part as the plan says (idempotent).

        Raises:
            UserError: For fitting (``stage`` ``fit`` or ``None``): a genre without a training
                track. Testing a checkpoint needs no training part, so ``test`` is not refused.
        """
        if not self.datasets:
            self.parts, self.datasets, self.batch_features = build_parts(
                self._load(), self.hparams, self.plan, self.features, self.window_samples()
            )
        if stage in ("fit", None):
            labels = [clip.label for clip in self._load().kept_clips]
            check_every_class_trains(
                self.hparams["split"],
                self.parts,
                labels,
                self.class_names,
                self.hparams["split_by"],
            )

    def check_batch_size(self) -> None:
        """Refuse a ``batch_size`` above the training windows of an epoch (after :meth:`setup`).

        Not part of :meth:`setup`: a data module is also set up to inspect its split, at any
        batch size; the training entry point calls this before building the model.

        Raises:
            UserError: The batch is larger than the training set, counted in tracks or chunks.
        """
        train = self.datasets["train"]
        hp = self.hparams
        check_batch_size(hp["batch_size"], len(train), train.num_tracks, hp["chunk_seconds"])

    def _load(self) -> LoadedData:
        if self.loaded is None:
            self.loaded = index_and_decode(
                self.dataset_root(), self.hparams, self.cache_dir, self.indexed
            )
            self.class_names = self.loaded.class_names
            self.cache_dir = self.loaded.cache.path.parent
        return self.loaded

    # -- facts for the rest of the run -------------------------------------------------------
    @property
    def clips(self) -> list[Clip]:
        """Every audio file found (empty before loading)."""
        return self.loaded.clips if self.loaded else []

    @property
    def cache(self) -> WaveformCache | None:
        """The decoded waveforms (``None`` before loading)."""
        return self.loaded.cache if self.loaded else None

    @property
    def num_classes(self) -> int:
        """Number of genres (known after setup)."""
        return len(self.class_names)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that could not be decoded."""
        return self.loaded.cache.skipped if self.loaded else []

    def window_samples(self) -> int:
        """Samples per network input: the whole clip, or one chunk."""
        hp = self.hparams
        return window_samples(hp["clip_samples"], hp["chunk_seconds"], hp["sample_rate"])

    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one mel image, (1, frames, mels): what the network is built for."""
        return self.features.image_shape(self.window_samples())

    def track_parts(self) -> dict[str, list[str]]:
        """Each part's tracks as ``genre/track`` ids (after :meth:`setup`): the split record a
        checkpoint carries (:mod:`~genre_lightning.data.split_record`)."""
        return split_record.track_ids(self._load().kept_clips, self.parts, self.class_names)

    def write_split(self, path: str | Path) -> None:
        """Write which track went into which part (``split.csv``) for auditing."""
        loaded = self._load()
        split_csv.write_split(path, loaded.kept_clips, self.parts, self.class_names)
