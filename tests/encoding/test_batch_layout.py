"""encoding/batch/layout.py: chunk bounds, slice planning and the lane layout of a slice
(free boundaries, resumed lanes, the matches by key)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece.encoding.batch.flat_trie import SEPARATOR, FlatTrie
from bytepiece.encoding.batch import layout as layout_module
from bytepiece.encoding.batch.layout import chunk_bounds, lay_out, plan_slices
from bytepiece.normalization import split_chunks

texts = st.lists(st.text(alphabet="ab\n\r中", max_size=12), max_size=8)


def bounds_of(datas):
    starts = np.zeros(len(datas) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in datas], out=starts[1:])
    return np.frombuffer(b"".join(datas), dtype=np.uint8), starts


@given(texts)
@settings(max_examples=300, deadline=None)
def test_chunk_bounds_are_the_chunks_of_each_text(batch):
    datas = [t.encode() for t in batch]
    data, text_starts = bounds_of(datas)
    starts, lengths = chunk_bounds(data, text_starts)
    joined = b"".join(datas)
    got = [joined[s : s + n] for s, n in zip(starts.tolist(), lengths.tolist())]
    assert got == [chunk for d in datas for chunk in split_chunks(d)]
    # each text's chunks are the ones starting inside it
    first = np.searchsorted(starts, text_starts).tolist()
    assert [first[k + 1] - first[k] for k in range(len(datas))] == [len(split_chunks(d)) for d in datas]


PIECES = [bytes([b]) for b in range(256)] + [b"ab", b"ba", b"aab", b"bab", b"abab", "中".encode(), b"\n\n"]
TRIE = FlatTrie.build(PIECES, range(len(PIECES)))


def occurrences(chunk: bytes):
    """(start, length) of every piece of two bytes or more in ``chunk``, by brute force."""
    return {(s, len(p)) for p in PIECES[256:] for s in range(len(chunk)) if chunk.startswith(p, s)}


@given(
    st.lists(st.text(alphabet="ab\n中c", min_size=1, max_size=30), min_size=1, max_size=30),
    st.integers(1, 40),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_lay_out_cuts_chunks_only_at_free_boundaries(texts, min_width, from_pairs):
    # from_pairs: free boundaries from byte pairs no piece holds (wide lanes), else from
    # the pieces found (narrow lanes, which come with the matches).
    chunks = [t.encode() for t in texts]
    data, starts = bounds_of(chunks)
    lengths = np.array([len(c) for c in chunks], dtype=np.int64)
    saved = layout_module.EXACT_WIDTH
    layout_module.EXACT_WIDTH = 0 if from_pairs else 1 << 30
    try:
        layout = lay_out(data, starts[:-1], lengths, TRIE, min_width=min_width)
    finally:
        layout_module.EXACT_WIDTH = saved
    grid = layout.text.reshape(layout.width, layout.lanes).T  # lane-major
    places = layout.places.tolist()
    assert places == sorted(places)
    rebuilt = {}
    for place, chunk, offset, length in zip(places, layout.stretch_chunk.tolist(), layout.stretch_from.tolist(),
                                            layout.stretch_length.tolist()):
        lane, column = divmod(place, layout.width)
        assert bytes(grid[lane, column : column + length].astype(np.uint8)) == chunks[chunk][offset : offset + length]
        assert column == 0 or grid[lane, column - 1] == SEPARATOR  # a separator between stretches
        assert grid[lane, column + length] == SEPARATOR
        rebuilt.setdefault(chunk, []).append((offset, length))
        if offset:  # the stretch resumes the chunk: no piece may cross this boundary
            assert not any(s < offset < s + n for s, n in occurrences(chunks[chunk]))
    for chunk, parts in rebuilt.items():  # the stretches of a chunk tile it
        parts.sort()
        assert [o for o, _ in parts] == [0] + [o + n for o, n in parts[:-1]]
        assert sum(n for _, n in parts) == len(chunks[chunk])
    assert sorted(rebuilt) == list(range(len(chunks)))
    assert (layout.text != SEPARATOR).sum() == lengths.sum()  # nothing else is text
    if from_pairs:
        assert layout.matches is None  # the lattice walks the lanes
        return
    # The matches are every occurrence, at the key of the boundary after its last byte.
    found = {
        (int(end), int(depth), int(node))
        for depths, ends, nodes in layout.matches  # the last item may hold several lengths
        for depth, end, node in zip(np.broadcast_to(depths, ends.shape), ends, nodes)
    }
    assert len(found) == sum(len(occurrences(c)) for c in chunks)
    for end, depth, node in found:
        last = end - layout.lanes
        piece = bytes(layout.text[last - (depth - 1) * layout.lanes : last + 1 : layout.lanes].astype(np.uint8))
        assert PIECES[TRIE.term[node]] == piece


def test_plan_keeps_chunks_in_order_and_evens_out_the_slices():
    lengths = np.array([3, 500, 7, 7, 90_000] + [40] * 2000)
    plan = plan_slices(lengths, slice_bytes=4096, min_slice=0)
    seen = [i for group in plan for i in ([group] if isinstance(group, int) else group.tolist())]
    assert seen == list(range(lengths.size))
    assert [group for group in plan if isinstance(group, int)] == [4]  # longer than a slice: scalar
    sizes = [int((lengths[group] + 1).sum()) for group in plan if not isinstance(group, int)]
    assert max(sizes) <= 4096 and min(sizes[1:]) > 2048
    assert plan_slices(np.array([10, 20]), min_slice=100) == [0, 1]  # too little text for a slice
