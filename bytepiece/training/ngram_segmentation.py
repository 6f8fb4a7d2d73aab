"""Pass 2 of training: segment chunks with the n-gram model ("new-word discovery").

The HMM of ``docs/algorithm.md`` (Pass 2): ``order`` states per byte, state ``j`` meaning
"this byte is the (j+1)-th of its token", the top state looping on itself. Viterbi in
max-plus arithmetic with ties to the lowest state index; token starts are the bytes in
state 0. A state that cannot be reached (every candidate ``-inf``) has back-pointer 0,
as ``argmax`` over all ``-inf`` gives, because the original behaves that way: after a
byte no state can emit (a rare character under ``ensure_unicode``), the rest of the chunk
comes out as single bytes.

Vectorised over many chunks at once: chunks are sorted by length, longest first, and the
bytes are laid out position-major ("the l-th byte of every chunk that has one"), so step
``l`` of the dynamic programme is a contiguous slice and one set of numpy operations
serves every chunk. The Python loop runs once per byte position of the longest chunk.

Deliberately left out: counting the pieces (``piece_counting.py``).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..encoding.batch.lattice import Scratch
from ..encoding.batch.layout import longest_first
from .ngram_counting import NgramModel, concat_chunks

_NEG_INF = -np.inf


def token_starts(
    chunks: Sequence[bytes], model: NgramModel, ensure_unicode: bool, scratch: Optional[Scratch] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """The concatenated chunk bytes, and a mask of the bytes that start a token.
    ``scratch``: where the two largest arrays (the emissions and their position-major
    copy, 8 bytes per byte and state: 24 MiB each for a group of 512 KiB at order 6) are kept
    for the next call. Allocated afresh for every group, arrays that large are mapped
    afresh (above glibc's threshold for serving memory from its heap), and the kernel
    zeroes their pages every time. A pass-2 task segments its part a group at a time with
    one ``Scratch`` (the batch encoder's, ``encoding/batch/lattice.py``).

    >>> import numpy as np
    >>> from bytepiece.training.ngram_counting import count_ngrams, build_model
    >>> m = build_model(count_ngrams([b"abab"] * 9, 6), 4)
    >>> buf, starts = token_starts([b"abab"], m, True)
    >>> starts.tolist()
    [True, False, False, False]
    """
    buf, offset, left = concat_chunks(chunks)
    if not len(buf):
        return buf, np.zeros(0, dtype=bool)
    if model.order == 1:  # one state: every byte starts a token
        return buf, np.ones(len(buf), dtype=bool)
    scratch = Scratch() if scratch is None else scratch
    shape = (len(buf), model.order)
    emissions = _emissions(buf, offset, model, ensure_unicode, scratch.get("emissions", shape[0] * shape[1]).reshape(shape))
    layout = Layout(offset, left)
    # take(axis=0): rows gathered as blocks, 2.6 times faster than emissions[indices];
    # mode="clip" (the indices are all in range) because take buffers ``out`` otherwise
    ordered = scratch.get("position-major", shape[0] * shape[1]).reshape(shape)
    emissions.take(layout.to_original, axis=0, out=ordered, mode="clip")
    del emissions
    starts_t = _viterbi(ordered, layout, model.order)
    starts = np.empty(len(buf), dtype=bool)
    starts[layout.to_original] = starts_t
    starts[offset == 0] = True  # a chunk always starts a token, even a malformed one
    return buf, starts


def _emissions(buf: np.ndarray, offset: np.ndarray, model: NgramModel, ensure_unicode: bool, out: np.ndarray) -> np.ndarray:
    """(bytes, order) log-probabilities, into ``out``: state j emits the j+1 bytes ending
    at the byte."""
    order = model.order
    out.fill(_NEG_INF)
    out[:, 0] = model.lookup(1, buf)
    if ensure_unicode:
        out[(buf & 0xC0) == 0x80, 0] = _NEG_INF  # no token starts inside a character
    grams = buf.astype(np.uint64)
    known = np.ones(len(buf), dtype=bool)
    for j in range(1, order):
        shifted = np.zeros_like(grams)
        shifted[1:] = (grams[:-1] << np.uint64(8)) | buf[1:]
        grams = shifted
        # An n-gram can only be in the model if its prefix (ending one byte earlier) is.
        prefix_known = np.zeros_like(known)
        prefix_known[1:] = known[:-1]
        where = np.flatnonzero(prefix_known & (offset >= j))
        scores = model.lookup(j + 1, grams[where])
        out[where, j] = scores
        known = np.zeros_like(known)
        known[where] = scores > _NEG_INF
    return out


class Layout:
    """Position-major order of the bytes: chunks by length (longest first), then offset.

    ``to_original[t]`` is the byte (in concatenated order) at position-major index t,
    ``position_major`` the inverse;
    step ``l`` covers indices ``start[l] : start[l] + active[l]``, the first
    ``active[l]`` chunks in length order; ``steps[l]`` is that pair as Python ints (a
    step costs tens of microseconds, and numpy scalars would add to each).
    """

    def __init__(self, offset: np.ndarray, left: np.ndarray) -> None:
        chunk_starts = np.flatnonzero(offset == 0)
        lengths = left[chunk_starts]
        rank_order = longest_first(lengths)
        rank = np.empty(len(lengths), dtype=np.int64)
        rank[rank_order] = np.arange(len(lengths))
        self.longest = int(lengths.max())
        # active[l] = number of chunks longer than l
        self.active = len(lengths) - np.searchsorted(np.sort(lengths), np.arange(self.longest), side="right")
        self.start = np.concatenate(([0], np.cumsum(self.active)[:-1]))
        self.steps: List[Tuple[int, int]] = list(zip(self.start.tolist(), self.active.tolist()))
        chunk_of = np.repeat(np.arange(len(lengths)), lengths)
        self.position_major = self.start[offset] + rank[chunk_of]
        self.to_original = np.empty(len(offset), dtype=np.int64)
        self.to_original[self.position_major] = np.arange(len(offset))


def _viterbi(emit: np.ndarray, layout: Layout, order: int) -> np.ndarray:
    """Token-start mask in position-major order (see :class:`Layout`)."""
    top = order - 1
    from_state0 = np.zeros(len(emit), dtype=np.int8)  # back-pointer of state 0
    top_looped = np.zeros(len(emit), dtype=bool)  # top state came from itself
    width = layout.steps[0][1]
    final = np.zeros(width, dtype=np.int8)
    # Each step writes into arrays made once (the scores in two, alternately): a step
    # costs tens of microseconds, and ten thousand steps for a group of long chunks.
    buffers = (np.empty((width, order)), np.empty((width, order)))
    to_zero_buffer = np.empty((width, order))
    row_starts = np.arange(width) * order  # of each row in to_zero, flattened
    scores = buffers[0]
    scores[...] = emit[:width]
    for l in range(1, layout.longest):
        first, k = layout.steps[l]
        if k < len(scores):  # chunks of length l end here: pick their best final state
            final[k : len(scores)] = np.argmax(scores[k:], axis=1)
            scores = scores[:k]
        e = emit[first : first + k]
        to_zero = np.add(scores, e[:, :1], out=to_zero_buffer[:k])
        best = np.argmax(to_zero, axis=1)
        from_state0[first : first + k] = best
        new = buffers[l & 1][:k]
        new[:, 0] = to_zero.reshape(-1)[row_starts[:k] + best]
        np.add(scores[:, : top - 1], e[:, 1:top], out=new[:, 1:top])
        extend = scores[:, top - 1] + e[:, top]
        loop = scores[:, top] + e[:, top]
        np.greater(loop, extend, out=top_looped[first : first + k])  # ties go to the lower state
        np.maximum(loop, extend, out=new[:, top])
        scores = new
    final[: len(scores)] = np.argmax(scores, axis=1)
    return _backtrace(from_state0, top_looped, final, layout, order)


def _backtrace(from_state0: np.ndarray, top_looped: np.ndarray, final: np.ndarray, layout: Layout, order: int) -> np.ndarray:
    top = order - 1
    starts = np.zeros(len(from_state0), dtype=bool)
    state = final.astype(np.int8)  # by rank; a chunk's entry is used once it is active
    for l in range(layout.longest - 1, -1, -1):
        first, k = layout.steps[l]
        here = slice(first, first + k)
        current = state[:k]
        starts[here] = current == 0
        previous = np.where(current == top, np.where(top_looped[here], top, top - 1), current - 1)
        previous = np.where(current == 0, from_state0[here], previous)
        state[:k] = previous
    return starts
