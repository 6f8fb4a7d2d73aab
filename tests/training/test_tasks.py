"""Training's map tasks: what a shard of pass 2 holds is what segmenting every chunk
and counting its pieces gives."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from bytepiece.normalization import training_chunks
from bytepiece.training.count_store import CountStore
from bytepiece.training.ngram_counting import build_model, count_ngrams
from bytepiece.training.ngram_segmentation import token_starts
from bytepiece.training.packed_keys import unpack_pieces
from bytepiece.training.tasks import segment_chunks

from conftest import DEMO_CORPUS


def pieces_of_every_occurrence(chunks, model):
    """Every occurrence of every chunk segmented (the batched Viterbi, checked against a
    one-chunk reference in test_ngram_segmentation.py), every piece counted."""
    buf, starts = token_starts(chunks, model, True)
    cuts = np.flatnonzero(starts).tolist() + [len(buf)]
    data = buf.tobytes()
    return Counter(data[a:b] for a, b in zip(cuts, cuts[1:]))


def test_repeated_chunks_are_segmented_once_and_counted_as_often_as_they_occur():
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((DEMO_CORPUS / "code/go-std").rglob("*.txt"))[:6])
    text += (DEMO_CORPUS / "en/moby-dick.txt").read_text(encoding="utf-8")[:20_000]  # paragraphs: long chunks
    distinct = list(dict.fromkeys(c.encode() for c in training_chunks(text)))
    rng = random.Random(1)
    # code-like repeats: some chunks many times, in any order, beside chunks seen once
    chunks = distinct + [c for c in rng.sample(distinct, 200) for _ in range(rng.randrange(1, 9))]
    rng.shuffle(chunks)
    model = build_model(count_ngrams(chunks, 6), 2)
    with CountStore(partitions=4) as store:
        (keys, counts, bounds), long = segment_chunks({"model": model, "ensure_unicode": True, "partitions": 4}, chunks)
        store.add("pieces", keys, counts, bounds)
        store.add_long(long)
        keys, counts = store.result("pieces")
        long_counts = dict(store.long_result().items())
    found = Counter(dict(zip(unpack_pieces(keys), counts.tolist())))
    found.update(long_counts)
    expected = pieces_of_every_occurrence(chunks, model)
    assert any(len(p) > 7 for p in expected) and len(long) == 4 and all(long)  # long pieces: split too
    assert found == expected
