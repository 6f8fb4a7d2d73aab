"""The count store: shards split in partitions, spilled beyond the budget, added up by
tasks on a pool; the same totals as a plain sum for any partitions, budget or pool."""

from __future__ import annotations

import os
import pickle
from collections import Counter

import numpy as np
import pytest

from bytepiece.parallel import WorkerPool
from bytepiece.training import count_store
from bytepiece.training.count_store import CountStore, LongCounts, split_long, split_partitions
from bytepiece.training.hash_table import hash_top
from bytepiece.training.ngram_counting import run_lengths


def shards(seed: int, count: int = 40):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        keys, counts = run_lengths(np.sort(rng.integers(0, 5000, size=rng.integers(1, 3000)).astype(np.uint64)))
        yield keys, counts


def expected(seed: int, min_count: int):
    total: Counter = Counter()
    for keys, counts in shards(seed):
        total.update(dict(zip(keys.tolist(), counts.tolist())))
    return sorted((k, c) for k, c in total.items() if c >= min_count)


@pytest.mark.parametrize("partitions, budget, workers", [(1, None, 1), (8, None, 1), (8, 20_000, 1), (16, 5_000, 2)])
def test_partitioned_totals_equal_a_plain_sum(partitions, budget, workers, tmp_path):
    # the pool is forked first, as the trainer's: spills are written by a thread meanwhile
    with WorkerPool(workers, None) as pool, CountStore(budget, str(tmp_path), partitions=partitions) as store:
        for keys, counts in shards(partitions):
            if partitions > 2:  # as the map tasks do: split before adding
                store.add("t", *split_partitions(keys, counts, partitions))
            else:
                store.add("t", keys, counts)
            assert budget is None or store.held_bytes() <= budget
        assert (store.spills > 0) == (budget is not None)
        keys, counts = store.result("t", min_count=3, pool=pool)
        assert list(zip(keys.tolist(), counts.tolist())) == expected(partitions, 3)
        assert np.all(np.diff(keys.astype(np.int64)) > 0)  # sorted, distinct
    assert list(tmp_path.iterdir()) == []  # spilled files are deleted


def test_a_spill_that_cannot_be_written_fails_the_result_and_leaves_nothing(tmp_path, monkeypatch):
    # Spills are written by a thread: its error (a full disk, say) reaches the caller at
    # the next spill or when the counts are read, and the store's directory still goes.
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bytepiece.training.count_store.open", full_disk, raising=False)
    for count in (1, 5):  # one spill, then the result; several spills
        with CountStore(5_000, str(tmp_path), partitions=4) as store:
            with pytest.raises(OSError, match="No space left"):
                for keys, counts in shards(1, count=count):
                    store.add("t", keys, counts)
                assert store.spills == 1
                store.result("t")
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("budget", [None, 64])
def test_shards_travel_narrow_and_their_totals_never_wrap(budget, tmp_path):
    # A map task's counts fit 32 bits and travel so (12 bytes an entry, not 16); totals
    # past 2**32 (a byte of a corpus of many GB) are still exact, in memory or spilled.
    big = np.array([(1 << 32) - 1, 7], dtype=np.int64)
    keys = np.array([3, 9], dtype=np.uint64)
    shard = split_partitions(keys, big, 4)
    assert shard[1].dtype == np.uint32
    with CountStore(budget, str(tmp_path), partitions=4) as store:
        for _ in range(3):
            store.add("t", *shard)
        assert store.held_bytes() in (0, 3 * (8 + 4) * 2)  # spilled, or 12 bytes an entry
        store.add("t", keys, np.array([5, 1 << 40]))  # too wide for 32 bits: kept as it is
        totals = dict(zip(*(a.tolist() for a in store.result("t"))))
    assert totals == {3: 3 * ((1 << 32) - 1) + 5, 9: 3 * 7 + (1 << 40)}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_result_in_runs_has_the_same_totals_in_hash_order(tmp_path, workers):
    # the n-gram model's longest length: only hashed, so never sorted by key nor gathered
    with CountStore(20_000, str(tmp_path), partitions=8) as store, WorkerPool(workers, None) as pool:
        for keys, counts in shards(8):
            store.add("t", *split_partitions(keys, counts, 8))
        runs = list(store.result_runs("t", min_count=3, pool=pool))
    assert all(np.all(np.diff(k.astype(np.int64)) > 0) for k, _, _ in runs)  # each sorted, distinct
    keys, counts = np.concatenate([k[o] for k, _, o in runs]), np.concatenate([c[o] for _, c, o in runs])
    assert sorted(zip(keys.tolist(), counts.tolist())) == expected(8, 3)
    top = hash_top(keys).astype(np.int64)
    assert np.all(np.diff(top) >= 0)  # each run in its order, run after run: what HashTable.from_hash_ordered takes


class _ElsewherePool(WorkerPool):
    shares_files = False  # as a Dask cluster on other machines: its tasks cannot open ours


def _recorded_read(log):
    real = count_store.read_run

    def read(stem):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return real(stem)

    return read


@pytest.mark.parametrize("pool_type, read_by", [(WorkerPool, "the tasks"), (_ElsewherePool, "the driver")])
def test_spilled_runs_go_from_disk_to_the_tasks_that_share_the_files(pool_type, read_by, tmp_path, monkeypatch):
    # Workers on this machine read a partition's spilled run themselves: at 100 MB the
    # driver read 656 MB back and sent it on. A cluster elsewhere gets them from the
    # driver. Either way the totals are the same, and each file goes once its result is in.
    log = tmp_path / "reads"
    monkeypatch.setattr(count_store, "read_run", _recorded_read(log))
    spill = tmp_path / "spill"
    spill.mkdir()
    with pool_type(2, None) as pool, CountStore(5_000, str(spill), partitions=8) as store:
        for keys, counts in shards(8):
            store.add("t", *split_partitions(keys, counts, 8))
        assert store.spills
        keys, counts = store.result("t", 2, pool)
        readers = log.read_text().split()
        assert len(readers) == 8  # every partition spilled
        assert (str(os.getpid()) in readers) == (read_by == "the driver")
        assert not list(spill.rglob("t-*"))  # read, then removed
    assert list(zip(keys.tolist(), counts.tolist())) == expected(8, 2)


def test_a_shard_split_for_another_store_is_refused():
    store = CountStore(partitions=4)
    with pytest.raises(ValueError, match="partitions"):
        store.add("t", *split_partitions(np.array([1, 2], np.uint64), np.array([1, 1]), 2))


@pytest.mark.parametrize("partitions, workers", [(1, 1), (8, 1), (8, 2)])
def test_long_pieces_spill_and_add_up_by_piece(partitions, workers, tmp_path):
    with CountStore(2_000, str(tmp_path), partitions=partitions) as store:
        total: Counter = Counter()
        for i in range(200):
            batch = {f"piece number {j % 37} {'x' * (j % 5)}".encode(): 1 + i % 3 for j in range(i, i + 20)}
            store.add_long(batch if i % 2 else split_long(batch, partitions))  # split here, or in a task
            total.update(batch)
            assert store.held_bytes() <= 2_000
        assert store.spills
        with WorkerPool(workers, state=None) as pool:
            long = store.long_result(pool)
        assert long.runs  # partitions beyond the budget stay on disk
        assert sorted(long.items()) == sorted(total.items()) and len(long) == len(total)
        assert long.memory == {}  # the rest stays pickled: the driver makes no piece an object
        parts = [pickle.loads(blob) for blob in long.take_pickled()]
        assert len(parts) == partitions and len(long) == 0 and not long.pickled and not long.runs
        assert sorted(p for part in parts for p in part.items()) == sorted(total.items())


def test_long_pieces_split_for_another_store_are_refused():
    with pytest.raises(ValueError, match="2 partitions, the store has 4"):
        CountStore(partitions=4).add_long(split_long({b"a long piece": 1}, 2))


def test_a_long_piece_always_falls_in_the_same_partition():
    pieces = {f"piece {i} of many".encode(): i for i in range(1, 500)}
    parts = split_long(pieces, 8)
    assert sum(map(len, parts)) == len(pieces) and all(parts)  # each piece once; all used
    again = split_long(dict(reversed(list(pieces.items()))), 8)  # any order: the same split
    assert [sorted(p.items()) for p in parts] == [sorted(p.items()) for p in again]


def test_long_counts_give_each_partition_pickled_once_and_forget_it(tmp_path):
    on_disk = tmp_path / "part"
    on_disk.write_bytes(pickle.dumps({b"on disk piece": 4}))
    counts = LongCounts({b"in memory piece": 1}, [(str(on_disk), 1)], pickled=[(pickle.dumps({b"pickled piece": 2}), 1)])
    assert sorted(counts.items()) == [(b"in memory piece", 1), (b"on disk piece", 4), (b"pickled piece", 2)]
    assert len(counts) == 3  # items() reads them and keeps them
    given = counts.take_pickled()
    assert pickle.loads(next(given)) == {b"in memory piece": 1} and counts.memory == {} and len(counts) == 2
    assert pickle.loads(next(given)) == {b"pickled piece": 2} and counts.pickled == []
    assert pickle.loads(next(given)) == {b"on disk piece": 4} and counts.runs == []
    assert list(given) == [] and len(counts) == 0
    assert list(LongCounts({}).take_pickled()) == []
