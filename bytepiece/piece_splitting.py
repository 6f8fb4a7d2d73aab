"""Unigram segmentation of many byte strings at once, for pruning.

Pruning segments millions of strings (the dropped pieces, then every kept piece, several
times) with the unigram model of a vocabulary. One at a time through pyahocorasick that is
Python work per match; here a whole group of strings is segmented with numpy, giving the
same segmentation as :func:`bytepiece.viterbi.best_path` (same float arithmetic, ties to
the longer piece):

1. *Matches.* From every start position, extend one byte at a time while the bytes read
   are a proper prefix of some piece (a hash set of all prefixes); record a match where
   they are a piece. Up to 7 bytes a key is the bytes themselves; longer keys are a 62-bit
   polynomial hash, and every long match is checked byte by byte, so a hash collision
   can cost time but never a wrong match.
2. *Viterbi* over end positions, position-major across strings (as in pass 2):
   ``best[e] = max(best[e - len] + log p)`` over the matches ending at ``e``, the first
   maximum in longest-first order.
3. *Backtrace* from each string's end.
"""

from __future__ import annotations

import gc
import multiprocessing
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .hash_table import HashTable
from .model_file import unigram_log_probs
from .ngram_counting import chunk_positions
from .ngram_segmentation import Layout
from .train_tasks import release_memory

_BASE = np.uint64(0x0000_0100_0000_01B3)  # FNV-1 64-bit prime
_HASH_BITS = np.uint64((1 << 62) - 1)
_SHORT = 7
GROUP_BYTES = 1 << 17  # bytes of strings segmented together (bounds the lattice arrays)


class BatchSegmenter:
    """Segment byte strings by a ``piece -> count`` vocabulary that has every single byte.

    >>> vocab = {**{bytes([b]): 1 for b in range(256)}, b"ab": 50, b"abc": 2}
    >>> BatchSegmenter(vocab).segment([b"abcab", b"c"])  # abc+ab: 2*50/308**2 > ab+c+ab: 50*1*50/308**3
    [[b'abc', b'ab'], [b'c']]
    """

    def __init__(self, counts: Dict[bytes, int]) -> None:
        self.pieces: List[bytes] = list(counts)
        # the tokenizer's scores exactly, so ties resolve the same
        self.logp = unigram_log_probs([counts[p] for p in self.pieces])
        self.lengths = np.fromiter(map(len, self.pieces), dtype=np.int64, count=len(self.pieces))
        self.max_length = int(self.lengths.max())
        self._matrix = np.zeros((len(self.pieces), self.max_length), dtype=np.uint8)
        for i, piece in enumerate(self.pieces):
            self._matrix[i, : len(piece)] = np.frombuffer(piece, dtype=np.uint8)
        self._build_tables()

    def _build_tables(self) -> None:
        ids = np.arange(len(self.pieces))
        value = np.zeros(len(ids), dtype=np.uint64)
        hashed = np.zeros(len(ids), dtype=np.uint64)
        piece_keys: List[Tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.uint64), ids[:0])] * (self.max_length + 1)
        prefix_keys: List[np.ndarray] = [np.zeros(0, np.uint64)] * (self.max_length + 1)
        for length in range(1, self.max_length + 1):
            byte = self._matrix[:, length - 1].astype(np.uint64)
            value = (value << np.uint64(8)) | byte if length <= _SHORT else value
            hashed = hashed * _BASE + byte + np.uint64(1)
            key = _key(value, hashed, length)
            piece_keys[length] = (key[self.lengths == length], ids[self.lengths == length])
            prefix_keys[length] = np.unique(key[self.lengths > length])
        # One table per key kind: value = 2 * (piece id + 1) + (1 if a proper prefix).
        lengths_short = range(1, min(_SHORT, self.max_length) + 1)
        lengths_long = range(_SHORT + 1, self.max_length + 1)
        self._short = _table([piece_keys[n] for n in lengths_short], [prefix_keys[n] for n in lengths_short])
        self._long = _table([piece_keys[n] for n in lengths_long], [prefix_keys[n] for n in lengths_long])

    # ------------------------------------------------------------------ public
    def segment(self, strings: Sequence[bytes]) -> List[List[bytes]]:
        """The segmentation of each string (for tests and small inputs)."""
        out: List[List[bytes]] = [[] for _ in strings]
        for string_index, piece_ids in self._segment_group(list(strings)):
            out[string_index].append(self.pieces[piece_ids])
        return out

    def count_segments(self, items: Sequence[Tuple[bytes, int]], workers: int = 1) -> Dict[bytes, int]:
        """``{piece: sum of the weights of the strings whose segmentation uses it, once per
        use}`` over ``(string, weight)`` items, in ``workers`` processes."""
        return self.count_batch(StringBatch(items), workers)

    def count_batch(self, batch: "StringBatch", workers: int = 1) -> Dict[bytes, int]:
        """:meth:`count_segments` of strings already packed into a :class:`StringBatch`."""
        ranges = batch.groups(GROUP_BYTES)
        if workers > 1 and len(ranges) > 1 and "fork" in multiprocessing.get_all_start_methods():
            totals = self._count_in_workers(batch, ranges, workers)
        else:
            totals = self._totals(batch, ranges)
        used = np.flatnonzero(totals)
        return {self.pieces[i]: int(totals[i]) for i in used.tolist()}

    def _count_in_workers(self, batch: "StringBatch", ranges: List[Tuple[int, int]], workers: int) -> np.ndarray:
        global _SHARED
        # Forked workers inherit the tables and the strings (numpy arrays and one bytes
        # object, read only, so the pages stay shared): nothing big is pickled.
        _SHARED = (self, batch)
        release_memory()
        gc.freeze()  # the workers' garbage collector must not touch (and copy) our objects
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                # every worker-th group of the length order: balanced work
                shards = pool.map(_worker_totals, [ranges[i::workers] for i in range(workers)])
        finally:
            _SHARED = None
            gc.unfreeze()
        return np.sum(shards, axis=0)

    def _totals(self, batch: "StringBatch", ranges: List[Tuple[int, int]]) -> np.ndarray:
        totals = np.zeros(len(self.pieces), dtype=np.int64)
        for first, last in ranges:
            buf, lengths = batch.strings(first, last)
            which, piece_ids = self._segment_arrays(buf, lengths)
            np.add.at(totals, piece_ids, batch.weights[first:last][which])
        return totals

    # ------------------------------------------------------------------ internals
    def _segment_group(self, strings: List[bytes]) -> Iterable[Tuple[int, int]]:
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        which, piece_ids = self._segment_arrays(np.frombuffer(b"".join(strings), np.uint8), lengths)
        return zip(which.tolist(), piece_ids.tolist())

    def _segment_arrays(self, buf: np.ndarray, lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(string index, piece id) of every token, in order within each string."""
        if not lengths.all():
            raise ValueError("cannot segment an empty string")
        offset, left = chunk_positions(lengths)
        start, length, piece = self._matches(buf, left)
        layout = Layout(offset, left)
        choice = self._viterbi(start, length, piece, offset, layout)
        return self._backtrace(choice, start, length, piece, offset, left, layout, len(lengths))

    def _matches(self, buf: np.ndarray, left: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        active = np.arange(len(buf))
        value = np.zeros(len(buf), dtype=np.uint64)
        hashed = np.zeros(len(buf), dtype=np.uint64)
        starts, lengths, pieces = [], [], []
        for length in range(1, self.max_length + 1):
            inside = left[active] >= length
            active, value, hashed = active[inside], value[inside], hashed[inside]
            if not len(active):
                break
            byte = buf[active + (length - 1)].astype(np.uint64)
            if length <= _SHORT:
                value = (value << np.uint64(8)) | byte
            hashed = hashed * _BASE + byte + np.uint64(1)
            key = _key(value, hashed, length)
            found = (self._short if length <= _SHORT else self._long).get(key)
            hit = np.flatnonzero(found >= 2)
            piece_ids = (found[hit] >> 1) - 1
            if length > _SHORT and len(hit):
                real = self._verified(buf, active[hit], piece_ids, length)
                hit, piece_ids = hit[real], piece_ids[real]
            starts.append(active[hit])
            lengths.append(np.full(len(hit), length, dtype=np.int64))
            pieces.append(piece_ids)
            more = (found & 1) == 1
            active, value, hashed = active[more], value[more], hashed[more]
        return np.concatenate(starts), np.concatenate(lengths), np.concatenate(pieces)

    def _verified(self, buf: np.ndarray, starts: np.ndarray, piece_ids: np.ndarray, length: int) -> np.ndarray:
        text = buf[starts[:, None] + np.arange(length)]
        same = np.all(text == self._matrix[piece_ids, :length], axis=1)
        return same & (self.lengths[piece_ids] == length)

    def _viterbi(self, start, length, piece, offset, layout: "Layout") -> np.ndarray:
        """For each byte (position-major), the index of the best match ending there."""
        size = len(offset)
        end_pm = layout.position_major[start + length - 1]
        # best score of the text before each match: position-major index of the byte
        # before it, or the extra slot `size` (score 0) at a string's start
        before = np.where(offset[start] > 0, layout.position_major[np.maximum(start - 1, 0)], size)
        order = np.lexsort((-length, end_pm))  # by end, longest first: ties go to the longer
        end_pm, before, logp = end_pm[order], before[order], self.logp[piece[order]]
        bounds = np.concatenate(([0], np.cumsum(np.bincount(end_pm, minlength=size))))
        best = np.empty(size + 1)
        best[size] = 0.0
        choice = np.empty(size, dtype=np.int64)
        for step in range(layout.longest):
            here = layout.step(step)
            first, last = bounds[here.start], bounds[here.stop]
            candidates = best[before[first:last]] + logp[first:last]
            segment_starts = bounds[here.start : here.stop] - first
            top = np.maximum.reduceat(candidates, segment_starts)
            sizes = np.diff(np.append(segment_starts, last - first))
            # the first maximum of each segment: the longest of the tied matches
            position = np.where(candidates == np.repeat(top, sizes), np.arange(last - first), last)
            firsts = np.minimum.reduceat(position, segment_starts)
            best[here] = top
            choice[here] = order[first + firsts]
        return choice

    def _backtrace(self, choice, start, length, piece, offset, left, layout: "Layout", count: int):
        string_start = np.flatnonzero(offset == 0)
        end = string_start + left[string_start] - 1  # last byte of each string
        which = np.arange(count)
        out_which, out_piece = [], []
        while len(end):
            match = choice[layout.position_major[end]]
            out_which.append(which)
            out_piece.append(piece[match])
            end = end - length[match]
            going_on = end >= string_start[which]
            which, end = which[going_on], end[going_on]
        which_all = np.concatenate(out_which)
        piece_all = np.concatenate(out_piece)
        # tokens were found last to first; a stable sort by string restores string order
        rounds = np.concatenate([np.full(len(w), -i) for i, w in enumerate(out_which)])
        order = np.lexsort((rounds, which_all))
        return which_all[order], piece_all[order]


class StringBatch:
    """Weighted strings, longest first, as one bytes buffer with lengths and weights."""

    def __init__(self, items: Sequence[Tuple[bytes, int]]) -> None:
        lengths = np.fromiter((len(s) for s, _ in items), dtype=np.int64, count=len(items))
        order = np.argsort(-lengths, kind="stable")
        self.data = b"".join([items[i][0] for i in order.tolist()])
        self.lengths = lengths[order]
        self.weights = np.fromiter((w for _, w in items), dtype=np.int64, count=len(items))[order]
        self.ends = np.cumsum(self.lengths)

    @classmethod
    def from_sorted(cls, data: bytes, lengths: np.ndarray, weights: np.ndarray) -> "StringBatch":
        """Strings already concatenated longest first."""
        if len(lengths) > 1 and np.any(np.diff(lengths) > 0):
            raise ValueError("strings must come longest first")
        batch = cls([])
        batch.data, batch.lengths, batch.weights = data, lengths, weights
        batch.ends = np.cumsum(lengths)
        return batch

    def groups(self, size: int) -> List[Tuple[int, int]]:
        """Consecutive (first, last) string ranges of about ``size`` bytes each."""
        cuts = np.searchsorted(self.ends, np.arange(size, int(self.ends[-1]) + size, size), side="left") + 1 if len(self.ends) else []
        bounds = np.unique(np.concatenate(([0], np.minimum(cuts, len(self.lengths)))))
        return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))

    def strings(self, first: int, last: int) -> Tuple[np.ndarray, np.ndarray]:
        begin = int(self.ends[first] - self.lengths[first])
        end = int(self.ends[last - 1])
        return np.frombuffer(self.data, dtype=np.uint8, count=end - begin, offset=begin), self.lengths[first:last]


_SHARED: Optional[Tuple["BatchSegmenter", StringBatch]] = None


def _worker_totals(ranges: List[Tuple[int, int]]) -> np.ndarray:
    segmenter, batch = _SHARED  # type: ignore[misc]
    return segmenter._totals(batch, ranges)


def _key(value: np.ndarray, hashed: np.ndarray, length: int) -> np.ndarray:
    if length <= _SHORT:
        return (value << np.uint64(3)) | np.uint64(length)
    return hashed & _HASH_BITS


def _table(pieces: List[Tuple[np.ndarray, np.ndarray]], prefixes: List[np.ndarray]) -> HashTable:
    """Keys of pieces and of proper prefixes -> 2 * (piece id + 1) + is_prefix; 0 if absent."""
    piece_keys = np.concatenate([np.zeros(0, np.uint64)] + [k for k, _ in pieces])
    piece_ids = np.concatenate([np.zeros(0, np.int64)] + [i for _, i in pieces]).astype(np.int64)
    if len(np.unique(piece_keys)) != len(piece_keys):
        # Two long pieces share a 62-bit hash (odds about 1e-8 for 300k pieces).
        raise RuntimeError("hash collision between two vocabulary pieces; please report it")
    prefix_keys = np.unique(np.concatenate([np.zeros(0, np.uint64)] + prefixes))
    keys, index = np.unique(np.concatenate([piece_keys, prefix_keys]), return_inverse=True)
    values = np.zeros(len(keys), dtype=np.int64)
    values[index[: len(piece_keys)]] += 2 * (piece_ids + 1)
    values[index[len(piece_keys) :]] += 1
    return HashTable(keys, values, missing=0, load=0.5)
