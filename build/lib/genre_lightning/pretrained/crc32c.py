"""CRC-32C (Castagnoli), the checksum TensorFlow stores for every tensor and index block.

Python's standard library has only the IEEE CRC-32 (``zlib.crc32``), and a byte-at-a-time loop
in pure Python costs ~0.2 us a byte (~0.7 s for musicnn's 3 MB of weights). Instead, the data is
cut into equal chunks whose CRCs numpy computes side by side (one vectorised step per byte
position), and the chunk CRCs are then chained with the linear map "append L zero bytes", as
zlib's ``crc32_combine`` does. A CRC register is linear over GF(2), which makes that exact.
"""

from __future__ import annotations

import functools

import numpy as np

#: Reflected Castagnoli polynomial.
_POLY = 0x82F63B78
_ONES = 0xFFFFFFFF
#: Below this many bytes the plain loop is faster than setting up chunks.
_SMALL = 4096


def _byte_table() -> list[int]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ (_POLY if reg & 1 else 0)
        table.append(reg)
    return table


_TABLE_LIST = _byte_table()
_TABLE = np.array(_TABLE_LIST, dtype=np.uint32)


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """Return the standard CRC-32C of ``data`` (initial and final XOR with ``0xFFFFFFFF``).

    Args:
        data: The bytes to check.

    Returns:
        The checksum as an unsigned 32-bit integer (``crc32c(b"123456789") == 0xE3069283``).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    n = buf.size
    if n < _SMALL:
        reg = _ONES
        for byte in buf.tobytes():
            reg = _TABLE_LIST[(reg ^ byte) & 0xFF] ^ (reg >> 8)
        return reg ^ _ONES
    # Chunks of about sqrt(n) bytes balance the numpy steps (one per byte of a chunk) against
    # the Python steps that chain the chunks (one per chunk).
    bits = max(6, (n.bit_length() + 1) // 2)
    length = 1 << bits
    # Zero bytes in front leave a zero register at zero, so padding the start keeps the CRC of
    # the data (started from zero) and gives every chunk the same length.
    padded = np.concatenate((np.zeros(-n % length, dtype=np.uint8), buf))
    columns = np.ascontiguousarray(padded.reshape(-1, length).T)
    regs = np.zeros(columns.shape[1], dtype=np.uint32)
    for column in columns:
        regs = _TABLE[(regs ^ column) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _shift_tables(bits)
    reg = 0
    for chunk_reg in regs.tolist():
        reg = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24]
        reg ^= chunk_reg
    # The real CRC starts from all ones: by linearity, add what n bytes make of that start.
    return _shift(_ONES, n) ^ reg ^ _ONES


def mask(crc: int) -> int:
    """LevelDB's (and TensorFlow's) masking of a stored CRC: rotate right by 15, add a constant.

    Storing a masked CRC keeps a checksum of data that itself holds checksums from being weak.
    """
    return ((((crc >> 15) | (crc << 17)) & _ONES) + 0xA282EAD8) & _ONES


# A 32x32 matrix over GF(2) is a tuple of 32 columns: column k is the image of bit k.
_Matrix = tuple[int, ...]


def _apply(matrix: _Matrix, vector: int) -> int:
    out = 0
    k = 0
    while vector:
        if vector & 1:
            out ^= matrix[k]
        vector >>= 1
        k += 1
    return out


@functools.cache
def _zeros_operator(bits: int) -> _Matrix:
    """The linear map of the register under ``2**bits`` zero bytes."""
    if bits == 0:
        return tuple(_TABLE_LIST[(1 << k) & 0xFF] ^ ((1 << k) >> 8) for k in range(32))
    half = _zeros_operator(bits - 1)
    return tuple(_apply(half, column) for column in half)


def _shift(reg: int, n: int) -> int:
    """The register after ``n`` zero bytes."""
    bits = 0
    while n:
        if n & 1:
            reg = _apply(_zeros_operator(bits), reg)
        n >>= 1
        bits += 1
    return reg


@functools.cache
def _shift_tables(bits: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """The map of ``2**bits`` zero bytes as four byte-indexed tables (one per register byte)."""
    matrix = _zeros_operator(bits)
    t0, t1, t2, t3 = ([_apply(matrix, v << (8 * b)) for v in range(256)] for b in range(4))
    return t0, t1, t2, t3
