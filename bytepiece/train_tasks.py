"""The map side of training: tasks that turn a batch of texts into count shards, and
the worker pool that runs them.

Tasks are plain functions of picklable batches; their settings (and, in pass 2, the n-gram
model) reach the workers once, when the pool starts. A cluster back-end would run the
same tasks elsewhere and add the shards up the same way.

Pass 2 keeps its Viterbi steps few: the batched Viterbi takes one step per byte of the
longest chunk in a group, so chunks longer than ``LONG_CHUNK`` bytes are not segmented
with the short ones of their batch but sent back, collected across batches and segmented
together (``segment_chunks``).
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
from collections import Counter, deque
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from .corpus import batched
from .ngram_counting import NgramCounts, count_ngrams, merge_sorted_counts
from .ngram_segmentation import token_starts
from .normalization import normalize, training_chunks
from .piece_counting import count_pieces

LONG_CHUNK = 1024  # bytes; longer chunks are segmented in groups of their own
GROUP_BYTES = 1 << 20  # bytes segmented together (bounds the Viterbi's arrays)

PieceShard = Tuple[np.ndarray, np.ndarray, Dict[bytes, int]]
_CONFIG: Dict[str, Any] = {}


def _init_worker(config: Dict[str, Any]) -> None:
    _CONFIG.clear()
    _CONFIG.update(config)


def chunk_texts(texts: List[str], config: Dict[str, Any]) -> List[bytes]:
    """Normalized UTF-8 training chunks of the texts."""
    chunks: List[bytes] = []
    for text in texts:
        text = normalize(text, config["normalization"])
        chunks.extend(c.encode("utf-8", "surrogatepass") for c in training_chunks(text, isolate_digits=config["isolate_digits"]))
    return chunks


def count_task(texts: List[str]) -> Tuple[NgramCounts, int, int]:
    """Pass 1 map: (n-gram counts, bytes, chunks) of a batch of texts."""
    chunks = chunk_texts(texts, _CONFIG)
    order = _CONFIG["order"]
    # counting holds about ten 8-byte arrays per byte counted: a megabyte at a time
    parts = [count_ngrams(group, order) for group in batched(chunks, GROUP_BYTES)]
    keys, counts = {}, {}
    for n in range(1, order + 1):
        keys[n], counts[n] = merge_sorted_counts([(p.keys[n], p.counts[n]) for p in parts])
    total = sum(p.total for p in parts)
    return NgramCounts(order, total, keys, counts), total, len(chunks)


def segment_task(texts: List[str]) -> Tuple[PieceShard, int, List[bytes]]:
    """Pass 2 map: (piece counts of the short chunks, their bytes, the long chunks)."""
    chunks = chunk_texts(texts, _CONFIG)
    short = [c for c in chunks if len(c) <= LONG_CHUNK]
    long = [c for c in chunks if len(c) > LONG_CHUNK]
    return segment_chunks(short), sum(map(len, short)), long


def segment_long_task(chunks: List[bytes]) -> Tuple[PieceShard, int]:
    """Pass 2 map for long chunks collected from many batches: (piece counts, bytes)."""
    return segment_chunks(chunks), sum(map(len, chunks))


def segment_chunks(chunks: List[bytes]) -> PieceShard:
    """Segment chunks with the model and count the pieces."""
    chunks = sorted(chunks, key=len, reverse=True)  # similar lengths together: fewer steps
    shards: List[Tuple[np.ndarray, np.ndarray]] = []
    long: Counter = Counter()
    for group in batched(chunks, GROUP_BYTES):
        buf, starts = token_starts(group, _CONFIG["model"], _CONFIG["ensure_unicode"])
        keys, counts, group_long = count_pieces(buf, starts)
        shards.append((keys, counts))
        long.update(group_long)
    keys, counts = merge_sorted_counts(shards)
    return keys, counts, dict(long)


def release_memory() -> None:
    """Hand memory freed by the last stage back to the OS, before forking workers.

    glibc keeps freed heap memory for reuse, and a forked child starts with every
    resident page of its parent mapped (shared, but counted in its RSS).
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class WorkerPool:
    """Runs tasks in ``workers`` processes (or inline for one), results in order.

    At most ``2 * workers`` batches are in flight, so reading never runs far ahead.
    """

    def __init__(self, workers: int, config: Dict[str, Any]) -> None:
        self.workers = max(1, int(workers))
        self._config = config
        self._pool: Optional[Any] = None

    def __enter__(self) -> "WorkerPool":
        if self.workers == 1:
            _init_worker(self._config)
        elif "fork" in multiprocessing.get_all_start_methods():
            # Forked workers inherit the settings and the model's arrays (not pickled);
            # then the parent lets go of them, so only the workers hold the model.
            _init_worker(self._config)
            release_memory()
            gc.freeze()  # keep the workers' garbage collector off the inherited objects
            try:
                self._pool = multiprocessing.get_context("fork").Pool(self.workers)
            finally:
                gc.unfreeze()
            _CONFIG.clear()
        else:
            self._pool = multiprocessing.Pool(self.workers, initializer=_init_worker, initargs=(self._config,))
        self._config = {}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _CONFIG.clear()

    def imap(self, task: Callable, batches: Iterable[Any]) -> Iterator[Any]:
        if self._pool is None:
            for batch in batches:
                yield task(batch)
            return
        pending: deque = deque()
        for batch in batches:
            pending.append(self._pool.apply_async(task, (batch,)))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
