"""Pass 1 of training: count byte n-grams and turn the counts into an n-gram model.

Counting is map/reduce shaped. :func:`count_ngrams` maps a batch of chunks to
:class:`NgramCounts` (sorted integer keys and counts per length); counts of different
batches merge by addition (:class:`~bytepiece.training.count_store.CountStore`), in any order,
so any number of workers gives identical totals. :func:`stream_model` then prunes by
``min_count`` and computes conditional log-probabilities (``docs/algorithm.md``, Pass 1).

An n-gram of ``n <= 7`` bytes is the integer of its bytes read big-endian; each length has
its own key space. Counting sorts one packed 64-bit word per byte position, the window of
``order`` bytes starting there plus how many of them lie inside the chunk; every shorter
n-gram is then a prefix of a sorted array, so all lengths are counted from one sort.

Deliberately left out: reading, chunking (``io/corpus.py``, ``normalization.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..parallel import release_memory
from .hash_table import HashTable
from .packed_keys import PACKED_MAX, pack, packed_lengths, packed_values, windows

MAX_ORDER = PACKED_MAX  # an n-gram is a packed key (``packed_keys.py``)
_NARROW_MAX = (1 << 32) - 1
_BLOCK = 1 << 20  # n-grams given their conditionals at once
Entries = Tuple[np.ndarray, ...]  # arrays of the same entries (keys, log-probabilities, ...)


@dataclass
class NgramCounts:
    """Counts of one shard: ``keys[n]``/``counts[n]`` for n = 1..order (sorted keys)."""

    order: int
    total: int  # number of byte positions = the length-0 count
    keys: Dict[int, np.ndarray]
    counts: Dict[int, np.ndarray]


def check_order(order: int) -> int:
    if not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be an integer from 1 to {MAX_ORDER}, got {order!r}")
    return order


def concat_chunks(chunks: Sequence[bytes]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All chunks as one uint8 array; each byte's offset in its chunk; bytes left from it.

    >>> buf, offset, left = concat_chunks([b"ab", b"c"])
    >>> buf.tolist(), offset.tolist(), left.tolist()
    ([97, 98, 99], [0, 1, 0], [2, 1, 1])
    """
    buf = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    return (buf, *chunk_positions(lengths))


def chunk_positions(lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For consecutive chunks of these lengths: each byte's offset and bytes left."""
    starts = np.cumsum(lengths) - lengths
    position = np.arange(int(lengths.sum()), dtype=np.int64)
    offset = position - np.repeat(starts, lengths)
    left = np.repeat(starts + lengths, lengths) - position
    return offset, left


def count_ngrams(chunks: Sequence[bytes], order: int) -> NgramCounts:
    """Count the n-grams (n = 1..order) inside each chunk.

    >>> c = count_ngrams([b"abab"], 2)
    >>> c.total, c.keys[2].tolist(), c.counts[2].tolist()
    (4, [24930, 25185], [2, 1])
    """
    check_order(order)
    buf, _, left = concat_chunks(chunks)
    # each window with how many of its bytes lie inside the chunk, in the length bits
    packed = pack(windows(buf, order), np.minimum(left, order))
    packed.sort()
    valid = packed_lengths(packed)
    keys, counts = {}, {}
    for n in range(1, order + 1):
        grams = packed_values(packed[valid >= n]) >> np.uint64(8 * (order - n))
        keys[n], counts[n] = run_lengths(grams)
    return NgramCounts(order, int(len(buf)), keys, counts)


def run_lengths(sorted_keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs.

    >>> [a.tolist() for a in run_lengths(np.array([3, 3, 5], dtype=np.uint64))]
    [[3, 5], [2, 1]]
    """
    if not len(sorted_keys):
        return sorted_keys.astype(np.uint64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    counts = np.diff(np.append(starts, len(sorted_keys)))
    return sorted_keys[starts], counts.astype(np.int64)


def merge_sorted_counts(parts: List[Tuple[np.ndarray, np.ndarray]]) -> Tuple[np.ndarray, np.ndarray]:
    """Add up several (sorted keys, counts) pairs into one.

    >>> k, c = merge_sorted_counts([(np.array([1, 4], np.uint64), np.array([1, 1])),
    ...                             (np.array([4], np.uint64), np.array([2]))])
    >>> k.tolist(), c.tolist()
    ([1, 4], [1, 3])
    """
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    order = np.argsort(keys, kind="stable")  # sorted runs: the merge sort is near linear
    return add_by_key(keys[order], counts[order])


def add_by_key(sorted_keys: np.ndarray, counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The distinct keys of a sorted array, and the sum of the counts of each.

    >>> [a.tolist() for a in add_by_key(np.array([3, 3, 5], np.uint64), np.array([1, 2, 4]))]
    [[3, 5], [3, 4]]
    """
    if not len(sorted_keys):
        return sorted_keys, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    return sorted_keys[starts], np.add.reduceat(counts.astype(np.int64, copy=False), starts)  # int64: narrower counts would wrap


# ---------------------------------------------------------------- the n-gram model
class NgramModel:
    """Conditional log-probabilities of n-grams, for look-ups by integer key.

    Lengths 1 and 2 are dense arrays (index = the n-gram's integer); longer n-grams live in
    hash tables, and only there (the sorted arrays they came from are not kept).
    """

    def __init__(self, order: int) -> None:
        self.order = order
        self._dense: Dict[int, np.ndarray] = {}
        self._tables: Dict[int, HashTable] = {}
        self.sizes: Dict[int, int] = {}

    def add(self, n: int, keys: np.ndarray, logp: np.ndarray) -> None:
        self.sizes[n] = len(keys)
        if n <= 2:
            dense = np.full(1 << (8 * n), -np.inf)
            dense[keys.astype(np.int64)] = logp
            self._dense[n] = dense
        else:
            self._tables[n] = HashTable(keys, logp)

    def add_hash_ordered(self, n: int, runs: List[Tuple[np.ndarray, np.ndarray]]) -> None:
        """:meth:`add` from runs of (keys, log-probabilities) in hash order
        (:meth:`HashTable.from_hash_ordered`)."""
        if n <= 2:
            self.add(n, np.concatenate([k for k, _ in runs]), np.concatenate([v for _, v in runs]))
            return
        self.sizes[n] = sum(len(keys) for keys, _ in runs)
        self._tables[n] = HashTable.from_hash_ordered(runs)

    @property
    def nbytes(self) -> int:
        """The memory of the model's arrays and tables."""
        return sum(int(d.nbytes) for d in self._dense.values()) + sum(t.nbytes for t in self._tables.values())

    def lookup(self, n: int, grams: np.ndarray) -> np.ndarray:
        """Log-probabilities of n-grams (integer keys); ``-inf`` for pruned ones."""
        if n in self._dense:
            return self._dense[n][grams.astype(np.int64)]
        return self._tables[n].get(grams)


def keep_threshold(counts: np.ndarray, floor: int, limit: Optional[int]) -> int:
    """The count that at most ``limit`` of ``counts`` reach: ``floor`` if that many or
    fewer reach it, else the lowest count above ``floor`` that so few reach. Counts tied
    at the cut go together, so the threshold is a function of the counts alone, in any
    order (``limit=None``: no limit). The n-gram model's budget and pruning's candidates
    both keep their most frequent entries this way.

    >>> keep_threshold(np.array([9, 5, 5, 2, 7]), 2, 3)  # 9 and 7 stay, the 5s tie
    6
    >>> keep_threshold(np.array([9, 5, 5, 2, 7]), 2, None), keep_threshold(np.array([9, 5]), 2, 0)
    (2, 10)
    """
    above = counts[counts >= floor]
    if limit is None or len(above) <= limit:
        return floor
    # the (limit + 1)-th largest count goes, and every count tied with it
    return int(np.partition(above, len(above) - limit - 1)[len(above) - limit - 1]) + 1


class ModelBudget:
    """The bytes the n-gram model may take, and the count an n-gram needs to get in.

    Without a limit (``max_bytes=None``) every n-gram with ``count >= min_count`` is kept:
    the original's model. With one, the lengths come in shortest first and each takes at
    most its share of the bytes still free (what is left over the lengths still to come,
    itself included; the longest takes all that is left): a length that would take more
    keeps its most frequent n-grams only, by a higher count threshold. Thresholds never
    fall from one length to the next, so every kept n-gram's prefix is kept (a prefix
    occurs wherever its extensions do). They are functions of the added-up counts alone,
    so the model is the same for any number of workers and any executor
    (``docs/training.md``, "A model that fits its budget").

    ``order``: the longest length, the last to share the bytes.

    >>> budget = ModelBudget(2, order=3, max_bytes=64)  # room for 3 keys
    >>> budget.admit(3, np.array([9, 5, 5, 2, 7]))  # 9 and 7 stay, the 5s tie
    6
    >>> budget.thinned
    {3: 6}
    """

    def __init__(self, min_count: int, *, order: int, max_bytes: Optional[int] = None) -> None:
        self.min_count = min_count
        self.order = order
        self.max_bytes = max_bytes
        self.used = 0  # bytes of the lengths admitted so far
        self.thresholds: Dict[int, int] = {}
        self._reached: Dict[int, int] = {}  # by length: a threshold :meth:`gather` found it reaches

    @classmethod
    def of(cls, min_count: "int | ModelBudget", order: int) -> "ModelBudget":
        """``min_count`` as the budget of a model of ``order``: itself, or one without a
        limit."""
        if not isinstance(min_count, ModelBudget):
            return cls(min_count, order=order)
        if min_count.order != order:
            raise ValueError(f"a budget shared among lengths up to {min_count.order}, for a model of order {order}")
        return min_count

    def floor(self) -> int:
        """The lowest threshold the next length can have: the last one decided."""
        return max([self.min_count, *self.thresholds.values()])

    def admit(self, n: int, counts: np.ndarray) -> int:
        """The threshold of length ``n`` (``counts``: its n-grams' counts, any order, any
        of them below :meth:`floor`, or below what :meth:`gather` found the threshold
        reaches, ignored), charging the table it makes. Lengths 1 and 2 are dense arrays
        of fixed size, never thinned."""
        threshold = max(self.floor(), self._reached.pop(n, 0)) if n > 1 else 1
        if n <= 2:
            self.thresholds[n] = threshold
            self.used += 8 << (8 * n)
            return threshold
        room = self.room(n)
        if room is not None:
            threshold = keep_threshold(counts, threshold, room)
        kept = int(np.count_nonzero(counts >= threshold))
        self.thresholds[n] = threshold
        self.used += HashTable.bytes_for(kept)
        return threshold

    def gather(self, n: int, runs: Iterable[Tuple[Entries, np.ndarray]]) -> Tuple[List[Entries], List[np.ndarray]]:
        """Length ``n``'s runs, each some arrays of entries and their counts, taken as they
        come (a count partition at a time, from the reduce), and what :meth:`admit` needs
        of them: the arrays, and the counts.

        Once the runs held outgrow the length's :meth:`room` by half, what is counted
        below the threshold of the runs so far goes: that threshold is a floor for the
        one over every run (a count that too many of some runs reach, too many of all
        of them reach), so :meth:`admit` decides the same threshold from what is left,
        and the runs held stay within half the room of it, whatever the corpus. Without
        this, a doubled corpus (782 MB) held every 5-gram above the 4-grams' threshold
        (2) until the 5-grams' was decided (9), and the driver peaked at 0.87 GB at 512M.

        >>> budget = ModelBudget(2, order=3, max_bytes=64)  # room for 3 keys
        >>> runs = [((np.array([1, 2]),), np.array([9, 3])), ((np.array([3, 4]),), np.array([8, 7])),
        ...         ((np.array([5]),), np.array([6]))]  # the third is one too many: 7 is reached
        >>> kept, counts = budget.gather(3, runs)
        >>> [k[0].tolist() for k in kept], budget.admit(3, np.concatenate(counts))
        ([[1], [3, 4], []], 7)
        """
        room = self.room(n)
        floor = self.floor()
        kept: List[Entries] = []
        counts: List[np.ndarray] = []
        held = 0  # entries in the runs
        for arrays, run_counts in runs:
            kept.append(arrays)
            counts.append(run_counts)
            held += len(run_counts)
            if room is not None and held > room + room // 2:
                raised = keep_threshold(np.concatenate(counts), floor, room)
                if raised > floor:
                    floor = raised
                    _drop_below(kept, counts, floor)
                    held = sum(map(len, counts))
                    release_memory()  # what went lies between the runs kept
            del arrays, run_counts
        self._reached[n] = floor
        return kept, counts

    def room(self, n: int) -> Optional[int]:
        """The most n-grams length ``n`` may keep (None: no limit): its share of the bytes
        still free, shared with the lengths after it up to :attr:`order`. The one place
        that share is worked out: :meth:`gather` thins by it and :meth:`admit` decides by
        it, and a thinning by a smaller room would drop n-grams the decision keeps.

        >>> ModelBudget(2, order=3, max_bytes=64).room(3), ModelBudget(2, order=3).room(3)
        (3, None)
        """
        if self.max_bytes is None:
            return None
        return HashTable.keys_for(max(0, self.max_bytes - self.used) // max(1, self.order - n + 1))

    @property
    def thinned(self) -> Dict[int, int]:
        """The lengths whose threshold the budget raised above ``min_count``, and to what."""
        return {n: t for n, t in self.thresholds.items() if t > self.min_count}


def build_model(counts: NgramCounts, min_count: "int | ModelBudget") -> NgramModel:
    """Prune the counts and turn them into conditionals (``docs/algorithm.md``, Pass 1);
    ``min_count`` may be a :class:`ModelBudget`."""
    return stream_model(counts.order, counts.total, _tables(counts), min_count)


def stream_model(
    order: int,
    total: int,
    tables: Iterable[Tuple[int, np.ndarray, np.ndarray]],
    min_count: "int | ModelBudget",
    *,
    longest: Optional[Iterable[Tuple[np.ndarray, np.ndarray, np.ndarray]]] = None,
) -> NgramModel:
    """:func:`build_model` from ``(n, keys, counts)`` for n = 1..order (keys sorted),
    taken one length at a time: the trainer hands each length over as its reduce
    finishes, so the driver never holds the counts of all lengths (together the size of
    the model, the largest thing it holds) beside the tables.

    ``longest``: the counts of length ``order`` instead, as sorted runs, each with the
    permutation that puts it in hash order (``CountStore.result_runs``, read once the
    shorter lengths are tables), and ``tables`` stops at ``order - 1``. The longest
    n-grams are nobody's prefixes and only hashed, so they are never sorted here nor
    gathered into one array: each run is made log-probabilities (its prefixes looked up
    in key order, which a binary search needs to be fast), put in hash order, and the
    table is built from the runs (:meth:`HashTable.from_hash_ordered`). It is the
    model's largest (14 of its 24.8 million entries at 391 MB, ``docs/scaling.md``).

    ``min_count`` may be a :class:`ModelBudget`, which then decides each length's
    threshold as it comes (and records them); the caller may read its
    :meth:`~ModelBudget.floor` to have the next length's counts below it dropped before
    they come.
    """
    budget = ModelBudget.of(min_count, order)
    model = NgramModel(order)
    last = order if longest is None else order - 1
    prefix: Tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.uint64), np.zeros(0))
    for n, keys, logp, raw in _conditionals(total, tables, budget, last=last, keep_last=longest is not None):
        model.add(n, keys, logp)
        del logp
        if n == last and raw is not None:
            prefix = (keys, raw)
        del keys, raw
        # Each length's counts and temporaries are freed here, but glibc keeps them, in
        # holes the next length's arrays do not fit: at 100 MB the driver was resident for
        # 555 MB as the longest table was built, while it held 306 MB (tracemalloc).
        # Handed back after each length, the model's stage peaks at 0.62 GB over all
        # processes, not 0.76 (0.83, not 0.90, at 391 MB).
        release_memory()
    if longest is not None:
        floor = budget.floor()
        limited = budget.max_bytes is not None

        def logp_runs() -> Iterator[Tuple[Entries, np.ndarray]]:  # each run's counts become its log-probabilities as it comes
            for keys, counts, hashed in longest:
                if len(counts) and int(counts.min()) < floor:
                    hashed = hashed[counts[hashed] >= floor]  # the same order, of the rest
                logp = _conditional(keys, counts, prefix, keep_raw=False)[0]
                # the counts kept (4 bytes an entry) until every run is in and the budget has its say; no budget, no say
                kept = np.minimum(counts.take(hashed), _NARROW_MAX).astype(np.uint32) if limited else np.zeros(0, np.uint32)
                yield (keys.take(hashed), logp.take(hashed)), kept
                del keys, counts, hashed, logp, kept

        runs, run_counts = budget.gather(order, logp_runs())
        del prefix
        threshold = budget.admit(order, np.concatenate(run_counts) if run_counts else np.zeros(0, np.uint32))
        if threshold > floor:
            _drop_below(runs, run_counts, threshold)
        run_counts.clear()
        release_memory()  # the runs' temporaries, before the largest table is allocated
        model.add_hash_ordered(order, [(keys, logp) for keys, logp in runs])
        runs.clear()
    return model


def _drop_below(runs: List[Entries], run_counts: List[np.ndarray], threshold: int) -> None:
    """Drop the entries counted below ``threshold`` from each run (some arrays) and its
    counts, in place, keeping their order."""
    for i, counts in enumerate(run_counts):
        keep = counts >= threshold
        runs[i] = tuple(array[keep] for array in runs[i])
        run_counts[i] = counts[keep]


def conditionals(counts: NgramCounts, min_count: int) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """``(n, keys, log-probabilities)`` for n = 1..order.

    Unseen bytes get count 1; n-grams of length >= 2 need ``count >= min_count``;
    ``logp[n][g] = log c(g) - log c(g without its last byte)`` and
    ``logp[1][b] = log c(b) - log N``.
    """
    found = _conditionals(counts.total, _tables(counts), ModelBudget.of(min_count, counts.order), last=counts.order)
    return ((n, keys, logp) for n, keys, logp, _ in found)


def _tables(counts: NgramCounts) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    return ((n, counts.keys[n], counts.counts[n]) for n in range(1, counts.order + 1))


def _conditionals(
    total: int,
    tables: Iterable[Tuple[int, np.ndarray, np.ndarray]],
    budget: ModelBudget,
    *,
    last: int,
    keep_last: bool = False,
) -> Iterator[Tuple[int, np.ndarray, np.ndarray, Optional[np.ndarray]]]:
    """:func:`conditionals` of a stream of tables (lengths 1, 2, ..., ``last`` in order),
    with each length's raw log counts for the next length (``keep_last``: length
    ``last``'s too; else None for it). Arrays are let go as soon as they are used, and
    the next length is reduced only once this one is a table: each is the size of a
    length's model."""
    stream = iter(tables)
    item = next(stream)
    n, byte_keys, byte_counts_seen = item
    del item
    if n != 1:
        raise ValueError(f"the n-gram tables must start at length 1, got {n}")
    byte_counts = np.zeros(256, dtype=np.int64)
    byte_counts[byte_keys.astype(np.int64)] = byte_counts_seen
    del byte_keys, byte_counts_seen
    unseen = byte_counts == 0
    byte_counts[unseen] = 1
    total = total + int(unseen.sum())
    budget.admit(1, byte_counts)
    keys = np.arange(256, dtype=np.uint64)
    raw = np.log(byte_counts.astype(np.float64))
    yield 1, keys, raw - np.log(float(total)), raw if last > 1 or keep_last else None
    expected = 2
    for ahead in stream:
        n, all_keys, all_counts = ahead
        del ahead  # not held while this length is made a table (a tuple would keep its arrays)
        if n != expected:
            raise ValueError(f"the n-gram tables must come in order of length: got {n} after {expected - 1}")
        prefix = (keys, raw)
        del keys, raw
        keep = all_counts >= budget.admit(n, all_counts)
        whole = bool(keep.all())  # the trainer's counts are already pruned: no copies then
        keys = all_keys if whole else all_keys[keep]
        counts = all_counts if whole else all_counts[keep]
        del all_keys, all_counts, keep
        logp, kept = _conditional(keys, counts, prefix, keep_raw=n < last or keep_last)
        del counts, prefix
        yield n, keys, logp, kept
        del logp
        if kept is None:  # the last length: nothing follows
            return
        raw = kept
        expected += 1


def _conditional(
    keys: np.ndarray, counts: np.ndarray, prefix: Tuple[np.ndarray, np.ndarray], *, keep_raw: bool
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Log-probabilities of n-grams given their prefixes' sorted keys and raw log counts,
    and their own raw log counts when ``keep_raw`` (else computed in place of them). A
    block at a time: no temporaries the size of the table. Every prefix is there: it
    occurs wherever the n-gram does, so its count is larger."""
    raw = counts.astype(np.float64)
    np.log(raw, out=raw)
    logp = np.empty_like(raw) if keep_raw else raw
    prefix_keys, prefix_raw = prefix
    for first in range(0, len(keys), _BLOCK):
        block = slice(first, first + _BLOCK)
        # In key order the n-grams of one prefix are neighbours: each distinct prefix is
        # searched once (the searches were half of the model's build in the driver).
        prefixes = keys[block] >> np.uint64(8)
        new = np.empty(len(prefixes), dtype=bool)
        new[:1] = True
        np.not_equal(prefixes[1:], prefixes[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        where = np.searchsorted(prefix_keys, prefixes[starts])
        np.subtract(raw[block], np.repeat(prefix_raw[where], np.diff(starts, append=len(prefixes))), out=logp[block])
    return logp, raw if keep_raw else None
