"""Building a run's data from the ``data.*`` settings: decode the clips (or hit the cache), cut
the split, and make each part's dataset and batch features as the plan says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genre_lightning.data.batches import BatchFeatures
from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.index import Clip
from genre_lightning.data.load import LoadedData, load_data
from genre_lightning.data.parts import cut_split, make_datasets
from genre_lightning.data.plan import Plan
from genre_lightning.data.windows import draws_per_track, stored_samples, window_samples
from genre_lightning.features.mel import MelFeatures

log = logging.getLogger(__name__)


def index_and_decode(
    root: Path,
    hp: Mapping[str, Any],
    cache_dir: Path | None,
    indexed: tuple[list[Clip], list[str]] | None = None,
) -> LoadedData:
    """Index ``root`` and decode its clips (or hit the cache) as the settings say.

    Args:
        root: The folder to index.
        hp: The data settings (the data module's hyperparameters).
        cache_dir: The cache folder; ``None``: the root's folder in the user cache.
        indexed: ``root``'s listing, where it was made already (see :func:`load_data`).
    """
    stored = stored_samples(hp["crop"], hp["clip_samples"], hp["max_seconds"], hp["sample_rate"])
    loaded = load_data(
        root,
        hp["class_names"],
        hp["num_classes"],
        cache_dir,
        hp["sample_rate"],
        stored,
        hp["cache_keep"],
        indexed,
    )
    _name_mostly_padding(
        loaded,
        window_samples(hp["clip_samples"], hp["chunk_seconds"], hp["sample_rate"]),
        hp["sample_rate"],
    )
    return loaded


def _name_mostly_padding(loaded: LoadedData, window: int, sample_rate: int) -> None:
    """Warn of the files shorter than half a network input: they train and test as windows
    that are mostly silence (a 1-sample file as silence), which the user should know of."""
    short = sorted(  # the shortest, most of it padding, named first
        (
            (length, loaded.clips[clip].path)
            for clip, length in zip(loaded.cache.kept, loaded.cache.lengths, strict=True)
            if length < window / 2
        ),
        key=lambda item: item[0],
    )
    if short:
        shown = ", ".join(f"{path} ({length / sample_rate:.2f} s)" for length, path in short[:5])
        log.warning(
            "%d file(s) are shorter than half a %.3g s window and are padded with silence: %s%s",
            len(short),
            window / sample_rate,
            shown,
            ", ..." if len(short) > 5 else "",
        )


def build_parts(
    loaded: LoadedData,
    hp: Mapping[str, Any],
    plan: Plan,
    features: MelFeatures,
    window: int,
) -> tuple[dict[str, list[int]], dict[str, WaveformDataset], BatchFeatures]:
    """Cut the split and build each part as the plan says.

    Args:
        loaded: The decoded clips.
        hp: The data settings (the data module's hyperparameters).
        plan: How each part cuts its windows and where its mel images come from.
        features: The mel front end.
        window: Samples per network input.

    Returns:
        The cache rows of each part, the dataset of each part, and their batch features.
    """
    parts = cut_split(
        loaded,
        hp["split"],
        fractions=hp["split_fractions"],
        seed=hp["split_seed"],
        fold=hp["fold"],
        num_folds=hp["num_folds"],
        val_fraction=hp["val_fraction"],
        train_on_val=hp["train_on_val"],
        split_by=hp["split_by"],
    )
    draws = draws_per_track(hp["clip_samples"], window)
    seed = hp["shuffle_seed"]
    datasets = make_datasets(loaded, parts, plan, window, draws, seed)
    batch_features = BatchFeatures(features, loaded.cache.waves, datasets, plan, hp["batch_size"])
    log.info(
        "data: %d clips (%d skipped) from %s, split %s (tracks)%s; mel %s",
        len(loaded.cache.kept),
        len(loaded.cache.skipped),
        loaded.root,
        {p: d.num_tracks for p, d in datasets.items()},
        f", {window}-sample chunks" if hp["chunk_seconds"] is not None else "",
        plan.describe(),
    )
    return parts, datasets, batch_features
