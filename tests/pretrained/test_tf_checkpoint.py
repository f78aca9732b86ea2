"""tf_checkpoint.py and crc32c.py: the real musicnn checkpoint, and damaged copies of it."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c as tensorboard_crc32c

from genre_lightning.errors import UserError
from genre_lightning.pretrained.crc32c import crc32c, mask
from genre_lightning.pretrained.tf_checkpoint import (
    CheckpointError,
    data_path,
    index_path,
    list_checkpoint,
    read_checkpoint,
)

#: A few of the 64 variables and their TensorFlow shapes ([kh, kw, in, out] for conv kernels).
SHAPES = {
    "batch_normalization/gamma": (1,),
    "conv2d/kernel": (7, 38, 1, 204),
    "conv2d_1/kernel": (7, 67, 1, 204),
    "conv2d_2/kernel": (128, 1, 1, 51),
    "conv2d_4/kernel": (32, 1, 1, 51),
    "conv2d_5/kernel": (7, 561, 1, 64),
    "conv2d_7/kernel": (7, 64, 1, 64),
    "batch_normalization_9/moving_mean": (1506,),
    "dense/kernel": (1506, 200),
    "batch_normalization_10/beta": (200,),
    "dense_1/kernel": (200, 50),
}


@pytest.fixture
def copy(msd_prefix: Path, tmp_path: Path) -> Path:
    """A private copy of the MSD_musicnn checkpoint, free to damage."""
    folder = tmp_path / "MSD_musicnn"
    shutil.copytree(msd_prefix, folder)
    return folder


def test_reads_the_64_model_variables(msd_prefix: Path) -> None:
    variables = read_checkpoint(msd_prefix)
    assert len(variables) == 64
    assert not [name for name in variables if "Adam" in name or "power" in name]
    for name, shape in SHAPES.items():
        assert variables[name].shape == shape, name
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in variables.values())
    assert all(
        variables[f"batch_normalization_{i}/moving_variance"].min() > 0 for i in range(1, 11)
    )
    # 11 batch norms x 4 + 8 convolutions x 2 + 2 dense x 2; the rest of the file is Adam's.
    entries = list_checkpoint(msd_prefix)
    assert len(entries) == 150 and sum(4 * v.size for v in variables.values()) == 3_168_316


def test_every_stored_checksum_matches_an_independent_crc32c(msd_prefix: Path) -> None:
    """tensorboard's pure-Python CRC-32C agrees with ours and with TF's stored (masked) CRCs."""
    raw = data_path(msd_prefix).read_bytes()
    for entry in list_checkpoint(msd_prefix).values():
        if entry.size > 300_000:
            continue  # the pure-Python reference takes ~0.2 s per MB
        tensor = raw[entry.offset : entry.offset + entry.size]
        assert crc32c(tensor) == tensorboard_crc32c(tensor) == entry.crc32c, entry.name


@pytest.mark.parametrize("size", [0, 1, 9, 4095, 4096, 4097, 100_003, 1 << 18])
def test_crc32c_matches_a_bitwise_reference(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    reg = 0xFFFFFFFF
    for byte in data[:5000]:  # bitwise is slow: check the long inputs against tensorboard
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ (0x82F63B78 if reg & 1 else 0)
    if size <= 5000:
        assert crc32c(data) == reg ^ 0xFFFFFFFF
    assert crc32c(data) == tensorboard_crc32c(data)
    assert crc32c(b"123456789") == 0xE3069283  # the published check value
    assert mask(0) == 0xA282EAD8


def test_missing_files_are_named(copy: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nowhere\.index: cannot read checkpoint index"):
        read_checkpoint(tmp_path / "nowhere")
    data_path(copy).unlink()
    with pytest.raises(UserError, match=r"\.data-00000-of-00001: cannot read checkpoint data"):
        read_checkpoint(copy)


def test_truncated_data_file(copy: Path) -> None:
    data = data_path(copy)
    data.write_bytes(data.read_bytes()[:6_000_000])  # inside dense/kernel
    with pytest.raises(CheckpointError, match=r"variable dense/kernel needs bytes .*truncated"):
        read_checkpoint(copy)


@pytest.mark.parametrize(
    ("cut", "message"),
    [(-1, "bad magic number"), (30, "shorter than the 48-byte footer")],
)
def test_truncated_index(copy: Path, cut: int, message: str) -> None:
    index = index_path(copy)
    index.write_bytes(index.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match=f"{index}: not a valid .*{message}"):
        read_checkpoint(copy)


def test_flipped_byte_in_the_data(copy: Path, msd_prefix: Path) -> None:
    entry = list_checkpoint(copy)["dense/kernel"]
    raw = bytearray(data_path(copy).read_bytes())
    raw[entry.offset + 1000] ^= 0x10
    data_path(copy).write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch in variable dense/kernel"):
        read_checkpoint(copy)
    # Unchecked, the damage goes through unnoticed: that is what the check is for.
    damaged = read_checkpoint(copy, verify=False)["dense/kernel"]
    assert not np.array_equal(damaged, read_checkpoint(msd_prefix)["dense/kernel"])


def test_flipped_byte_in_the_index(copy: Path) -> None:
    index = index_path(copy)
    raw = bytearray(index.read_bytes())
    raw[100] ^= 0x01
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch in the block at 0"):
        read_checkpoint(copy)


def _bundle(prefix: Path, entries: dict[str, tuple[int, tuple[int, ...], bytes]]) -> None:
    """Write a one-block tensor bundle (dtype, shape, bytes per name), as TF lays it out."""

    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out += bytes([n & 0x7F | 0x80])
            n >>= 7
        return out + bytes([n])

    def field(number: int, payload: bytes | int) -> bytes:
        if isinstance(payload, int):
            return varint(number << 3) + varint(payload)
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def block(pairs: list[tuple[bytes, bytes]]) -> bytes:
        body = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in pairs)
        return body + struct.pack("<II", 0, 1)  # one restart point, at 0

    def with_trailer(contents: bytes) -> bytes:
        return contents + b"\0" + struct.pack("<I", mask(crc32c(contents + b"\0")))

    data, pairs = b"", [(b"", field(1, 1))]  # the header: one shard, little-endian
    for name, (dtype, shape, raw) in sorted(entries.items()):
        dims = b"".join(field(2, field(1, size)) for size in shape)
        value = field(1, dtype) + field(2, dims) + field(4, len(data)) + field(5, len(raw))
        value += varint(6 << 3 | 5) + struct.pack("<I", mask(crc32c(raw)))
        pairs.append((name.encode(), value))
        data += raw
    table = with_trailer(block(pairs))
    handle = varint(0) + varint(len(table) - 5)
    meta_offset = len(table)
    table += with_trailer(block([]))
    index_offset = len(table)
    table += with_trailer(block([(pairs[-1][0], handle)]))
    footer = (
        varint(meta_offset)
        + varint(8)
        + varint(index_offset)
        + varint(len(table) - 5 - index_offset)
    )
    table += footer.ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    index_path(prefix).write_bytes(table)
    data_path(prefix).write_bytes(data)


def test_written_bundle_round_trips_and_skips_optimizer_state(tmp_path: Path) -> None:
    weights = np.arange(6, dtype="<f4").reshape(2, 3)
    _bundle(
        tmp_path / "model",
        {
            "layer/kernel": (1, (2, 3), weights.tobytes()),
            "layer/kernel/Adam": (1, (2, 3), weights.tobytes()),
            "beta1_power": (1, (), b"\0\0\0\0"),
        },
    )
    read = read_checkpoint(tmp_path / "model")
    assert list(read) == ["layer/kernel"]
    np.testing.assert_array_equal(read["layer/kernel"], weights)


def test_unsupported_dtype_is_named(tmp_path: Path) -> None:
    _bundle(tmp_path / "model", {"step": (9, (), b"\0" * 8)})  # 9 = int64
    with pytest.raises(
        CheckpointError, match=r"model\.index: variable step is int64; only float32"
    ):
        read_checkpoint(tmp_path / "model")
