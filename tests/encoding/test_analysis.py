"""n-best, score and entropy, checked against brute-force enumeration of segmentations."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from bytepiece import Tokenizer
from bytepiece.normalization import split_chunks

from conftest import golden_rows, tiny_model
from reference import log_probs, segmentations

# Random counts for the multi-byte pieces; single bytes all have count 1, so scores tie
# often, which the n-best checks must (and do) handle.
_rng = random.Random(5)
_PIECES = [b"ab", b"bc", b"abc", b"ca", b"cab", b"aa", b"aaa", b"b\n", b"\n\n", "é".encode(), "éa".encode()]
MODEL = tiny_model({p: _rng.randint(2, 400) for p in _PIECES})
TOK = Tokenizer(MODEL)
LOGP = log_probs(MODEL)
TEXTS = ["", "a", "abc", "abcab", "aaaab", "cabcaab", "ab\nbc", "b\n\nca", "éab", "aaaaaaa"]


def all_segmentations(text: str):
    """(pieces, score) of every segmentation, chunks enumerated independently."""
    per_chunk = [list(segmentations(chunk, LOGP)) for chunk in split_chunks(text.encode())]
    for combo in itertools.product(*per_chunk):
        pieces = tuple(p for seg in combo for p in seg)
        yield pieces, sum(LOGP[p] for p in pieces)


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("n", [1, 3, 50])
def test_nbest_equals_enumeration(text, n):
    everything = dict(all_segmentations(text))
    expected = sorted(everything.values(), reverse=True)[:n]
    got = TOK.nbest(text, n)
    assert [s.logp for s in got] == pytest.approx(expected, abs=1e-9)
    paths = [tuple(TOK.id_to_piece(i) for i in s.ids) for s in got]
    assert len(set(paths)) == len(paths)
    for path, segmentation in zip(paths, got):
        assert everything[path] == pytest.approx(segmentation.logp, abs=1e-9)
    # Where scores do not tie at the cut-off, the list itself is determined.
    if len(expected) == len(everything) or expected[-1] > sorted(everything.values(), reverse=True)[n] + 1e-9:
        assert set(paths) == {p for p, v in everything.items() if v >= expected[-1] - 1e-9}


@pytest.mark.parametrize("text", TEXTS)
def test_first_of_nbest_is_viterbi_and_score_matches_exactly(text):
    best = TOK.nbest(text, 4)[0]
    assert best.ids == TOK.encode(text)
    assert TOK.score(text, best.ids) == best.logp  # same float arithmetic, bit for bit


def test_nbest_paths_are_distinct_and_sorted_on_a_real_model(legacy_tokenizers):
    tok = legacy_tokenizers["bytepiece.zh.id.eu.80k"]
    text = "新词发现 new-word discovery\n\nimport numpy as np"
    results = tok.nbest(text, 20)
    assert len(results) == 20
    assert len({tuple(r.ids) for r in results}) == 20
    assert all(a.logp >= b.logp for a, b in zip(results, results[1:]))
    for r in results:
        assert tok.decode(r.ids) == text
        assert tok.score(text, r.ids) == pytest.approx(r.logp, abs=1e-9)


@pytest.mark.parametrize("name", ["bytepiece_80k", "bytepiece.zh.id.eu.80k"])
def test_nbest_top1_is_golden(name, legacy_tokenizers):
    tok = legacy_tokenizers[name]
    for row in golden_rows(name)[::97]:
        assert tok.nbest(row["text"], 1)[0].ids == row["ids"]


def test_score_accepts_ids_bytes_and_strings():
    ids = TOK.encode("abcab")
    pieces = TOK.tokenize("abcab")
    texts = [p.decode() for p in pieces]
    assert TOK.score("abcab", ids) == TOK.score("abcab", pieces) == TOK.score("abcab", texts)
    assert TOK.score("", []) == 0.0


@pytest.mark.parametrize(
    "text, pieces, message",
    [
        ("abc", [b"ab"], "only 2 of"),
        ("abc", [b"ab", b"ca"], "do not spell"),
        ("abc", [b"ab", b"zz"], "not a piece"),
        ("ab\nbc", [b"a", b"b\n", b"b", b"c"], None),  # fine: b"b\n" ends the chunk
        ("b\n\nca", [b"b", b"\n", b"\n", b"c", b"a"], None),
        ("ab\na", [b"a", b"b", b"\n", b"a"], None),
        ("abc", [0, b"abc"], "special token"),
    ],
)
def test_score_validates_the_segmentation(text, pieces, message):
    if message is None:
        TOK.score(text, pieces)
    else:
        with pytest.raises(ValueError, match=message):
            TOK.score(text, pieces)


def test_score_rejects_a_piece_across_chunks():
    tok = Tokenizer(tiny_model({b"\nx": 5}))
    with pytest.raises(ValueError, match="crosses a line"):
        tok.score("a\nx", [b"a", b"\nx"])


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0, 4.0])
def test_entropy_equals_enumeration(text, alpha):
    weights = [alpha * score for _, score in all_segmentations(text)]
    top = max(weights)
    z = sum(math.exp(w - top) for w in weights)
    probs = [math.exp(w - top) / z for w in weights]
    expected = -sum(p * math.log(p) for p in probs if p > 0)
    assert TOK.entropy(text, alpha=alpha) == pytest.approx(expected, abs=1e-9)
    if alpha == 0.0:
        assert TOK.entropy(text, alpha=0.0) == pytest.approx(math.log(len(weights)), abs=1e-9)


def test_entropy_of_independent_lines_adds_up():
    assert TOK.entropy("abcab\ncaab") == pytest.approx(TOK.entropy("abcab\n") + TOK.entropy("caab"), abs=1e-9)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_nbest_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="positive integer"):
        TOK.nbest("abc", bad)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_entropy_rejects_bad_alpha(bad):
    with pytest.raises(ValueError, match="alpha"):
        TOK.entropy("abc", alpha=bad)
