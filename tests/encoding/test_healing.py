"""Token healing and the prefix index, checked against a scan of the vocabulary."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import Tokenizer
from bytepiece.encoding.healing import PrefixIndex, _successor

from conftest import tiny_model


def scan_starting_with(pieces, ids, prefix):
    return sorted(i for p, i in zip(pieces, ids) if p.startswith(prefix))


def scan_allowed(pieces, ids, remaining):
    return sorted(
        i for p, i in zip(pieces, ids) if p.startswith(remaining) or (remaining.startswith(p) and p != remaining)
    )


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.sets(st.binary(min_size=1, max_size=4).map(lambda b: bytes(x % 4 + 0xFC for x in b)), max_size=40),
    prefix=st.binary(max_size=4).map(lambda b: bytes(x % 4 + 0xFC for x in b)),
)
def test_prefix_index_equals_scan(pieces, prefix):
    # Bytes near 0xff exercise the successor computation's carry.
    pieces = sorted(pieces)
    ids = list(range(10, 10 + len(pieces)))
    index = PrefixIndex(pieces, ids)
    assert sorted(index.starting_with(prefix).tolist()) == scan_starting_with(pieces, ids, prefix)
    assert index.allowed_next(prefix).tolist() == scan_allowed(pieces, ids, prefix)


def test_successor():
    assert _successor(b"ab") == b"ac"
    assert _successor(b"a\xff") == b"b"
    assert _successor(b"\xff\xff") is None and _successor(b"") is None


def test_real_vocabulary_against_scan(legacy_tokenizers):
    tok = legacy_tokenizers["bytepiece.zh.id.eu.80k"]
    model = tok.model
    for prefix in [b" num", b"import", "新".encode(), "新".encode()[:2], b"\n", b"zzzzzz", b" "]:
        got = sorted(tok.complete_prefix(prefix).tolist())
        assert got == scan_starting_with(model.pieces, model.ids, prefix)
        assert tok.piece_to_id(prefix) in got if prefix in model.piece_to_id else True


def test_heal_backs_off_and_constrains(legacy_tokenizers):
    tok = legacy_tokenizers["bytepiece.zh.id.eu.80k"]
    prompt = "import numpy as np\nimport matplotlib.pyp"
    ids = tok.encode(prompt)
    healing = tok.heal(prompt)
    assert healing.ids == ids[:-1]
    assert healing.prefix == tok.decode_bytes(ids[-1:])
    allowed = healing.allowed_ids()
    assert allowed.tolist() == scan_allowed(tok.model.pieces, tok.model.ids, healing.prefix)
    assert ids[-1] in allowed
    mask = healing.allowed_mask()
    assert mask.shape == (tok.vocab_size,) and mask.sum() == len(allowed)
    # Generate the prefix back with the shortest allowed pieces: the constraint walks along.
    while not healing.done:
        healing.advance(min(healing.allowed_ids(), key=lambda i: len(tok.id_to_piece(i))))
    assert healing.allowed_ids() is None and healing.allowed_mask().all()


def test_heal_more_tokens_and_from_ids(legacy_tokenizers):
    tok = legacy_tokenizers["bytepiece.zh.id.eu.80k"]
    ids = tok.encode("新词发现 hello wor")
    healing = tok.heal(ids, back_off=3)
    assert healing.ids == ids[:-3]
    assert tok.decode_bytes(healing.ids) + healing.prefix == "新词发现 hello wor".encode()
    assert tok.heal(ids, back_off=0).prefix == b""
    assert tok.heal(ids, back_off=100).ids == []


def test_heal_stops_at_special_tokens(legacy_tokenizers):
    tok = legacy_tokenizers["bytepiece.zh.id.eu.80k"]
    ids = [tok.bos_id] + tok.encode("ab")
    healing = tok.heal(ids, back_off=10)
    assert healing.ids == [tok.bos_id]
    assert healing.prefix == b"ab"


def test_advance_checks_the_constraint():
    tok = Tokenizer(tiny_model({b"ab": 5, b"abc": 3, b"xy": 2}))
    healing = tok.heal([tok.piece_to_id(b"ab")])
    assert healing.prefix == b"ab"
    assert sorted(tok.id_to_piece(i) for i in healing.allowed_ids()) == [b"a", b"ab", b"abc"]
    with pytest.raises(ValueError, match="does not continue"):
        healing.advance(tok.piece_to_id(b"xy"))
    with pytest.raises(ValueError, match="special token"):
        healing.advance(tok.eos_id)
    healing.advance(tok.piece_to_id(b"a"))
    assert healing.remaining == b"b" and not healing.done
    healing.advance(tok.piece_to_id(b"b"))
    assert healing.done
    with pytest.raises(ValueError, match="back_off"):
        tok.heal("ab", back_off=-1)


def test_large_vocabulary_queries_are_fast():
    """A 160k vocabulary: building the index takes well under a second and queries are
    binary searches (recorded, not asserted: times on shared machines drift)."""
    rng = random.Random(0)
    pieces = {bytes([b]) for b in range(256)}
    while len(pieces) < 160_000:
        pieces.add(bytes(rng.randrange(97, 123) for _ in range(rng.randint(2, 12))))
    pieces = sorted(pieces)
    ids = np.arange(3, 3 + len(pieces))
    started = time.perf_counter()
    index = PrefixIndex(pieces, ids)
    built = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(1000):
        index.allowed_next(b"qwe")
    per_query = (time.perf_counter() - started) / 1000
    print(f"160k prefix index: build {built:.3f} s, allowed_next {per_query * 1e6:.0f} us")
    assert sorted(index.starting_with(b"qwe").tolist()) == scan_starting_with(pieces, ids.tolist(), b"qwe")
