"""How a batch of texts becomes slices of lanes for the vectorised decoder (``lattice.py``).

Explained in ``docs/performance.md``. Everything here works on one UTF-8 buffer (the texts
of a batch back to back) and integer arrays over it; no Python object is made per chunk,
because with tens of thousands of short texts per megabyte, per-chunk Python work cost as
much as the decoding itself.

1. ``chunk_bounds``: the inference chunks ("a line plus the newlines after it", as
   ``normalization.split_chunks``) of every text, as start and length arrays.
2. ``plan_slices``: chunks sorted by length, grouped into slices of about ``SLICE_BYTES``;
   chunks not worth a slice go to the scalar decoders.
3. ``lay_out``: a slice as ``lanes`` equal-width rows, each holding whole chunks with a
   separator after each, stored with the lanes interleaved (``Layout``).

Deliberately left out: the lattice itself and anything about models.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .flat_trie import SEPARATOR

SLICE_BYTES = 1 << 20  # bytes of text per slice: bounds the working memory (~100 B/byte)
MIN_LANES = 24  # fewer lanes than this and the per-step cost beats the scalar decoder
MIN_SLICE_BYTES = 16 << 10  # below this, the scalar decoder is as fast
STEP_BYTES = 16  # a step of a slice costs about as much as this many bytes of scalar decoding
LANE_COUNT = 1024  # preferred number of lanes; lanes are at least as wide as the longest chunk

_NEWLINE = 10


def chunk_bounds(data: np.ndarray, text_starts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the chunks of texts laid back to back in ``data`` (uint8);
    text ``k`` begins at ``text_starts[k]``. A chunk ends after a run of newlines or at the
    end of its text; empty texts have no chunk.

    >>> data = np.frombuffer(b"ab\\n\\ncd" + b"e\\n", dtype=np.uint8)
    >>> [a.tolist() for a in chunk_bounds(data, np.array([0, 6]))]
    [[0, 4, 6], [4, 2, 2]]
    """
    size = data.size
    # Work on the newline positions only: a 100 MB line costs one byte mask, not several.
    newline = np.flatnonzero(data == _NEWLINE)
    after = newline + 1
    after = after[after < size]
    after = after[data.take(after) != _NEWLINE]  # the first byte after a run of newlines
    bounds = np.union1d(text_starts[text_starts < size], after)  # an empty last text starts at ``size``
    return bounds, np.diff(np.append(bounds, size))


Plan = List[Union[int, np.ndarray]]


def plan_slices(
    lengths: np.ndarray, slice_bytes: Optional[int] = None, min_slice: Optional[int] = None
) -> Plan:
    """Group chunk indices into slices (arrays), longest chunks first; an ``int`` is a chunk
    for the scalar decoder: too long to get ``MIN_LANES`` lanes of its width, too little
    text left (under ``min_slice`` bytes) to pay for a slice's fixed cost, or so much longer
    than the next chunks that the steps it adds to a slice cost more (``_long_head``).

    >>> plan = plan_slices(np.array([5000] + [10] * 100), slice_bytes=600, min_slice=0)
    >>> [group if isinstance(group, int) else len(group) for group in plan]
    [0, 55, 45]
    """
    slice_bytes = SLICE_BYTES if slice_bytes is None else slice_bytes
    min_slice = MIN_SLICE_BYTES if min_slice is None else min_slice
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    widths = lengths[order] + 1  # a chunk and its separator
    after = np.cumsum(widths)  # bytes up to and including each chunk
    head_lengths = (widths - 1).tolist()
    plan: Plan = []
    position = 0
    while position < len(head_lengths):
        done = int(after[position - 1]) if position else 0
        remaining = int(after[-1]) - done
        long_ones = _long_head(head_lengths[position : position + 64], STEP_BYTES)
        if long_ones:
            plan.extend(order[position : position + long_ones].tolist())
            position += long_ones
        elif (head_lengths[position] + 1) * MIN_LANES > min(remaining, slice_bytes) or remaining < min_slice:
            plan.append(int(order[position]))
            position += 1
        else:  # a slice: up to and including the chunk that brings it to slice_bytes
            end = int(np.searchsorted(after, done + slice_bytes)) + 1
            plan.append(order[position:end])
            position = end
    return plan


def _long_head(lengths: Sequence[int], step_bytes: int) -> int:
    """How many of the longest chunks (``lengths``, descending) the scalar decoder should
    take so that the slice starting after them is cheapest: a slice pays ``step_bytes``
    per step, i.e. per byte of its longest chunk, and the scalar decoder one per byte."""
    best, count, spent = lengths[0] * step_bytes, 0, 0
    for k in range(1, len(lengths)):
        spent += lengths[k - 1]
        cost = lengths[k] * step_bytes + spent
        if cost < best:
            best, count = cost, k
    return count


class Layout(NamedTuple):
    """A slice in lanes. Boundary ``p`` of lane ``j`` has the *key* ``p * lanes + j``, so
    the byte after key ``k`` is at ``k + lanes``. ``text`` holds byte values (int64) by key,
    ``SEPARATOR`` outside the chunks; ``places`` are the chunks' lane-major starts
    (``lane * width + offset``), ascending in the slice's chunk order."""

    text: np.ndarray
    lanes: int
    width: int
    places: np.ndarray

    def keys(self, places: np.ndarray) -> np.ndarray:
        """Keys of lane-major positions."""
        lane, offset = np.divmod(places, self.width)
        return offset * self.lanes + lane


def lay_out(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> Layout:
    """Lay the chunks ``data[starts[i] : starts[i] + lengths[i]]`` (longest first) out in
    lanes: at least as wide as the longest chunk plus its separator, about ``LANE_COUNT``
    of them. One scatter moves every byte to its key."""
    total = int(lengths.sum())
    width = max(int(lengths[0]) + 1, -(-(total + lengths.size) // LANE_COUNT))
    places = _pack(lengths, width)
    lanes = int(places[-1]) // width + 1
    first = np.cumsum(lengths) - lengths  # each chunk's first byte among the slice's bytes
    step = np.arange(total, dtype=np.int64)
    source = np.repeat(starts - first, lengths)
    source += step
    layout = Layout(np.full(width * lanes, SEPARATOR, dtype=np.int64), lanes, width, places)
    target = np.repeat(layout.keys(places) - first * lanes, lengths)
    step *= lanes
    target += step
    layout.text[target] = data.take(source)
    return layout


def _pack(lengths: np.ndarray, width: int) -> np.ndarray:
    """Next-fit: the lane-major start of each chunk; a chunk and its separator stay in one
    lane. Python works per lane (a bisection), numpy per chunk."""
    ends = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=ends[1:])
    ends_list = ends.tolist()
    firsts = []
    first = 0
    while first < lengths.size:
        firsts.append(first)
        first = bisect_right(ends_list, ends_list[first] + width) - 1
    counts = np.diff(np.append(firsts, lengths.size))
    lane_base = np.arange(len(firsts), dtype=np.int64) * width - ends[firsts]
    return np.repeat(lane_base, counts) + ends[:-1]
