"""The one worker pool: results in item order, bounded read-ahead, one meaning of workers=."""

from __future__ import annotations

import os

import pytest

from bytepiece.parallel import WorkerPool, resolve_workers


def scaled(state: int, item: int) -> int:
    return state * item


def test_results_come_in_item_order_for_any_number_of_workers():
    items = list(range(50))
    expected = [3 * i for i in items]
    for workers in (1, 2):
        with WorkerPool(workers, 3) as pool:
            assert pool.map(scaled, items) == expected


def test_one_worker_runs_in_this_process():
    with WorkerPool(1, os.getpid()) as pool:
        assert pool.is_local
        assert pool.map(lambda pid, _: pid == os.getpid(), [0]) == [True]


def test_workers_read_only_a_few_items_ahead():
    # A big corpus must not be read into memory ahead of the workers.
    read = []

    def items():
        for i in range(100):
            read.append(i)
            yield i

    with WorkerPool(2, 1) as pool:
        results = pool.imap(scaled, items())
        assert next(results) == 0
        assert len(read) <= 2 * pool.workers
        assert list(results) == list(range(1, 100))


def test_workers_means_the_same_everywhere():
    assert resolve_workers(1) == 1 and resolve_workers(3) == 3
    assert resolve_workers(0) == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        resolve_workers(-1)
    for bad in (True, 1.5, "2", None):
        with pytest.raises(TypeError, match="workers must be an integer"):
            resolve_workers(bad)
