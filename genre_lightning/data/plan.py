"""The per-part plan: how each part of the split cuts its windows, where its mel images come from.

It is decided once, from the settings alone, when the data module is built; the datasets, the
loaders and :class:`~genre_lightning.data.batches.BatchFeatures` follow it instead of working
it out again. Where a part's mel images come from:

* :attr:`Source.LOADER`: the DataLoader carries each window's int16 samples (the default when
  windows are drawn at random);
* :attr:`Source.DEVICE` (``data.on_device``): the whole int16 waveform array sits on the device
  once and batches only carry where their windows are, so nothing but indices crosses the bus;
* :attr:`Source.TABLE` (``data.cache_features``): every access of an item yields the same
  window, so its mel image is computed once, on the device, and looked up afterwards.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from genre_lightning.data.splits import PARTS
from genre_lightning.errors import UserError

#: Values of ``data.cache_features``.
CACHE_FEATURES = ("auto", True, False)
#: Values of ``data.train_chunks``: random chunks drawn anew every epoch, or every chunk.
TRAIN_CHUNKS = ("random", "all")


class Source(enum.Enum):
    """Where the mel images of a part come from."""

    LOADER = "samples from the DataLoader"
    DEVICE = "waveforms on the device"
    TABLE = "features table"


@dataclass(frozen=True)
class PartPlan:
    """How one part of the split is served.

    Attributes:
        crop: Where a window sits in a longer clip: ``start``, ``centre`` or ``random``.
        chunks: ``None`` (one window per track), ``"random"`` (random chunks, drawn anew every
            epoch) or ``"all"`` (every chunk of each track, in order).
        source: Where the part's mel images come from.
        hop: Samples between consecutive windows of ``chunks="all"``; ``None``: one window
            (no overlap).
    """

    crop: str
    chunks: str | None
    source: Source
    hop: int | None = None

    @property
    def fixed_windows(self) -> bool:
        """Whether every access of an item returns the same window (no random offsets)."""
        return self.crop != "random" and self.chunks != "random"

    @property
    def carries_samples(self) -> bool:
        """Whether the part's batches carry samples (else only where their windows are)."""
        return self.source is Source.LOADER


@dataclass(frozen=True)
class Plan:
    """The plan of every part, and whether the waveform array is copied to the device.

    Attributes:
        parts: The plan of each part, by name.
        on_device: The whole int16 array goes to the device once: :attr:`Source.DEVICE` parts
            gather their windows there, and features tables are computed from it.
    """

    parts: Mapping[str, PartPlan]
    on_device: bool

    def __getitem__(self, part: str) -> PartPlan:
        return self.parts[part]

    @property
    def tables(self) -> set[str]:
        """Parts whose mel images are computed once and looked up afterwards."""
        return {p for p, plan in self.parts.items() if plan.source is Source.TABLE}

    def describe(self) -> str:
        """One phrase for the log: where mel images come from."""
        tables = sorted(self.tables)
        if not tables:
            return "per batch"
        rest = ", per batch for the rest" if len(tables) < len(self.parts) else ""
        return f"computed once for {', '.join(tables)}{rest}"


def make_plan(
    crop: str,
    chunked: bool,
    on_device: bool,
    cache_features: bool | str,
    train_chunks: str = "random",
    train_hop: int | None = None,
) -> Plan:
    """Decide how every part is served.

    Training uses ``crop`` and, with ``chunked``, ``train_chunks`` (random chunks, or every
    chunk of each track); validation and test always see fixed windows (the centre of a clip
    for ``crop=random``; every chunk when chunked).

    Args:
        crop: ``data.crop``.
        chunked: Whether ``data.chunk_seconds`` is set.
        on_device: ``data.on_device``.
        cache_features: ``data.cache_features``: ``auto`` (a table for every part with fixed
            windows), ``True`` (the same, and the training part must have one), ``False``.
        train_chunks: ``data.train_chunks``: ``random`` or ``all``.
        train_hop: Samples between the training part's chunks when it takes every chunk
            (``data.train_hop_seconds``; :mod:`.config` refuses it otherwise); ``None``: a
            chunk, no overlap.

    Raises:
        UserError: ``cache_features=True`` while the training part draws random windows.
    """
    parts = {}
    for part in PARTS:
        training = part == "train"
        part_crop = crop if training or crop != "random" else "centre"
        chunks = (train_chunks if training else "all") if chunked else None
        fixed = PartPlan(part_crop, chunks, Source.LOADER).fixed_windows
        if cache_features in (True, "auto") and fixed:
            source = Source.TABLE
        else:
            source = Source.DEVICE if on_device else Source.LOADER
        hop = train_hop if training and chunks == "all" else None
        parts[part] = PartPlan(part_crop, chunks, source, hop)
    if cache_features is True and parts["train"].source is not Source.TABLE:
        raise UserError(
            "data.cache_features=true, but the training part draws a new window every "
            "time (data.crop=random, or data.chunk_seconds with data.train_chunks=random): its "
            "mel images cannot be computed once. Use data.train_chunks=all (every chunk), "
            "data.cache_features=auto (tables for validation and test only) or false."
        )
    return Plan(parts, on_device)
