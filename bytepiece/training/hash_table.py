"""A vectorised hash map for integer keys: numpy has sorted search, but no hashing.

Used for n-gram scores in pass 2 and for pieces when pruning; both look up millions of
keys per call, where a binary search (``np.searchsorted``) costs about 20 cache misses
per key on big tables and this about one.
"""

from __future__ import annotations

import numpy as np


_SCALAR_TAIL = 64  # probe the last few keys one at a time
_BLOCK = 1 << 20  # keys per block of the build's temporaries


class HashTable:
    """A read-only map from uint64 keys (below 2**63 + 2**62) to numbers, looked up many
    keys at a time with numpy (open addressing, linear probing).

    One random memory access per query on average, where a binary search over sorted
    keys needs about 20 on a million-entry table.

    >>> table = HashTable(np.array([5, 7], np.uint64), np.array([0.5, 0.7]))
    >>> table.get(np.array([7, 6], np.uint64)).tolist()
    [0.7, -inf]
    """

    _EMPTY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)  # never a key (see the class docstring)
    _MULTIPLIER = np.uint64(0x9E37_79B9_7F4A_7C15)

    def __init__(self, keys: np.ndarray, values: np.ndarray, missing: float = -np.inf, load: float = 0.75) -> None:
        """``keys`` must be distinct; ``missing`` is what :meth:`get` gives for other keys.

        ``load`` trades memory for speed: at 3/4 a miss probes about 8 slots on average,
        at 1/2 about 2.5, and the longest probe runs (one numpy round each) are shorter.
        """
        # Any table size works: the home slot is the top 32 bits of a multiplicative hash
        # scaled to the size. Probing runs on past the last home slot instead of wrapping
        # around, into a tail just long enough, which ends with an empty slot.
        self._size = max(8, int(np.ceil(len(keys) / load)))
        if self._size >= 1 << 32:
            raise ValueError("too many keys for one table")
        self._missing = missing
        # Linear probing, inserting keys in order of home slot: each key takes the first
        # free slot from its home on, which is max(home, the previous key's slot + 1). So
        # slot[i] = i + max over j <= i of (home[j] - j): one sort and a running maximum
        # rather than rounds of collisions (a third of the memory at build time).
        slot = self._home(keys)
        order = np.argsort(slot, kind="stable")
        slot = slot.take(order)
        blocks = range(0, len(keys), _BLOCK)  # temporaries a block at a time: the n-gram
        for first in blocks:                 # model's tables are the trainer's largest
            slot[first : first + _BLOCK] -= np.arange(first, min(first + _BLOCK, len(keys)))
        np.maximum.accumulate(slot, out=slot)
        for first in blocks:
            slot[first : first + _BLOCK] += np.arange(first, min(first + _BLOCK, len(keys)))
        length = max(self._size, int(slot[-1]) + 1 if len(slot) else 0) + 1
        self._keys = np.full(length, self._EMPTY, dtype=np.uint64)
        self._values = np.full(length, missing, dtype=values.dtype)
        for first in blocks:
            where, chosen = slot[first : first + _BLOCK], order[first : first + _BLOCK]
            self._keys[where] = keys.take(chosen)
            self._values[where] = values.take(chosen)

    def _home(self, keys: np.ndarray) -> np.ndarray:
        top = (keys * self._MULTIPLIER) >> np.uint64(32)
        return ((top * np.uint64(self._size)) >> np.uint64(32)).astype(np.int64)

    def get(self, queries: np.ndarray) -> np.ndarray:
        """Values of the queries (``missing`` for absent keys)."""
        result = np.full(len(queries), self._missing, dtype=self._values.dtype)
        active = np.arange(len(queries))
        slot = self._home(queries)
        while len(active) > _SCALAR_TAIL:
            found = self._keys[slot]
            hit = found == queries[active]
            result[active[hit]] = self._values[slot[hit]]
            going_on = ~hit & (found != self._EMPTY)
            active, slot = active[going_on], slot[going_on] + 1
        # A few keys in long probe runs: one numpy round per slot would cost more.
        keys = self._keys
        for index, position in zip(active.tolist(), slot.tolist()):
            query = queries[index]
            while keys[position] != self._EMPTY:
                if keys[position] == query:
                    result[index] = self._values[position]
                    break
                position += 1  # the table ends with an empty slot
        return result
