"""Exact sampling: draws follow p(segmentation)^alpha, checked against enumeration."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bytepiece import Tokenizer
from bytepiece.encoding import sampling

from conftest import tiny_model
from reference import chi_square, chi_square_critical, pieces_of, segmentation_distribution

MODEL = tiny_model(
    {b"ab": 30, b"abc": 20, b"bc": 25, b"ca": 10, b"cab": 12, b"aa": 5, b"aaa": 3,
     "新词".encode(): 40, "词发".encode(): 40, "新".encode(): 9}
)
DRAWS = 20_000


def assert_draws_are_exact(tok, text, alpha):
    expected = segmentation_distribution(text.encode(), MODEL, alpha)
    observed = Counter(pieces_of(tok.encode(text, alpha=alpha), MODEL) for _ in range(DRAWS))
    stat, dof = chi_square(observed, expected, DRAWS)
    assert stat < chi_square_critical(dof), f"chi2={stat:.1f} dof={dof}"
    total_variation = 0.5 * sum(abs(observed.get(s, 0) / DRAWS - p) for s, p in expected.items())
    assert total_variation < 0.03


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("text", ["abcab", "aaaa", "新词发", "cabca"])
def test_sampling_matches_the_exact_distribution(text, alpha):
    assert_draws_are_exact(Tokenizer(MODEL, seed=1234), text, alpha)


@pytest.mark.parametrize("alpha", [0.1, 1.0])
@pytest.mark.parametrize("text", ["abcab", "新词发", "aaaa"])
def test_rescaling_between_batches_keeps_the_draws_exact(text, alpha, monkeypatch):
    # Real chunks are rescaled every few hundred edges; two edges per batch puts a
    # rescaling (with an unfinished position, and with the empty prefix still readable)
    # inside these short texts.
    build = sampling._build_weights

    def tiny_batches(automaton, alpha):
        table = build(automaton, alpha)
        table.block = 2
        return table

    monkeypatch.setattr(sampling, "_build_weights", tiny_batches)
    monkeypatch.setattr(sampling, "_WEIGHTS", {})
    assert_draws_are_exact(Tokenizer(MODEL, seed=99), text, alpha)


def test_three_equal_options_are_equally_likely():
    # The first published "Viterbi sampling" picked 1/4, 1/4, 1/2 here; exact is 1/3 each.
    tok = Tokenizer(tiny_model({b"xy": 1}), seed=7)
    # "xy" = "x"+"y" or "xy"; at alpha=0 every segmentation is equally likely.
    counts = Counter(tuple(tok.tokenize("xyz", alpha=0.0)) for _ in range(9000))
    assert len(counts) == 2
    assert all(abs(c / 9000 - 0.5) < 0.03 for c in counts.values())
    tok3 = Tokenizer(tiny_model({b"xy": 1, b"yz": 1, b"xyz": 1}), seed=7)
    counts = Counter(tuple(tok3.tokenize("xyz", alpha=0.0)) for _ in range(9000))
    assert len(counts) == 4  # x|y|z, xy|z, x|yz, xyz
    assert all(abs(c / 9000 - 0.25) < 0.03 for c in counts.values())


def test_large_alpha_tends_to_viterbi(tok80k):
    text = "自然语言处理 is natural language processing.\n"
    assert tok80k.encode(text, alpha=1e4, seed=0) == tok80k.encode(text)


def test_same_seed_same_samples_and_streams_are_independent():
    text = "abcabcaaabcab\n" * 3
    a, b = Tokenizer(MODEL, seed=5), Tokenizer(MODEL, seed=5)
    assert [a.encode(text, alpha=0.5) for _ in range(5)] == [b.encode(text, alpha=0.5) for _ in range(5)]
    c = Tokenizer(MODEL, seed=6)
    assert [a.encode(text, alpha=0.5) for _ in range(5)] != [c.encode(text, alpha=0.5) for _ in range(5)]


def test_per_call_seed_is_reproducible_and_leaves_the_instance_stream_alone():
    text = "abcabcaaabcab"
    tok, twin = Tokenizer(MODEL, seed=1), Tokenizer(MODEL, seed=1)
    first = tok.encode(text, alpha=0.0, seed=99)
    assert tok.encode(text, alpha=0.0, seed=99) == first
    assert tok.encode(text, alpha=0.0, seed=np.random.default_rng(99)) == first
    assert tok.encode(text, alpha=0.0) == twin.encode(text, alpha=0.0)


def test_worker_streams_differ_and_are_reproducible():
    text = "abcabcaaabcab" * 4
    draws = {}
    for worker in range(3):
        tok = Tokenizer(MODEL)
        tok.reseed(42, worker_id=worker)
        draws[worker] = [tuple(tok.encode(text, alpha=0.0)) for _ in range(4)]
    assert len({tuple(d) for d in draws.values()}) == 3
    again = Tokenizer(MODEL)
    again.reseed(42, worker_id=1)
    assert [tuple(again.encode(text, alpha=0.0)) for _ in range(4)] == draws[1]


@pytest.mark.parametrize("alpha", [-0.1, float("nan")])
def test_negative_alpha_is_an_error(alpha):
    with pytest.raises(ValueError, match="alpha"):
        Tokenizer(MODEL).encode("abc", alpha=alpha)


def test_samples_always_decode_to_the_text(tok80k):
    text = "Sampling 新词 🙂 never loses a byte.\r\n\n"
    for seed in range(20):
        assert tok80k.decode(tok80k.encode(text, alpha=0.1, seed=seed)) == text
