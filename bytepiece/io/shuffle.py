"""A global random order for corpora larger than memory (``docs/scaling.md``, "Shuffling").

Record ``i`` (a document, a line) gets a 64-bit random key ``key(seed, i)`` from a
counter-based generator (SplitMix64 of the seed and the index), and the output is the
records sorted by key. Keys are independent and uniform, so the order is a uniformly
random permutation; and it is a function of the seed and the input alone: the same for any
memory budget, number of workers or executor.

Sorting by key under a memory budget is a radix scatter: records that fit in the budget
are sorted in memory; beyond it they are written to 256 bucket files on disk by the top
byte of their key, and each bucket, in order, is sorted in memory, or scattered again by
the next byte when it is still too big. Each record is written to disk once per level
(one level up to 256 budgets of data, two up to 65,536).

Deliberately left out: what a record means (``encode-corpus`` shuffles token documents,
``bytepiece shuffle`` lines of text or JSONL).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from typing import BinaryIO, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

FAN_OUT = 256  # buckets per level: one byte of the key
RECORD_OVERHEAD = 64  # bytes a record costs in memory beyond its own (list slot, object)
_HEADER = struct.Struct("<QQ")  # key, length: the bucket files' record header
_GROUP = 1024  # keys drawn at a time
_BUFFER = 16 << 10  # write buffer of a bucket file (256 of them at once)

_M1 = np.uint64(0x9E37_79B9_7F4A_7C15)
_M2 = np.uint64(0xBF58_476D_1CE4_E5B9)
_M3 = np.uint64(0x94D0_49BB_1331_11EB)


def check_seed(seed: object) -> int:
    """A shuffle seed: an integer from 0 to 2**64 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
        raise ValueError(f"the shuffle seed must be an integer from 0 to 2**64 - 1, got {seed!r}")
    return seed


def shuffle_keys(seed: int, first: int, count: int) -> np.ndarray:
    """The keys of records ``first .. first + count - 1`` (uint64).

    >>> shuffle_keys(7, 0, 3).tolist() == shuffle_keys(7, 0, 5)[:3].tolist()
    True
    """
    index = np.arange(first, first + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = _mix(np.full(1, check_seed(seed), dtype=np.uint64)) + (index + np.uint64(1)) * _M1
        return _mix(z)


def _mix(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        return z ^ (z >> np.uint64(31))


def shuffled(
    records: Iterable[bytes],
    *,
    seed: int,
    memory_budget: int,
    spill_dir: Optional[str] = None,
) -> Iterator[bytes]:
    """``records`` in the random order of ``seed``, holding at most about
    ``memory_budget`` bytes of them in memory (the rest waits on disk in ``spill_dir``,
    default the system's temporary directory, and is deleted at the end).

    >>> list(shuffled([b"a", b"b", b"c"], seed=1, memory_budget=1 << 20)) == \\
    ...     list(shuffled([b"a", b"b", b"c"], seed=1, memory_budget=1))
    True
    """
    check_seed(seed)
    budget = max(1, int(memory_budget))
    held: List[bytes] = []
    size = 0
    source = iter(records)
    for record in source:
        held.append(record)
        size += len(record) + RECORD_OVERHEAD
        if size > budget:
            break
    else:  # all of it fits: sort in memory
        yield from _sorted(held, shuffle_keys(seed, 0, len(held)))
        return
    directory = tempfile.mkdtemp(prefix="bytepiece-shuffle-", dir=spill_dir)
    try:
        buckets = _scatter(_keyed(held, source, seed), directory, level=0)
        del held
        yield from _drain(buckets, directory, budget, level=0)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _keyed(held: List[bytes], rest: Iterator[bytes], seed: int) -> Iterator[Tuple[int, bytes]]:
    """``(key, record)`` for the records held (taken out of the list as they go, so they
    can be freed) and those still to come, in input order."""
    held.reverse()
    index = 0
    group: List[bytes] = []

    def taken() -> Iterator[bytes]:
        while held:
            yield held.pop()

    for source in (taken(), rest):
        for record in source:
            group.append(record)
            if len(group) == _GROUP:
                yield from zip(shuffle_keys(seed, index, len(group)).tolist(), group)
                index += len(group)
                group = []
    yield from zip(shuffle_keys(seed, index, len(group)).tolist(), group)


def _scatter(items: Iterable[Tuple[int, bytes]], directory: str, level: int) -> List[Tuple[str, int, int]]:
    """Write ``(key, record)`` items to bucket files by the key's byte at ``level`` (a file
    is made for a bucket when its first record comes); returns ``(path, records, bytes)``
    per bucket that got any, in key order."""
    shift = 64 - 8 * (level + 1)
    handles: Dict[int, BinaryIO] = {}
    counts = [0] * FAN_OUT
    sizes = [0] * FAN_OUT
    path = os.path.join(directory, f"{level}-{{:03d}}").format
    try:
        for key, record in items:
            bucket = (key >> shift) & 0xFF
            handle = handles.get(bucket)
            if handle is None:
                handle = handles[bucket] = open(path(bucket), "wb", buffering=_BUFFER)  # noqa: SIM115
            handle.write(_HEADER.pack(key, len(record)))
            handle.write(record)
            counts[bucket] += 1
            sizes[bucket] += len(record) + RECORD_OVERHEAD
    finally:
        for handle in handles.values():
            handle.close()
    return [(path(b), counts[b], sizes[b]) for b in sorted(handles)]


def _read_bucket(path: str) -> Iterator[Tuple[int, bytes]]:
    with open(path, "rb") as handle:
        while True:
            header = handle.read(_HEADER.size)
            if not header:
                return
            key, length = _HEADER.unpack(header)
            yield key, handle.read(length)


def _drain(buckets: List[Tuple[str, int, int]], directory: str, budget: int, level: int) -> Iterator[bytes]:
    """The records of the buckets, in key order: each sorted in memory, or scattered
    again by the next key byte when it is bigger than the budget."""
    for path, count, size in buckets:
        if count > 1 and size > budget and level < 7:
            sub = tempfile.mkdtemp(dir=directory)
            parts = _scatter(_read_bucket(path), sub, level + 1)
            os.unlink(path)
            yield from _drain(parts, sub, budget, level + 1)
            shutil.rmtree(sub, ignore_errors=True)
            continue
        items = list(_read_bucket(path))
        os.unlink(path)
        keys = np.fromiter((k for k, _ in items), dtype=np.uint64, count=len(items))
        yield from _sorted([r for _, r in items], keys)


def _sorted(records: List[bytes], keys: np.ndarray) -> Iterator[bytes]:
    """Records by key (ties, about one in 2**64 per pair, by input order)."""
    for i in np.argsort(keys, kind="stable").tolist():
        yield records[i]
