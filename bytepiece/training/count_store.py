"""The reduce side of training: add up count shards under a memory budget, in parallel.

Shards are ``(sorted uint64 keys, int64 counts)`` pairs, one stream per table name (an
n-gram length, or packed pieces). Adding is commutative, so the result does not depend on
the order shards arrive in, nor on how many workers produced them, nor where.

The keys are **partitioned** by a hash (:func:`split_partitions`, done in the map tasks):
a key always falls in the same partition, so the partitions add up independently. The
store only files each shard's partitions away (views, no merging), and :meth:`result`
hands each partition to a task on the executor's pool (:func:`add_up_task`), which adds
its runs up and drops keys below ``min_count``; the driver concatenates the answers. So
the reduce runs on the workers, in parallel, and the driver's work is proportional to
the number of shards, not to their entries.

Memory: when the entries held exceed ``memory_budget`` bytes, every partition's runs are
appended to its file in ``spill_dir`` and memory starts empty again; a partition is read
back when its task is sent. ``partitions`` is chosen by the trainer so that one partition
of the whole corpus fits a worker.

Pieces longer than a packed key (``add_long``) are counted in a dict, which counts toward
the same budget (``LONG_ENTRY_BYTES`` a piece plus its bytes) and spills with the tables,
as a run sorted by piece; :meth:`CountStore.long_result` gives them back merged, streamed
from disk (:class:`LongCounts`), for as long as the store is open.

Deliberately left out: what the keys mean.
"""

from __future__ import annotations

import heapq
import os
import shutil
import struct
import tempfile
from collections import Counter
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .ngram_counting import add_by_key

Run = Tuple[np.ndarray, np.ndarray]
Shard = Tuple[np.ndarray, np.ndarray, np.ndarray]  # keys, counts, partition bounds
_ENTRY_BYTES = 16  # one uint64 key + one int64 count
LONG_ENTRY_BYTES = 120  # memory of one long piece in the dict, beyond its bytes
_LONG_HEADER = struct.Struct("<IQ")  # length, count: a long-piece run's record header
_MULTIPLIER = np.uint64(0x9E37_79B9_7F4A_7C15)


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 .. partitions - 1) of each key: a multiplicative hash, scaled."""
    top = (keys.astype(np.uint64) * _MULTIPLIER) >> np.uint64(32)
    return ((top * np.uint64(partitions)) >> np.uint64(32)).astype(np.int64)


def split_partitions(keys: np.ndarray, counts: np.ndarray, partitions: int) -> Shard:
    """A sorted run reordered by partition (each partition's keys still sorted), and the
    bounds of the partitions in it.

    >>> k, c, bounds = split_partitions(np.arange(6, dtype=np.uint64), np.ones(6, np.int64), 2)
    >>> [k[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]
    [[0, 2, 4, 5], [1, 3]]
    """
    if partitions == 1:
        return keys, counts, np.array([0, len(keys)], dtype=np.int64)
    which = partition_of(keys, partitions)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(partitions + 1), side="left")
    return keys[order], counts[order], bounds.astype(np.int64)


def add_up_task(state: Any, item: Tuple[List[Run], int]) -> Run:
    """The reduce task: one partition's runs added up, keys below ``min_count`` dropped.
    A run read back from disk is several sorted runs end to end: sorting is always done."""
    runs, min_count = item
    keys = np.concatenate([k for k, _ in runs]) if len(runs) > 1 else runs[0][0]
    counts = np.concatenate([c for _, c in runs]) if len(runs) > 1 else runs[0][1]
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        order = np.argsort(keys, kind="stable")  # runs end to end: near linear
        keys, counts = add_by_key(keys[order], counts[order])
    return _at_least((keys, counts.astype(np.int64)), min_count)


class CountStore:
    """Accumulates count shards per table name; see the module docstring.

    >>> store = CountStore()
    >>> store.add("t", np.array([1, 2], np.uint64), np.array([1, 1]))
    >>> store.add("t", np.array([2], np.uint64), np.array([5]))
    >>> [a.tolist() for a in store.result("t", min_count=2)]
    [[2], [6]]
    """

    def __init__(self, memory_budget: Optional[int] = None, spill_dir: Optional[str] = None, *, partitions: int = 1) -> None:
        self.memory_budget = memory_budget
        self.partitions = max(1, int(partitions))
        self._spill_parent = spill_dir
        self._spill_dir: Optional[str] = None
        self._pending: Dict[str, List[List[Run]]] = {}
        self._spilled: Dict[Tuple[str, int], str] = {}  # (name, partition) -> file stem
        self._held = 0  # bytes of the runs in _pending
        self._long: Counter = Counter()
        self._long_bytes = 0
        self._long_runs: List[str] = []
        self.spills = 0

    # ------------------------------------------------------------------ adding
    def add(self, name: str, keys: np.ndarray, counts: np.ndarray, bounds: Optional[np.ndarray] = None) -> None:
        """Add a sorted run; ``bounds`` when it is already split by :func:`split_partitions`
        (with this store's number of partitions)."""
        if not len(keys):
            return
        if bounds is None:
            keys, counts, bounds = split_partitions(keys, counts, self.partitions)
        if len(bounds) != self.partitions + 1:
            raise ValueError(f"a shard split in {len(bounds) - 1} partitions, the store has {self.partitions}")
        pending = self._pending.setdefault(name, [[] for _ in range(self.partitions)])
        edges = bounds.tolist()
        for partition, (first, last) in enumerate(zip(edges[:-1], edges[1:])):
            if last > first:
                pending[partition].append((keys[first:last], counts[first:last]))
        self._held += len(keys) * _ENTRY_BYTES
        if self.memory_budget is not None and self.held_bytes() > self.memory_budget:
            self.spill()

    def add_long(self, counts: Dict[bytes, int]) -> None:
        """Add counts of long pieces (any bytes)."""
        for piece, count in counts.items():
            if piece not in self._long:
                self._long_bytes += len(piece) + LONG_ENTRY_BYTES
            self._long[piece] += count
        if self.memory_budget is not None and self.held_bytes() > self.memory_budget:
            self.spill()

    def held_bytes(self) -> int:
        """Bytes of counts held in memory now."""
        return self._held + self._long_bytes

    def spill(self) -> None:
        """Append every partition's runs to its file on disk and free the memory."""
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="bytepiece-counts-", dir=self._spill_parent)
        for name in sorted(self._pending):
            for partition, runs in enumerate(self._pending[name]):
                if not runs:
                    continue
                stem = self._spilled.setdefault((name, partition), os.path.join(self._spill_dir, f"{name}-{partition}"))
                with open(stem + ".keys", "ab") as handle:
                    for keys, _ in runs:
                        keys.astype(np.uint64).tofile(handle)
                with open(stem + ".counts", "ab") as handle:
                    for _, counts in runs:
                        counts.astype(np.int64).tofile(handle)
                runs.clear()
        self._held = 0
        if self._long:
            path = os.path.join(self._spill_dir, f"long-{self.spills}")
            _write_long_run(path, sorted(self._long.items()))
            self._long_runs.append(path)
            self._long, self._long_bytes = Counter(), 0
        self.spills += 1

    # ------------------------------------------------------------------ results
    def result(self, name: str, min_count: int = 1, pool: Any = None, *, ordered: bool = True) -> Run:
        """All counts of ``name`` added up, keeping keys with ``count >= min_count``
        (sorted; with ``ordered=False``, partition after partition, for a caller that only
        hashes them: no sort, and no sorted copies beside the table). Each partition is
        added up by :func:`add_up_task` on ``pool`` (a pool of ``parallel.py`` or
        ``cluster.py``; None: here), read from disk as it is sent."""
        pending = self._pending.pop(name, [[] for _ in range(self.partitions)])
        self._held -= sum(len(k) for runs in pending for k, _ in runs) * _ENTRY_BYTES

        def items() -> Iterator[Tuple[List[Run], int]]:
            for partition in range(self.partitions):
                runs, pending[partition] = pending[partition], []
                stem = self._spilled.pop((name, partition), None)
                if stem is not None:
                    runs.append((np.fromfile(stem + ".keys", dtype=np.uint64), np.fromfile(stem + ".counts", dtype=np.int64)))
                    os.unlink(stem + ".keys")
                    os.unlink(stem + ".counts")
                if runs:
                    yield runs, min_count

        parts = pool.imap(add_up_task, items()) if pool is not None else (add_up_task(None, item) for item in items())
        return _assemble(parts, ordered)

    def long_result(self) -> "LongCounts":
        """All long-piece counts, merged by piece (read from disk while the store is open)."""
        memory, self._long, self._long_bytes = self._long, Counter(), 0
        runs, self._long_runs = self._long_runs, []
        if not runs:
            return LongCounts(dict(memory))
        return LongCounts(dict(memory), runs)

    def close(self) -> None:
        """Delete spilled runs."""
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def __enter__(self) -> "CountStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _assemble(parts: Iterable[Run], ordered: bool = True) -> Run:
    """Sorted partitions with disjoint keys as one run (``ordered``: sorted), with as few
    copies alive at once as numpy allows (this is the one table of model size the driver
    holds)."""
    key_parts: List[np.ndarray] = []
    count_parts: List[np.ndarray] = []
    for keys, counts in parts:
        key_parts.append(keys)
        count_parts.append(counts)
    keys = np.concatenate(key_parts) if key_parts else np.zeros(0, np.uint64)
    key_parts.clear()
    if not ordered:
        counts = np.concatenate(count_parts) if count_parts else np.zeros(0, np.int64)
        return keys.astype(np.uint64, copy=False), counts.astype(np.int64, copy=False)
    order = np.argsort(keys, kind="stable")  # runs end to end: near linear
    keys = keys[order]
    counts = np.concatenate(count_parts) if count_parts else np.zeros(0, np.int64)
    count_parts.clear()
    return keys.astype(np.uint64, copy=False), counts[order].astype(np.int64, copy=False)


def _at_least(run: Run, min_count: int) -> Run:
    if min_count <= 1:
        return run
    keep = run[1] >= min_count
    return run[0][keep], run[1][keep]


class LongCounts:
    """Counts of long pieces: a dict, plus sorted runs on disk when they spilled. Iterating
    :meth:`items` merges them (by piece when there are runs) without loading them.

    >>> counts = LongCounts({b"long piece": 2})
    >>> list(counts.items()), len(counts)
    ([(b'long piece', 2)], 1)
    """

    def __init__(self, memory: Dict[bytes, int], runs: Optional[List[str]] = None) -> None:
        self.memory = memory
        self.runs = list(runs or [])
        self._length: Optional[int] = None if self.runs else len(memory)

    def items(self) -> Iterator[Tuple[bytes, int]]:
        if not self.runs:
            yield from self.memory.items()
            return
        merged = heapq.merge(sorted(self.memory.items()), *(_read_long_run(p) for p in self.runs))
        current: Optional[bytes] = None
        total = 0
        for piece, count in merged:
            if piece != current:
                if current is not None:
                    yield current, total
                current, total = piece, 0
            total += count
        if current is not None:
            yield current, total

    def chunks(self, size: int) -> Iterator[Tuple[Sequence[bytes], Sequence[int]]]:
        """:meth:`items` as (pieces, counts), ``size`` at a time. Without runs on disk, the
        pieces and counts are listed by the dict in C, not item by item in Python: pruning
        sorts out millions of long pieces this way.

        >>> [tuple(map(list, c)) for c in LongCounts({b"piece one": 1, b"piece two": 2}).chunks(1)]
        [([b'piece one'], [1]), ([b'piece two'], [2])]
        """
        if not self.runs:
            pieces, counts = list(self.memory), list(self.memory.values())
            for first in range(0, len(pieces), size):
                yield pieces[first : first + size], counts[first : first + size]
            return
        items = self.items()
        while True:
            chunk = list(islice(items, size))
            if not chunk:
                return
            chunk_pieces, chunk_counts = zip(*chunk)
            yield chunk_pieces, chunk_counts

    def __len__(self) -> int:
        if self._length is None:
            self._length = sum(1 for _ in self.items())
        return self._length

    def clear(self) -> None:
        """Forget the counts (the runs are deleted with the store's directory)."""
        self.memory, self.runs, self._length = {}, [], 0


def _write_long_run(path: str, items: Iterable[Tuple[bytes, int]]) -> None:
    with open(path, "wb") as handle:
        for piece, count in items:
            handle.write(_LONG_HEADER.pack(len(piece), count))
            handle.write(piece)


def _read_long_run(path: str) -> Iterator[Tuple[bytes, int]]:
    with open(path, "rb", buffering=1 << 20) as handle:
        while True:
            header = handle.read(_LONG_HEADER.size)
            if not header:
                return
            length, count = _LONG_HEADER.unpack(header)
            yield handle.read(length), count
