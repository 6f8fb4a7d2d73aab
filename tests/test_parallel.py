"""The one worker pool: results in item order, bounded read-ahead, one meaning of workers=."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import pytest

from bytepiece.parallel import WorkerPool, advise_huge_pages, executor_for, resolve_workers, shared_value, small_pages


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


def built(argument: int, previous: Optional[tuple]) -> tuple:
    # which process built the value, and the argument of the value it was given to reuse
    return argument, os.getpid(), None if previous is None else previous[0]


def with_pid(value: tuple, item: int) -> tuple:
    return value[0] * item, value[1], os.getpid(), value[2]


def test_one_pool_serves_rounds_of_shared_values():
    # Each round's value is built once per worker, in the worker, and is given the value
    # that worker built last (to reuse); the processes stay.
    for workers in (1, 2):
        with WorkerPool(workers, None) as pool:
            rounds = []
            for factor in (2, 5, 7):
                shared = pool.share(built, factor)
                results = list(pool.imap(with_pid, range(20), shared=shared))
                assert [r[0] for r in results] == [factor * i for i in range(20)]
                assert all(builder == runner for _, builder, runner, _ in results)  # built where it runs
                assert {last for *_, last in results} <= {None, 2, 5} - {factor}  # never its own, or a later one
                if workers == 1:
                    assert {last for *_, last in results} == {None if factor == 2 else {5: 2, 7: 5}[factor]}
                rounds.append({runner for _, _, runner, _ in results})
            assert len(rounds[0] | rounds[1] | rounds[2]) <= workers  # no new processes per round
            if workers == 1:
                assert rounds[0] == {os.getpid()}


def test_pruning_starts_three_pools_per_run_not_one_per_round(monkeypatch):
    # one that sorts out the long pieces, step 2's, and one for every round after it,
    # forked once step 2's strings are gone (docs/scaling.md, "Session 8")
    from bytepiece import parallel
    from bytepiece.training import pruning
    from bytepiece.training.pruning import prune

    monkeypatch.setattr(pruning, "GROUP_BYTES", 300)  # many tasks a round: worth processes
    started = []
    real = parallel.WorkerPool._start
    monkeypatch.setattr(parallel.WorkerPool, "_start", lambda self: (started.append(1), real(self))[1])
    counts = {**{bytes([b]): 5 for b in range(256)}, **{bytes([97 + i % 26, 97 + i // 26 % 26, 98]): 100 + i for i in range(600)}}
    counts.update({b"a long piece %d" % i: 1 + i % 5 for i in range(50)})
    local = prune(counts, vocab_sizes=[700, 400, 300], min_count=2, max_piece_length=36, reserved=0, workers=1)
    assert started == []
    assert prune(counts, vocab_sizes=[700, 400, 300], min_count=2, max_piece_length=36, reserved=0, workers=2) == local
    assert started == [1, 1, 1]


REFUSED = """
import pytest
from bytepiece.parallel import WorkerPool
from test_parallel import scaled

with WorkerPool(2, 3) as pool:
    with pytest.raises(TypeError, match="task must be a module-level function"):
        pool.map(lambda state, item: item, [1, 2, 3])
    with pytest.raises(TypeError, match="build must be a module-level function"):
        pool.share(lambda argument, previous: argument, 5)
    assert pool.map(scaled, [1, 2]) == [3, 6]  # the pool still works
print("done")
"""


def test_what_cannot_reach_the_workers_is_refused_without_hanging():
    # In a child process with a timeout: the failure this guards against is a hang on
    # shutdown, which would otherwise stall the suite instead of failing it.
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", REFUSED], capture_output=True, text=True, timeout=120,
                            cwd=here, env={**os.environ, "PYTHONPATH": os.pathsep.join([here, *sys.path])})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


def test_a_shared_value_is_built_once_per_process_even_from_threads():
    builds = []

    def build(argument: int, previous: None) -> int:
        builds.append(argument)
        time.sleep(0.05)  # long enough for every thread to arrive while it is built
        return argument * 2

    with WorkerPool(1, None) as pool:
        shared = pool.share(build, 21)
        with ThreadPoolExecutor(8) as threads:
            values = list(threads.map(lambda _: shared_value(shared), range(8)))
    assert values == [42] * 8
    assert builds == [21]


def test_shared_files_are_removed_when_the_pool_closes_or_is_dropped():
    for close in (True, False):
        pool: WorkerPool[None] = WorkerPool(2, None)
        shared = pool.share(max, -3)
        assert shared.path is not None and os.path.exists(shared.path)
        directory = os.path.dirname(shared.path)
        if close:
            pool.close()
        else:
            del pool  # never closed: its finalizer cleans up
            gc.collect()
        assert not os.path.exists(directory)


def test_a_state_written_to_a_file_is_read_back_mapped_and_aligned(tmp_path):
    # How a Dask pool on this machine hands its state (the n-gram model) to its workers:
    # the arrays come back equal, read-only, in the file's pages rather than copied, and
    # 64-byte aligned, so that the model's hash tables are used where they lie.
    import numpy as np

    from bytepiece.parallel import read_state, write_state
    from bytepiece.training.hash_table import HashTable

    keys = np.arange(1, 50_000, 7, dtype=np.uint64)
    table = HashTable(keys, keys.astype(np.float64) / 2)
    odd = np.arange(1, 1000, dtype=np.int32)  # 3996 bytes: not a multiple of 64
    state = {"order": 6, "table": table, "odd": odd, "words": ["a", b"b"]}
    write_state(state, str(tmp_path / "state"))
    read = read_state(str(tmp_path / "state"))
    assert read["order"] == 6 and read["words"] == ["a", b"b"]
    assert np.array_equal(read["odd"], odd) and not read["odd"].flags.writeable
    queries = np.arange(0, 60_000, dtype=np.uint64)
    assert np.array_equal(read["table"].get(queries), table.get(queries))
    mapped = read["table"].__getstate__()["_table"]
    assert mapped.ctypes.data % 64 == 0 and not mapped.flags.writeable  # the file's pages, not a copy


def _huge_pages_advised(state: object = None, item: object = None) -> Optional[bool]:
    """numpy's huge-page advice in this process (set, then put back)."""
    previous = advise_huge_pages(True)
    if previous is not None:
        advise_huge_pages(previous)
    return previous


@pytest.mark.skipif("NUMPY_MADVISE_HUGEPAGE" in os.environ, reason="the user's own choice is left alone")
def test_jobs_allocate_without_huge_page_advice_and_give_the_setting_back():
    # a huge page took 10 ms a MiB to fault in on the benchmark machine, small ones 0.37
    original = advise_huge_pages(True)  # numpy's default on Linux
    try:
        with executor_for(2) as executor:
            seen = [_huge_pages_advised()]  # the driver, while the job runs
            with executor.pool(None) as pool:
                seen += pool.map(_huge_pages_advised, range(4))  # forked workers
        assert seen == [False] * 5
        assert _huge_pages_advised() is True  # the caller's setting, as it was
        with WorkerPool(2, None) as pool:  # workers forked by a caller that advises them
            assert pool.map(_huge_pages_advised, range(4)) == [False] * 4
    finally:
        advise_huge_pages(bool(original))


def test_a_huge_page_setting_in_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    assert advise_huge_pages(False) is None
    with small_pages():
        pass
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
    original = advise_huge_pages(True)
    try:
        with small_pages():
            assert _huge_pages_advised() is False
        assert _huge_pages_advised() is True
    finally:
        advise_huge_pages(bool(original))
