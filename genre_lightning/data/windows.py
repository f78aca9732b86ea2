"""Window arithmetic: how many samples a network input, a cached clip and a chunk draw hold.

Kept free of Lightning and torch so inference and the config checks can use it cheaply.
"""

from __future__ import annotations

#: Values of ``data.crop``: where the window a network reads sits in a longer file: at its
#: start, its centre, or a place drawn anew every epoch (see ``dataset.GenreDataset``).
CROPS = ("start", "centre", "random")


def window_samples(clip_samples: int, chunk_seconds: float | None, sample_rate: int) -> int:
    """Samples per network input: the whole clip, or one ``chunk_seconds`` chunk of it.

    Args:
        clip_samples: Samples per clip (``data.clip_samples``).
        chunk_seconds: Chunk length in seconds, or ``None`` for whole clips.
        sample_rate: Decode rate.
    """
    if chunk_seconds is None:
        return int(clip_samples)
    return min(int(clip_samples), round(chunk_seconds * sample_rate))


def hop_samples(hop_seconds: float | None, sample_rate: int) -> int | None:
    """Samples between consecutive fixed training chunks (``None``: no overlap)."""
    return None if hop_seconds is None else max(1, round(hop_seconds * sample_rate))


def stored_samples(crop: str, clip_samples: int, max_seconds: float, sample_rate: int) -> int:
    """Samples cached per clip: the window itself, or more to choose a window from.

    Args:
        crop: ``start`` caches exactly the clip; ``centre`` and ``random`` need the file's
            middle or any part of it, so up to ``max_seconds`` are kept.
        clip_samples: Samples per clip.
        max_seconds: Longest stretch of a file kept for ``centre``/``random``.
        sample_rate: Decode rate.
    """
    if crop == "start":
        return int(clip_samples)
    return max(int(clip_samples), round(max_seconds * sample_rate))


def draws_per_track(clip_samples: int, window: int) -> int:
    """Random chunks drawn per track and training epoch: as many as the clip holds."""
    return max(1, int(clip_samples) // window)
