"""A vectorised hash map for integer keys: numpy has sorted search, but no hashing.

Used for the n-gram model's scores in pass 2, which looks up about four keys per byte of
the corpus: there a binary search (``np.searchsorted``) costs about 20 cache misses per key
on big tables, and this one about one.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np


_WIDTH = 4  # keys in a bucket: 4 keys and their 4 values are one 64-byte cache line
_BUCKET_BYTES = 2 * _WIDTH * 8
_BLOCK = 1 << 20  # keys per block of the build's temporaries
_QUERY_BLOCK = 1 << 14  # queries looked up together: their buckets (1 MB) stay in the cache
_LINE = 64  # bytes in a cache line: where the table starts, so that a bucket is one line
_MULTIPLIER = np.uint64(0x9E37_79B9_7F4A_7C15)  # of the hash (Knuth's: 2**64 / the golden ratio)
_NO_CARRY = -(1 << 62)  # the running maximum before the first key


class HashTable:
    """A read-only map from uint64 keys (below 2**63 + 2**62) to floats, looked up many
    keys at a time with numpy (open addressing, linear probing over buckets).

    >>> table = HashTable(np.array([5, 7], np.uint64), np.array([0.5, 0.7]))
    >>> table.get(np.array([7, 6], np.uint64)).tolist()
    [0.7, -inf]

    Layout: buckets of ``_WIDTH`` keys followed by their values, one cache line each. A
    key's home is a bucket; it takes the first free slot from the start of its home bucket
    on. A look-up reads the home bucket (one random memory access for the key *and* its
    value) and goes on to the next bucket only while the ones it read are full: at a load
    of 3/4 about one key in four does (76% of a 3.3M-key table are in their home bucket).
    With keys and values in separate arrays and slots of one key, a look-up took two
    random accesses and 2.5 numpy rounds on average (``docs/training.md``, "Speed").

    A look-up goes no further than the table's ``reach``: the farthest any key lies from
    its home bucket (a few buckets). A key absent from the table would otherwise probe on
    to the end of its cluster, in a numpy round per bucket, and the last few queries of a
    block took twenty rounds. Queries go 16k at a time, so that the buckets read (1 MB)
    are still in the core's cache when the lanes are compared.
    """

    _EMPTY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)  # never a key (see the class docstring)

    def __init__(
        self,
        keys: "np.ndarray | Sequence[np.ndarray]",
        values: "np.ndarray | Sequence[np.ndarray]",
        missing: float = -np.inf,
        load: float = 0.75,
    ) -> None:
        """``keys`` must be distinct; ``missing`` is what :meth:`get` gives for other keys.
        ``keys`` and ``values`` may also be lists of runs in hash order (see
        :meth:`from_hash_ordered`).

        ``load`` (keys per slot) trades memory for speed: the fuller the buckets, the more
        look-ups go on to the next one.
        """
        if not isinstance(keys, np.ndarray):
            self._build_from_runs(list(zip(keys, values)), missing, load)
            return
        values = np.asarray(values)
        self._size(len(keys), missing, load)
        # Linear probing, inserting keys in order of home: each key takes the first free
        # slot from its home bucket's first on, which is max(first, the previous key's
        # slot + 1). So slot[i] = i + max over j <= i of (first[j] - j): one sort and a
        # running maximum rather than rounds of collisions.
        order, slot = stable_order(self._home(keys), overwrite=True)
        _probe(slot, 0, _NO_CARRY)
        self._allocate(int(slot[-1]) if len(slot) else -1)
        for first in range(0, len(keys), _BLOCK):  # temporaries a block at a time: the
            chosen = order[first : first + _BLOCK]  # n-gram model's tables are the trainer's largest
            self._place(slot[first : first + _BLOCK], keys.take(chosen), values.take(chosen))
        self._rows = _bucket_view(self._table)

    @classmethod
    def from_hash_ordered(
        cls, runs: Sequence[Tuple[np.ndarray, np.ndarray]], *, missing: float = -np.inf, load: float = 0.75
    ) -> "HashTable":
        """The table of several runs of (keys, values) whose keys, taken run after run,
        are in the order of :func:`hash_top` (as the trainer's count partitions give them:
        ``count_store.py``). Their homes are then in order already, so the table is built
        without a sort and without gathering the runs into one array: the keys are never
        copied beside the table but a run at a time. Each run may be freed by the caller
        once this returns (the n-gram model's longest n-grams, its largest table, are
        built this way).

        >>> table = HashTable.from_hash_ordered([(np.array([7], np.uint64), np.array([0.7])),
        ...                                      (np.array([5], np.uint64), np.array([0.5]))])
        >>> table.get(np.array([5, 7, 6], np.uint64)).tolist()
        [0.5, 0.7, -inf]
        """
        return cls([keys for keys, _ in runs], [values for _, values in runs], missing, load)

    def _build_from_runs(self, runs: List[Tuple[np.ndarray, np.ndarray]], missing: float, load: float) -> None:
        self._size(sum(len(keys) for keys, _ in runs), missing, load)
        # Twice over the runs: first the last key's slot (probing may run past the last
        # home bucket: the table's length), then the slots again, placing the keys.
        carry, offset, home = _NO_CARRY, 0, 0
        for keys, _ in runs:
            carry, home = self._run_slots(keys, offset, carry, home)[1:]
            offset += len(keys)
        self._allocate(carry + offset - 1)
        carry, offset, home = _NO_CARRY, 0, 0
        for keys, values in runs:
            slot, carry, home = self._run_slots(keys, offset, carry, home)
            for first in range(0, len(keys), _BLOCK):
                block = slice(first, first + _BLOCK)
                self._place(slot[block], keys[block], values[block])
            offset += len(keys)
        self._rows = _bucket_view(self._table)

    @staticmethod
    def bytes_for(keys: int, load: float = 0.75) -> int:
        """The memory a table of ``keys`` keys takes (give or take its short tail), known
        before it is built: 64 bytes a bucket, ``load * 4`` keys a bucket.

        >>> HashTable.bytes_for(3_000_000)
        64000000
        """
        return _bucket_count(keys, load) * _BUCKET_BYTES

    @staticmethod
    def keys_for(nbytes: int, load: float = 0.75) -> int:
        """The most keys a table may hold in ``nbytes`` (:meth:`bytes_for` them is at most
        that).

        >>> HashTable.keys_for(64_000_000)
        3000000
        """
        return int(nbytes // _BUCKET_BYTES * load * _WIDTH)

    def _size(self, keys: int, missing: float, load: float) -> None:
        # Any number of buckets works: the home is the top 32 bits of a multiplicative hash
        # scaled to it. Probing runs on past the last home bucket instead of wrapping
        # around, into a tail that ends with an empty bucket.
        self._buckets = _bucket_count(keys, load)
        if self._buckets >= 1 << 32:
            raise ValueError("too many keys for one table")
        self._missing = missing

    def _run_slots(self, keys: np.ndarray, offset: int, carry: int, home: int) -> Tuple[np.ndarray, int, int]:
        """The slots of a run of keys in hash order that starts at index ``offset``, the
        running maximum to carry to the next run, and the run's last home (``home``: the
        last home before it)."""
        slot = self._home(keys)
        if not len(slot):
            return slot, carry, home
        if int(slot[0]) < home or bool(np.any(slot[1:] < slot[:-1])):
            raise ValueError("the runs' keys are not in hash order (hash_top)")
        home = int(slot[-1])
        return slot, _probe(slot, offset, carry), home

    def _allocate(self, last_slot: int) -> None:
        """An empty table long enough for the highest slot used."""
        rows = max(self._buckets, last_slot // _WIDTH + 1) + 1
        self._table = _aligned_table(rows)
        self._reach = 0  # the farthest a key lies from its home bucket, raised as keys are placed
        empty = np.empty(2 * _WIDTH, dtype=np.uint64)  # one bucket, copied to every row in one pass
        empty[:_WIDTH] = self._EMPTY
        empty[_WIDTH:] = np.float64(self._missing).view(np.uint64)
        self._table[...] = empty

    def _place(self, slot: np.ndarray, keys: np.ndarray, values: np.ndarray) -> None:
        """Keys and their values into their slots (a block of them)."""
        cells = self._table.reshape(-1)
        cell = slot // _WIDTH * (2 * _WIDTH) + slot % _WIDTH
        cells[cell] = keys
        cells[cell + _WIDTH] = values.astype(np.float64).view(np.uint64)
        if len(slot):
            self._reach = max(self._reach, int(np.max(slot // _WIDTH - self._home(keys))))

    def __getstate__(self) -> Dict[str, Any]:
        # ``_rows`` is a view of ``_table``: pickled too, it would be a second copy of the
        # table (the n-gram model goes to every Dask worker this way)
        return {key: value for key, value in self.__dict__.items() if key != "_rows"}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        table = state["_table"]
        if table.ctypes.data % _LINE:  # unpickled wherever the pickle's buffer was: aligned again
            table = _aligned_table(len(table))
            table[...] = state["_table"]
        self._table = table  # else used where it is (read-only, mapped from a file: parallel.read_state)
        self._rows = _bucket_view(table)

    def _home(self, keys: np.ndarray) -> np.ndarray:
        home = hash_top(keys)  # the one new array: the rest is done in place
        home *= np.uint64(self._buckets)
        home >>= np.uint64(32)
        return home.view(np.int64)  # below 2**32

    @property
    def nbytes(self) -> int:
        """The memory of the table."""
        return int(self._table.nbytes)

    def get(self, queries: np.ndarray) -> np.ndarray:
        """Values of the queries (``missing`` for absent keys)."""
        result = np.empty(len(queries))
        for first in range(0, len(queries), _QUERY_BLOCK):
            result[first : first + _QUERY_BLOCK] = self._get(queries[first : first + _QUERY_BLOCK])
        return result

    def _get(self, queries: np.ndarray) -> np.ndarray:
        result = np.full(len(queries), self._missing)
        bucket = self._home(queries)
        index = np.arange(len(queries))  # the queries still looked for, and their buckets
        pending = queries
        for step in range(self._reach + 1):  # no key lies farther from its home
            rows = self._rows.take(bucket).view(np.uint64).reshape(-1, 2 * _WIDTH)
            values = rows.view(np.float64)
            found = np.zeros(len(pending), dtype=bool)
            out = result if step == 0 else np.full(len(pending), self._missing)
            for lane in range(_WIDTH):
                hit = rows[:, lane] == pending
                np.copyto(out, values[:, _WIDTH + lane], where=hit)
                found |= hit
            if step:
                result[index] = out
            more = np.flatnonzero(~found & (rows[:, _WIDTH - 1] != self._EMPTY))  # full: may go on
            if not len(more):
                break
            index, bucket, pending = index[more], bucket[more] + 1, pending[more]
        return result


def hash_top(keys: np.ndarray) -> np.ndarray:
    """The top 32 bits of a multiplicative hash of each key (uint64, a new array).

    A table's home bucket and the trainer's count partition (``count_store.py``) are both
    this value scaled to their number of buckets or partitions, so keys in this order are
    in the order of their homes in any table, and partitions added up one after the
    other, each in this order, are too (:meth:`HashTable.from_hash_ordered`).

    >>> hash_top(np.array([0, 1], np.uint64)).tolist()
    [0, 2654435769]
    """
    top = keys.astype(np.uint64, copy=False) * _MULTIPLIER
    top >>= np.uint64(32)
    return top


def _probe(slot: np.ndarray, offset: int, carry: int) -> int:
    """Homes (of keys in home order, from index ``offset`` on) made slots, in place: each
    key takes the first free slot from its home bucket's first on, which is
    max(first, the previous key's slot + 1), so slot[i] = i + max over j <= i of
    (first[j] - j). ``carry`` is that maximum over the keys before ``offset``; the
    maximum with these keys is returned."""
    if not len(slot):
        return carry
    slot *= _WIDTH
    blocks = range(0, len(slot), _BLOCK)  # temporaries a block at a time
    for first in blocks:
        slot[first : first + _BLOCK] -= np.arange(offset + first, offset + min(first + _BLOCK, len(slot)))
    slot[0] = max(int(slot[0]), carry)
    np.maximum.accumulate(slot, out=slot)
    carry = int(slot[-1])
    for first in blocks:
        slot[first : first + _BLOCK] += np.arange(offset + first, offset + min(first + _BLOCK, len(slot)))
    return carry


def _bucket_count(keys: int, load: float) -> int:
    """The home buckets of a table of ``keys`` keys at ``load`` keys a slot."""
    return max(2, int(np.ceil(keys / (load * _WIDTH))))


def _aligned_table(rows: int) -> np.ndarray:
    """An uninitialised ``(rows, 2 * _WIDTH)`` uint64 table that starts at a cache line.

    numpy's allocations start 16 bytes past one (malloc's header), so each 64-byte bucket
    would straddle two lines: a look-up would read two, and look-ups took 1.15-1.2 times
    as long on a 430 MB table (``docs/training.md``, "Speed").

    >>> _aligned_table(3).ctypes.data % _LINE, _aligned_table(3).shape
    (0, (3, 8))
    """
    size = rows * 2 * _WIDTH * 8
    raw = np.empty(size + _LINE, dtype=np.uint8)
    start = -raw.ctypes.data % _LINE
    return raw[start : start + size].view(np.uint64).reshape(rows, 2 * _WIDTH)


def _bucket_view(table: np.ndarray) -> np.ndarray:
    """The table as one item per bucket (its keys and values), for ``take``."""
    return table.view(f"V{16 * _WIDTH}").reshape(-1)


def stable_order(values: np.ndarray, *, overwrite: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The stable order of ``values`` (non-negative integers, int64 or uint64): the
    indices (uint32 below 2**32 values, else int64), and ``values`` in that order (with
    ``overwrite``, in ``values``' own memory).

    One ``sort`` of ``value << b | index`` (``b``: the bits of the largest index) instead
    of a stable ``argsort``: the same order (equal values keep their index order), three
    to ten times faster, as values are moved instead of indices chased
    (``docs/training.md``, "Speed"). Done in place, a block of indices at a time: this is
    the peak of building the n-gram model's largest table. Values too large to share 64
    bits with their index are argsorted.

    >>> [a.tolist() for a in stable_order(np.array([3, 1, 3, 0]))]
    [[3, 1, 0, 2], [0, 1, 3, 3]]
    >>> [a.tolist() for a in stable_order(np.array([2**63, 1], np.uint64))]  # too large to pack
    [[1, 0], [1, 9223372036854775808]]
    """
    index_dtype = np.uint32 if len(values) <= 1 << 32 else np.int64
    shift = max(1, (len(values) - 1).bit_length())
    top = int(values.max()) if len(values) else 0
    if not len(values) or top >> (64 - shift):
        order = np.argsort(values, kind="stable")
        return order.astype(index_dtype), values[order]
    if shift <= 32 and top < 1 << 32:
        shift = 32  # the index is then the low half, taken without a mask's temporary (8 bytes a value)
    packed = values.view(np.uint64) if overwrite else values.astype(np.uint64)
    packed <<= np.uint64(shift)
    for first in range(0, len(packed), _BLOCK):
        packed[first : first + _BLOCK] |= np.arange(first, min(first + _BLOCK, len(packed)), dtype=np.uint64)
    packed.sort()
    if shift == 32:
        order = packed.astype(np.uint32)  # the low 32 bits: the index
    else:
        order = (packed & np.uint64((1 << shift) - 1)).astype(index_dtype)
    packed >>= np.uint64(shift)
    return order, packed.view(values.dtype)
