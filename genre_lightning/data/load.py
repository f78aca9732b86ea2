"""Loading a dataset: index its folders, check its classes, and decode it (or hit the cache)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genre_lightning.data.cache import WaveformCache, load_or_build
from genre_lightning.data.cache_dir import default_cache_dir
from genre_lightning.data.index import Clip, index_clips
from genre_lightning.errors import UserError


@dataclass(frozen=True)
class LoadedData:
    """An indexed and decoded dataset.

    Attributes:
        root: The folder that was indexed.
        clips: Every audio file found, with its label.
        class_names: Genre names in label order.
        cache: The decoded waveforms of the clips that could be used (``cache.kept``).
    """

    root: Path
    clips: list[Clip]
    class_names: list[str]
    cache: WaveformCache

    @property
    def kept_clips(self) -> list[Clip]:
        """The clips of the cache's rows, in row order."""
        return [self.clips[i] for i in self.cache.kept]


def index_classes(
    root: Path, class_names: Sequence[str] | None, num_classes: int | None
) -> tuple[list[Clip], list[str]]:
    """List ``root``'s clips (nothing decoded) and check its classes against the settings.

    Args:
        root: The folder holding the genre folders.
        class_names: Genre folders in label order; ``None`` takes every sub-folder, sorted.
        num_classes: Expected number of classes, or ``None``.

    Returns:
        The clips and the class names, as :func:`~genre_lightning.data.index.index_clips`.

    Raises:
        UserError: No audio, fewer than two genres, or a class count that differs from
            ``num_classes``.
    """
    clips, names = index_clips(root, list(class_names) if class_names is not None else None)
    if num_classes is not None and num_classes != len(names):
        raise UserError(
            f"data.num_classes={num_classes} but the data has "
            f"{len(names)} classes ({', '.join(names)}); "
            f"set data.num_classes={len(names)}."
        )
    return clips, names


def load_data(
    root: Path,
    class_names: Sequence[str] | None,
    num_classes: int | None,
    cache_dir: str | Path | None,
    sample_rate: int,
    num_samples: int,
    keep: int | None,
    indexed: tuple[list[Clip], list[str]] | None = None,
) -> LoadedData:
    """Index ``root``, check its classes and return its decoded waveforms.

    Args:
        root: The folder holding the genre folders (any layout of
            :data:`~genre_lightning.data.index.LAYOUTS`).
        class_names: Genre folders in label order; ``None`` takes every sub-folder, sorted.
        num_classes: Expected number of classes, or ``None``.
        cache_dir: The cache folder; ``None`` is the root's folder in the user cache.
        sample_rate: Decode rate.
        num_samples: Samples cached per clip.
        keep: Caches of this root kept in the cache folder (``None``: all).
        indexed: What :func:`index_classes` returned for these settings, where it was
            called already: the listing is not repeated (nor its warnings).

    Raises:
        UserError: No audio, a class count that differs from ``num_classes``, a class none
            of whose files decode, or no writable cache folder.
    """
    clips, names = indexed or index_classes(root, class_names, num_classes)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir(root)
    cache = load_or_build(clips, folder, sample_rate, num_samples, root=root, keep=keep)
    labels = {clips[i].label for i in cache.kept}
    listed = {clip.label for clip in clips}  # evaluate lists only the genres it scores
    for label, name in enumerate(names):
        if label in listed and label not in labels:
            # Its files at any depth of its folder (Artist/Album/...), as the index dealt them.
            bad = [
                f"{c.folders}/{c.path.name}" if c.folders else c.path.name
                for c in clips
                if c.label == label
            ]
            raise UserError(
                f"genre '{name}' has no usable clip: all {len(bad)} of its files failed to "
                f"decode ({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}). Replace "
                f"them, or leave the genre out of data.class_names."
            )
    return LoadedData(root, clips, names, cache)
