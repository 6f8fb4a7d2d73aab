"""Pruning counted pieces into nested vocabularies (docs/algorithm.md, "Pruning")."""

from __future__ import annotations

import random
from typing import Dict, List, Tuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import Model
from bytepiece.encoding.engine import Engine
from bytepiece.encoding.viterbi import best_path
from bytepiece.normalization import training_chunks
from bytepiece.training import pruning
from bytepiece.training.ngram_counting import keep_threshold
from bytepiece.training.pruning import Strings, check_vocab_sizes, count_segments, prune, prune_packed, rank, rank_key, remove_wasted, split_into

from conftest import DEMO_CORPUS

BYTES = {bytes([b]): 1 for b in range(256)}


# ---------------------------------------------------------------- re-segmentation
# Pruning re-segments strings through the encoding batch path; the reference is the scalar
# Viterbi (one string at a time through the automaton), counted by hand.


def reference_counts(vocab: Dict[bytes, int], items: List[Tuple[bytes, int]]) -> Dict[bytes, int]:
    engine = Engine(Model.from_counts(vocab, special_tokens=()))
    pieces, lengths = engine.pieces_by_id, engine.piece_lengths
    expected: Dict[bytes, int] = {}
    for string, weight in items:
        for piece_id in best_path(engine.automaton(), string.decode("latin-1"), lengths):
            expected[pieces[piece_id]] = expected.get(pieces[piece_id], 0) + weight
    return expected


@pytest.fixture(scope="module")
def real_vocab_and_items():
    """Random substrings of real text as a vocabulary (so long pieces and ties occur), the
    text's chunks as weighted strings."""
    text = "".join(p.read_text(encoding="utf-8")[:4000] for p in sorted(DEMO_CORPUS.rglob("*.txt"))[::3])
    rng = random.Random(0)
    vocab = dict(BYTES)
    chunks = [c.encode() for c in training_chunks(text)]
    for data in chunks:
        for _ in range(3):
            a = rng.randrange(len(data))
            piece = data[a : a + rng.randrange(2, 41)]
            vocab[piece] = vocab.get(piece, 0) + rng.choice([1, 1, 2, 3, 5])
    items = [(c, i % 7 + 1) for i, c in enumerate(chunks[:3000] * 2)]
    return vocab, items


def test_resegmentation_counts_equal_the_scalar_viterbi_on_real_text(real_vocab_and_items):
    vocab, items = real_vocab_and_items
    assert count_segments(vocab, Strings.from_items(items)) == reference_counts(vocab, items)


def test_resegmentation_in_workers_equals_one_process(real_vocab_and_items):
    vocab, items = real_vocab_and_items
    strings = Strings.from_items(items * 3)
    assert count_segments(vocab, strings, workers=2) == count_segments(vocab, strings)


def test_resegmentation_ties_go_to_the_longer_last_piece():
    # "a"+"aa" and "aa"+"a" score exactly the same; the piece ending last is the longer
    vocab = {**BYTES, b"a": 5, b"aa": 10}
    items = [(b"aaa", 1)]
    assert count_segments(vocab, Strings.from_items(items)) == {b"a": 1, b"aa": 1} == reference_counts(vocab, items)
    more = [(b"aaaaa", 2), (b"baaab", 3)]
    assert count_segments(vocab, Strings.from_items(more)) == reference_counts(vocab, more)


def test_resegmentation_of_random_vocabularies_and_strings():
    rng = random.Random(5)
    for _ in range(20):
        vocab = dict(BYTES)
        for _ in range(rng.randrange(1, 60)):
            vocab[bytes(rng.choice(b"abc") for _ in range(rng.randrange(2, 12)))] = rng.randrange(1, 6)
        items = [(bytes(rng.choice(b"abcd\n") for _ in range(rng.randrange(1, 50))), rng.randrange(1, 4)) for _ in range(50)]
        assert count_segments(vocab, Strings.from_items(items)) == reference_counts(vocab, items)


def test_strings_must_be_longest_first_and_non_empty():
    with pytest.raises(ValueError, match="longest first"):
        Strings(b"abc", np.array([1, 2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="empty"):
        Strings.from_items([(b"ab", 1), (b"", 1)])


# ---------------------------------------------------------------- the pruning rules


def test_rank_key_orders_singles_then_count_then_length_then_bytes():
    items = [(b"ab", 5), (b"b", 1), (b"abc", 5), (b"a", 9), (b"ac", 5), (b"zz", 7)]
    assert sorted(items, key=rank_key) == [(b"a", 9), (b"b", 1), (b"zz", 7), (b"abc", 5), (b"ab", 5), (b"ac", 5)]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=6), st.integers(min_value=1, max_value=5), max_size=60))
def test_rank_sorts_like_rank_key(counts):
    assert rank(counts) == sorted(counts.items(), key=rank_key)


def test_strings_come_longest_first_and_in_their_order_among_equals():
    b = Strings.from_items([(b"abc", 2), (b"z", 7), (b"xy", 1), (b"uvw", 4)])
    assert (b.data, b.lengths.tolist(), b.weights.tolist()) == (b"abcuvwxyz", [3, 3, 2, 1], [2, 4, 1, 7])


def test_split_into_adds_the_dropped_count_to_each_part():
    keep = {**BYTES, b"ab": 10, b"cd": 10}
    out = split_into(keep, [(b"abcd", 4), (b"abab", 2)])
    assert out[b"ab"] == 10 + 4 + 2 * 2 and out[b"cd"] == 14 and b"abcd" not in out


def test_remove_wasted_drops_pieces_cheaper_as_a_split():
    # "abc" (count 1) costs more than "ab" + "c", both frequent: it is wasted.
    counts = {**BYTES, b"ab": 1000, b"c": 1000, b"abc": 1}
    out = remove_wasted(counts)
    assert b"abc" not in out and out[b"ab"] == 1001 and out[b"c"] == 1001
    assert sum(out[p] * len(p) for p in out) == sum(counts[p] * len(p) for p in counts)


def test_remove_wasted_keeps_a_stable_set():
    counts = {**BYTES, b"hello": 50, b" world": 40}
    assert remove_wasted(counts) == counts


def test_rounds_of_remove_wasted_build_one_trie_and_count_as_fresh_engines(real_vocab_and_items, monkeypatch):
    # Every round's vocabulary is a subset of the first: the rounds rescore one engine
    # (Engine.rescored) instead of building one each, with the same result as the scalar
    # Viterbi of a fresh engine per round.
    from bytepiece.encoding.batch import flat_trie

    vocab, _ = real_vocab_and_items
    expected, rounds = dict(vocab), 0
    while True:
        rounds += 1
        size, expected = len(expected), reference_counts(expected, list(expected.items()))
        if len(expected) == size:
            break
    assert rounds >= 2  # the first round drops pieces, so the next one masks them: the test has a point
    builds = []
    real_build = flat_trie.FlatTrie.build
    monkeypatch.setattr(flat_trie.FlatTrie, "build", classmethod(lambda cls, *a: (builds.append(1), real_build(*a))[1]))
    assert remove_wasted(dict(vocab)) == expected
    assert builds == [1]


def toy_counts() -> Dict[bytes, int]:
    words = [b"the", b" the", b"and", b" and", b"ing", b" of", b" to", b"tion", b" a", b"er", b"re", b"in", b"on"]
    counts = {w: 100 - 5 * i for i, w in enumerate(words)}
    counts.update({b"x" * 40: 50, b"rare": 1, b"therein": 3})  # too long, too rare, too rare
    counts.update({bytes([b]): 20 for b in b"abcdefghijklmnopqrstuvwxyz "})
    return counts


def test_prune_nested_sizes_and_rules():
    result = prune(toy_counts(), vocab_sizes=[270, 262], min_count=4, max_piece_length=36)
    big, small = result[270], result[262]
    assert set(small) <= set(big)
    assert len(big) <= 270 - 3 and len(small) <= 262 - 3
    assert all(bytes([b]) in small for b in range(256))
    assert b"x" * 40 not in big and b"rare" not in big and b"therein" not in big
    # the dropped pieces' counts went to their parts: the byte mass is conserved
    mass = lambda c: sum(n * len(p) for p, n in c.items())
    assert mass(big) == mass(small) == mass(toy_counts()) + 256 - 27


def test_prune_keeps_everything_when_the_vocabulary_is_large_enough():
    counts = {**BYTES, b"ab": 10, b"cd": 9}
    assert prune(dict(counts), vocab_sizes=[1000], min_count=2, max_piece_length=36)[1000] == counts


@pytest.mark.parametrize("sizes", [[], [100], [258]])
def test_vocab_sizes_must_leave_room_for_all_bytes(sizes):
    with pytest.raises(ValueError):
        check_vocab_sizes(sizes)


def test_vocab_sizes_are_sorted_largest_first():
    assert check_vocab_sizes([8000, 32000, 8000]) == [32000, 8000]


@pytest.mark.parametrize("workers", [1, 2])
def test_long_pieces_are_sorted_out_alike_in_any_partitioning_grouping_or_workers(monkeypatch, workers):
    # pieces of more than 7 bytes are counted apart from the packed ones and sorted out
    # by tasks, a partition at a time: kept when short and frequent enough, else split
    # into the kept pieces
    import pickle

    from bytepiece.training.count_store import LongCounts, split_long
    from bytepiece.training.piece_counting import PieceCounts

    counts = toy_counts()
    long = {b"long piece %d" % i: 3 + i % 4 for i in range(40)}  # 12-13 bytes; 3 is too rare
    long.update({b"y" * (37 + i): 6 for i in range(5)})  # too long
    expected = prune({**counts, **long}, vocab_sizes=[400], min_count=4, max_piece_length=36)[400]
    assert all((b"long piece %d" % i in expected) == (i % 4 > 0) for i in range(40))
    assert not any(b"y" * (37 + i) in expected for i in range(5))
    short = PieceCounts.from_dict(counts)
    for partitions, group_bytes in ((1, 16), (4, 40), (8, 1 << 20)):
        monkeypatch.setattr(pruning, "GROUP_BYTES", group_bytes)
        parts = [(pickle.dumps(part), len(part)) for part in split_long({**short.long, **long}, partitions) if part]
        pieces = PieceCounts(short.keys.copy(), short.counts.copy(), LongCounts({}, pickled=parts))
        assert prune_packed(pieces, vocab_sizes=[400], min_count=4, max_piece_length=36, workers=workers)[400] == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bound_on_the_candidates_is_min_count_raised_to_fit_it(workers):
    # Pruning's memory grows with its candidates (a trie in every worker); a bound keeps
    # the most frequent ones, short and long pieces together, ties at the cut going
    # together: the same vocabulary as min_count raised to the count that fits.
    import pickle

    from bytepiece.training.count_store import LongCounts
    from bytepiece.training.piece_counting import PieceCounts

    counts = toy_counts()
    long = {b"long piece %d" % i: 3 + i % 6 for i in range(40)}  # counts 3-8
    every = {**counts, **long}
    candidates = sorted((c for p, c in every.items() if len(p) > 1 and len(p) <= 36 and c >= 4), reverse=True)
    for bound in (len(candidates), 20, 15, 3, 0):
        threshold = keep_threshold(np.array(candidates), 4, bound)
        assert sum(c >= threshold for c in candidates) <= bound
        assert threshold == 4 or sum(c >= threshold - 1 for c in candidates) > bound  # not raised further than it needs
        expected = prune(every, vocab_sizes=[300], min_count=threshold, max_piece_length=36)[300]
        short = PieceCounts.from_dict(counts)
        both = {**short.long, **long}
        pieces = PieceCounts(short.keys, short.counts, LongCounts({}, pickled=[(pickle.dumps(both), len(both))]))
        cuts: List[int] = []
        got = prune_packed(pieces, vocab_sizes=[300], min_count=4, max_piece_length=36, workers=workers, max_candidates=bound, on_cut=cuts.append)
        assert got[300] == expected
        assert cuts == ([] if threshold == 4 else [threshold])
        assert all(bytes([b]) in got[300] for b in range(256))  # the single bytes are never cut


def test_long_pieces_in_memory_are_packed_and_their_dict_let_go_before_any_group_is_sent():
    # Pruning forks its workers after sorting out: a dict of millions of long pieces held
    # then would stay in every worker's memory (docs/scaling.md, "Session 7").
    from bytepiece.training.count_store import LongCounts
    from bytepiece.training.piece_counting import PieceCounts

    counts = toy_counts()
    long = {b"long piece %d" % i: 3 + i % 4 for i in range(40)}
    long.update({b"y" * (37 + i): 6 for i in range(5)})
    short = PieceCounts.from_dict(counts)
    pieces = PieceCounts(short.keys, short.counts, LongCounts(dict(long)))
    keep, dropped = pruning._sort_out(pieces, min_count=4, max_piece_length=36)
    assert pieces.long.memory == {} and len(pieces.long) == 0  # let go before the stream starts
    assert not pieces.long.pickled and not pieces.long.runs
    assert {p: c for p, c in keep.items() if len(p) > 7} == {p: c for p, c in long.items() if c >= 4 and len(p) <= 36}
    sent = {}
    for group in dropped:
        for start, end, weight in zip(group.starts.tolist(), group.ends.tolist(), group.weights.tolist()):
            sent[group.data[start:end]] = weight
    assert {p: c for p, c in sent.items() if len(p) > 7} == {p: c for p, c in long.items() if c < 4 or len(p) > 36}


def test_dropped_long_pieces_wait_on_disk_and_not_in_the_driver(tmp_path):
    # Step 2's workers are forked after sorting out: what the driver holds then, they
    # inherit (0.2 GB of dropped long pieces at 391 MB, docs/scaling.md)
    import tracemalloc

    from bytepiece.training.count_store import LongCounts
    from bytepiece.training.piece_counting import PieceCounts

    short = PieceCounts.from_dict(toy_counts())
    pieces = PieceCounts(short.keys, short.counts, LongCounts({b"%06d" % i * 20: 1 for i in range(20_000)}))
    tracemalloc.start()
    try:
        keep, dropped = pruning._sort_out(pieces, min_count=4, max_piece_length=36, spill_dir=str(tmp_path))
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 300_000  # against 2.4 MB of dropped pieces
    assert list(tmp_path.iterdir()) == []  # a file without a name: nothing to clean up after a kill
    sent = {}
    for group in dropped:
        for start, end, weight in zip(group.starts.tolist(), group.ends.tolist(), group.weights.tolist()):
            sent[group.data[start:end]] = weight
    assert {p for p in sent if len(p) > 7} == {b"%06d" % i * 20 for i in range(20_000)}


def test_a_round_names_a_piece_outside_its_run():
    from bytepiece.training.pruning import RoundPieces

    within = RoundPieces([b"a", b"b", b"ab"])
    assert within.round({b"a": 1, b"b": 2, b"ab": 3}).counts.tolist() == [1, 2, 3]  # all of them, in order
    assert within.round({b"ab": 3, b"a": 1}).counts.tolist() == [1, 0, 3]
    with pytest.raises(ValueError, match="b'abc' is not among the pieces"):
        within.round({b"a": 1, b"abc": 2})
