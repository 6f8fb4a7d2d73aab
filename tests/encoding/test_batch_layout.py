"""encoding/batch/layout.py: chunk bounds, slice planning and the lane layout of a slice."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece.encoding.batch.layout import chunk_bounds, lay_out, plan_slices
from bytepiece.encoding.batch.flat_trie import SEPARATOR
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


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=60), st.integers(1, 80))
@settings(max_examples=200, deadline=None)
def test_lay_out_puts_every_chunk_whole_in_one_lane(chunks, extra_width):
    chunks = sorted(chunks, key=len, reverse=True)  # slices come longest first
    data, starts = bounds_of(chunks)
    lengths = np.array([len(c) for c in chunks], dtype=np.int64)
    layout = lay_out(data, starts[:-1], lengths)
    assert layout.width > lengths.max()
    grid = layout.text.reshape(layout.width, layout.lanes).T  # lane-major
    places = layout.places.tolist()
    assert places == sorted(places)
    for chunk, place in zip(chunks, places):
        lane, offset = divmod(place, layout.width)
        row = grid[lane]
        assert bytes(row[offset : offset + len(chunk)].astype(np.uint8)) == chunk
        assert row[offset + len(chunk)] == SEPARATOR  # a separator after every chunk
    assert (layout.text != SEPARATOR).sum() == lengths.sum()  # nothing else is text


def test_plan_covers_every_chunk_once_longest_first():
    lengths = np.array([3, 500, 7, 7, 90_000] + [40] * 2000)
    plan = plan_slices(lengths, slice_bytes=4096, min_slice=0)
    seen = [i for group in plan for i in ([group] if isinstance(group, int) else group.tolist())]
    assert sorted(seen) == list(range(lengths.size))
    assert lengths[seen].tolist() == sorted(lengths.tolist(), reverse=True)
    assert plan[0] == 4  # far longer than the rest: the scalar decoder
