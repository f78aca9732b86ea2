"""Features of a frozen network, computed once per item and looked up in later epochs.

A linear probe on a pretrained network trains only its head: as long as an item's input is the
same every time (fixed windows, no augmentation before the network) and the network is frozen,
its features are too. Computing them once turns musicnn's ~0.05 CPU-s per 3 s patch and epoch
into one pass over the data, after which an epoch costs what the head costs. With a store
(:mod:`~genre_lightning.training.embedding_store`), that pass reads what earlier runs computed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genre_lightning.training.embedding_store import (
    KEEP,
    EmbeddingStore,
    encoder_digest,
    input_keys,
    prune_stores,
)

log = logging.getLogger(__name__)

#: Queued features written to the store as soon as this many are computed (besides the ends of
#: epochs and of predict).
FLUSH_ROWS = 4096

#: What a frozen encoder's features depend on besides its input: its state (names to tensors)
#: and its other settings (JSON-able), e.g. which layers are read.
EncoderIdentity = Callable[[], tuple[dict[str, torch.Tensor], dict[str, Any]]]


class EmbeddingCache:
    """Per-part tables of features, filled as items are first seen.

    Args:
        store_root: Folder of the stores of features kept between runs (one sub-folder per
            encoder); ``None``: this run only.
        identity: The encoder's identity, asked once, at the first item not yet seen (so a
            checkpoint's weights loaded after construction are the ones named).
        keep: Encoder folders kept under ``store_root``, the most recently used (this run's
            among them); ``None``: all.
    """

    def __init__(
        self,
        store_root: Path | None = None,
        identity: EncoderIdentity | None = None,
        keep: int | None = KEEP,
    ) -> None:
        self.tables: dict[str, torch.Tensor] = {}
        self.known: dict[str, torch.Tensor] = {}
        self.store_root = store_root
        self.identity = identity
        self.keep = keep
        self.store: EmbeddingStore | None = None
        self.writable = True

    def __call__(
        self,
        part: str,
        items: torch.Tensor,
        inputs: torch.Tensor,
        encode: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """Features (B, D) of ``inputs`` (B, ...), items ``items`` (B,) of ``part``.

        Only the items not seen before are encoded (without gradients).
        """
        items = items.to(inputs.device).long()
        self._grow(part, int(items.max()) + 1, inputs.device)
        missing = ~self.known[part][items]
        if bool(missing.any()):
            features = self.features(inputs[missing], encode)
            table = self.tables.get(part)
            if table is None or table.shape[1] != features.shape[1]:
                table = features.new_zeros(len(self.known[part]), features.shape[1])
            table[items[missing]] = features
            self.tables[part] = table
            self.known[part][items[missing]] = True
        return self.tables[part][items]

    def _grow(self, part: str, size: int, device: torch.device) -> None:
        known = self.known.get(part)
        if known is None:
            known = torch.zeros(0, dtype=torch.bool, device=device)
        if len(known) >= size:
            return
        extra = size - len(known)
        self.known[part] = torch.cat([known, known.new_zeros(extra)])
        table = self.tables.get(part)
        if table is not None:
            self.tables[part] = torch.cat([table, table.new_zeros(extra, table.shape[1])])

    def features(
        self, inputs: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """Features (B, D) of ``inputs`` (B, ...), whatever their item: read from the store where
        it has them, else encoded (without gradients) and queued for the store. Inputs without
        an item number (predict's windows) are looked up this way alone."""
        store = self._store(inputs)
        if store is None:
            with torch.no_grad():
                return encode(inputs).float()
        keys = input_keys(inputs)
        found, stored = store.lookup(keys)
        parts = [(found, torch.from_numpy(stored).to(inputs.device))] if found else []
        todo = sorted(set(range(len(keys))) - set(found))
        if todo:
            with torch.no_grad():
                computed = encode(inputs[todo]).float()
            if self.writable:
                store.add([keys[i] for i in todo], computed)
                if store.pending >= FLUSH_ROWS:  # a long pass keeps most of its work if killed
                    self.flush()
            parts.append((todo, computed))
        features = parts[0][1].new_empty(len(keys), parts[0][1].shape[1])
        for rows, values in parts:
            features[rows] = values
        return features

    def _store(self, inputs: torch.Tensor) -> EmbeddingStore | None:
        if self.store is None and self.store_root is not None and self.identity is not None:
            weights, setting = self.identity()
            self.store = EmbeddingStore(self.store_root / encoder_digest(weights, setting, inputs))
            if self.keep is not None:
                prune_stores(self.store_root, self.keep, self.store.folder)
        return self.store

    def flush(self) -> None:
        """Write the features computed since the last flush to the store, and log how many
        were read from it and written. A store that cannot be written is kept for reading,
        with one warning."""
        if self.store is None:
            return
        if self.writable:
            try:
                self.store.flush()
            except OSError as exc:
                self.writable = False
                log.warning(
                    "the embedding cache %s cannot be written (%s): features are kept for this "
                    "run only; set module.embedding_cache_dir (or GENRE_LIGHTNING_CACHE) to a "
                    "writable folder to keep them",
                    self.store.folder,
                    exc.strerror or exc,
                )
        read, written = self.store.report()
        if read or written:
            log.info(
                "embedding cache %s: features of %d chunks read, %d computed and stored",
                self.store.folder,
                read,
                written,
            )

    def clear(self) -> None:
        """Forget every table (e.g. when the network changed)."""
        self.tables.clear()
        self.known.clear()
        self.store = None
