"""Count the pieces of segmented chunks, as mergeable shards.

Pieces of up to 7 bytes (almost all of them) are packed into one uint64 each
(``packed_keys.py``) and counted by sorting; they merge like n-gram counts
(``count_store.py``). Longer pieces are counted in a dict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

import numpy as np

from .ngram_counting import add_by_key, run_lengths
from .packed_keys import PACKED_MAX, pack_pieces, pack_slices

if TYPE_CHECKING:  # pragma: no cover
    from .count_store import LongCounts


def count_pieces(buf: np.ndarray, starts: np.ndarray, weights: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, Dict[bytes, int]]:
    """Count the pieces of ``buf`` cut before every ``starts`` byte, each piece
    ``weights[byte]`` times (the weight of the byte it starts at; default once).

    Returns (packed keys, their counts) for short pieces and a dict for long ones.

    >>> from bytepiece.training.packed_keys import unpack_pieces
    >>> buf = np.frombuffer(b"abcab", np.uint8)
    >>> keys, counts, long = count_pieces(buf, np.array([1, 0, 0, 1, 0], bool))
    >>> unpack_pieces(keys), counts.tolist(), long
    ([b'ab', b'abc'], [1, 1], {})
    >>> count_pieces(buf, np.array([1, 0, 0, 1, 0], bool), np.array([2, 2, 2, 5, 5]))[1].tolist()
    [5, 2]
    """
    begin = np.flatnonzero(starts)
    length = np.diff(np.append(begin, len(buf)))
    short = length <= PACKED_MAX
    packed = pack_slices(buf, begin[short], length[short])
    raw = buf.tobytes()
    long_begin, long_length = begin[~short].tolist(), length[~short].tolist()
    long = Counter(raw[b : b + n] for b, n in zip(long_begin, long_length))  # each once, in C
    if weights is None:
        keys, counts = run_lengths(np.sort(packed))
        return keys, counts, dict(long)
    order = np.argsort(packed)  # not stable: equal keys' weights add up the same in any order (4x faster)
    keys, counts = add_by_key(packed[order], weights[begin[short]][order])
    extra = weights[begin[~short]] - 1  # most pieces weigh 1: only the others in Python
    for i in np.flatnonzero(extra).tolist():
        long[raw[long_begin[i] : long_begin[i] + long_length[i]]] += int(extra[i])
    return keys, counts, dict(long)


@dataclass
class PieceCounts:
    """All piece counts of pass 2: packed short pieces (sorted keys) and long ones (a dict,
    or counts spilled to disk)."""

    keys: np.ndarray
    counts: np.ndarray
    long: Union[Dict[bytes, int], "LongCounts"]

    def __len__(self) -> int:
        return len(self.keys) + len(self.long)

    @classmethod
    def from_dict(cls, counts: Dict[bytes, int]) -> "PieceCounts":
        short = [p for p in counts if len(p) <= PACKED_MAX]
        keys = pack_pieces(short)
        values = np.array([counts[p] for p in short], dtype=np.int64)
        order = np.argsort(keys)
        return cls(keys[order], values[order], {p: c for p, c in counts.items() if len(p) > PACKED_MAX})
