"""HashTable: a read-only map from uint64 keys, looked up many keys at a time."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece.training import hash_table
from bytepiece.training.hash_table import HashTable

KEY = st.integers(min_value=0, max_value=(1 << 63) + (1 << 62) - 1)


def lookups(table: HashTable, mapping: dict, queries: list) -> None:
    got = table.get(np.array(queries, dtype=np.uint64)).tolist()
    assert got == [mapping.get(q, -np.inf) for q in queries]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEY, st.floats(allow_nan=False), max_size=300), st.lists(KEY, max_size=100))
def test_every_key_finds_its_value_and_others_are_missing(mapping, others):
    table = HashTable(np.array(list(mapping), dtype=np.uint64), np.array(list(mapping.values()), dtype=np.float64))
    lookups(table, mapping, list(mapping) + others)


@pytest.mark.parametrize("block", [1000, 1 << 20])
def test_a_million_keys_crowded_into_few_home_slots(block, monkeypatch):
    monkeypatch.setattr(hash_table, "_BLOCK", block)  # the build's temporaries, a block at a time
    # keys that differ only in their low bits hash to runs of neighbouring home slots:
    # long probe runs, past the last home slot (the table has no wrap-around)
    rng = np.random.default_rng(0)
    keys = np.unique(np.concatenate([rng.integers(0, 1 << 62, 900_000, dtype=np.uint64), np.arange(100_000, dtype=np.uint64)]))
    values = rng.random(keys.size)
    table = HashTable(keys, values, load=0.95)
    assert np.array_equal(table.get(keys), values)
    absent = np.setdiff1d(rng.integers(0, 1 << 62, 100_000, dtype=np.uint64), keys)
    assert np.all(table.get(absent) == -np.inf)


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_table_sent_to_a_worker_is_one_copy_aligned_to_a_cache_line(protocol):
    # The n-gram model reaches Dask workers pickled: one copy of each table (not a second
    # one for its bucket view), and unpickled into a table whose buckets are cache lines.
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 1 << 62, 50_000, dtype=np.uint64))
    values = rng.random(keys.size)
    table = HashTable(keys, values)
    data = pickle.dumps(table, protocol=protocol)
    assert len(data) < 1.1 * table._table.nbytes
    copy = pickle.loads(data)
    assert copy._table.ctypes.data % 64 == 0 and table._table.ctypes.data % 64 == 0
    assert np.array_equal(copy.get(keys), values)
    assert np.all(copy.get(keys + np.uint64(1 << 62)) == -np.inf)


def test_empty_table_and_custom_missing_value():
    table = HashTable(np.zeros(0, dtype=np.uint64), np.zeros(0), missing=-1.0)
    assert table.get(np.array([0, 5], dtype=np.uint64)).tolist() == [-1.0, -1.0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, (1 << 32) - 1), max_size=300))
def test_keys_are_placed_in_the_stable_order_of_their_homes(homes):
    # equal homes keep their order: the table's layout is a function of the keys alone
    order, sorted_homes = hash_table.stable_order(np.array(homes, dtype=np.int64))
    assert order.tolist() == np.argsort(np.array(homes, dtype=np.int64), kind="stable").tolist()
    assert sorted_homes.tolist() == sorted(homes)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, (1 << 64) - 1) | st.integers(0, 40), max_size=300))
def test_any_unsigned_keys_are_ordered_stably(keys):
    # the count store's keys (n-grams up to 8 bytes): packed with their index when they fit
    order, sorted_keys = hash_table.stable_order(np.array(keys, dtype=np.uint64))
    assert order.tolist() == np.argsort(np.array(keys, dtype=np.uint64), kind="stable").tolist()
    assert sorted_keys.tolist() == sorted(keys)


def hash_ordered_runs(keys: np.ndarray, values: np.ndarray, cuts: list) -> list:
    """The keys in hash order (as the trainer's count partitions come), cut into runs."""
    order = np.argsort(hash_table.hash_top(keys), kind="stable")
    keys, values = keys[order], values[order]
    bounds = [0, *sorted(c % (len(keys) + 1) for c in cuts), len(keys)]
    return [(keys[a:b], values[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEY, st.floats(allow_nan=False), max_size=300), st.lists(st.integers(0, 1000), max_size=6), st.lists(KEY, max_size=50))
def test_runs_in_hash_order_make_the_same_table_without_a_sort(mapping, cuts, others):
    # the n-gram model's longest n-grams: partition after partition, never one array
    keys = np.array(list(mapping), dtype=np.uint64)
    values = np.array(list(mapping.values()), dtype=np.float64)
    runs = hash_ordered_runs(keys, values, cuts)
    table = HashTable.from_hash_ordered(runs)
    lookups(table, mapping, list(mapping) + others)
    whole = np.concatenate([k for k, _ in runs]), np.concatenate([v for _, v in runs])
    assert pickle.dumps(table) == pickle.dumps(HashTable(*whole))  # the very same layout


@pytest.mark.parametrize("block", [1000, 1 << 20])
def test_crowded_runs_probe_on_across_the_runs(block, monkeypatch):
    monkeypatch.setattr(hash_table, "_BLOCK", block)
    rng = np.random.default_rng(2)
    keys = np.unique(np.concatenate([rng.integers(0, 1 << 62, 200_000, dtype=np.uint64), np.arange(50_000, dtype=np.uint64)]))
    values = rng.random(keys.size)
    table = HashTable.from_hash_ordered(hash_ordered_runs(keys, values, [1, 70_000, 70_001, 160_000]), load=0.95)
    assert np.array_equal(table.get(keys), values)
    assert np.all(table.get(np.setdiff1d(rng.integers(0, 1 << 62, 50_000, dtype=np.uint64), keys)) == -np.inf)


def test_runs_out_of_hash_order_are_refused():
    keys = np.arange(1000, dtype=np.uint64)
    with pytest.raises(ValueError, match="hash order"):
        HashTable.from_hash_ordered([(keys, np.zeros(1000))])
    runs = hash_ordered_runs(keys, np.zeros(1000), [500])
    with pytest.raises(ValueError, match="hash order"):
        HashTable.from_hash_ordered(runs[::-1])
