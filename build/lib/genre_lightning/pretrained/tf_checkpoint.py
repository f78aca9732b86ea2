"""Reading TensorFlow 1 checkpoints (tensor bundles) without TensorFlow.

A checkpoint written by ``tf.compat.v1.train.Saver`` is a *prefix* with files beside it:

- ``PREFIX.index``: a LevelDB-format table (uncompressed blocks, each followed by a type byte
  and a masked CRC-32C). Its keys are variable names, its values ``BundleEntryProto`` messages:
  dtype (field 1), shape (2), shard (3), offset (4), size (5), CRC-32C of the bytes (6, masked).
  The empty key holds the ``BundleHeaderProto``: number of shards (1), endianness (2).
- ``PREFIX.data-SSSSS-of-NNNNN``: the raw tensor bytes of each shard.

The few protobuf fields needed are decoded by hand, so neither TensorFlow nor the protobuf
package is needed. Only what plain checkpoints hold is supported: whole (unsliced) float32
tensors in little-endian order. A prefix that is a folder (musicnn saves ``MSD_musicnn/``)
names the files ``MSD_musicnn/.index`` and ``MSD_musicnn/.data-00000-of-00001``, as TF does.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_lightning.errors import UserError
from genre_lightning.pretrained.crc32c import crc32c, mask

_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_TRAILER_BYTES = 5  # block type (0 = uncompressed) + masked CRC-32C
_FLOAT32 = 1
_DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 7: "string", 9: "int64"}
#: Name endings of Adam's training state, saved beside the weights but not part of the model.
_OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1", "beta1_power", "beta2_power")


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, corrupt or of an unsupported kind."""


class _Corrupt(ValueError):
    """Internal: a format problem; turned into a CheckpointError naming the file."""


@dataclass(frozen=True)
class TensorEntry:
    """Where a tensor lies in the data files, as the index describes it.

    Attributes:
        name: Variable name, e.g. ``model/conv2d/kernel``.
        dtype: TensorFlow ``DataType`` number (1 = float32).
        shape: Tensor shape.
        shard: Index of the data file holding the bytes.
        offset: First byte in that file.
        size: Number of bytes.
        crc32c: Unmasked CRC-32C of the bytes, or ``None`` where none is stored.
    """

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int | None


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
        num_shards, entries = 1, {}
        for key, value in _table_entries(table):
            if key == b"":
                num_shards = _header(value)
            else:
                name = key.decode("utf-8", errors="replace")
                entries[name] = _entry(name, value)
    except (_Corrupt, struct.error) as exc:
        raise CheckpointError(f"{path}: not a valid TensorFlow checkpoint index ({exc})") from exc
    return num_shards, entries


def _table_entries(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB table, in order."""
    if len(table) < _FOOTER_BYTES:
        raise _Corrupt(f"{len(table)} bytes is shorter than the {_FOOTER_BYTES}-byte footer")
    (magic,) = struct.unpack_from("<Q", table, len(table) - 8)
    if magic != _MAGIC:
        raise _Corrupt(f"bad magic number {magic:#018x} (truncated or not an index)")
    footer = table[-_FOOTER_BYTES:]
    _, pos = _varint(footer, 0)  # metaindex handle: unused (no filters)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    for _, handle in _block_entries(_block(table, index_offset, index_size)):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        yield from _block_entries(_block(table, offset, size))


def _block(table: bytes, offset: int, size: int) -> bytes:
    """The checked contents of the block at ``offset``."""
    end = offset + size
    if end + _TRAILER_BYTES > len(table) - _FOOTER_BYTES:
        raise _Corrupt(f"block at {offset}..{end} lies past the end of the table")
    contents, kind = table[offset:end], table[end]
    if kind != 0:
        raise _Corrupt(f"compressed block (type {kind}) is not supported")
    (stored,) = struct.unpack_from("<I", table, end + 1)
    if stored != mask(crc32c(table[offset : end + 1])):
        raise _Corrupt(f"checksum mismatch in the block at {offset}")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Decode a block: prefix-compressed entries, then restart offsets and their count."""
    if len(block) < 4:
        raise _Corrupt("block shorter than its restart count")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise _Corrupt(f"block of {len(block)} bytes cannot hold {restarts} restart offsets")
    key, pos = b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_size, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_size > limit:
            raise _Corrupt("block entry runs past its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_size]
        pos += value_size


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise _Corrupt("varint runs past the end of its buffer")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Corrupt("varint longer than 10 bytes")


def _fields(message: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Decode a protobuf message into (field number, value) pairs."""
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        field, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 1:
            (value,) = struct.unpack_from("<Q", message, pos)
            pos += 8
        elif wire == 2:
            size, pos = _varint(message, pos)
            value = message[pos : pos + size]
            pos += size
        elif wire == 5:
            (value,) = struct.unpack_from("<I", message, pos)
            pos += 4
        else:
            raise _Corrupt(f"protobuf wire type {wire} is not supported")
        if pos > len(message):
            raise _Corrupt("protobuf field runs past its message")
        yield field, value


def _header(message: bytes) -> int:
    """Check a BundleHeaderProto; return its number of shards."""
    num_shards = 1
    for field, value in _fields(message):
        if field == 1 and isinstance(value, int):
            num_shards = value
        elif field == 2 and value != 0:
            raise _Corrupt("big-endian checkpoints are not supported")
    return num_shards


def _entry(name: str, message: bytes) -> TensorEntry:
    """Decode a BundleEntryProto."""
    ints = {1: 0, 3: 0, 4: 0, 5: 0}
    shape: tuple[int, ...] = ()
    crc: int | None = None
    for field, value in _fields(message):
        if isinstance(value, int) and field in ints:
            ints[field] = value
        elif field == 2 and isinstance(value, bytes):
            shape = _shape(value)
        elif field == 6 and isinstance(value, int):
            crc = _unmask(value)
        elif field == 7:
            raise _Corrupt(f"variable {name} is saved in slices, which is not supported")
    return TensorEntry(name, ints[1], shape, ints[3], ints[4], ints[5], crc)


def _shape(message: bytes) -> tuple[int, ...]:
    """Decode a TensorShapeProto: repeated ``dim`` (field 2), each with ``size`` (field 1)."""
    dims = []
    for field, value in _fields(message):
        if field == 2 and isinstance(value, bytes):
            size = 0
            for dim_field, dim_value in _fields(value):
                if dim_field == 1 and isinstance(dim_value, int):
                    size = dim_value
            dims.append(size)
    return tuple(dims)


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF
