"""How a batch of texts becomes slices of lanes for the vectorised decoder (``lattice.py``).

Explained in ``docs/performance.md``. Everything here works on one UTF-8 buffer (the texts
of a batch back to back) and integer arrays over it; no Python object is made per chunk,
because with tens of thousands of short texts per megabyte, per-chunk Python work cost as
much as the decoding itself.

1. ``chunk_bounds``: the inference chunks ("a line plus the newlines after it", as
   ``normalization.split_chunks``) of every text, as start and length arrays.
2. ``plan_slices``: consecutive chunks grouped into slices of about ``SLICE_BYTES``;
   chunks too long for a slice go to the scalar decoders.
3. ``lay_out``: a slice's chunks back to back (a separator after each), its matches found
   by one walk of the flat trie, and the text cut into ``lanes`` of equal width at *free
   boundaries*: places that no piece crosses, so that every segmentation has a boundary
   there and the part after it can be decoded on its own. A lane is one contiguous stretch
   of the slice, so a long line is spread over many lanes instead of making every lane as
   long as itself.

Deliberately left out: the lattice itself and anything about scores.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple, Union

import numpy as np

from .flat_trie import SEPARATOR, FlatTrie

SLICE_BYTES = 1 << 20  # bytes of text per slice: bounds the working memory (~100 B/byte)
MIN_SLICE_BYTES = 1 << 10  # less text than this in a slice: the scalar decoders are as fast
LANE_COUNT = 1024  # preferred number of lanes of a big slice
MIN_WIDTH = 48  # lanes of a small slice (one document) are at least this long

_NEWLINE = 10

Matches = List[Tuple[int, np.ndarray, np.ndarray]]  # (length, end keys, trie nodes) per length


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


def plan_slices(lengths: np.ndarray, slice_bytes: Optional[int] = None, min_slice: Optional[int] = None) -> Plan:
    """Group chunk indices, in order, into slices (arrays of consecutive indices) of about
    ``slice_bytes``; an ``int`` is a chunk for the scalar decoder: longer than a slice,
    or in a group of less than ``min_slice`` bytes, whose fixed cost a slice would not
    pay back. Empty chunks are in no group (they have no ids).

    >>> plan = plan_slices(np.array([5000] + [10] * 100), slice_bytes=600, min_slice=0)
    >>> [group if isinstance(group, int) else len(group) for group in plan]
    [0, 55, 45]
    """
    slice_bytes = SLICE_BYTES if slice_bytes is None else slice_bytes
    min_slice = MIN_SLICE_BYTES if min_slice is None else min_slice
    lengths = np.asarray(lengths, dtype=np.int64)
    plan: Plan = []
    # Runs of chunks that fit a slice, cut at the chunks too long for one.
    huge = np.flatnonzero(lengths > slice_bytes).tolist()
    first = 0
    for stop in huge + [lengths.size]:
        if stop > first:
            plan.extend(_fill(lengths[first:stop], first, slice_bytes, min_slice))
        if stop < lengths.size:
            plan.append(stop)
        first = stop + 1
    return plan


def _fill(lengths: np.ndarray, offset: int, slice_bytes: int, min_slice: int) -> Plan:
    """Consecutive groups of the chunks ``offset + i`` of at most ``slice_bytes`` (a chunk
    and its separator), the last ones evened out so that no slice is much smaller."""
    ends = np.cumsum(lengths + 1)
    total = int(ends[-1])
    if total < min_slice:
        return [offset + int(i) for i in np.flatnonzero(lengths)]
    count = -(-total // slice_bytes)
    cuts = np.searchsorted(ends, np.arange(1, count) * (total / count), side="right")
    plan: Plan = []
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), lengths.size]):
        if b > a:
            group = np.arange(offset + a, offset + b)
            plan.append(group[lengths[a:b] > 0])
    return plan


class Layout(NamedTuple):
    """A slice in lanes. Boundary ``p`` of lane ``j`` has the *key* ``p * lanes + j``, so
    the byte after key ``k`` is at ``k + lanes``. ``text`` holds byte values (int64) by key,
    ``SEPARATOR`` outside the chunks.

    A lane holds one contiguous stretch of the slice's text (several chunks, separators
    between them, or part of a long one); it starts at a chunk start or at a free boundary
    inside a chunk (it *resumes* the chunk). Decoding restarts at every *stretch*: each
    chunk start, and each resumed lane's start. ``places`` are the stretches' lane-major
    starts (``lane * width + offset``), ascending; ``stretch_chunk`` the slice chunk each
    belongs to (chunk ``i``'s stretches are consecutive), ``stretch_from`` where in it the
    stretch starts. ``matches`` are the pieces of two
    bytes or more found in the slice: for each length, the keys where they end and their
    trie nodes. For the resumed lanes: ``resumed`` (lane numbers), ``resumed_end`` (the
    offset in the lane where the chunk's stretch ends) and ``resumed_from`` (how many bytes
    of the chunk come before the lane)."""

    text: np.ndarray
    lanes: int
    width: int
    places: np.ndarray
    stretch_chunk: np.ndarray
    stretch_from: np.ndarray
    matches: Matches
    resumed: np.ndarray
    resumed_end: np.ndarray
    resumed_from: np.ndarray

    def keys(self, places: np.ndarray) -> np.ndarray:
        """Keys of lane-major positions."""
        lane, offset = np.divmod(places, self.width)
        return offset * self.lanes + lane


def lay_out(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, trie: FlatTrie, min_width: Optional[int] = None) -> Layout:
    """Lay the chunks ``data[starts[i] : starts[i] + lengths[i]]`` (each at least one
    byte) out in lanes, cut at free boundaries, about ``LANE_COUNT`` of them and at least
    ``min_width`` (``MIN_WIDTH``) bytes long; the matches of the trie come with it."""
    min_width = MIN_WIDTH if min_width is None else min_width
    flat, chunk_at = _flat_text(data, starts, lengths)
    size = flat.size - 1  # the last entry: a separator after the last chunk's own
    hits: Matches = []
    reach = np.zeros(size + 1, dtype=np.int64)  # reach[s]: end of the longest piece from s
    term = trie.term
    for depth, ends, nodes in trie.walk(flat):
        found = np.flatnonzero(term.take(nodes) >= 0)
        ends, nodes = ends.take(found), nodes.take(found)
        reach[ends - depth] = ends  # longer pieces come later and overwrite
        hits.append((depth, ends, nodes))
    # Boundary b (before flat position b) is free when no piece starting before b ends
    # after it; boundaries before a separator do not start a lane (the next one does).
    crossing = np.maximum.accumulate(reach)
    free = np.empty(size + 1, dtype=bool)
    free[0] = True
    np.less_equal(crossing[:-1], np.arange(1, size + 1), out=free[1:])
    free[chunk_at + lengths] = False
    free[size] = True
    cuts = _cut(free, max(min_width, -(-size // LANE_COUNT)))
    lanes = cuts.size - 1
    widths = np.diff(cuts)
    width = int(widths.max()) + 1  # room for a separator after the last stretch of a lane
    key_of = np.repeat(np.arange(lanes, dtype=np.int64) - cuts[:-1] * lanes, widths)
    key_of += np.arange(size, dtype=np.int64) * lanes
    text = np.full(width * lanes, SEPARATOR, dtype=np.int64)
    text[key_of] = flat[:size]
    matches = [(depth, key_of.take(ends - 1) + lanes, nodes) for depth, ends, nodes in hits]
    # Stretches: each chunk start, and each lane start inside a chunk.
    lane_start = cuts[:-1]
    chunk_of_lane = np.searchsorted(chunk_at, lane_start, side="right") - 1
    resumed = np.flatnonzero(lane_start > chunk_at.take(chunk_of_lane))
    resumed = resumed[lane_start.take(resumed) < (chunk_at + lengths).take(chunk_of_lane.take(resumed))]
    stretch_at = np.union1d(chunk_at, lane_start.take(resumed))
    lane = np.searchsorted(lane_start, stretch_at, side="right") - 1
    places = lane * width + (stretch_at - lane_start.take(lane))
    stretch_chunk = np.searchsorted(chunk_at, stretch_at, side="right") - 1
    owner = chunk_of_lane.take(resumed)
    resumed_at = lane_start.take(resumed)
    resumed_end = np.minimum((chunk_at + lengths).take(owner), cuts.take(resumed + 1)) - resumed_at
    stretch_from = stretch_at - chunk_at.take(stretch_chunk)
    resumed_from = resumed_at - chunk_at.take(owner)
    return Layout(text, lanes, width, places, stretch_chunk, stretch_from, matches, resumed, resumed_end, resumed_from)


def _flat_text(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The chunks back to back as int64, each followed by a separator, and where each
    chunk starts in it."""
    count = lengths.size
    chunk_at = np.cumsum(lengths + 1) - (lengths + 1)
    first = chunk_at - np.arange(count)  # each chunk's first byte among the chunks' bytes
    total = int(lengths.sum())
    flat = np.full(total + count, SEPARATOR, dtype=np.int64)
    step = np.arange(total, dtype=np.int64)
    source = np.repeat(starts - first, lengths)
    source += step
    step += np.repeat(np.arange(count, dtype=np.int64), lengths)  # past the separators before
    flat[step] = data.take(source)
    return flat, chunk_at


def _cut(free: np.ndarray, width: int) -> np.ndarray:
    """Lane bounds: from 0 to ``free.size - 1``, each as far as the last free boundary at
    most ``width`` bytes on (further where a stretch without a free boundary is longer)."""
    end = free.size - 1
    positions = np.flatnonzero(free)
    longest = int(np.diff(positions).max()) if positions.size > 1 else end
    width = max(width, longest)
    last_free = np.maximum.accumulate(np.where(free, np.arange(free.size), 0))
    cuts = [0]
    at = 0
    while at < end:
        at = int(last_free[min(at + width, end)])
        cuts.append(at)
    return np.asarray(cuts, dtype=np.int64)
