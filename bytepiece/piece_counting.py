"""Count the pieces of segmented chunks, as mergeable shards.

Pieces of up to 7 bytes (almost all of them) are packed into one uint64 each, the bytes
big-endian followed by 3 bits of length, and counted by sorting; they merge like n-gram
counts (``count_store.py``). Longer pieces are counted in a dict.

>>> keys = pack_pieces([b"ab", b"\\x00ab"])
>>> unpack_pieces(keys)
[b'ab', b'\\x00ab']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from .ngram_counting import run_lengths

PACKED_MAX = 7


def count_pieces(buf: np.ndarray, starts: np.ndarray) -> Tuple[np.ndarray, np.ndarray, Dict[bytes, int]]:
    """Count the pieces of ``buf`` cut before every ``starts`` byte.

    Returns (packed keys, their counts) for short pieces and a dict for long ones.

    >>> buf = np.frombuffer(b"abcab", np.uint8)
    >>> keys, counts, long = count_pieces(buf, np.array([1, 0, 0, 1, 0], bool))
    >>> unpack_pieces(keys), counts.tolist(), long
    ([b'ab', b'abc'], [1, 1], {})
    """
    begin = np.flatnonzero(starts)
    length = np.diff(np.append(begin, len(buf)))
    short = length <= PACKED_MAX
    padded = np.zeros(len(buf) + 8, dtype=np.uint8)
    padded[: len(buf)] = buf
    s_begin, s_length = begin[short], length[short].astype(np.uint64)
    words = np.zeros(len(s_begin), dtype=np.uint64)
    for k in range(PACKED_MAX):  # 7 bytes from each start, big-endian
        words = (words << np.uint64(8)) | padded[s_begin + k]
    values = words >> (np.uint64(8) * (np.uint64(PACKED_MAX) - s_length))
    packed = np.sort((values << np.uint64(3)) | s_length)
    keys, counts = run_lengths(packed)
    raw = buf.tobytes()
    long = Counter(raw[b : b + n] for b, n in zip(begin[~short].tolist(), length[~short].tolist()))
    return keys, counts, dict(long)


@dataclass
class PieceCounts:
    """All piece counts of pass 2: packed short pieces (sorted keys) and long ones."""

    keys: np.ndarray
    counts: np.ndarray
    long: Dict[bytes, int]

    def __len__(self) -> int:
        return len(self.keys) + len(self.long)

    @classmethod
    def from_dict(cls, counts: Dict[bytes, int]) -> "PieceCounts":
        short = [p for p in counts if len(p) <= PACKED_MAX]
        keys = pack_pieces(short)
        values = np.array([counts[p] for p in short], dtype=np.int64)
        order = np.argsort(keys)
        return cls(keys[order], values[order], {p: c for p, c in counts.items() if len(p) > PACKED_MAX})


def packed_lengths(keys: np.ndarray) -> np.ndarray:
    """Byte lengths of packed pieces."""
    return (keys & np.uint64(7)).astype(np.int64)


def packed_bytes(keys: np.ndarray, length: int) -> bytes:
    """The concatenated bytes of packed pieces that all have ``length`` bytes.

    >>> packed_bytes(pack_pieces([b"ab", b"cd"]), 2)
    b'abcd'
    """
    shifts = np.uint64(8) * (np.uint64(length - 1) - np.arange(length, dtype=np.uint64))
    values = keys >> np.uint64(3)
    return ((values[:, None] >> shifts) & np.uint64(0xFF)).astype(np.uint8).tobytes()


def pack_pieces(pieces: List[bytes]) -> np.ndarray:
    """Packed keys of short pieces (the inverse of :func:`unpack_pieces`)."""
    return np.array([(int.from_bytes(p, "big") << 3) | len(p) for p in pieces], dtype=np.uint64)


def unpack_pieces(keys: np.ndarray) -> List[bytes]:
    """The pieces of packed keys."""
    return [(k >> 3).to_bytes(k & 7, "big") for k in keys.tolist()]
