"""A frozen network's features kept on disk, so that later runs read them instead.

:class:`~genre_lightning.training.embeddings.EmbeddingCache` computes each chunk's features once
per run. The jobs of a sweep, the folds of a cross-validation, a rerun with another weight decay
and an ``evaluate`` of the checkpoint all show the same chunks to the same frozen network, and
on CPU that network is most of a probe's time (musicnn: ~0.05 CPU-s per 3 s chunk, ~8 min for
GTZAN's 1000 clips). The store keeps every chunk's features under

- a folder named by a digest of all the features depend on besides the input (the frozen
  weights, the layers read, the input's shape and dtype, the device type, autocast and matmul
  precision, the torch version),
- a key that is a digest of the network's exact input (the chunk's log-mel patch, bytes).

A hit is therefore exact: a changed clip, split, feature setting or network is a miss and is
computed, never answered with another input's features.

Encoder folders multiply (another layer, a new torch version, a new precision): beyond the
:data:`KEEP` most recently used, older ones are removed when a run opens its store, and the log
says so. A folder used within :data:`IN_USE_SECONDS` is never removed, since a concurrent run
(a sweep job) may be reading it.

Each flush writes a file of its own (under a temporary name, then renamed), so concurrent
writers (sweep jobs, DDP ranks) never share a file; a reader that finds many files merges them
into one. Files are read with ``allow_pickle=False``: a planted file is data or an error, never
code. A file that cannot be read is removed with a warning naming it (it only costs the
features being computed again).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genre_lightning.data.cache_dir import mark_used
from genre_lightning.files import atomic_write
from genre_lightning.temp_files import remove_stale_temps
from genre_lightning.userdirs import user_cache_dir

log = logging.getLogger(__name__)

#: Bump when what a stored feature means changes (its key scheme or its layout).
STORE_VERSION = 1
#: Bytes of a chunk's key (BLAKE2b digest of its input).
KEY_BYTES = 16
#: A reader that finds more files than this writes their rows as one file and removes them.
MERGE_AT = 16
#: File name pattern of one flush: ``features-<random>.npz``.
_SUFFIX = ".npz"
#: Encoder folders kept under a store root by default (``module.embedding_cache_keep``).
KEEP = 8
#: A folder used (read, written) this recently is never removed by :func:`prune_stores`.
IN_USE_SECONDS = 3600
#: An encoder folder's name: :func:`encoder_digest`'s 24 hex digits (nothing else is removed).
_FOLDER_NAME = re.compile(r"[0-9a-f]{24}")


def default_store_root() -> Path:
    """Where features are stored when ``module.embedding_cache_dir`` is not set."""
    return user_cache_dir() / "embeddings"


def input_keys(inputs: torch.Tensor) -> list[bytes]:
    """The key of each input row (B, ...): a digest of its bytes."""
    rows = inputs.detach().to("cpu").contiguous().numpy()
    return [hashlib.blake2b(memoryview(row), digest_size=KEY_BYTES).digest() for row in rows]


def encoder_digest(
    weights: dict[str, torch.Tensor], setting: dict[str, object], inputs: torch.Tensor
) -> str:
    """Name of the folder of one frozen encoder's features.

    Called where the features are computed: the arithmetic in force there (autocast, e.g.
    ``trainer.precision=bf16-mixed``, and float32 matmul precision) changes the features, so it
    is part of the name.

    Args:
        weights: The encoder's state (names to tensors): its frozen weights and statistics.
        setting: What else its output depends on (e.g. which layers are read), JSON-able.
        inputs: A batch of its inputs (B, ...): their per-item shape, dtype and device type.
    """
    h = hashlib.sha256()
    device = inputs.device.type
    autocast = torch.is_autocast_enabled(device) and str(torch.get_autocast_dtype(device))
    described = {
        "version": STORE_VERSION,
        "setting": setting,
        "input": [list(inputs.shape[1:]), str(inputs.dtype), device],
        "arithmetic": [autocast or None, torch.get_float32_matmul_precision()],
        "torch": torch.__version__.split("+")[0],
    }
    h.update(json.dumps(described, sort_keys=True).encode())
    for name in sorted(weights):
        tensor = weights[name].detach().to("cpu").contiguous()
        h.update(f"|{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


def prune_stores(root: Path, keep: int, current: Path) -> list[Path]:
    """Remove the least recently used encoder folders under ``root`` beyond ``keep``.

    ``current`` (the run's own folder, which may not exist yet) counts as one of the ``keep``
    and is never removed; nor is a folder used within :data:`IN_USE_SECONDS`. Recency is the
    folder's modification time, which each run's first read and each flush set.

    Returns:
        The folders removed.
    """
    try:
        entries = [p for p in root.iterdir() if _FOLDER_NAME.fullmatch(p.name) and p != current]
        used = sorted(((p.stat().st_mtime, p) for p in entries if p.is_dir()), reverse=True)
    except OSError:
        return []  # no store yet, or an unreadable one: nothing to prune
    removed = []
    for stamp, folder in used[max(keep - 1, 0) :]:
        if time.time() - stamp < IN_USE_SECONDS:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
            log.info(
                "removed the stored features %s (last used %s): module.embedding_cache_keep "
                "keeps the %d most recently used networks' features",
                folder,
                time.strftime("%Y-%m-%d", time.localtime(stamp)),
                keep,
            )
    return removed


class EmbeddingStore:
    """The stored features of one frozen encoder (one folder).

    Args:
        folder: The encoder's folder (created on the first flush).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._rows: dict[bytes, int] | None = None  # key -> row of self._table
        self._table = np.zeros((0, 0), dtype=np.float32)
        self._files: list[Path] = []  # the files self._table was read from
        self._pending_keys: list[bytes] = []
        self._pending: list[np.ndarray] = []
        self.read = 0  # rows answered from disk since the last report
        self.written = 0  # rows flushed since the last report

    def lookup(self, keys: Sequence[bytes]) -> tuple[list[int], np.ndarray]:
        """The stored features of ``keys``.

        Returns:
            The positions in ``keys`` that were found, and their features (found, D).
        """
        rows = self._load()
        found = [i for i, key in enumerate(keys) if key in rows]
        self.read += len(found)
        return found, self._table[[rows[keys[i]] for i in found]]

    def add(self, keys: Sequence[bytes], features: torch.Tensor) -> None:
        """Queue new features (len(keys), D) for the next :meth:`flush`."""
        self._pending_keys.extend(keys)
        self._pending.append(features.detach().to("cpu", torch.float32).numpy())

    @property
    def pending(self) -> int:
        """Features queued for the next :meth:`flush`."""
        return len(self._pending_keys)

    def flush(self) -> None:
        """Write the queued features as a file of their own (nothing when none are queued).

        Raises:
            OSError: The folder cannot be written.
        """
        if not self._pending_keys:
            return
        pending_keys, features = self._pending_keys, np.concatenate(self._pending)
        self._pending_keys, self._pending = [], []  # written now, or not at all
        self._load()
        if len(self._table) and self._table.shape[1] != features.shape[1]:
            # Not this encoder's features, whatever wrote them: they would never be read right.
            width = f"{self._table.shape[1]} features per row, the encoder computes "
            for path in self._files:
                _discard(path, width + str(features.shape[1]))
            self._rows, self._table, self._files = {}, np.zeros((0, 0), np.float32), []
        # Not added to the table read at the start: what a run computes it does not ask for
        # again (training keeps its own per-item tables), and a predict over a large library
        # would otherwise hold all of it in memory.
        keys = np.frombuffer(b"".join(pending_keys), dtype=np.uint8).reshape(-1, KEY_BYTES)
        self._write(keys, features)
        self.written += len(pending_keys)

    def _write(self, keys: np.ndarray, features: np.ndarray) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"features-{secrets.token_hex(8)}{_SUFFIX}"
        with atomic_write(path, "wb") as f:
            np.savez(f, keys=keys, features=features)
        mark_used(self.folder)
        return path

    def _remember(
        self, rows: dict[bytes, int], keys: Sequence[bytes], features: np.ndarray
    ) -> None:
        """Add a file's rows to the table read at the start (a key seen before keeps its row)."""
        if self._table.shape[0] == 0:
            self._table = np.zeros((0, features.shape[1]), dtype=np.float32)
        start = len(self._table)
        fresh = [i for i, key in enumerate(keys) if key not in rows]
        self._table = np.concatenate([self._table, features[fresh]])
        for n, i in enumerate(fresh):
            rows[keys[i]] = start + n

    def _load(self) -> dict[bytes, int]:
        """Read every file of the folder once (merging them when there are many)."""
        if self._rows is not None:
            return self._rows
        self._rows = {}
        files: list[Path] = []
        if self.folder.is_dir():
            mark_used(self.folder)  # for prune_stores: this folder is in use
            remove_stale_temps(self.folder)
            files = sorted(self.folder.glob(f"features-*{_SUFFIX}"))
        read: list[Path] = []
        for path in files:
            part = _read(path)
            if part is None:
                continue
            keys, features = part
            if self._table.shape[0] and features.shape[1] != self._table.shape[1]:
                _discard(
                    path,
                    f"{features.shape[1]} features per row, others have {self._table.shape[1]}",
                )
                continue
            self._remember(self._rows, [bytes(k) for k in keys], features)
            read.append(path)
        self._files = read
        if len(read) > MERGE_AT:
            self._merge(read)
        return self._rows

    def _merge(self, files: list[Path]) -> None:
        keys = np.zeros((len(self._rows or {}), KEY_BYTES), dtype=np.uint8)
        for key, row in (self._rows or {}).items():
            keys[row] = np.frombuffer(key, dtype=np.uint8)
        try:
            self._files = [self._write(keys, self._table)]
        except OSError:
            return  # a read-only store still serves its files
        for path in files:  # a concurrent reader that misses one computes its rows again
            with contextlib.suppress(OSError):
                path.unlink()

    def report(self) -> tuple[int, int]:
        """Rows read from disk and rows written since the last report."""
        counts = (self.read, self.written)
        self.read = self.written = 0
        return counts


def _read(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A file's keys (N, KEY_BYTES) and features (N, D); ``None`` (and the file removed) when
    it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, features = data["keys"], data["features"]
    except FileNotFoundError:
        return None  # merged away by a concurrent reader
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        _discard(path, f"unreadable ({exc})")
        return None
    if (
        keys.dtype != np.uint8
        or keys.ndim != 2
        or keys.shape[1] != KEY_BYTES
        or features.dtype != np.float32
        or features.ndim != 2
        or len(features) != len(keys)
    ):
        _discard(path, f"not a table of features (keys {keys.shape}, features {features.shape})")
        return None
    return keys, features


def _discard(path: Path, reason: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:  # another run removed it first
        pass
    except OSError as exc:  # a folder by that name, a read-only cache: said as it is
        log.warning(
            "cannot remove %s from the embedding cache (%s: %s); its rows are computed each run "
            "until it is removed",
            path,
            reason,
            exc.strerror,
        )
        return
    log.warning(
        "removed %s from the embedding cache: %s; its rows are computed again", path, reason
    )
