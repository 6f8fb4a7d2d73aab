"""Batched unigram segmentation (pruning) against inference's one-string Viterbi."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Dict, List

import pytest

from bytepiece.normalization import training_chunks
from bytepiece.piece_splitting import BatchSegmenter
from bytepiece.tokenizer import build_automaton
from bytepiece.viterbi import best_path

from conftest import CORPUS_SAMPLE

BYTES = {bytes([b]): 1 for b in range(256)}


def reference(vocab: Dict[bytes, int], strings: List[bytes]) -> List[List[bytes]]:
    pieces = list(vocab)
    automaton = build_automaton(SimpleNamespace(pieces=pieces, counts=[vocab[p] for p in pieces], ids=range(len(pieces))))
    lengths = [len(p) for p in pieces]
    return [[pieces[i] for i in best_path(automaton, s.decode("latin-1"), lengths)] for s in strings]


@pytest.fixture(scope="module")
def real_vocab_and_strings():
    """Words of the sample as a vocabulary (counts = frequencies), lines as strings."""
    text = "".join(p.read_text(encoding="utf-8")[:4000] for p in sorted(CORPUS_SAMPLE.rglob("*.txt"))[::5])
    rng = random.Random(0)
    vocab = dict(BYTES)
    for chunk in training_chunks(text):
        data = chunk.encode()
        for _ in range(3):  # random substrings up to 40 bytes, so long pieces and ties occur
            a = rng.randrange(len(data))
            piece = data[a : a + rng.randrange(2, 41)]
            vocab[piece] = vocab.get(piece, 0) + rng.choice([1, 1, 2, 3, 5])
    strings = [c.encode() for c in training_chunks(text)][:3000]
    return vocab, strings


def test_same_segmentation_as_inference_on_real_text(real_vocab_and_strings):
    vocab, strings = real_vocab_and_strings
    assert BatchSegmenter(vocab).segment(strings) == reference(vocab, strings)


def test_ties_go_to_the_longer_piece():
    # "a"+"aa" and "aa"+"a" score exactly the same; the piece ending last is the longer
    vocab = {**BYTES, b"a": 5, b"aa": 10}
    strings = [b"aaa", b"aaaaa", b"baaab"]
    got = BatchSegmenter(vocab).segment(strings)
    assert got == reference(vocab, strings)
    assert got[0] == [b"a", b"aa"]


def test_random_vocabularies_and_strings():
    rng = random.Random(5)
    for _ in range(20):
        vocab = dict(BYTES)
        for _ in range(rng.randrange(1, 60)):
            vocab[bytes(rng.choice(b"abc") for _ in range(rng.randrange(2, 12)))] = rng.randrange(1, 6)
        strings = [bytes(rng.choice(b"abcd") for _ in range(rng.randrange(1, 50))) for _ in range(50)]
        assert BatchSegmenter(vocab).segment(strings) == reference(vocab, strings)


def test_counting_in_workers_equals_one_process(real_vocab_and_strings):
    vocab, strings = real_vocab_and_strings
    items = [(s, i % 7 + 1) for i, s in enumerate(strings * 4)]
    segmenter = BatchSegmenter(vocab)
    one = segmenter.count_segments(items)
    assert segmenter.count_segments(items, workers=2) == one
    expected: Dict[bytes, int] = {}
    for (string, weight), pieces in zip(items, reference(vocab, [s for s, _ in items])):
        for piece in pieces:
            expected[piece] = expected.get(piece, 0) + weight
    assert one == expected
