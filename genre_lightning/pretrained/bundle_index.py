"""Decoding the ``.index`` file of a tensor bundle: a LevelDB table of protobuf messages.

Each block is checked against its masked CRC-32C, and only the protobuf fields a plain
checkpoint needs are read (``BundleHeaderProto``, ``BundleEntryProto``, ``TensorShapeProto``).
:mod:`~genre_lightning.pretrained.tf_checkpoint` describes the format and reads the tensors.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from genre_lightning.pretrained.crc32c import crc32c, mask

_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_TRAILER_BYTES = 5  # block type (0 = uncompressed) + masked CRC-32C


class IndexFormatError(ValueError):
    """A format problem in an index; the reader turns it into a CheckpointError naming the file."""


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


def parse_index(table: bytes) -> tuple[int, dict[str, TensorEntry]]:
    """Decode the contents of a ``.index`` file.

    Returns:
        The number of data shards, and the entries by variable name in the index's order.

    Raises:
        IndexFormatError: The table or a message in it is malformed or of an unsupported kind.
        struct.error: A fixed-size field runs past the end of its buffer.
    """
    num_shards, entries = 1, {}
    for key, value in _table_entries(table):
        if key == b"":
            num_shards = _header(value)
        else:
            name = key.decode("utf-8", errors="replace")
            entries[name] = _entry(name, value)
    return num_shards, entries


def _table_entries(table: bytes) -> Iterator[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB table, in order."""
    if len(table) < _FOOTER_BYTES:
        raise IndexFormatError(
            f"{len(table)} bytes is shorter than the {_FOOTER_BYTES}-byte footer"
        )
    (magic,) = struct.unpack_from("<Q", table, len(table) - 8)
    if magic != _MAGIC:
        raise IndexFormatError(f"bad magic number {magic:#018x} (truncated or not an index)")
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
        raise IndexFormatError(f"block at {offset}..{end} lies past the end of the table")
    contents, kind = table[offset:end], table[end]
    if kind != 0:
        raise IndexFormatError(f"compressed block (type {kind}) is not supported")
    (stored,) = struct.unpack_from("<I", table, end + 1)
    if stored != mask(crc32c(table[offset : end + 1])):
        raise IndexFormatError(f"checksum mismatch in the block at {offset}")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Decode a block: prefix-compressed entries, then restart offsets and their count."""
    if len(block) < 4:
        raise IndexFormatError("block shorter than its restart count")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise IndexFormatError(
            f"block of {len(block)} bytes cannot hold {restarts} restart offsets"
        )
    key, pos = b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_size, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_size > limit:
            raise IndexFormatError("block entry runs past its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_size]
        pos += value_size


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise IndexFormatError("varint runs past the end of its buffer")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexFormatError("varint longer than 10 bytes")


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
            raise IndexFormatError(f"protobuf wire type {wire} is not supported")
        if pos > len(message):
            raise IndexFormatError("protobuf field runs past its message")
        yield field, value


def _header(message: bytes) -> int:
    """Check a BundleHeaderProto; return its number of shards."""
    num_shards = 1
    for field, value in _fields(message):
        if field == 1 and isinstance(value, int):
            num_shards = value
        elif field == 2 and value != 0:
            raise IndexFormatError("big-endian checkpoints are not supported")
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
            raise IndexFormatError(f"variable {name} is saved in slices, which is not supported")
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
