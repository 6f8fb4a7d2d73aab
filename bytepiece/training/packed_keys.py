"""Packed keys: a byte string of up to 7 bytes as one uint64, the format training counts in.

A key is the bytes read as a big-endian integer, shifted left by 3 bits that hold the
length: ``key = int.from_bytes(piece, "big") << 3 | len(piece)``. Keys of different
lengths never collide (``b"a"`` and ``b"\\x00a"`` differ in the length bits), sorting them
sorts by bytes within a length, and counting is sorting plus run lengths. N-gram counting
packs a window of ``order`` bytes with the number of them that lie inside the chunk in the
same 3 bits.

>>> keys = pack_pieces([b"ab", b"\\x00ab"])
>>> unpack_pieces(keys), packed_lengths(keys).tolist()
([b'ab', b'\\x00ab'], [2, 3])
"""

from __future__ import annotations

from typing import List

import numpy as np

PACKED_MAX = 7  # bytes a key can hold
LENGTH_BITS = 3
_LENGTH_MASK = np.uint64((1 << LENGTH_BITS) - 1)


def pack(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Keys of big-endian byte values (uint64) and their lengths."""
    return (values.astype(np.uint64) << np.uint64(LENGTH_BITS)) | lengths.astype(np.uint64)


def packed_lengths(keys: np.ndarray) -> np.ndarray:
    """Byte lengths of packed keys (int64)."""
    return (keys & _LENGTH_MASK).astype(np.int64)


def packed_values(keys: np.ndarray) -> np.ndarray:
    """The big-endian byte values of packed keys, without their lengths."""
    return keys >> np.uint64(LENGTH_BITS)


def windows(buf: np.ndarray, width: int) -> np.ndarray:
    """Big-endian value of the ``width`` (<= 8) bytes starting at each position of ``buf``
    (uint8), zero-padded past its end.

    >>> windows(np.frombuffer(b"abc", np.uint8), 2).tolist() == [0x6162, 0x6263, 0x6300]
    True
    """
    padded = np.zeros(len(buf) + 8, dtype=np.uint8)
    padded[: len(buf)] = buf
    # Eight bytes at each position, read as one big-endian word, then shifted down.
    view = np.lib.stride_tricks.as_strided(padded, shape=(len(buf), 8), strides=(1, 1))
    words = np.ascontiguousarray(view).view(">u8").ravel().astype(np.uint64)
    return words >> np.uint64(8 * (8 - width))


def pack_slices(buf: np.ndarray, begin: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Keys of the slices ``buf[begin[i] : begin[i] + length[i]]`` (each at most
    ``PACKED_MAX`` bytes).

    >>> unpack_pieces(pack_slices(np.frombuffer(b"abcd", np.uint8), np.array([0, 3]), np.array([3, 1])))
    [b'abc', b'd']
    """
    span = length.astype(np.uint64)
    values = windows(buf, PACKED_MAX)[begin] >> (np.uint64(8) * (np.uint64(PACKED_MAX) - span))
    return pack(values, span)


def pack_pieces(pieces: List[bytes]) -> np.ndarray:
    """Keys of short pieces (the inverse of :func:`unpack_pieces`)."""
    return np.array([(int.from_bytes(p, "big") << LENGTH_BITS) | len(p) for p in pieces], dtype=np.uint64)


def unpack_pieces(keys: np.ndarray) -> List[bytes]:
    """The pieces of packed keys."""
    mask = int(_LENGTH_MASK)
    return [(k >> LENGTH_BITS).to_bytes(k & mask, "big") for k in keys.tolist()]


def packed_bytes(keys: np.ndarray, length: int) -> bytes:
    """The concatenated bytes of packed keys that all have ``length`` bytes.

    >>> packed_bytes(pack_pieces([b"ab", b"cd"]), 2)
    b'abcd'
    """
    shifts = np.uint64(8) * (np.uint64(length - 1) - np.arange(length, dtype=np.uint64))
    return ((packed_values(keys)[:, None] >> shifts) & np.uint64(0xFF)).astype(np.uint8).tobytes()
