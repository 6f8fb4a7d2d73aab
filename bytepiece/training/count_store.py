"""The reduce side of training: add up count shards under a memory budget, in parallel.

Shards are ``(sorted uint64 keys, counts)`` pairs (counts uint32 when they fit, as a map
task sends them: :func:`narrowed`; totals int64), one stream per table name (an
n-gram length, or packed pieces). Adding is commutative, so the result does not depend on
the order shards arrive in, nor on how many workers produced them, nor where.

The keys are **partitioned** by a hash (:func:`split_partitions`, done in the map tasks):
a key always falls in the same partition, so the partitions add up independently. The
store only files each shard's partitions away (views, no merging), and :meth:`result`
hands each partition to a task on the executor's pool (:func:`add_up_task`), which adds
its runs up and drops keys below ``min_count``; the driver concatenates the answers. So
the reduce runs on the workers, in parallel, and the driver's work is proportional to
the number of shards, not to their entries.

Memory: when the entries held exceed :meth:`CountStore.limit` (an eighth of
``memory_budget``), every partition's runs are handed to a thread that appends them to the
partition's file in ``spill_dir``, and memory starts empty again; a partition's file is
read by its task, where the workers see this machine's files (else read back here when
the task is sent), and removed once the task's result is in. ``partitions`` is chosen by
the trainer so that one partition of the whole corpus fits a worker.

Pieces longer than a packed key (``add_long``) are partitioned the same way, by a CRC of
their bytes (:func:`split_long`, in the map tasks), and each partition's dict is pickled
there (:func:`pack_long`): the store files the bytes away, counting them toward the same
budget, and spills them with the tables (appended to the partition's file, as they are).
:meth:`CountStore.long_result` sends each partition, as bytes, to be added up on the pool
(:func:`add_up_long_task`), which sends the total back pickled: the driver never merges
dicts piece by piece (with two workers at 100 MB that took 14 s of the driver's CPU,
competing with them), nor unpickles what passes through it. The totals stay pickled, in
memory or, beyond the budget, on disk, one file a partition (:class:`LongCounts`), for as
long as the store is open; pruning's tasks unpickle them.

Deliberately left out: what the keys mean.
"""

from __future__ import annotations

import collections
import io
import itertools
import os
import pickle
import shutil
import tempfile
import threading
import uuid
import zlib
from collections import Counter
from operator import itemgetter
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from ..io.files import signals_deferred
from ..parallel import release_memory
from .hash_table import hash_top, stable_order
from .ngram_counting import add_by_key

Run = Tuple[np.ndarray, np.ndarray]
HashedRun = Tuple[np.ndarray, np.ndarray, np.ndarray]  # a sorted run, and its order by hash_top
Shard = Tuple[np.ndarray, np.ndarray, np.ndarray]  # keys, counts, partition bounds
_NARROW_MAX = (1 << 32) - 1
LongShard = List[Dict[bytes, int]]  # a shard's long pieces, a dict per partition
PackedLong = List[bytes]  # the same, each dict pickled (b"": none in that partition)
_BLOB_BYTES = 33  # memory of a bytes object beyond its data


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0 .. partitions - 1) of each key: its :func:`hash_top`, scaled (as a
    hash table's home bucket is, so partitions added up in their order are in the order
    of their homes in any table: :meth:`HashTable.from_hash_ordered`)."""
    top = hash_top(keys)
    top *= np.uint64(partitions)
    top >>= np.uint64(32)
    return top.view(np.int64)


def split_partitions(keys: np.ndarray, counts: np.ndarray, partitions: int) -> Shard:
    """A sorted run reordered by partition (each partition's keys still sorted), and the
    bounds of the partitions in it; the counts :func:`narrowed` for the journey.

    >>> k, c, bounds = split_partitions(np.arange(6, dtype=np.uint64), np.ones(6, np.int64), 2)
    >>> [k[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])], c.dtype.name
    ([[0, 2, 4, 5], [1, 3]], 'uint32')
    """
    if partitions == 1:
        return keys, narrowed(counts), np.array([0, len(keys)], dtype=np.int64)
    which = partition_of(keys, partitions)
    # numpy sorts 16-bit integers stably by radix, in linear time: 3-6 times faster than
    # int64s, and these sorts were a tenth of the map tasks' time on the corpus sample
    order = np.argsort(which.astype(np.uint16) if partitions <= 1 << 16 else which, kind="stable")
    bounds = np.zeros(partitions + 1, dtype=np.int64)
    np.cumsum(np.bincount(which, minlength=partitions), out=bounds[1:])
    return keys[order], narrowed(counts[order]), bounds


def narrowed(counts: np.ndarray) -> np.ndarray:
    """``counts`` as uint32 when they fit (a map task's always do: it counts a few MB):
    a shard is then 12 bytes an entry instead of 16, and pass 1's shards (several times
    as many entries as the n-gram model keeps) travel to the driver and on to the reduce
    tasks a quarter lighter (spilled, they are int64). Totals are added up in int64
    (:func:`~bytepiece.training.ngram_counting.add_by_key`), never in this type."""
    if counts.dtype == np.uint32 or (len(counts) and (int(counts.max()) > _NARROW_MAX or int(counts.min()) < 0)):
        return counts
    return counts.astype(np.uint32)


def add_up_task(state: Any, item: Tuple[List[Run], Optional[str], int, bool]) -> "Run | HashedRun":
    """The reduce task: one partition's runs, and its run spilled to ``stem`` if any (read
    here: see :meth:`CountStore.result`), added up, keys below ``min_count`` dropped,
    sorted by key (``hash_order``: with the permutation, uint32, that orders them by
    :func:`hash_top`, then key). A run read back from disk is several sorted runs end to
    end: sorting is always done."""
    runs, stem, min_count, hash_order = item
    if stem is not None:
        runs = [*runs, read_run(stem)]
    keys = np.concatenate([k for k, _ in runs]) if len(runs) > 1 else runs[0][0]
    counts = np.concatenate([c for _, c in runs]) if len(runs) > 1 else runs[0][1]  # int64 below: add_by_key, _at_least
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        order = np.argsort(keys, kind="stable")  # runs end to end: near linear
        keys, counts = add_by_key(keys[order], counts[order])
    keys, counts = _at_least((keys, counts.astype(np.int64, copy=False)), min_count)
    if hash_order:
        return keys, counts, stable_order(hash_top(keys).view(np.int64), overwrite=True)[0]  # ties (rare): by key
    return keys, counts


def split_long(counts: Dict[bytes, int], partitions: int) -> LongShard:
    """Long-piece counts as one dict per partition; a piece's partition is the CRC-32 of
    its bytes (the same in every process, unlike ``hash``).

    >>> split_long({b"long piece one": 1, b"long piece two": 2}, 2)
    [{b'long piece one': 1}, {b'long piece two': 2}]
    """
    if partitions == 1 or not counts:
        return [dict(counts)] + [{} for _ in range(partitions - 1)]
    pieces = list(counts)
    which = np.fromiter(map(zlib.crc32, pieces), dtype=np.int64, count=len(pieces)) % partitions
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(partitions + 1)).tolist()
    ordered = itemgetter(*order.tolist())(pieces) if len(pieces) > 1 else tuple(pieces)
    values = list(map(counts.__getitem__, ordered))
    return [dict(zip(ordered[first:last], values[first:last])) for first, last in zip(bounds[:-1], bounds[1:])]


def pack_long(shard: LongShard) -> PackedLong:
    """:func:`split_long`'s dicts pickled, in the task that counted them: the driver then
    files, spills and sends them on as bytes (about a piece's length and 6 bytes more,
    against 120 as a dict), and never makes millions of objects of them.

    >>> [pickle.loads(blob) for blob in pack_long([{b"long piece": 2}, {}]) if blob]
    [{b'long piece': 2}]
    """
    return [pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL) if part else b"" for part in shard]


def add_up_long_task(state: Any, item: Tuple[PackedLong, Optional[str]]) -> Tuple[bytes, int]:
    """The reduce task of long pieces: one partition's dicts (pickled, and several end to
    end in its file on disk, if it spilled: read here) added up by piece; the total
    pickled, with its number of pieces."""
    blobs, path = item
    if path is not None:
        blobs = [*blobs, _read_bytes(path)]
    parts = sorted((part for blob in blobs for part in read_pickles(io.BytesIO(blob))), key=len, reverse=True)
    total = Counter(parts[0])
    for part in parts[1:]:
        total.update(part)
    del parts
    return pickle.dumps(dict(total), protocol=pickle.HIGHEST_PROTOCOL), len(total)


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
        self._long: List[PackedLong] = [[] for _ in range(self.partitions)]  # pickled dicts per partition
        self._long_bytes = 0
        self._long_spilled: Dict[int, str] = {}  # partition -> file of pickled dicts
        self.spills = 0
        self._writer: Optional[_Writer] = None  # the last spill's write, while it may be under way

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
        self._held += keys.nbytes + counts.nbytes
        if self.held_bytes() > self.limit():
            self.spill()

    def add_long(self, counts: "Dict[bytes, int] | LongShard | PackedLong") -> None:
        """Add counts of long pieces (any bytes): a dict, or a list of dicts already split
        by :func:`split_long` (with this store's number of partitions), or those dicts
        pickled by :func:`pack_long` (as pass 2's tasks send them). They are held pickled."""
        shard: List[Any] = split_long(counts, self.partitions) if isinstance(counts, dict) else list(counts)
        if len(shard) != self.partitions:
            raise ValueError(f"long pieces split in {len(shard)} partitions, the store has {self.partitions}")
        for partition, part in enumerate(shard):
            if part:
                blob = part if isinstance(part, bytes) else pack_long([part])[0]
                self._long[partition].append(blob)
                self._long_bytes += len(blob) + _BLOB_BYTES
        if self.held_bytes() > self.limit():
            self.spill()

    def held_bytes(self) -> int:
        """Bytes of counts held in memory now."""
        return self._held + self._long_bytes

    def limit(self) -> float:
        """The bytes of counts held before the store spills: an eighth of the budget
        (infinite without one).

        Held counts are only on their way to disk or to their reduce, so holding more
        makes nothing faster (100 MB, two workers: the same wall time with half of the
        budget). The rest is for what the driver holds beside them: the n-gram model
        (within half of the budget), the shards arriving, the heap's slack. With the
        whole budget for the counts, or what the model left of it, the driver was
        larger the more a corpus filled them (docs/scaling.md, "Session 16").

        >>> CountStore(800).limit()
        100
        """
        if self.memory_budget is None:
            return float("inf")
        return self.memory_budget // 8

    def spill(self) -> None:
        """Hand every partition's runs to a thread that appends them to the partition's
        file on disk and frees their memory; the store starts empty again.

        The write overlaps the tasks (and, with ``workers=1``, the task running in this
        process): written in the driver's thread, at 100 MB the spills were 0.5 s of its
        serial time. One write at a time: a spill waits for the one before, so at most
        two limits' worth of counts are held (docs/training.md, "Memory").
        """
        self.settle()
        spill_dir = self._directory()
        tables: List[Tuple[str, List[Run]]] = []
        for name in sorted(self._pending):
            for partition, runs in enumerate(self._pending[name]):
                if runs:
                    stem = self._spilled.setdefault((name, partition), os.path.join(spill_dir, f"{name}-{partition}"))
                    tables.append((stem, runs))
            self._pending[name] = [[] for _ in range(self.partitions)]
        long: List[Tuple[str, List[bytes]]] = []
        for partition, parts in enumerate(self._long):
            if parts:
                long.append((self._long_spilled.setdefault(partition, os.path.join(spill_dir, f"long-{partition}")), parts))
        self._long = [[] for _ in range(self.partitions)]
        self._held = self._long_bytes = 0
        self.spills += 1
        # An interrupt between the thread's start and its record here would let close()
        # delete the directory while the thread still writes in it (and leave its files)
        with signals_deferred():
            self._writer = _Writer(tables, long)

    def settle(self) -> None:
        """Wait until the last spill is on disk; raise its error, if it had one. Called
        before the spilled files are read, and before the store is closed; the trainer
        calls it before forking workers (a thread must not be writing at a fork)."""
        writer = self._writer
        if writer is not None:
            # An event, not join(): a join that a signal's exception interrupts marks the
            # thread stopped though it still runs (CPython 3.11, threading's bpo-45274
            # handling), and the next join would not wait. Interrupted, the writer stays
            # recorded, and close() waits for it.
            writer.done.wait()
            self._writer = None
            if writer.error is not None:
                raise writer.error

    # ------------------------------------------------------------------ results
    def result(self, name: str, min_count: int = 1, pool: Any = None, *, gather: Optional[Callable[[Iterator[Run]], Iterable[Run]]] = None) -> Run:
        """All counts of ``name`` added up, keeping keys with ``count >= min_count``,
        sorted. Each partition is added up by :func:`add_up_task` on ``pool`` (a pool of
        ``parallel.py`` or ``cluster.py``; None: here), read from disk as it is sent.
        ``gather``: takes the partitions' runs as they come, and gives those to assemble
        (the n-gram model's budget thins them: ``ModelBudget.gather``)."""
        parts = self._added_up(name, min_count, pool, hash_order=False)
        return _assemble(parts if gather is None else gather(parts))

    def result_runs(self, name: str, min_count: int = 1, pool: Any = None) -> Iterator[HashedRun]:
        """:meth:`result` as one run a partition, sorted, each with the permutation that
        puts it in the order of :func:`~bytepiece.training.hash_table.hash_top` (and so
        all of them, one after the other: partitions are ranges of it): for a caller that
        looks the sorted keys up and then hashes them (the n-gram model's longest length,
        its largest table), which needs neither a sort of its own nor the runs gathered
        into one array. Added up as the runs are read.

        >>> store = CountStore(partitions=2)
        >>> store.add("t", np.array([1, 2, 3, 9], np.uint64), np.array([1, 2, 3, 4]))
        >>> [[a.tolist() for a in run] for run in store.result_runs("t", min_count=2)]
        [[[2], [2], [0]], [[3, 9], [3, 4], [1, 0]]]
        """
        return self._added_up(name, min_count, pool, hash_order=True)

    def _added_up(self, name: str, min_count: int, pool: Any, *, hash_order: bool) -> Iterator[Any]:
        self.settle()
        pending = self._pending.pop(name, [[] for _ in range(self.partitions)])
        self._held -= sum(k.nbytes + c.nbytes for runs in pending for k, c in runs)
        there = _reads_files(pool)

        def items() -> Iterator[Tuple[List[Run], Optional[str], int, bool]]:
            for partition in range(self.partitions):
                runs, pending[partition] = pending[partition], []
                stem = self._spilled.pop((name, partition), None)
                if stem is not None and not there:
                    runs.append(read_run(stem))
                    _remove_run(stem)
                    stem = None
                if runs or stem is not None:
                    yield runs, stem, min_count, hash_order

        return _removing_read_files(pool, add_up_task, items(), lambda item: item[1], _remove_run)

    def long_result(self, pool: Any = None) -> "LongCounts":
        """All long-piece counts, added up by piece: each partition by
        :func:`add_up_long_task` on ``pool`` (None: here). The partitions that do not fit
        the budget stay on disk, one file each, for as long as the store is open."""
        self.settle()
        pending, self._long = self._long, [[] for _ in range(self.partitions)]
        self._long_bytes = 0

        there = _reads_files(pool)

        def items() -> Iterator[Tuple[PackedLong, Optional[str]]]:
            for partition in range(self.partitions):
                blobs, pending[partition] = pending[partition], []
                path = self._long_spilled.pop(partition, None)
                if path is not None and not there:  # sent as it is on disk: the task unpickles it
                    blobs.append(_read_bytes(path))
                    os.unlink(path)
                    path = None
                if blobs or path is not None:
                    yield blobs, path

        added = _removing_read_files(pool, add_up_long_task, items(), lambda item: item[1], os.unlink)
        held: List[Tuple[bytes, int]] = []
        held_bytes = 0
        runs: List[Tuple[str, int]] = []
        for blob, length in added:
            if held_bytes + len(blob) + _BLOB_BYTES > self.limit():  # on disk
                path = os.path.join(self._directory(), f"long-result-{len(runs)}")
                with open(path, "wb") as handle:
                    handle.write(blob)
                runs.append((path, length))
            else:  # still pickled: the driver never makes the pieces objects
                held.append((blob, length))
                held_bytes += len(blob) + _BLOB_BYTES
        return LongCounts({}, runs, pickled=held)

    def _directory(self) -> str:
        """The directory of spilled runs, made on first use. Its name is recorded before it
        is made, so that :meth:`close` finds it whenever an interrupt (SIGTERM raised as an
        exception by the command line) comes: with ``mkdtemp`` it could come between the
        directory's making and its recording, and the directory was left behind."""
        if self._spill_dir is None:
            parent = self._spill_parent if self._spill_parent is not None else tempfile.gettempdir()
            self._spill_dir = os.path.join(parent, f"bytepiece-counts-{uuid.uuid4().hex[:12]}")
            os.mkdir(self._spill_dir, 0o700)
        return self._spill_dir

    def close(self) -> None:
        """Delete spilled runs (once the last spill's write is over)."""
        try:
            self.settle()
        except Exception:  # nobody reads that write's files any more: they go now
            pass
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None

    def __enter__(self) -> "CountStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Writer(threading.Thread):
    """One spill's write: runs appended to their partitions' files (keys and counts
    apart), long pieces' pickles to theirs; then the memory goes back to the OS (glibc
    kept the freed runs' pages for reuse: a driver that spilled once stayed at its peak
    for the rest of the stage, docs/scaling.md, "Session 16"). numpy and file writes let
    go of the GIL, so the driver goes on meanwhile."""

    def __init__(self, tables: List[Tuple[str, List[Run]]], long: List[Tuple[str, List[bytes]]]) -> None:
        super().__init__(name="bytepiece-spill", daemon=True)
        self.tables, self.long = tables, long
        self.error: Optional[BaseException] = None
        self.done = threading.Event()  # set last: the files are written and closed
        self.start()

    def run(self) -> None:
        try:
            for stem, runs in self.tables:
                with open(stem + ".keys", "ab") as handle:
                    for keys, _ in runs:
                        keys.astype(np.uint64, copy=False).tofile(handle)
                with open(stem + ".counts", "ab") as handle:
                    for _, counts in runs:
                        counts.astype(np.int64, copy=False).tofile(handle)  # no copies to write
            for path, blobs in self.long:
                with open(path, "ab") as handle:
                    for blob in blobs:
                        handle.write(blob)  # pickles end to end
        except BaseException as exc:  # raised in the store's thread, by CountStore.settle
            self.error = exc
        finally:
            self.tables, self.long = [], []  # the runs' memory goes with the references
            release_memory()
            self.done.set()


def read_run(stem: str) -> Run:
    """A partition's run spilled to ``stem`` (:class:`_Writer`): its keys and counts."""
    return np.fromfile(stem + ".keys", dtype=np.uint64), np.fromfile(stem + ".counts", dtype=np.int64)


def _remove_run(stem: str) -> None:
    os.unlink(stem + ".keys")
    os.unlink(stem + ".counts")


def _reads_files(pool: Any) -> bool:
    """Whether ``pool``'s tasks read the spilled files themselves: its workers see this
    machine's files (``Pool.shares_files``), so what spilled goes from the disk to the
    task, not through the driver, which at 100 MB read 656 MB back and sent it on
    (pickled to a pipe, or to a file for ``local:N``), on the same two cores. A cluster
    elsewhere gets the runs read here (None: the tasks run here, and read them)."""
    return pool is None or bool(getattr(pool, "shares_files", False))


def _removing_read_files(
    pool: Any, task: Callable[[Any, Any], Any], items: Iterator[Any], path_of: Callable[[Any], Optional[str]], remove: Callable[[str], None]
) -> Iterator[Any]:
    """``task`` over ``items`` on ``pool`` (None: here), results in order; the file each
    item names (``path_of``) is removed once its task's result is in, not before: a task
    that Dask reruns (its worker died) reads it again."""
    in_flight: Deque[Optional[str]] = collections.deque()

    def sent() -> Iterator[Any]:
        for item in items:
            in_flight.append(path_of(item))
            yield item

    results = pool.imap(task, sent()) if pool is not None else (task(None, item) for item in sent())
    for result in results:
        path = in_flight.popleft()
        if path is not None:
            remove(path)
        yield result


def _assemble(parts: Iterable[Run]) -> Run:
    """Sorted partitions with disjoint keys as one sorted run, with as few copies alive at
    once as numpy allows."""
    key_parts: List[np.ndarray] = []
    count_parts: List[np.ndarray] = []
    for keys, counts in parts:
        key_parts.append(keys)
        count_parts.append(counts)
    keys = np.concatenate(key_parts).astype(np.uint64, copy=False) if key_parts else np.zeros(0, np.uint64)
    key_parts.clear()
    order, keys = stable_order(keys, overwrite=True)  # packed with their indices: a tenth of the driver's model build went to an argsort
    counts = np.concatenate(count_parts) if count_parts else np.zeros(0, np.int64)
    count_parts.clear()
    return keys, counts[order].astype(np.int64, copy=False)


def _at_least(run: Run, min_count: int) -> Run:
    if min_count <= 1:
        return run
    keep = run[1] >= min_count
    return run[0][keep], run[1][keep]


class LongCounts:
    """Counts of long pieces: a dict, plus partitions still pickled (each a dict's pickle,
    with its number of pieces) and partitions on disk (one pickled dict a file), their
    pieces disjoint from each other's. :meth:`items` reads one partition at a time.

    >>> counts = LongCounts({b"long piece": 2}, pickled=[(pickle.dumps({b"another one": 3}), 1)])
    >>> list(counts.items()), len(counts)
    ([(b'long piece', 2), (b'another one', 3)], 2)
    """

    def __init__(
        self, memory: Dict[bytes, int], runs: Optional[List[Tuple[str, int]]] = None, *, pickled: Optional[List[Tuple[bytes, int]]] = None
    ) -> None:
        self.memory = memory
        self.pickled = [blob for blob, _ in pickled or []]
        self.runs = [path for path, _ in runs or []]
        self._length = len(memory) + sum(length for _, length in (runs or []) + (pickled or []))

    def items(self) -> Iterator[Tuple[bytes, int]]:
        yield from self.memory.items()
        for blob in itertools.chain(self.pickled, map(_read_bytes, self.runs)):
            yield from pickle.loads(blob).items()

    def take_pickled(self) -> Iterator[bytes]:
        """Each partition as a pickled dict: the one in memory, those held pickled, then
        those on disk (read as they are asked for), each forgotten once given (the files
        stay until the store is closed), so that the caller, pruning, can send them to its
        workers and hold at most one.

        >>> counts = LongCounts({b"long piece": 2})
        >>> [pickle.loads(blob) for blob in counts.take_pickled()], len(counts)
        ([{b'long piece': 2}], 0)
        """
        if self.memory:
            blob = pickle.dumps(self.memory, protocol=pickle.HIGHEST_PROTOCOL)
            self._length -= len(self.memory)
            self.memory = {}
            yield blob
        yield from _popped(self.pickled)
        yield from map(_read_bytes, _popped(self.runs))
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def clear(self) -> None:
        """Forget the counts (the files are deleted with the store's directory)."""
        self.memory, self.pickled, self.runs, self._length = {}, [], [], 0


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _popped(items: List[Any]) -> Iterator[Any]:
    """The items of a list from the first, each removed from it as it is given."""
    items.reverse()
    while items:
        yield items.pop()


def read_pickles(handle: Any) -> Iterator[Any]:
    """The objects pickled one after the other into an open file, from where it is on."""
    while True:
        try:
            yield pickle.load(handle)
        except EOFError:
            return
