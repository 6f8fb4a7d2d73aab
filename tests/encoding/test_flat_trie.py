"""FlatTrie.build on its own: every piece is found with its id, nothing else is.

The double array is read here the way its docstring defines it (``base[node] + byte`` is
the child's slot, ``check[slot] == node`` says it exists, ``term[slot]`` is the id), one
byte at a time in Python, independently of the numpy walks; ``matches`` is checked
against the same answers. Vocabularies are random, with long shared prefixes (nodes with
one child, deep chains), nodes with many children (up to all 256 bytes), and bytes 0x00
and 0xff, so that the placement of the nodes meets collisions and the edges of the array.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece.encoding.batch import flat_trie
from bytepiece.encoding.batch.flat_trie import SEPARATOR, FlatTrie

SINGLE_BYTES = [bytes([b]) for b in range(256)]


def lookup(trie: FlatTrie, piece: bytes) -> Optional[int]:
    """The id of ``piece`` in ``trie`` (None: not a piece), from the root's slot 0."""
    node = 0
    for byte in piece:
        child = int(trie.base[node]) + byte
        if child >= trie.check.size or int(trie.check[child]) != node:
            return None
        node = child
    found = int(trie.term[node])
    return found if found >= 0 else None


def whole_matches(trie: FlatTrie, texts: List[bytes]) -> Dict[bytes, int]:
    """The texts that ``trie.matches`` finds as one piece from their first to last byte."""
    values: List[int] = []
    starts = []
    for text in texts:
        starts.append(len(values))
        values.extend(text)
        values.append(SEPARATOR)
    array = np.array(values, dtype=np.int64)
    at = {(start, len(text)): text for start, text in zip(starts, texts)}
    found = {}
    for depth, run_starts, ids in trie.matches(array):
        for start, piece_id in zip(run_starts.tolist(), ids.tolist()):
            text = at.get((start, depth))
            if text is not None:
                found[text] = piece_id
    return found


def check_vocabulary(pieces: List[bytes], ids: List[int], others: List[bytes]) -> None:
    trie = FlatTrie.build(pieces, ids)
    expected = dict(zip(pieces, ids))
    assert trie.max_length == max(map(len, pieces))
    for piece, piece_id in expected.items():
        assert lookup(trie, piece) == piece_id, piece
    strangers = [other for other in others if other and other not in expected]
    for other in strangers:
        assert lookup(trie, other) is None, other
    assert whole_matches(trie, list(expected) + strangers) == expected
    # the separator continues nothing, from any node (and its slot is inside the arrays)
    nodes = np.concatenate([[0], np.flatnonzero(trie.check >= 0)])
    assert (trie.check.take(trie.base.take(nodes) + SEPARATOR) != nodes).all()


@st.composite
def vocabularies(draw):
    """All single bytes, words grown from a few stems (shared prefixes up to 40 bytes),
    short random words, and words over an alphabet of 0x00, 0x01, 0xfe and 0xff."""
    stems = draw(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=6))
    grown = draw(st.lists(st.tuples(st.integers(0, len(stems) - 1), st.binary(max_size=5)), max_size=80))
    edge = st.lists(st.sampled_from([0x00, 0x01, 0xFE, 0xFF]), min_size=2, max_size=8).map(bytes)
    extra = draw(st.lists(st.one_of(st.binary(min_size=2, max_size=6), edge), max_size=80))
    wide = draw(st.lists(st.integers(0, 255), max_size=256))  # one stem's children: a wide node
    pieces = set(SINGLE_BYTES) | set(stems) | {stems[i] + tail for i, tail in grown} | set(extra)
    pieces |= {stems[0] + bytes([b]) for b in wide}
    pieces_list = sorted(pieces, key=lambda p: (draw(st.integers(0, 3)), p))  # any input order
    ids = draw(st.permutations(range(len(pieces_list))))
    others = draw(st.lists(st.one_of(st.binary(max_size=8), edge), max_size=40))
    others += [p + bytes([b]) for p in pieces_list[:50] for b in (0x00, 0xFF)]  # one byte too far
    others += [p[:-1] for p in pieces_list if len(p) > 2]  # prefixes: nodes, often not pieces
    return pieces_list, list(ids), others


@settings(max_examples=150, deadline=None)
@given(vocabularies())
def test_every_piece_is_found_with_its_id_and_nothing_else(vocabulary):
    check_vocabulary(*vocabulary)


@pytest.mark.parametrize("seed, cramped", [(0, False), (1, False), (2, True)])
def test_a_large_vocabulary_of_utf8_like_pieces(seed, cramped, monkeypatch):
    """Thousands of nodes with several children, in the patterns of UTF-8 text (lead bytes
    0xe4-0xe9, continuation bytes 0x80-0xbf) and of ASCII words: many placement batches.
    Cramped: small batches, one free slot tried per node, a node rejected once gets its own
    slots (the placement's rarer branches, taken often), and blocks of 1000 nodes or slots
    where a big vocabulary's millions are handled by blocks."""
    if cramped:
        monkeypatch.setattr(flat_trie, "PLACE_BATCH", 64)
        monkeypatch.setattr(flat_trie, "PLACE_CHOICES", 1)
        monkeypatch.setattr(flat_trie, "PLACE_TRIES", 1)
        monkeypatch.setattr(flat_trie, "PLACE_WINDOW", 8)
        monkeypatch.setattr(flat_trie, "BLOCK", 1000)  # the steps by blocks of nodes and slots
    rng = np.random.default_rng(seed)
    pieces = set(SINGLE_BYTES)
    chars = [bytes([0xE4 + int(rng.integers(6)), 0x80 + int(rng.integers(64)), 0x80 + int(rng.integers(64))]) for _ in range(3000)]
    for _ in range(12000):
        pieces.add(b"".join(chars[int(i)] for i in rng.integers(0, len(chars), size=int(rng.integers(1, 4)))))
        word = rng.integers(0x61, 0x7B, size=int(rng.integers(2, 10))).astype(np.uint8).tobytes()
        pieces.add((b" " if rng.random() < 0.5 else b"") + word)
    for _ in range(300):  # any bytes at all, from 0x00 to 0xff
        pieces.add(rng.integers(0, 256, size=int(rng.integers(2, 6))).astype(np.uint8).tobytes())
    ordered = sorted(pieces)
    ids = rng.permutation(len(ordered)).tolist()
    others = [p[:-1] + bytes([(p[-1] + 1) % 256]) for p in ordered[::7] if len(p) > 1]
    others += [rng.integers(0, 256, size=4).astype(np.uint8).tobytes() for _ in range(2000)]
    check_vocabulary(ordered, ids, others)


def test_a_missing_single_byte_is_an_error():
    with pytest.raises(ValueError, match="single byte"):
        FlatTrie.build(SINGLE_BYTES[1:] + [b"ab"], range(256))


@pytest.mark.parametrize("bad_id, message", [(2**31, "int32"), (-1, "negative")])
def test_ids_outside_int32_or_negative_are_refused(bad_id, message):
    # term holds int32 ids and -1 for "no piece": neither may be ambiguous
    with pytest.raises(ValueError, match=message):
        FlatTrie.build(SINGLE_BYTES, list(range(255)) + [bad_id])
