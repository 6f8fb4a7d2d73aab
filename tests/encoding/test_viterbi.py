"""Viterbi decoding: the best path, the original's tie-breaking, and exact golden ids."""

from __future__ import annotations

import pytest

from bytepiece import Tokenizer

from conftest import IN_REPO_MODEL, LEGACY_MODELS, golden_rows, shared_golden_rows, tiny_model
from reference import best_score, log_probs, pieces_of


def test_the_golden_lines_in_the_repository_match_bytepiece_0_6(tok80k):
    rows = golden_rows(IN_REPO_MODEL)
    assert len(rows) > 500 and any(row["domain"] == "edge" for row in rows)
    mismatches = [row["text"][:60] for row in rows if tok80k.encode(row["text"]) != row["ids"]]
    assert mismatches == [], f"{len(mismatches)} of {len(rows)} lines differ, e.g. {mismatches[:3]}"


@pytest.mark.parametrize("name", LEGACY_MODELS)
def test_every_shared_golden_line_matches_bytepiece_0_6(name, legacy_tokenizers):
    rows = shared_golden_rows(name)
    tok = legacy_tokenizers[name]
    assert len(rows) > 6000
    mismatches = [row["text"][:60] for row in rows if tok.encode(row["text"]) != row["ids"]]
    assert mismatches == [], f"{len(mismatches)} of {len(rows)} lines differ, e.g. {mismatches[:3]}"


MODEL = tiny_model({b"ab": 30, b"abc": 20, b"bc": 25, b"ca": 10, b"cab": 12, "新词".encode(): 40, "词发".encode(): 40})


@pytest.mark.parametrize("text", ["abcab", "cabcabc", "abc", "新词发现", "aabbcc", "xabcabcaby"])
def test_best_path_reaches_the_maximum_score(text):
    tok = Tokenizer(MODEL)
    ids = tok.encode(text)
    seg = pieces_of(ids, MODEL)
    assert b"".join(seg) == text.encode()
    logp = log_probs(MODEL)
    assert sum(logp[p] for p in seg) == pytest.approx(best_score(text.encode(), MODEL), abs=1e-9)


def test_ties_go_to_the_longer_final_piece():
    # "ab|a" and "a|ba" use the same pieces (c(ab) == c(ba)), so their scores are equal to
    # the last bit. At the final position "ba" arrives before the shorter "a" and the
    # original only replaces on strict improvement, so the longer final piece wins.
    model = tiny_model({b"ab": 50, b"ba": 50})
    assert Tokenizer(model).tokenize("aba") == [b"a", b"ba"]
    assert Tokenizer(model).tokenize("bab") == [b"b", b"ab"]


def test_chunks_are_never_crossed():
    model = tiny_model({b"a\nb": 1000, b"a\n": 1})
    assert Tokenizer(model).tokenize("a\nb") == [b"a\n", b"b"]
