"""Worker processes: the one pool that every parallel stage runs on.

Training's two passes and its pruning, ``encode_batch(workers=N)`` and ``encode-corpus``
all map a task over items in order, in ``workers`` processes that share one read-only
*state* (settings, an n-gram model, an engine). :class:`WorkerPool` is that map. The stage
code only writes ``task(state, item)``; whether it runs here or in a worker does not
change the result, and results come back in item order, so outputs are identical for any
number of workers.

Why it looks the way it does:

* **Fork on Linux.** Workers inherit the state (tables of hundreds of MB) instead of
  unpickling it, and a user's script needs no ``__main__`` guard. Elsewhere the platform's
  default start method is used (fork is unsafe on macOS) and the state is pickled once
  per worker.
* **Processes start at once, with the garbage collector frozen.** A forked child shares
  its parent's pages until it writes them; the collector would write to every object
  header it visits, copying the pages of the whole inherited state.
* **Bounded read-ahead.** At most ``2 * workers`` items are in flight, so a producer
  reading a 100 GB corpus never runs far ahead of the workers (``Pool.imap``'s feeder
  thread reads its whole input).
* **A dead worker fails the call, not the process.** ``concurrent.futures`` raises
  ``BrokenProcessPool`` where ``multiprocessing.Pool`` would wait forever.
* **``workers`` means the same everywhere** (:func:`resolve_workers`): 1 is this process,
  N > 1 is N processes, 0 is one per core.

**Executors.** A stage is told *where* to run by an :class:`Executor`: ``workers=N`` (an
int) is a :class:`LocalExecutor`, and a Dask cluster is a
:class:`bytepiece.cluster.DaskExecutor`. Both start pools with the same interface
(:class:`Pool`: ``imap``, ``map``, ``share``, ``workers``), so stage code never knows
which runs it.

**Shared values.** A stage that runs many rounds with a different state each time
(pruning: one vocabulary per round) keeps one pool for the whole run instead of starting
one per round: ``pool.share(build, argument)`` sends ``argument`` to the workers once
(through a file for worker processes and for a Dask cluster on this machine, a
broadcast on other Dask clusters), and ``imap(task, items, shared=...)`` calls
``task(value, item)``, where ``value = build(argument, previous)`` is made once per
worker, in the worker, on its first task of the round; ``previous`` is the
value that worker made for the last round (or ``None``), which a build may reuse (pruning
keeps its trie from round to round and changes only the scores).
"""

from __future__ import annotations

import collections
import ctypes
import gc
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import warnings
import weakref
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Generic, Iterable, Iterator, List, Optional, Protocol, Set, TypeVar, Union

import numpy as np

State = TypeVar("State")
Item = TypeVar("Item")
Result = TypeVar("Result")


def resolve_workers(workers: Any, *, argument: str = "workers") -> int:
    """The number of processes ``workers`` asks for: 1 means this process, N > 1 means N
    processes, 0 means one per core. Anything else is an error naming ``argument``.

    >>> resolve_workers(3), resolve_workers(1), resolve_workers(0) == (os.cpu_count() or 1)
    (3, 1, True)
    """
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"{argument} must be an integer (1: this process, 0: one per core), got {workers!r}")
    if workers < 0:
        raise ValueError(f"{argument} must be >= 0 (1: this process, 0: one per core), got {workers}")
    return workers or os.cpu_count() or 1


def available_workers(workers: int, purpose: str) -> int:
    """``workers``, or 1 with a warning in a daemonic process (a ``DataLoader`` worker, say),
    which may not start processes of its own. ``purpose`` names the call in the warning."""
    if workers > 1 and multiprocessing.current_process().daemon:
        _warn_daemon(purpose)
        return 1
    return workers


def process_context() -> Any:
    """The start method for worker processes: fork on Linux, the platform's default
    elsewhere."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


def release_memory() -> None:
    """Hand memory freed by the last stage back to the OS, before forking workers.

    glibc keeps freed heap memory for reuse, and a forked child starts with every resident
    page of its parent mapped (shared, but counted in its RSS). No collection of cyclic
    garbage first: the stages make almost none (about ten objects a call on the corpus
    sample), and each full collection took 5-12 ms, 2% of a small run.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)


def keep_freed_memory() -> None:
    """Let glibc reuse freed memory in this process, as its defaults do after warming up.
    Every worker process calls it, local or Dask.

    A local worker is forked with the thresholds glibc starts with (mmap above 128 KB),
    which it raises only as large blocks are freed: until then a task's arrays are fresh
    mappings, faulted in page by page (on the sample, 300k faults in the workers against
    117k). Dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536``, to hand
    memory back to the OS quickly. Setting it also freezes glibc's mmap threshold at 128
    KB, so every numpy temporary above that is a fresh mapping, faulted in page by page and
    unmapped again: training's n-gram Viterbi took 1.4-1.5 times the CPU
    (``docs/scaling.md``).
    These are the values glibc's own adjustment reaches; :func:`release_memory` still hands
    memory back between stages. Not glibc: nothing to do. numpy's huge-page advice goes
    off too (:func:`advise_huge_pages`).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    except (OSError, AttributeError):
        pass
    advise_huge_pages(False)


def advise_huge_pages(enabled: bool) -> Optional[bool]:
    """Whether numpy asks the kernel for transparent huge pages for its arrays of 4 MiB or
    more (its default on Linux); the previous setting is returned (None: numpy has no such
    switch, or the user chose with ``NUMPY_MADVISE_HUGEPAGE``, which is then left alone).

    Training's arrays of that size are mostly temporaries (a task's sort buffers, its
    shards, the model's build), written once and freed, so what a huge page costs is
    its first touch, and what it saves (misses in the address cache on random reads)
    never comes back. On this repository's benchmark machine a huge page took
    10 ms a MiB to fault in, and small pages 0.37: with the advice off, pass 1 at 100 MB
    took 6.8 s instead of 10.9, and the driver's build of the n-gram model 1.3 s instead
    of 2.9 (``docs/scaling.md``, "Session 19"). Training and corpus encoding run without
    it (:func:`executor_for`), and so does every worker process (:func:`keep_freed_memory`).
    Where huge pages fault in fast, ``NUMPY_MADVISE_HUGEPAGE=1`` keeps numpy's advice.

    >>> previous = advise_huge_pages(False)
    >>> _ = advise_huge_pages(bool(previous))  # as it was
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return None
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    return None if setter is None else bool(setter(enabled))


@contextmanager
def small_pages() -> Iterator[None]:
    """numpy's huge-page advice off in this process while the block runs, restored after
    (:func:`advise_huge_pages`)."""
    previous = advise_huge_pages(False)
    try:
        yield
    finally:
        if previous is not None:
            advise_huge_pages(previous)


@dataclass(frozen=True)
class Shared:
    """A value that a pool's tasks use for a while, built in each worker on first use as
    ``build(argument, previous)`` (``previous``: the worker's value of the last round, or
    ``None``): made by ``pool.share``, passed to ``pool.imap(..., shared=)``.
    ``argument`` travels with the handle only in this process; worker processes (and a
    Dask cluster on this machine) read it from ``path``, and other Dask clusters hand it to
    the task beside the handle."""

    key: str
    build: Callable[[Any, Any], Any]
    argument: Any = None
    path: Optional[str] = None


def shared_value(shared: Shared, argument: Any = None) -> Any:
    """``shared``'s value in this process: built on first use, from the last round's value
    if its build reuses it, and kept until another one is asked for (one round's value at
    a time). Thread-safe: a Dask worker may run several tasks at once in threads; they
    build the value once, and none gets another run's."""
    with _SHARED_LOCK:
        if _SHARED and _SHARED[0] == shared.key:
            return _SHARED[1]
        previous = _SHARED[1] if _SHARED else None
        _SHARED.clear()
        if shared.path is not None:
            argument = PoolFiles.load(shared.path)
        elif argument is None:
            argument = shared.argument
        value = shared.build(argument, previous)
        del previous  # what the build did not keep of it goes before the round's tasks run
        _SHARED[:] = [shared.key, value]
        return value


def mapped_state(path: str) -> Any:
    """The state in ``path`` (:func:`write_state`), read once in this process and kept
    until :func:`forget_mapped`. Thread-safe, as :func:`shared_value` is."""
    with _SHARED_LOCK:
        if path not in _MAPPED:
            _MAPPED[path] = read_state(path)
        return _MAPPED[path]


def forget_mapped(path: str) -> None:
    """Drop the state of ``path`` from this process (its pool is closing)."""
    with _SHARED_LOCK:
        _MAPPED.pop(path, None)


def forget_shared() -> None:
    """Drop this process's shared value (a pool that built it here is closing)."""
    with _SHARED_LOCK:
        _SHARED.clear()


class WorkerPool(Generic[State]):
    """``workers`` processes that share ``state`` and map tasks over items, in order.

    With one worker there are no processes: tasks run in this process, on the same
    ``state``. A pool started by another process (a forked copy of its owner) is never
    used or shut down from the copy.

    >>> with WorkerPool(1, state=10) as pool:
    ...     list(pool.imap(pow, [1, 2, 3]))
    [10, 100, 1000]
    """

    shares_files = True  # processes on this machine (or this one)

    def __init__(self, workers: int, state: State, *, purpose: str = "this call") -> None:
        self.state = state
        self.workers = available_workers(resolve_workers(workers), purpose)
        self.owner = os.getpid()
        self._executor: Optional[ProcessPoolExecutor] = None
        self._files = PoolFiles()  # of shared values, for the workers
        if self.workers > 1:
            self._executor = self._start()
            self._finalizer = weakref.finalize(self, _shut_down, self._executor, self.owner)

    def _start(self) -> ProcessPoolExecutor:
        release_memory()
        gc.freeze()  # the workers' collector must not touch (and so copy) the inherited objects
        # The workers start with SIGINT and SIGTERM blocked, so that one sent to the process
        # group while a worker starts waits until _set_state has it ignored: the handler it
        # inherits (the command line's) would print a traceback from the worker. Here they
        # wait too, for the few milliseconds of the forks.
        blocked = _block_signals()
        try:
            executor = ProcessPoolExecutor(
                self.workers, mp_context=process_context(), initializer=_set_state, initargs=(self.state,)
            )
            # The first task starts every forked worker: now, while the collector is frozen.
            executor.submit(os.getpid).result()
        finally:
            _unblock_signals(blocked)
            gc.unfreeze()
        return executor

    @property
    def is_local(self) -> bool:
        """Whether tasks run in this process (one worker)."""
        return self._executor is None

    def share(self, build: Callable[[Any, Any], Any], argument: Any) -> Shared:
        """A handle on ``build(argument, previous)`` for :meth:`imap`'s ``shared``: ``argument`` is
        written once (pickled, to a file the workers read; kept as is with one worker), and
        the previous shared value's file is deleted."""
        if self._executor is None:
            return Shared(uuid.uuid4().hex, build, argument=argument)
        self._check_owner()
        _check_sendable(build, "shared value's build")
        return self._files.share(build, argument)

    def imap(
        self, task: Callable[[Any, Item], Result], items: Iterable[Item], *, shared: Optional[Shared] = None
    ) -> Iterator[Result]:
        """``task(state, item)`` for each item, in item order, with at most
        ``2 * workers`` items read ahead. ``task`` must be a module-level function (it is
        sent to the workers by name). With ``shared`` (from :meth:`share`), tasks get its
        value instead of the state."""
        if self._executor is None:
            for item in items:
                yield task(self.state if shared is None else shared_value(shared), item)
            return
        self._check_owner()
        _check_sendable(task)
        pending: Deque["Future[Result]"] = collections.deque()
        for item in items:
            if shared is None:
                pending.append(self._executor.submit(_run, task, item))
            else:
                pending.append(self._executor.submit(_run_shared, task, shared, item))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def map(self, task: Callable[[State, Item], Result], items: Iterable[Item]) -> List[Result]:
        """:meth:`imap` as a list."""
        return list(self.imap(task, items))

    def close(self) -> None:
        """Stop the workers (waiting for running tasks; queued ones are cancelled). Does
        nothing in a process other than the owner, or for a local pool."""
        if os.getpid() != self.owner:
            return
        if self._executor is not None:
            self._finalizer.detach()
            self._executor.shutdown(wait=True, cancel_futures=True)  # also fine on a broken pool
        else:
            forget_shared()  # built here, by this pool's tasks
        self._executor = None
        self._files.close()

    def _check_owner(self) -> None:
        if os.getpid() != self.owner:
            raise RuntimeError("a worker pool can only be used by the process that started it")

    def __enter__(self) -> "WorkerPool[State]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PoolFiles:
    """A pool's files for worker processes on this machine: shared values (pickled), and
    a Dask pool's state (:func:`write_state`). One temporary directory, made on first use
    and removed when the pool closes (or is dropped without closing)."""

    def __init__(self) -> None:
        self._directory: Optional[str] = None

    def path(self, name: str) -> str:
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="bytepiece-pool-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._directory, True)
        return os.path.join(self._directory, name)

    def dump(self, name: str, value: Any) -> str:
        """Pickle ``value`` to the file ``name`` of the directory; its path."""
        path = self.path(name)
        with open(path, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def load(path: str) -> Any:
        """What :meth:`dump` pickled to ``path`` (read in a worker, or by the driver)."""
        with open(path, "rb") as handle:
            return pickle.load(handle)

    def share(self, build: Callable[[Any, Any], Any], argument: Any) -> Shared:
        """A :class:`Shared` whose argument the workers read from a file; the previous
        shared value's file is deleted (the tasks of its round are all done)."""
        key = uuid.uuid4().hex
        directory = os.path.dirname(self.path(f"shared-{key}"))
        for old in os.listdir(directory):
            if old.startswith("shared-"):
                os.unlink(os.path.join(directory, old))
        return Shared(key, build, path=self.dump(f"shared-{key}", argument))

    def close(self) -> None:
        if self._directory is not None:
            self._cleanup()  # removes the directory, once
            self._directory = None


_ALIGN = 64  # a cache line: the n-gram model's hash tables want their buckets on one


def write_state(state: Any, path: str) -> None:
    """Write ``state`` for :func:`read_state`: its pickle (protocol 5), with its large
    arrays out of band, each at an offset that is a multiple of 64 bytes, so that a reader
    maps them instead of copying them (``docs/scaling.md``, "Session 14")."""
    buffers: List[pickle.PickleBuffer] = []
    head = pickle.dumps(state, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    offsets, offset = [], _aligned(16 + 16 * len(views) + len(head))
    for view in views:
        offsets.append(offset)
        offset = _aligned(offset + view.nbytes)
    with open(path, "wb") as handle:
        handle.write(np.array([len(views), len(head)], dtype="<u8").tobytes())
        handle.write(np.array([[o, v.nbytes] for o, v in zip(offsets, views)], dtype="<u8").reshape(-1, 2).tobytes())
        handle.write(head)
        for view, start in zip(views, offsets):
            handle.seek(start)
            handle.write(view)


def read_state(path: str) -> Any:
    """The state that :func:`write_state` wrote, its arrays read-only views of the file
    mapped in memory: worker processes on one machine share its pages (in the page cache),
    as forked workers share their parent's."""
    import mmap

    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    memory = memoryview(mapped)
    count, head_bytes = (int(x) for x in np.frombuffer(memory[:16], dtype="<u8"))
    table = np.frombuffer(memory[16 : 16 + 16 * count], dtype="<u8").reshape(-1, 2).tolist()
    head = memory[16 + 16 * count : 16 + 16 * count + head_bytes]
    return pickle.loads(head, buffers=[memory[start : start + size] for start, size in table])


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _check_sendable(task: Callable[..., Any], what: str = "task") -> None:
    """Refuse a task that cannot reach a worker (a lambda, a local function) before any is
    sent: ``ProcessPoolExecutor`` raises the pickling error, but then hangs on shutdown
    (CPython 3.11)."""
    try:
        pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            f"a worker pool's {what} must be a module-level function (it is sent to the workers by name), got {task!r}: {exc}"
        ) from None


def _shut_down(executor: ProcessPoolExecutor, owner: int) -> None:
    if os.getpid() == owner:  # a forked copy must not touch its parent's pool
        executor.shutdown(wait=False, cancel_futures=True)


def _warn_daemon(purpose: str) -> None:
    warnings.warn(
        f"{purpose} runs in this process instead of worker processes: this is a daemonic "
        "process (e.g. a DataLoader worker), which may not start processes of its own",
        RuntimeWarning,
        stacklevel=5,
    )


# ---------------------------------------------------------------- executors
class Pool(Protocol[State]):
    """What a stage uses to run its tasks: a :class:`WorkerPool`, or a Dask pool."""

    workers: int
    shares_files: bool  # the tasks see this process's files (workers on this machine)

    @property
    def state(self) -> State: ...

    def imap(
        self, task: Callable[[Any, Item], Result], items: Iterable[Item], *, shared: Optional[Shared] = None
    ) -> Iterator[Result]: ...

    def map(self, task: Callable[[State, Item], Result], items: Iterable[Item]) -> List[Result]: ...

    def share(self, build: Callable[[Any, Any], Any], argument: Any) -> Shared: ...

    def close(self) -> None: ...

    def __enter__(self) -> "Pool[State]": ...

    def __exit__(self, *exc: object) -> None: ...


class Executor:
    """Where the map stages run: pools of ``workers`` parallel tasks sharing a state.

    Subclasses: :class:`LocalExecutor` (this process, or worker processes) and
    :class:`bytepiece.cluster.DaskExecutor` (a Dask cluster). ``name`` is recorded in
    metadata; results never depend on it.
    """

    name = "executor"
    workers = 1
    is_cluster = False  # tasks may run on other machines (no shared files, no fork)

    def pool(self, state: State, *, purpose: str = "this call") -> Pool[State]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor started (nothing for a local one)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """``workers`` processes on this machine (1: this process); see :func:`resolve_workers`.

    >>> with LocalExecutor(1).pool(2) as pool:
    ...     pool.map(pow, [3, 4])
    [8, 16]
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = resolve_workers(workers)
        self.name = "local" if self.workers == 1 else f"local:{self.workers}"

    def pool(self, state: State, *, purpose: str = "this call") -> Pool[State]:
        return WorkerPool(self.workers, state, purpose=purpose)


Runner = Union[int, Executor]  # what stages accept: a number of workers, or an executor


def as_executor(runner: Runner, *, argument: str = "workers") -> Executor:
    """An :class:`Executor` for ``runner``: itself, or a :class:`LocalExecutor` of that many
    workers.

    >>> as_executor(1).workers, as_executor(LocalExecutor(3)).workers
    (1, 3)
    """
    if isinstance(runner, Executor):
        return runner
    return LocalExecutor(resolve_workers(runner, argument=argument))


@contextmanager
def executor_for(workers: Runner = 1, dask: Any = None) -> Iterator[Executor]:
    """The executor that ``workers=`` / ``dask=`` options ask for, closed afterwards if
    it was opened here. ``dask``: a ``distributed.Client``, a scheduler address, or
    ``"local:N"`` (see :class:`bytepiece.cluster.DaskExecutor`). While it is open, this
    process allocates without numpy's huge-page advice (:func:`small_pages`), as the
    workers do."""
    if dask is None:
        with small_pages():
            yield as_executor(workers)
        return
    if workers != 1:
        raise ValueError("pass workers (processes on this machine) or dask (a cluster), not both")
    from .cluster import DaskExecutor  # only when asked: dask is an optional extra

    executor = DaskExecutor.connect(dask)
    try:
        with small_pages():
            yield executor
    finally:
        if executor is not dask:  # close what was opened here, not the caller's
            executor.close()


@contextmanager
def pool_for(runner: Union[Runner, Pool[Any]], *, purpose: str = "this call") -> Iterator[Pool[Any]]:
    """A pool (state None, for :meth:`Pool.share`) for ``runner``: a pool given by the
    caller (left open: it serves several calls), or a new one of the executor, closed
    afterwards."""
    if isinstance(runner, (int, Executor)):
        with as_executor(runner).pool(None, purpose=purpose) as pool:
            yield pool
    else:
        yield runner


# ---------------------------------------------------------------- inside a worker
_STATE: List[Any] = []  # the pool's state, in a worker process
_SHARED: List[Any] = []  # [key, value] of the shared value built in this process
_SHARED_LOCK = threading.Lock()
_MAPPED: Dict[str, Any] = {}  # states read from files (mapped_state), by path


def _set_state(state: Any) -> None:
    # The owner handles the signals (SIGINT and SIGTERM to the whole process group, as
    # Ctrl-C and most supervisors send them) and shuts its pool down, which ends the
    # workers after their running task. A worker must not die of one mid-task: killed
    # while it writes a result, it leaves half a message in the pool's result pipe, and
    # CPython's executor then waits for the rest forever (the owner hung in its clean-up,
    # tests/robustness/test_signals.py). Nor may the command line's SIGTERM handler,
    # inherited through fork, turn a worker's SIGTERM into a traceback. An owner that
    # dies without shutting its pool down (a script killed by a signal it does not
    # handle) is noticed by the watch below, so no worker outlives it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _unblock_signals(_STOPS)  # blocked by the owner for the fork (WorkerPool._start); pending ones are dropped
    threading.Thread(target=_exit_with_owner, args=(os.getppid(),), name="bytepiece-owner-watch", daemon=True).start()
    # A worker forked at a stage's start inherits glibc's cold thresholds (the driver has
    # not warmed them up yet): every large numpy temporary was a fresh mapping, 2.5 times
    # the page faults (docs/scaling.md, "Session 15").
    keep_freed_memory()
    _STATE[:] = [state]


_STOPS = {signal.SIGINT, signal.SIGTERM}


def _block_signals() -> Set[signal.Signals]:
    """Block SIGINT and SIGTERM in this thread (not where the platform cannot); the ones
    that were not blocked before."""
    if not hasattr(signal, "pthread_sigmask"):
        return set()
    return _STOPS - set(signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS))


def _unblock_signals(signals: Set[signal.Signals]) -> None:
    if signals and hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def _exit_with_owner(owner: int, interval: float = 0.5) -> None:
    """End this worker once its owner is gone (it is then re-parented: ``getppid`` changes)."""
    while True:
        time.sleep(interval)
        if os.getppid() != owner:
            os.kill(os.getpid(), signal.SIGKILL)  # at once: nothing of this process is wanted any more


def _run(task: Callable[[Any, Any], Any], item: Any) -> Any:
    return task(_STATE[0], item)


def _run_shared(task: Callable[[Any, Any], Any], shared: Shared, item: Any) -> Any:
    return task(shared_value(shared), item)
