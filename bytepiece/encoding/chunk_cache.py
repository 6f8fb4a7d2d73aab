"""A bounded cache of chunk bytes -> Viterbi ids, for the lines a text repeats.

Code repeats whole lines (``    }``, blank lines, ``import os``, ``return``): in the
corpus sample's code, a third of the chunks of 1-20 KB documents are repeats of an earlier
chunk. The best path of a chunk depends only on its bytes (chunks are decoded on their own,
from score 0), so a cached chunk's ids are the ids by construction. Explained, with the
measurements behind the bounds, in ``docs/performance.md`` ("The chunk cache").

Only short chunks are kept (``max_chunk`` bytes): repeats are short lines, and a long one
would cost more memory than it saves time. Memory is bounded by ``max_bytes`` per
generation, counting each entry as its key bytes, 8 bytes per id and ``ENTRY_OVERHEAD``
for the objects and the dict slot (the ids are the engine's shared int objects). Eviction
is by generations: when the current dict is full it becomes the old one (the one before is
dropped) and a new one starts; a hit in the old one moves the entry back. Frequent lines
survive a turnover, as with LRU, without LRU's bookkeeping on every hit (on the code
documents it hit as often as LRU; clearing everything when full lost a tenth of the hits
with small budgets). A document's chunks are looked up and kept in one call each
(:meth:`get_many`, :meth:`put_many`: a C-level ``map`` and ``update``): per chunk, a
method call and the lock cost more than the look-up itself, and on text that never repeats
(Chinese, English prose) the look-ups and insertions are all the cache costs.

Threads: look-ups take no lock (a dict read is atomic in CPython and the values are
never changed); insertions and turnovers take one, so the bound holds under any
interleaving. The cache is never pickled: a copy of an engine starts empty.
"""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Sequence

MAX_CHUNK = 128  # bytes: longer chunks are neither looked up nor kept
MAX_BYTES = 2 << 20  # per generation (so at most twice this in all)
ENTRY_OVERHEAD = 150  # bytes per entry besides the key bytes and 8 per id: objects, dict slot

# Never changed once kept. The engine keeps tuples: a tuple of ints is untracked by the
# garbage collector after one collection, where every full collection would walk a list.
CachedIds = Sequence[int]


class ChunkCache:
    """Chunk bytes -> ids, bounded in bytes; ``max_bytes=0`` turns it off.

    >>> cache = ChunkCache(max_bytes=1000)
    >>> cache.get(b"    }\\n") is None
    True
    >>> cache.put(b"    }\\n", [1234, 10])
    >>> cache.get(b"    }\\n"), cache.hits, cache.misses
    ([1234, 10], 1, 1)
    """

    def __init__(self, *, max_bytes: int = MAX_BYTES, max_chunk: int = MAX_CHUNK) -> None:
        if max_bytes < 0 or max_chunk < 0:
            raise ValueError(f"max_bytes and max_chunk must be >= 0, got {max_bytes} and {max_chunk}")
        self.max_bytes = max_bytes
        self.max_chunk = max_chunk if max_bytes else 0
        self.hits = 0  # counters for the benchmarks; racy under threads, never used for decisions
        self.misses = 0
        self._current: Dict[bytes, CachedIds] = {}
        self._old: Dict[bytes, CachedIds] = {}
        self._size = 0  # bytes of the current generation, as counted by ``cost``
        self._lock = threading.Lock()

    @staticmethod
    def cost(chunk: bytes, ids: Sequence[int]) -> int:
        """The bytes an entry is counted for."""
        return len(chunk) + 8 * len(ids) + ENTRY_OVERHEAD

    @property
    def size(self) -> int:
        """Bytes held by the current generation (the old one holds at most ``max_bytes``)."""
        return self._size

    def __len__(self) -> int:
        return len(self._current) + len(self._old)

    def get(self, chunk: bytes) -> Optional[CachedIds]:
        """The ids of ``chunk`` if cached, else ``None``. The caller keeps them as they are
        (they are shared)."""
        ids = self._current.get(chunk)
        if ids is None:
            ids = self._old.get(chunk)
            if ids is None:
                self.misses += 1
                return None
            self.put(chunk, ids)  # back into the current generation
        self.hits += 1
        return ids

    def get_many(self, chunks: Sequence[bytes]) -> List[Optional[CachedIds]]:
        """:meth:`get` of each chunk, in one pass (a document's chunks)."""
        found = list(map(self._current.get, chunks))  # a C loop: ~50 ns a chunk
        old = self._old
        if old:
            back = {}
            for k, ids in enumerate(found):
                if ids is None:
                    ids = found[k] = old.get(chunks[k])
                    if ids is not None:
                        back[chunks[k]] = ids
            self.put_many(back)
        misses = found.count(None)
        self.misses += misses
        self.hits += len(found) - misses
        return found

    def count_hits(self, count: int) -> None:
        """Count ``count`` misses of :meth:`get_many` as hits: chunks the caller found among
        those it decoded since (a chunk repeated within one document)."""
        self.hits += count
        self.misses -= count

    def put(self, chunk: bytes, ids: Sequence[int]) -> None:
        """Keep ``ids`` (not copied: never change them afterwards) for ``chunk`` (bytes;
        longer than ``max_chunk``: ignored)."""
        cost = self.cost(chunk, ids)
        if len(chunk) > self.max_chunk or cost > self.max_bytes:
            return
        with self._lock:  # put_many for one entry, without its dict and sums: a text of one line
            if self._size + cost > self.max_bytes:
                self._old, self._current, self._size = self._current, {}, 0
            self._current[chunk] = ids
            self._size += cost

    def put_many(self, entries: Dict[bytes, CachedIds]) -> None:
        """:meth:`put` of each chunk -> ids of ``entries`` (all at most ``max_chunk``
        bytes long: the caller checks), counted and inserted together (one C-level
        ``update``, one acquisition of the lock); a turnover comes before them if they
        would not fit. An entry already there is counted again: the count only errs high."""
        if not entries or not self.max_chunk:
            return
        cost = sum(map(len, entries)) + 8 * sum(map(len, entries.values())) + ENTRY_OVERHEAD * len(entries)
        if cost > self.max_bytes:
            return
        with self._lock:
            if self._size + cost > self.max_bytes:  # turnover: the current generation becomes the old one
                self._old, self._current, self._size = self._current, {}, 0
            self._current.update(entries)
            self._size += cost

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._current, self._old, self._size = {}, {}, 0
            self.hits = self.misses = 0
