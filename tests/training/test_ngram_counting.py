"""Vectorised n-gram counting and the n-gram model, checked against a dict counter."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Dict, List

import numpy as np
import pytest

from bytepiece.training.count_store import CountStore
from bytepiece.training.hash_table import HashTable
from bytepiece.training import ngram_counting
from bytepiece.training.ngram_counting import ModelBudget, build_model, conditionals, count_ngrams, merge_sorted_counts, run_lengths, stream_model
from bytepiece.normalization import training_chunks

from conftest import DEMO_CORPUS


def reference_counts(chunks: List[bytes], order: int) -> Dict[bytes, int]:
    counts: Counter = Counter()
    for chunk in chunks:
        for i in range(len(chunk)):
            for n in range(1, order + 1):
                if i + n <= len(chunk):
                    counts[chunk[i : i + n]] += 1
    return dict(counts)


def as_dict(keys: Dict[int, np.ndarray], values: Dict[int, np.ndarray]) -> Dict[bytes, float]:
    return {k.to_bytes(n, "big"): v for n in keys for k, v in zip(keys[n].tolist(), values[n].tolist())}


def sample_chunks(limit: int = 300_000) -> List[bytes]:
    chunks, size = [], 0
    for path in sorted(DEMO_CORPUS.rglob("*.txt")):
        text = path.read_text(encoding="utf-8")[:20_000]
        for chunk in training_chunks(text):
            chunks.append(chunk.encode())
            size += len(chunks[-1])
        if size > limit:
            break
    return chunks


@pytest.mark.parametrize("order", [1, 2, 3, 6, 7])
def test_counts_equal_a_dict_counter_on_random_bytes(order):
    rng = random.Random(order)
    chunks = [bytes(rng.choice(b"ab\x00\xff\n") for _ in range(rng.randrange(0, 30))) for _ in range(200)]
    counts = count_ngrams(chunks, order)
    assert as_dict(counts.keys, counts.counts) == reference_counts(chunks, order)
    assert counts.total == sum(map(len, chunks))


def test_counts_equal_a_dict_counter_on_real_text():
    chunks = sample_chunks(100_000)
    counts = count_ngrams(chunks, 6)
    assert as_dict(counts.keys, counts.counts) == reference_counts(chunks, 6)


def test_ngrams_never_cross_chunks():
    counts = count_ngrams([b"ab", b"cd"], 2)
    assert as_dict(counts.keys, counts.counts) == {b"a": 1, b"b": 1, b"c": 1, b"d": 1, b"ab": 1, b"cd": 1}


def test_empty_input():
    counts = count_ngrams([], 6)
    assert counts.total == 0 and all(len(k) == 0 for k in counts.keys.values())


def test_merging_shards_equals_counting_everything():
    chunks = sample_chunks(60_000)
    whole = count_ngrams(chunks, 4)
    halves = [count_ngrams(chunks[::2], 4), count_ngrams(chunks[1::2], 4)]
    for n in range(1, 5):
        keys, counts = merge_sorted_counts([(h.keys[n], h.counts[n]) for h in halves])
        assert keys.tolist() == whole.keys[n].tolist() and counts.tolist() == whole.counts[n].tolist()


def test_run_lengths():
    keys, counts = run_lengths(np.array([1, 1, 2, 9, 9, 9], dtype=np.uint64))
    assert keys.tolist() == [1, 2, 9] and counts.tolist() == [2, 1, 3]


@pytest.mark.parametrize("budget", [None, 2_000, 50_000])
def test_count_store_spilling_gives_the_same_totals(tmp_path, budget):
    rng = np.random.default_rng(0)
    expected: Counter = Counter()
    with CountStore(budget, str(tmp_path)) as store:
        for _ in range(40):
            keys = np.sort(np.unique(rng.integers(0, 3000, 300).astype(np.uint64)))
            counts = rng.integers(1, 5, len(keys))
            expected.update(dict(zip(keys.tolist(), counts.tolist())))
            store.add("t", keys, counts)
        if budget is not None:
            assert store.spills > 0
        keys, counts = store.result("t", min_count=10)
    assert dict(zip(keys.tolist(), counts.tolist())) == {k: c for k, c in expected.items() if c >= 10}
    assert np.all(np.diff(keys.astype(np.int64)) > 0)
    assert list(tmp_path.iterdir()) == []  # spilled runs are deleted


def test_model_is_pruned_conditional_log_probabilities():
    chunks = sample_chunks(50_000)
    order, min_count = 4, 3
    raw = reference_counts(chunks, order)
    tables = {n: (keys, logp) for n, keys, logp in conditionals(count_ngrams(chunks, order), min_count)}
    singles = {bytes([b]): raw.get(bytes([b]), 1) for b in range(256)}
    total = sum(map(len, chunks)) + sum(1 for b in range(256) if bytes([b]) not in raw)
    expected = {g: math.log(c) - math.log(total) for g, c in singles.items()}
    for gram, count in raw.items():
        if len(gram) >= 2 and count >= min_count:
            prefix = gram[:-1]
            expected[gram] = math.log(count) - math.log(raw[prefix])
    got = as_dict({n: tables[n][0] for n in range(2, order + 1)}, {n: tables[n][1] for n in range(2, order + 1)})
    got.update({bytes([b]): float(tables[1][1][b]) for b in range(256)})
    assert got.keys() == expected.keys()
    assert all(got[g] == pytest.approx(expected[g], abs=1e-12) for g in expected)


@pytest.mark.parametrize("share", [0.6, 0.3])
def test_a_model_budget_raises_each_lengths_threshold_just_enough_to_fit(share):
    # A corpus many times the budget makes a model larger than it: each length then keeps
    # its most frequent n-grams, a threshold that never falls from one length to the next
    # (every kept n-gram's prefix is kept), and the conditionals of the full model.
    chunks = sample_chunks(100_000)
    order, min_count = 5, 2
    raw = reference_counts(chunks, order)
    full = build_model(count_ngrams(chunks, order), min_count)
    dense = 8 * (256 + 65536)  # lengths 1 and 2 are dense arrays, never thinned
    budget = ModelBudget(min_count, order=order, max_bytes=int(dense + share * (full.nbytes - dense)))
    thin = build_model(count_ngrams(chunks, order), budget)
    assert thin.nbytes <= budget.max_bytes < full.nbytes
    thresholds = [budget.thresholds[n] for n in range(2, order + 1)]
    assert thresholds == sorted(thresholds) and thresholds[-1] > min_count
    assert budget.thinned == {n: t for n, t in enumerate(thresholds, start=2) if t > min_count}
    for n in range(3, order + 1):
        grams = [g for g in raw if len(g) == n]
        keys = np.array([int.from_bytes(g, "big") for g in grams], dtype=np.uint64)
        kept = np.array([raw[g] >= budget.thresholds[n] for g in grams])
        got, whole = thin.lookup(n, keys), full.lookup(n, keys)
        assert np.array_equal(np.isfinite(got), kept)
        assert np.array_equal(got[kept], whole[kept])
    # just enough: one less on the first raised length would not have fitted its share
    first = min(budget.thinned)
    fewer = sum(1 for g, c in raw.items() if len(g) == first and c >= budget.thresholds[first] - 1)
    assert fewer > sum(1 for g, c in raw.items() if len(g) == first and c >= budget.thresholds[first])


def test_the_longest_ngrams_thinned_run_by_run_make_the_model_of_all_their_counts(monkeypatch):
    # The trainer's longest n-grams come a count partition at a time. When the runs held
    # outgrow the table's room, the ones below the threshold of what has come so far go
    # at once (its memory then does not grow with the corpus): the model must be the one
    # whose threshold was decided over every n-gram.
    chunks = sample_chunks(100_000)
    order, min_count = 3, 2  # lengths 1 and 2 are dense: the budget thins the longest alone
    counts = count_ngrams(chunks, order)
    above = int(np.count_nonzero(counts.counts[order] >= min_count))
    max_bytes = 8 * (256 + 65536) + HashTable.bytes_for(above // 5)
    expected_budget = ModelBudget(min_count, order=order, max_bytes=max_bytes)
    expected = build_model(counts, expected_budget)

    store = CountStore(partitions=64)
    for n in range(1, order + 1):
        store.add(str(n), counts.keys[n], counts.counts[n])
    budget = ModelBudget(min_count, order=order, max_bytes=max_bytes)
    tables = ((n, *store.result(str(n), budget.floor() if n > 1 else 1)) for n in range(1, order))

    def longest():  # read once the shorter lengths are in, as the trainer's
        yield from store.result_runs(str(order), budget.floor())

    dropped_at: List[int] = []  # how many runs had come at each drop
    drop_below = ngram_counting._drop_below
    monkeypatch.setattr(ngram_counting, "_drop_below", lambda runs, *rest: (dropped_at.append(len(runs)), drop_below(runs, *rest)))
    got = stream_model(order, counts.total, tables, budget, longest=longest())
    assert dropped_at and min(dropped_at) < 64  # some runs went before the last had come
    assert budget.thresholds == expected_budget.thresholds and budget.thinned == expected_budget.thinned
    assert budget.thinned and got.nbytes == expected.nbytes
    for n in range(3, order + 1):
        keys = counts.keys[n]
        assert np.array_equal(got.lookup(n, keys), expected.lookup(n, keys))


def test_lookup_returns_minus_infinity_for_pruned_ngrams():
    model = build_model(count_ngrams([b"abab"] * 3, 3), 3)
    grams = np.array([int.from_bytes(b"ab", "big"), int.from_bytes(b"zz", "big")], dtype=np.uint64)
    found, missing = model.lookup(2, grams)
    assert found == 0.0 and missing == -np.inf  # "b" always follows "a"


@pytest.mark.parametrize("load", [0.5, 0.75, 0.95])
def test_hash_table_equals_a_dict(load):
    from bytepiece.training.hash_table import HashTable

    rng = np.random.default_rng(3)
    keys = np.unique(rng.integers(0, 2**56, 50_000, dtype=np.uint64))
    values = rng.random(len(keys))
    queries = np.concatenate([keys[rng.integers(0, len(keys), 30_000)], rng.integers(0, 2**56, 30_000, dtype=np.uint64)])
    table = HashTable(keys, values, load=load)
    expected = dict(zip(keys.tolist(), values.tolist()))
    assert table.get(queries).tolist() == [expected.get(q, -np.inf) for q in queries.tolist()]
    assert len(table.get(np.zeros(0, np.uint64))) == 0


def test_a_budget_shared_among_other_lengths_is_refused():
    # a budget worked out for another order would share its bytes among the wrong lengths
    counts = count_ngrams(sample_chunks(1_000), 4)
    with pytest.raises(ValueError, match="up to 5, for a model of order 4"):
        build_model(counts, ModelBudget(2, order=5, max_bytes=1 << 20))
