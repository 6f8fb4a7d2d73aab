"""The reduce side of training: add up sorted count shards under a memory budget.

Shards are ``(sorted uint64 keys, int64 counts)`` pairs, one stream per table name (an
n-gram length, or packed pieces). Adding is commutative, so the result does not depend on
the order shards arrive in, nor on how many workers produced them.

Memory: shards wait in a small buffer and are merged into a running total once the buffer
holds as many entries as the total (so each entry is merged O(log n) times). When the
entries held exceed ``memory_budget`` bytes, every total is written to ``spill_dir`` as a
sorted run and memory starts empty again. :meth:`CountStore.result` merges the runs one
key range at a time, dropping keys below ``min_count`` as it goes, so the peak stays
within the budget plus what survives.

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
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from .ngram_counting import merge_sorted_counts

Run = Tuple[np.ndarray, np.ndarray]
_ENTRY_BYTES = 16  # one uint64 key + one int64 count
_MIN_PENDING = 1 << 20  # entries of small shards gathered before they are merged
LONG_ENTRY_BYTES = 120  # memory of one long piece in the dict, beyond its bytes
_LONG_HEADER = struct.Struct("<IQ")  # length, count: a long-piece run's record header


class CountStore:
    """Accumulates count shards per table name; see the module docstring.

    >>> store = CountStore()
    >>> store.add("t", np.array([1, 2], np.uint64), np.array([1, 1]))
    >>> store.add("t", np.array([2], np.uint64), np.array([5]))
    >>> [a.tolist() for a in store.result("t", min_count=2)]
    [[2], [6]]
    """

    def __init__(self, memory_budget: Optional[int] = None, spill_dir: Optional[str] = None) -> None:
        self.memory_budget = memory_budget
        self._spill_parent = spill_dir
        self._spill_dir: Optional[str] = None
        self._total: Dict[str, Run] = {}
        self._pending: Dict[str, List[Run]] = {}
        self._spilled: Dict[str, List[str]] = {}
        self._long: Counter = Counter()
        self._long_bytes = 0
        self._long_runs: List[str] = []
        self.spills = 0

    # ------------------------------------------------------------------ adding
    def add(self, name: str, keys: np.ndarray, counts: np.ndarray) -> None:
        if not len(keys):
            return
        pending = self._pending.setdefault(name, [])
        pending.append((keys, counts))
        total = self._total.get(name)
        size = len(total[0]) if total else 0
        if sum(len(k) for k, _ in pending) >= max(size // 4, _MIN_PENDING):
            run = merge_sorted_counts(pending)
            pending.clear()
            self._total[name] = merge_into(total, run) if total else run
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
        entries = sum(len(k) for k, _ in self._total.values())
        entries += sum(len(k) for runs in self._pending.values() for k, _ in runs)
        return entries * _ENTRY_BYTES + self._long_bytes

    def spill(self) -> None:
        """Write every table's counts to disk as a sorted run and free the memory."""
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="bytepiece-counts-", dir=self._spill_parent)
        for name in sorted(set(self._total) | set(self._pending)):
            keys, counts = self._collect(name)
            if not len(keys):
                continue
            path = os.path.join(self._spill_dir, f"{name}-{self.spills}")
            np.save(path + ".keys.npy", keys)
            np.save(path + ".counts.npy", counts)
            self._spilled.setdefault(name, []).append(path)
        if self._long:
            path = os.path.join(self._spill_dir, f"long-{self.spills}")
            _write_long_run(path, sorted(self._long.items()))
            self._long_runs.append(path)
            self._long, self._long_bytes = Counter(), 0
        self.spills += 1

    def _collect(self, name: str) -> Run:
        total = self._total.pop(name, None)
        pending = self._pending.pop(name, [])
        return merge_sorted_counts(([total] if total else []) + pending)

    # ------------------------------------------------------------------ results
    def result(self, name: str, min_count: int = 1) -> Run:
        """All counts of ``name`` added up, keeping keys with ``count >= min_count``."""
        in_memory = self._collect(name)
        paths = self._spilled.pop(name, [])
        if not paths:
            return _at_least(in_memory, min_count)
        runs = [in_memory] + [
            (np.load(p + ".keys.npy", mmap_mode="r"), np.load(p + ".counts.npy", mmap_mode="r")) for p in paths
        ]
        return _merge_by_ranges(runs, min_count, self.memory_budget)

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


def merge_into(total: Run, run: Run) -> Run:
    """Add ``run`` to ``total`` (both sorted), needing about one extra copy of ``total``.

    A concatenate-and-sort merge would hold three or four; this one adds the counts of
    shared keys in place and inserts only the new keys.

    >>> k, c = merge_into((np.array([1, 5], np.uint64), np.array([1, 1])),
    ...                   (np.array([3, 5], np.uint64), np.array([2, 2])))
    >>> k.tolist(), c.tolist()
    ([1, 3, 5], [1, 2, 3])
    """
    keys, counts = total
    where = np.searchsorted(keys, run[0])
    shared = np.zeros(len(where), dtype=bool)
    inside = where < len(keys)
    shared[inside] = keys[where[inside]] == run[0][inside]
    counts = counts.copy() if not counts.flags.writeable else counts
    counts[where[shared]] += run[1][shared]
    new = ~shared
    return np.insert(keys, where[new], run[0][new]), np.insert(counts, where[new], run[1][new])


def _at_least(run: Run, min_count: int) -> Run:
    if min_count <= 1:
        return run
    keep = run[1] >= min_count
    return run[0][keep], run[1][keep]


def _merge_by_ranges(runs: List[Run], min_count: int, budget: Optional[int]) -> Run:
    """Merge sorted runs one key range at a time (runs may be memory-mapped)."""
    entries = sum(len(k) for k, _ in runs)
    per_range = max(1, (budget or entries * _ENTRY_BYTES) // (4 * _ENTRY_BYTES))
    ranges = max(1, -(-entries // per_range))
    largest = max(runs, key=lambda r: len(r[0]))[0]
    cuts = np.unique(np.asarray(largest[np.linspace(0, len(largest) - 1, ranges + 1).astype(np.int64)[1:-1]]))
    bounds = [None, *cuts.tolist(), None]
    kept_keys, kept_counts = [], []
    for low, high in zip(bounds[:-1], bounds[1:]):
        parts = []
        for keys, counts in runs:
            a = 0 if low is None else int(np.searchsorted(keys, np.uint64(low)))
            b = len(keys) if high is None else int(np.searchsorted(keys, np.uint64(high)))
            parts.append((np.asarray(keys[a:b]), np.asarray(counts[a:b])))
        keys, counts = _at_least(merge_sorted_counts(parts), min_count)
        kept_keys.append(keys)
        kept_counts.append(counts)
    return np.concatenate(kept_keys).astype(np.uint64), np.concatenate(kept_counts).astype(np.int64)


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
