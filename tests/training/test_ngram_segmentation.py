"""Batched n-gram Viterbi segmentation, checked against a one-chunk-at-a-time reference
written straight from docs/algorithm.md (Pass 2)."""

from __future__ import annotations

import random
from typing import List

import numpy as np
import pytest

from bytepiece.training.ngram_counting import NgramModel, build_model, count_ngrams
from bytepiece.encoding.batch.lattice import Scratch
from bytepiece.training.ngram_segmentation import token_starts
from bytepiece.normalization import training_chunks

from conftest import DEMO_CORPUS


def reference_pieces(chunk: bytes, model: NgramModel, ensure_unicode: bool) -> List[bytes]:
    """The HMM as the notes state it: emission matrix, transition matrix, argmax Viterbi."""
    order = model.order
    nodes = np.full((len(chunk), order), -np.inf)
    for i in range(len(chunk)):
        for j in range(min(i + 1, order)):
            gram = np.array([int.from_bytes(chunk[i - j : i + 1], "big")], dtype=np.uint64)
            nodes[i, j] = model.lookup(j + 1, gram)[0]
        if ensure_unicode and 0x80 <= chunk[i] < 0xC0:
            nodes[i, 0] = -np.inf
    trans = np.full((order, order), -np.inf)
    trans[:, 0] = 0
    for j in range(order):
        trans[j, min(j + 1, order - 1)] = 0
    scores = nodes[0]
    back = []
    for i in range(1, len(chunk)):
        candidates = scores[:, None] + trans + nodes[i][None, :]
        back.append(candidates.argmax(axis=0))
        scores = candidates.max(axis=0)
    state = int(scores.argmax())
    states = [state]
    for pointers in reversed(back):
        state = int(pointers[state])
        states.append(state)
    states.reverse()
    cuts = [i for i, s in enumerate(states) if s == 0] + [len(chunk)]
    if cuts[0] != 0:
        cuts.insert(0, 0)
    return [chunk[a:b] for a, b in zip(cuts, cuts[1:])]


def batched_pieces(chunks: List[bytes], model: NgramModel, ensure_unicode: bool) -> List[List[bytes]]:
    buf, starts = token_starts(chunks, model, ensure_unicode)
    out, position = [], 0
    for chunk in chunks:
        cuts = np.flatnonzero(starts[position : position + len(chunk)]).tolist() + [len(chunk)]
        out.append([chunk[a:b] for a, b in zip(cuts, cuts[1:])])
        position += len(chunk)
    return out


def sample_chunks() -> List[bytes]:
    chunks = []
    for path in sorted(DEMO_CORPUS.rglob("*.txt"))[::4]:
        text = path.read_text(encoding="utf-8")[:6000]
        chunks.extend(c.encode() for c in training_chunks(text))
    return chunks


@pytest.fixture(scope="module")
def real_chunks() -> List[bytes]:
    return sample_chunks()


@pytest.mark.parametrize("order", [2, 3, 6])
@pytest.mark.parametrize("ensure_unicode", [True, False])
def test_batched_equals_reference_on_real_text(real_chunks, order, ensure_unicode):
    # min_count 3 on a small sample leaves rare characters unscorable: the dead-chunk case
    model = build_model(count_ngrams(real_chunks, order), 3)
    subset = real_chunks[::7][:150]
    got = batched_pieces(subset, model, ensure_unicode)
    assert got == [reference_pieces(c, model, ensure_unicode) for c in subset]


def test_batched_equals_reference_on_random_bytes():
    rng = random.Random(1)
    alphabet = b"aab\xe4\xb8\xad\xc3\xa9\n"
    chunks = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))) for _ in range(300)]
    model = build_model(count_ngrams(chunks, 4), 2)
    for ensure_unicode in (True, False):
        got = batched_pieces(chunks, model, ensure_unicode)
        assert got == [reference_pieces(c, model, ensure_unicode) for c in chunks]


def test_pieces_cover_each_chunk_and_respect_characters(real_chunks):
    model = build_model(count_ngrams(real_chunks, 6), 2)
    for chunk, pieces in zip(real_chunks, batched_pieces(real_chunks, model, True)):
        assert b"".join(pieces) == chunk
        for piece in pieces:
            # Whole characters only; single bytes come from chunks where no state can
            # emit (a character too rare to score), which the original cuts into bytes.
            if len(piece) > 1:
                piece.decode("utf-8")


def test_order_one_and_empty_input():
    model = build_model(count_ngrams([b"abc"], 1), 1)
    assert batched_pieces([b"abc"], model, True) == [[b"a", b"b", b"c"]]
    buf, starts = token_starts([], build_model(count_ngrams([b"abc"], 3), 1), True)
    assert len(buf) == len(starts) == 0


def test_groups_segmented_with_one_scratch_come_out_as_with_fresh_arrays(real_chunks):
    # A task segments its part group after group in the same two arrays (Scratch): a group
    # smaller than the one before uses the start of them, a larger one gets new arrays.
    # Nothing of a group may leak into the next: every group must come out as it does
    # alone, the reference of the tests above.
    assert len(real_chunks) > 1510
    model = build_model(count_ngrams(real_chunks, 6), 2)
    groups = [real_chunks[:400], real_chunks[400:450], real_chunks[450:1500], real_chunks[1500:1510]]
    scratch = Scratch()
    for group in groups:
        buf, starts = token_starts(group, model, True, scratch)
        alone_buf, alone_starts = token_starts(group, model, True)
        assert buf.tobytes() == alone_buf.tobytes() and starts.tolist() == alone_starts.tolist()
