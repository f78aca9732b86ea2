"""A built-in, deterministic "synthetic genres" data set for demos and tests.

The clips (:mod:`genre_lightning.data.synthesis`) are written as 16-bit .wav files, one folder
per set of generation settings, and read back through the same decode path as GTZAN. Sets are
only ever written into a folder of their own: an empty or new one, or one that holds nothing
but earlier sets, recognised by their ``settings.json``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from genre_lightning.audio_files import SAMPLE_RATE
from genre_lightning.data.config import check_data_config, seconds_to_samples
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.synthesis import STYLES, Style, synthesize_clip
from genre_lightning.errors import UserError
from genre_lightning.files import atomic_folder
from genre_lightning.temp_files import remove_stale_temps

__all__ = ["STYLES", "Style", "SyntheticDataModule", "ensure_synthetic_dataset", "synthesize_clip"]

#: Bump when generation changes, so old folders are not reused.
SYNTHETIC_VERSION = 1
#: Each set's marker: its generation settings.
SETTINGS = "settings.json"
#: What a generated set, or one being written (temp_files.temp_path: ``.NAME.tmp-PID-TOKEN``;
#: earlier versions wrote ``.NAME.tmp-PID``), is called.
_OWN = re.compile(r"^\.?synthetic-[0-9a-f]{12}(\.tmp-\d+(-[0-9a-f]+)?)?$")
#: Earlier versions kept the waveform cache in ``<root>/.cache``: files of these names.
_OLD_CACHE = re.compile(r"^\.?waves-[0-9a-f]{20}\.(npy|json)(\.tmp-\d+|-full\.tmp-\d+)?$")
#: Seconds of audio per generating process. One core writes ~200 s of audio per second, so a
#: worker process (seconds to start: it imports numpy and torch) pays off only on larger sets:
#: the demo's stays in one process; GTZAN's size (1000 x 30 s, ~150 s on one core) uses 10.
AUDIO_SECONDS_PER_WORKER = 3000.0


def ensure_synthetic_dataset(
    root: str | Path,
    *,
    clips_per_class: int,
    seconds: float,
    seed: int,
    workers: int | None = None,
) -> Path:
    """Write the synthetic set under ``root`` (once) and return its folder.

    The folder name is a hash of the generation settings, so changing them makes a new set and
    an existing set is reused as is. Generation writes into a temporary folder and renames it,
    so an interrupted run never leaves a half-written set behind.

    Args:
        root: The synthetic sets' own folder.
        clips_per_class: Clips per style.
        seconds: Length of every clip.
        seed: Generation seed.
        workers: Processes that generate the clips (the files do not depend on it); ``None``
            picks one per :data:`AUDIO_SECONDS_PER_WORKER` of audio, at most one per core.

    Returns:
        A folder laid out as ``<class>/<class>.NNNNN.wav``.

    Raises:
        UserError: ``root`` holds anything but synthetic sets (e.g. a user's music).
    """
    settings: dict[str, Any] = {
        "version": SYNTHETIC_VERSION,
        "clips_per_class": clips_per_class,
        "seconds": seconds,
        "seed": seed,
        "styles": [asdict(s) for s in STYLES],
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    target = Path(root) / f"synthetic-{digest}"
    if (target / SETTINGS).exists():
        return target
    check_own_folder(Path(root))
    Path(root).mkdir(parents=True, exist_ok=True)
    remove_stale_temps(Path(root))  # sets half-written by runs that were killed
    clips = [(label, i) for label in range(len(STYLES)) for i in range(clips_per_class)]
    if workers is None:
        workers = _default_workers(len(clips) * seconds)
    with atomic_folder(target) as tmp:
        for style in STYLES:
            (tmp / style.name).mkdir()
        jobs = [(tmp, seed, label, i, seconds) for label, i in clips]
        if workers <= 1:
            for job in jobs:
                _write_clip(job)
        else:
            # spawn, not fork: forking a process that runs torch's thread pools can deadlock.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=spawn) as pool:
                list(pool.map(_write_clip, jobs, chunksize=8))  # re-raises a worker's error
        (tmp / SETTINGS).write_text(json.dumps(settings, indent=1))
    return target


def _write_clip(job: tuple[Path, int, int, int, float]) -> None:
    """Generate and write one clip: ``(folder, seed, style index, clip index, seconds)``."""
    folder, seed, label, i, seconds = job
    style = STYLES[label]
    rng = np.random.default_rng([seed, label, i])  # each clip reproducible on its own
    wave = synthesize_clip(style, rng, seconds)
    name = folder / style.name / f"{style.name}.{i:05d}.wav"
    sf.write(name, wave, SAMPLE_RATE, subtype="PCM_16")


def _default_workers(audio_seconds: float) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, int(audio_seconds // AUDIO_SECONDS_PER_WORKER)))


def check_own_folder(root: Path) -> None:
    """Make sure ``root`` is the synthetic sets' own: missing, empty, or only sets of ours.

    Raises:
        UserError: ``root`` is a file, or holds other entries, named in the message.
    """
    if not root.exists():
        return
    foreign = [root.name] if not root.is_dir() else [e.name for e in root.iterdir() if not _own(e)]
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UserError(
            f"data.root={root} is not a folder of synthetic sets (it holds {shown}); data="
            f"synthetic only writes into an empty folder or one holding its earlier sets. "
            f"Pick an empty folder (e.g. data.root=data/synthetic), or train on the audio "
            f"there with data=folder data.root={root}."
        )


def _own(entry: Path) -> bool:
    """Whether ``entry`` of a synthetic root was written by this module."""
    if not entry.is_dir() or not _OWN.match(entry.name):
        return entry.name == ".cache" and entry.is_dir() and _old_cache(entry)
    if entry.name.startswith("."):
        return True  # a set being written, or left by a killed run (removed before writing)
    try:
        return "styles" in json.loads((entry / SETTINGS).read_text())
    except (OSError, ValueError, TypeError):
        return False


def _old_cache(folder: Path) -> bool:
    # Our own waveform cache from before caches moved to the user cache folder.
    return all(_OLD_CACHE.match(f.name) for f in folder.iterdir())


class SyntheticDataModule(GenreDataModule):
    """:class:`GenreDataModule` over the generated set (written under ``root`` on first use).

    Args:
        root: Where generated sets are kept: a folder of their own.
        clips_per_class: Clips generated per class.
        seconds: Length of each clip; ``clip_samples`` follows it unless given.
        seed: Generation seed (the same seed always writes the same files).
        **kwargs: Any other :class:`GenreDataModule` argument.
    """

    def __init__(
        self,
        *,
        root: str,
        clips_per_class: int,
        seconds: float,
        seed: int,
        **kwargs: Any,
    ) -> None:
        # No defaults: conf/data/synthetic.yaml owns them (a second set here had drifted).
        # Checked before the clip length is derived from them.
        check_data_config({"seconds": seconds, "clips_per_class": clips_per_class, **kwargs})
        if kwargs.get("class_names") is None:  # the styles, in label order
            kwargs["class_names"] = [s.name for s in STYLES]
        if kwargs.get("clip_samples") is None:  # the generated length, decoded at the data rate
            rate = kwargs.get("sample_rate", SAMPLE_RATE)
            kwargs["clip_samples"] = seconds_to_samples(seconds, rate)
        super().__init__(root=root, **kwargs)
        self.clips_per_class, self.seconds, self.seed = clips_per_class, seconds, seed

    def check_data_found(self) -> None:
        """Nothing to check: the set is generated (by :meth:`prepare_data`) as it should be."""

    def dataset_root(self) -> Path:
        """Generate the set if needed and return its folder."""
        return ensure_synthetic_dataset(
            self.root, clips_per_class=self.clips_per_class, seconds=self.seconds, seed=self.seed
        )
