"""Pruning counted pieces into nested vocabularies (docs/algorithm.md, "Pruning")."""

from __future__ import annotations

from typing import Dict

import pytest

from bytepiece.pruning import check_vocab_sizes, prune, rank_key, remove_wasted, split_into

BYTES = {bytes([b]): 1 for b in range(256)}


def test_rank_key_orders_singles_then_count_then_length_then_bytes():
    items = [(b"ab", 5), (b"b", 1), (b"abc", 5), (b"a", 9), (b"ac", 5), (b"zz", 7)]
    assert sorted(items, key=rank_key) == [(b"a", 9), (b"b", 1), (b"zz", 7), (b"abc", 5), (b"ab", 5), (b"ac", 5)]


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
