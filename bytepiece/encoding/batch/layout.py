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

from bisect import bisect_right
from typing import List, NamedTuple, Optional, Tuple, Union

import numpy as np

from .flat_trie import SEPARATOR, Depth, FlatTrie

SLICE_BYTES = 1 << 20  # bytes of text per slice: bounds the working memory (~100 B/byte)
MIN_SLICE_BYTES = 2 << 10  # less text than this in a slice: the scalar decoders are as fast
LANE_COUNT = 1024  # preferred number of lanes of a big slice
MIN_WIDTH = 48  # lanes of a small slice (one document) are at least this long
EXACT_WIDTH = 256  # narrower lanes: free boundaries from the pieces; wider: from byte pairs

_NEWLINE = 10

Matches = List[Tuple[Depth, np.ndarray, np.ndarray]]  # (length, end keys, trie nodes) per length


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
    bounds = np.sort(np.concatenate([text_starts[text_starts < size], after]))  # an empty last text starts at ``size``
    bounds = bounds[np.append(bounds[:1] >= 0, bounds[1:] != bounds[:-1])]  # np.unique imports numpy.ma: 30 ms
    return bounds, np.diff(np.append(bounds, size))


Plan = List[Union[int, np.ndarray]]


def plan_slices(lengths: np.ndarray, slice_bytes: Optional[int] = None, min_slice: Optional[int] = None) -> Plan:
    """Group chunk indices, in order, into slices (arrays of consecutive indices) of about
    ``slice_bytes``; an ``int`` is a chunk for the scalar decoder: longer than a slice,
    or in a group of less than ``min_slice`` bytes, whose fixed cost a slice would not
    pay back. Empty chunks are in no group (they have no ids).

    >>> plan = plan_slices(np.array([10] * 100 + [5000] + [10] * 40), slice_bytes=600, min_slice=0)
    >>> [group if isinstance(group, int) else len(group) for group in plan]
    [50, 50, 100, 40]
    """
    slice_bytes = SLICE_BYTES if slice_bytes is None else slice_bytes
    min_slice = MIN_SLICE_BYTES if min_slice is None else min_slice
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum()) + lengths.size
    if lengths.size and min_slice <= total <= slice_bytes and (lengths > 0).all():  # one document: one slice
        return [np.arange(lengths.size)]
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
    ``SEPARATOR`` outside the stretches.

    A *stretch* is a whole chunk, or the part of a long chunk between two free boundaries
    (places no piece crosses, so every segmentation has a boundary there); each is decoded
    on its own, from its own start. Stretches are listed longest first, which is their
    lane-major order: ``places`` are their lane-major starts (``lane * width + offset``,
    ascending), ``stretch_chunk`` the slice chunk each belongs to, ``stretch_from`` where
    in it the stretch starts (0: at the chunk's start; more: it *resumes* the chunk),
    ``stretch_length`` its length.
    ``matches``, when given, are the pieces of two bytes or more in the slice: for each
    length, the keys where they end and their trie nodes; when ``None`` the lattice walks
    ``text`` itself."""

    text: np.ndarray
    lanes: int
    width: int
    places: np.ndarray
    stretch_chunk: np.ndarray
    stretch_from: np.ndarray
    stretch_length: np.ndarray
    matches: Optional[Matches]

    def keys(self, places: np.ndarray) -> np.ndarray:
        """Keys of lane-major positions."""
        lane, offset = np.divmod(places, self.width)
        return offset * self.lanes + lane


def longest_first(lengths: np.ndarray) -> np.ndarray:
    """The indices of ``lengths`` (non-negative), longest first, equal lengths in index
    order. Lengths below 2**15 are sorted as 16-bit integers, which numpy's stable sort
    takes by radix, in linear time: about eight times faster than int64s. The batch
    path, pass 2 and pruning all lay chunks out longest first.

    >>> longest_first(np.array([2, 5, 2, 7])).tolist()
    [3, 1, 0, 2]
    """
    negated = -lengths
    if len(lengths) and int(lengths.max()) < 1 << 15:
        negated = negated.astype(np.int16)
    return np.argsort(negated, kind="stable")


def lay_out(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, trie: FlatTrie, min_width: Optional[int] = None) -> Layout:
    """Lay the chunks ``data[starts[i] : starts[i] + lengths[i]]`` (each at least one
    byte) out in lanes: about ``LANE_COUNT`` of them, at least ``min_width``
    (``MIN_WIDTH``) bytes wide, chunks longer than that cut into stretches at free
    boundaries. Narrow lanes (one document) need many cuts: their free boundaries come
    from the pieces found by one walk of the trie over the slice, which then gives the
    matches too. Wide lanes (big batches) cut few chunks: byte pairs that no piece holds
    (``FlatTrie.inner``) are free boundaries enough, and the lattice walks the lanes."""
    min_width = MIN_WIDTH if min_width is None else min_width
    goal = max(min_width, -(-int(lengths.sum() + lengths.size) // LANE_COUNT))
    hits: Optional[Matches] = None
    if goal < EXACT_WIDTH:
        flat, chunk_at = _flat_text(data, starts, lengths)
        free, hits = _free_from_pieces(flat, chunk_at, lengths, trie)
        chunk, offset, length, places, width = _cut_in_order(free, chunk_at, lengths, goal)
    else:
        long_ones = np.flatnonzero(lengths > goal)
        chunk, offset, length = _cut_long(data, starts, lengths, long_ones, trie, goal)
        order = longest_first(length)  # next-fit fills the lanes
        chunk, offset, length = chunk.take(order), offset.take(order), length.take(order)
        width = max(int(length[0]) + 1, -(-int(length.sum() + length.size) // LANE_COUNT))
        places = _pack(length, width)
    lanes = int(places[-1]) // width + 1
    text = np.full(width * lanes, SEPARATOR, dtype=np.int64)
    first = np.cumsum(length) - length  # each stretch's first byte among the slice's bytes
    step = np.arange(int(first[-1] + length[-1]), dtype=np.int64)
    source = np.repeat(starts.take(chunk) + offset - first, length)
    source += step
    lane, column = np.divmod(places, width)
    target = np.repeat(column * lanes + lane - first * lanes, length)
    target += step * lanes
    text[target] = data.take(source)
    matches: Optional[Matches] = None
    if hits is not None:
        # The key of the boundary after each byte, by the flat position past it (a match's end).
        after = np.zeros(flat.size, dtype=np.int64)
        step += np.repeat(chunk_at.take(chunk) + offset - first + 1, length)
        target += lanes
        after[step] = target
        matches = [(depth, after.take(ends), nodes) for depth, ends, nodes in hits]
    return Layout(text, lanes, width, places, chunk, offset, length, matches)


def _free_from_pieces(
    flat: np.ndarray, chunk_at: np.ndarray, lengths: np.ndarray, trie: FlatTrie
) -> Tuple[np.ndarray, Matches]:
    """The free boundaries of the flat text (``free[b]``: no piece crosses the boundary
    before position ``b``), and the pieces of two bytes or more, as one item of ``Matches``
    (a length per piece): a document's walk is a dozen small rounds, and each numpy call
    on all of them at once costs what one call per round would."""
    runs = list(trie.walk(flat))
    if not runs:
        return np.ones(flat.size, dtype=bool), []
    tail = runs.pop() if not np.isscalar(runs[-1][0]) else None  # the last item: a length per run
    depth = np.repeat(np.array([d for d, _, _ in runs], dtype=np.int64), [e.size for _, e, _ in runs])
    if tail is not None:
        runs.append(tail)
        depth = np.concatenate([depth, tail[0]])
    ends = np.concatenate([e for _, e, _ in runs])
    nodes = np.concatenate([n for _, _, n in runs])
    found = np.flatnonzero(trie.term.take(nodes) >= 0)
    depth, ends, nodes = depth.take(found), ends.take(found), nodes.take(found)
    # A piece from s to e covers the boundaries s + 1 .. e - 1: count the open pieces.
    size = flat.size
    covered = np.bincount(ends - depth + 1, minlength=size)
    covered -= np.bincount(ends, minlength=size)
    free = np.cumsum(covered) == 0
    return free, [(depth, ends, nodes)]


def _cut_in_order(
    free: np.ndarray, chunk_at: np.ndarray, lengths: np.ndarray, width: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Stretches (chunk, offset, length, place) of at most ``width`` bytes (more where
    free boundaries are further apart), placed next-fit in chunk order into lanes of the
    returned width: each chunk longer than that is cut at the last free boundary
    (``free`` over the flat text, chunks from ``chunk_at``) within reach. One Python step
    per stretch, cutting and placing together: a document has a few hundred."""
    positions = np.flatnonzero(free)
    width = max(width, int(np.diff(positions).max()) if positions.size > 1 else 1)
    lane_width = width + 1  # a stretch and its separator
    # Indexed from Python: memoryviews give ints far faster than numpy scalars do.
    last_free = np.maximum.accumulate(np.where(free, np.arange(free.size), 0)).data
    stretches: List[int] = []  # (chunk, offset, length, place) after each other: a flat list
    extend = stretches.extend  # of ints makes an array ~3x faster than a list of tuples
    lane = fill = 0
    for chunk, first, size in zip(range(lengths.size), chunk_at.tolist(), lengths.tolist()):
        at, end = first, first + size
        while True:
            stop = last_free[at + width] if end - at > width else end
            length = stop - at
            if fill + length >= lane_width:
                lane += lane_width
                fill = 0
            extend((chunk, at - first, length, lane + fill))
            fill += length + 1
            if stop == end:
                break
            at = stop
    chunk_array, offset, length_array, places = np.array(stretches, dtype=np.int64).reshape(-1, 4).T
    return chunk_array, offset, length_array, places, lane_width


def _cut(free: np.ndarray, chunk_at: np.ndarray, lengths: np.ndarray, width: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stretches (chunk, offset, length) of at most ``width`` bytes, in chunk order: each
    chunk longer than that is cut at the last free boundary (``free`` over its positions
    from ``chunk_at``) within ``width`` bytes of the previous cut, or at the first one
    after it when there is none."""
    long_ones = np.flatnonzero(lengths > width).tolist()
    if not long_ones:
        count = lengths.size
        return np.arange(count, dtype=np.int64), np.zeros(count, dtype=np.int64), lengths
    positions = np.flatnonzero(free)
    # Indexed from Python in the loop: memoryviews give ints far faster than numpy scalars.
    last_free = np.maximum.accumulate(np.where(free, np.arange(free.size), 0)).data
    later = positions.data
    rank = np.cumsum(free).data  # rank[p] - 1: index in positions of the last free <= p
    chunk, offset = list(range(lengths.size)), [0] * lengths.size
    sizes = lengths.tolist()
    for i in long_ones:
        at, end = int(chunk_at[i]), int(chunk_at[i]) + sizes[i]
        first = at
        while end - at > width:
            cut = last_free[at + width]
            if cut <= at:  # no free boundary within width: the next one, further on
                cut = min(later[rank[at]], end)
            if cut >= end:
                break
            chunk.append(i)
            offset.append(cut - first)
            at = cut
    return _stretches(chunk, offset, lengths)


def _cut_long(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, long_ones: np.ndarray, trie: FlatTrie, width: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As ``_cut``, for the ``long_ones`` chunks only, with free boundaries where no
    piece holds the two bytes around them."""
    if not long_ones.size:
        count = lengths.size
        return np.arange(count, dtype=np.int64), np.zeros(count, dtype=np.int64), lengths
    flat, chunk_at = _flat_text(data, starts.take(long_ones), lengths.take(long_ones))
    free = np.ones(flat.size, dtype=bool)
    np.logical_not(trie.inner.take(flat[:-1] * 257 + flat[1:]), out=free[1:])
    chunk, offset, length = _cut(free, chunk_at, lengths.take(long_ones), width)
    whole = np.ones(lengths.size, dtype=bool)
    whole[long_ones] = False
    kept = np.flatnonzero(whole)
    return _stretches(kept.tolist() + long_ones.take(chunk).tolist(), [0] * kept.size + offset.tolist(), lengths)


def _stretches(chunk: List[int], offset: List[int], lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stretches (chunk, offset) sorted by chunk and offset, with their lengths: up to the
    next stretch of the chunk, or its end."""
    chunk_array, offset_array = np.asarray(chunk, dtype=np.int64), np.asarray(offset, dtype=np.int64)
    order = np.lexsort((offset_array, chunk_array))
    chunk_array, offset_array = chunk_array.take(order), offset_array.take(order)
    end = lengths.take(chunk_array)
    same = chunk_array[1:] == chunk_array[:-1]
    end[:-1][same] = offset_array[1:][same]
    return chunk_array, offset_array, end - offset_array


def _pack(lengths: np.ndarray, width: int) -> np.ndarray:
    """Next-fit: the lane-major start of each stretch; a stretch and its separator stay in
    one lane. Python works per lane (a bisection), numpy per stretch."""
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
