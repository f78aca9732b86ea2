"""Reading TensorFlow 1 checkpoints (tensor bundles) without TensorFlow.

A checkpoint written by ``tf.compat.v1.train.Saver`` is a *prefix* with files beside it:

- ``PREFIX.index``: a LevelDB-format table (uncompressed blocks, each followed by a type byte
  and a masked CRC-32C). Its keys are variable names, its values ``BundleEntryProto`` messages:
  dtype (field 1), shape (2), shard (3), offset (4), size (5), CRC-32C of the bytes (6, masked).
  The empty key holds the ``BundleHeaderProto``: number of shards (1), endianness (2).
- ``PREFIX.data-SSSSS-of-NNNNN``: the raw tensor bytes of each shard.

The index is decoded by hand (:mod:`~genre_lightning.pretrained.bundle_index`), so neither
TensorFlow nor the protobuf package is needed. Only what plain checkpoints hold is supported:
whole (unsliced) float32 tensors in little-endian order. A prefix that is a folder (musicnn
saves ``MSD_musicnn/``) names the files ``MSD_musicnn/.index`` and
``MSD_musicnn/.data-00000-of-00001``, as TF does.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

from genre_lightning.errors import UserError
from genre_lightning.pretrained.bundle_index import IndexFormatError, TensorEntry, parse_index
from genre_lightning.pretrained.crc32c import crc32c

_FLOAT32 = 1
_DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 7: "string", 9: "int64"}
#: Name endings of Adam's training state, saved beside the weights but not part of the model.
_OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1", "beta1_power", "beta2_power")


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, corrupt or of an unsupported kind."""


def is_model_variable(name: str) -> bool:
    """Whether ``name`` is a weight of the model rather than optimizer state (Adam's moments)."""
    return not name.endswith(_OPTIMIZER_SUFFIXES)


def index_path(prefix: str | os.PathLike[str]) -> Path:
    """The ``.index`` file of a checkpoint prefix (``folder/.index`` for a folder prefix)."""
    return Path(_prefix_text(prefix) + ".index")


def data_path(prefix: str | os.PathLike[str], shard: int = 0, num_shards: int = 1) -> Path:
    """The data file of one shard, e.g. ``PREFIX.data-00000-of-00001``."""
    return Path(f"{_prefix_text(prefix)}.data-{shard:05d}-of-{num_shards:05d}")


def list_checkpoint(prefix: str | os.PathLike[str]) -> dict[str, TensorEntry]:
    """Read the index of a checkpoint: every tensor it holds (optimizer state included).

    Args:
        prefix: The checkpoint prefix (what ``Saver.save`` returned), or its folder.

    Returns:
        Entries by variable name, in the index's (sorted) order.

    Raises:
        CheckpointError: The index is missing, truncated or corrupt.
    """
    return _read_index(prefix)[1]


def read_checkpoint(prefix: str | os.PathLike[str], verify: bool = True) -> dict[str, np.ndarray]:
    """Read the model variables of a checkpoint (optimizer state is skipped).

    Args:
        prefix: The checkpoint prefix (what ``Saver.save`` returned), or its folder.
        verify: Check every tensor's stored CRC-32C (~15 ms per MB; see ``crc32c``).

    Returns:
        float32 arrays by variable name, in TensorFlow's layout (conv kernels are
        ``[height, width, in, out]``, dense kernels ``[in, out]``).

    Raises:
        CheckpointError: A file is missing, truncated or corrupt, a checksum does not match,
            or a tensor is not float32.
    """
    num_shards, entries = _read_index(prefix)
    index = index_path(prefix)
    wanted = sorted(
        (e for e in entries.values() if is_model_variable(e.name)), key=lambda e: e.offset
    )
    for entry in wanted:
        if entry.dtype != _FLOAT32:
            dtype = _DTYPE_NAMES.get(entry.dtype, f"DataType {entry.dtype}")
            raise CheckpointError(
                f"{index}: variable {entry.name} is {dtype}; only float32 tensors are supported"
            )
        if entry.size != 4 * math.prod(entry.shape):
            raise CheckpointError(
                f"{index}: variable {entry.name} of shape {list(entry.shape)} has {entry.size} "
                f"bytes, not {4 * math.prod(entry.shape)}"
            )
        if not 0 <= entry.shard < num_shards:
            raise CheckpointError(
                f"{index}: variable {entry.name} is in shard {entry.shard} of {num_shards}"
            )
    arrays: dict[str, np.ndarray] = {}
    for shard in sorted({e.shard for e in wanted}):
        path = data_path(prefix, shard, num_shards)
        try:
            with open(path, "rb") as f:
                file_size = os.fstat(f.fileno()).st_size
                for entry in (e for e in wanted if e.shard == shard):
                    end = entry.offset + entry.size
                    if end > file_size:
                        raise CheckpointError(
                            f"{path}: variable {entry.name} needs bytes {entry.offset}..{end} "
                            f"but the file has {file_size} (truncated?)"
                        )
                    f.seek(entry.offset)
                    raw = f.read(entry.size)
                    if verify and entry.crc32c is not None and crc32c(raw) != entry.crc32c:
                        raise CheckpointError(
                            f"{path}: checksum mismatch in variable {entry.name} (file corrupt)"
                        )
                    array = np.frombuffer(raw, dtype="<f4").reshape(entry.shape)
                    arrays[entry.name] = array.astype(np.float32)  # native order, writable
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read checkpoint data ({exc.strerror})") from exc
    return {name: arrays[name] for name in sorted(arrays)}


def _prefix_text(prefix: str | os.PathLike[str]) -> str:
    text = os.fspath(prefix)
    if os.path.isdir(text) and not text.endswith(os.sep):
        text += os.sep  # a folder prefix: the files are named ".index" etc. inside it
    return text


def _read_index(prefix: str | os.PathLike[str]) -> tuple[int, dict[str, TensorEntry]]:
    """Return (number of data shards, entries by name)."""
    path = index_path(prefix)
    try:
        table = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint index ({exc.strerror})") from exc
    try:
        return parse_index(table)
    except (IndexFormatError, struct.error) as exc:
        raise CheckpointError(f"{path}: not a valid TensorFlow checkpoint index ({exc})") from exc
