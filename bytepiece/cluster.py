"""Running the map stages on a Dask cluster (the optional extra ``bytepiece[dask]``).

:class:`DaskExecutor` is the cluster twin of :class:`bytepiece.parallel.LocalExecutor`:
its pools have the same ``imap`` / ``map`` interface, so training's passes, pruning and
``encode-corpus`` run on either without knowing which. How it maps onto Dask:

* **The state goes to every worker once, and stays**: it is a worker plugin
  (:class:`HeldState`), which the scheduler installs on every worker, now and on any that
  joins or is restarted later, and which keeps the state in the worker under a key until
  the pool closes. Tasks name the key (:class:`Held`), not a piece of Dask data: Dask's
  Active Memory Manager, on by default, drops the copies of scattered data from workers
  with no task waiting for them, and a worker whose queue ran dry then fetched the n-gram
  model again (``docs/scaling.md``, "Session 14"). Pruning's per-round values go the same
  way.
* **Except on this machine** (``local:N``): there the state is written once to a file
  (:func:`~bytepiece.parallel.write_state`) that each worker maps, its arrays aligned in
  place, as forked local workers share their parent's pages; shared values go through
  files too, as for local workers; and so do each task's item and result
  (:class:`Parcel`), Dask carrying only their paths, rather than relaying them through
  the scheduler, which runs in the driver's process. At 100 MB the scattered n-gram
  model (216 MB) took 1.9 s to reach the workers and 0.75 s in each to be copied into
  aligned tables, and every result crossed the driver's event loop twice
  (``docs/scaling.md``, "Session 14").
* **Tasks are module-level functions** ``task(state, item)``, sent by name: the workers
  need ``bytepiece`` installed (the same version as the driver).
* **Everything travels as one pickle** (:class:`Opaque`): Dask serializes the elements
  of a list, tuple or dict one by one (and searches them for futures), which cost 4 s to
  broadcast pruning's vocabulary of 91k pieces and 6 s to send a list of 100k short byte
  strings back and forth, against 0.16 and 0.3 s as one pickle (``docs/scaling.md``).
* **Workers keep freed memory for reuse**: Dask starts them with a malloc setting that
  made the n-gram Viterbi take 1.4-1.5 times the CPU; every task undoes it first
  (:func:`bytepiece.parallel.keep_freed_memory`).
* **Results come back in item order**, with at most ``2 * workers`` tasks in flight, as on
  a local pool; a worker that dies costs its tasks a rerun (Dask reschedules them), not
  the result, because every task is a pure function of its item and the state.

Addresses (``--dask ADDRESS``): a scheduler address such as ``tcp://10.0.0.5:8786``, or
``local:N`` to start a local cluster of N single-threaded worker processes (for trying it
out). See ``docs/scaling.md``.

Deliberately left out: starting a cluster on several machines (Dask's own tools do that).
"""

from __future__ import annotations

import collections
import logging
import os
import pickle
import re
import uuid
import warnings
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, TypeVar

from .parallel import (
    Executor, Pool, PoolFiles, Shared, forget_mapped, forget_shared, keep_freed_memory, mapped_state, read_state, shared_value,
    write_state,
)

try:  # the base class the scheduler recognises a worker plugin by (only with the dask extra)
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - a DaskExecutor needs distributed anyway
    _WorkerPlugin = object  # type: ignore[misc, assignment]

State = TypeVar("State")
Item = TypeVar("Item")
Result = TypeVar("Result")

_LOCAL = re.compile(r"^local(?::(\d+))?$")
CONNECT_TIMEOUT = "30s"
# The cluster that ``local:N`` starts shares this machine's cores with the driver, so it
# does without the Dask bookkeeping that costs CPU and tells a trial run nothing: each
# worker's statistical profiler (by default it samples the task thread's stack every 10
# ms, taking the GIL from it), and most of the system and memory monitors' polling (by
# default 2 and 10 times a second). At 100 MB on 2 cores they cost 1-3 s of a 52-58 s run
# (docs/scaling.md, "Session 13"). A cluster you start keeps its own configuration (the
# same keys, in its workers' Dask config).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class DaskError(ValueError):
    """A Dask address that cannot be used; the message says what to do."""


def import_distributed() -> Any:
    """The ``distributed`` module, or an ImportError saying which extra to install."""
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "running on Dask needs the dask extra: pip install 'bytepiece[dask]' "
            "(dask and distributed), on the driver and on every worker"
        ) from None
    return distributed


class DaskExecutor(Executor):
    """Run the map stages on a Dask cluster.

    ``DaskExecutor(client)`` uses a ``distributed.Client`` you made (and leaves it open);
    :meth:`connect` takes an address and closes what it opened when the executor is
    closed.

    >>> with DaskExecutor.connect("local:2") as executor:             # doctest: +SKIP
    ...     Trainer(vocab_size=8000).train("corpus/", "my.model", dask=executor)
    """

    is_cluster = True

    def __init__(self, client: Any, *, owned: Optional[List[Any]] = None, local: bool = False) -> None:
        self.client = client
        self._owned = owned or []  # a LocalCluster and/or a Client we started
        self.name = "dask"
        # ``local``: the workers run on this machine (``local:N``), so the state, shared
        # values, items and results go through files, not through the scheduler (see the
        # module's docstring). Off for a cluster you started.
        self.local = local

    @classmethod
    def connect(cls, address: Any) -> "DaskExecutor":
        """An executor for ``address``: a ``distributed.Client``, a scheduler address
        (``tcp://host:8786``), or ``local:N`` (a local cluster of N single-threaded worker
        processes on 127.0.0.1)."""
        if isinstance(address, DaskExecutor):
            return address
        distributed = import_distributed()
        if isinstance(address, distributed.Client):
            return cls(address)
        if not isinstance(address, str) or not address.strip():
            raise DaskError(f"dask must be a scheduler address (tcp://host:8786), local:N or a Client, got {address!r}")
        address = address.strip()
        local = _LOCAL.match(address)
        if local:
            workers = int(local.group(1) or 2)
            if workers < 1:
                raise DaskError(f"local:N needs N >= 1 worker processes, got {address!r}")
            import dask  # installed with distributed

            with dask.config.set(LOCAL_CLUSTER_CONFIG):  # read by the scheduler and passed on by the nannies
                cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                )
            client = distributed.Client(cluster)
            return cls(client, owned=[client, cluster], local=True)
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise DaskError(
                f"cannot reach the Dask scheduler at {address} ({exc}); start one with `dask scheduler` "
                "and workers with `dask worker ADDRESS`, or use --dask local:N"
            ) from None
        return cls(client, owned=[client])

    @property
    def workers(self) -> int:  # type: ignore[override]
        """Tasks the cluster runs at once (its worker threads), at least 1."""
        return max(1, sum(self.client.nthreads().values()))

    def pool(self, state: State, *, purpose: str = "this call") -> Pool[State]:
        return DaskPool(self.client, state, workers=self.workers, local=self.local)

    def close(self) -> None:
        owned, self._owned = self._owned, []
        for thing in owned:  # the client first, then the cluster it talks to
            thing.close()


class DaskPool:
    """A pool over a Dask client: ``task(state, item)`` for each item, in item order."""

    def __init__(self, client: Any, state: Any, *, workers: int, local: bool = False) -> None:
        self.client = client
        self.workers = workers
        self.local = local  # the workers are on this machine (see DaskExecutor)
        self.shares_files = local  # a cluster you started may span machines
        self._files = PoolFiles()
        self._state: Any
        self._kept: Any = None  # the state as given, where this process keeps it
        if local:  # not kept here: the driver need not hold what its workers map
            self._state = StateFile(self._files.path("state"))
            write_state(state, self._state.path)
        else:
            self._kept = state
            self._state = _hold(client, state)
        self._shared: Optional[Any] = None  # the shared value's argument, on every worker

    @property
    def state(self) -> Any:
        """The pool's state; on this machine (``local:N``) mapped from its file when asked
        for, not held by the driver while the workers use it."""
        return read_state(self._state.path) if isinstance(self._state, StateFile) else self._kept

    def share(self, build: Callable[[Any, Any], Any], argument: Any) -> Shared:
        """A handle on ``build(argument, previous)``: the argument is broadcast to the
        workers once (and the previous one released); each worker builds the value on first
        use, handed its value of the last round (``parallel.shared_value``)."""
        if self.local:
            self._shared = Opaque(None)  # the tasks read the argument from the file
            return self._files.share(build, argument)
        if isinstance(self._shared, Held):
            self._shared.release(self.client)
        self._shared = _hold(self.client, argument)
        return Shared(uuid.uuid4().hex, build)

    def imap(self, task: Callable[[Any, Item], Result], items: Iterable[Item], *, shared: Optional[Shared] = None) -> Iterator[Result]:
        """Results in item order, at most ``2 * workers`` tasks in flight."""
        pending: Deque[Any] = collections.deque()
        try:
            for item in items:
                wrapped = self._parcel(item) if self.local else Opaque(item)
                if shared is None:
                    future = self.client.submit(run_task, task, self._state, wrapped, pure=False)
                else:
                    future = self.client.submit(run_shared_task, task, shared, self._shared, wrapped, pure=False)
                pending.append(future)
                if len(pending) >= 2 * self.workers:
                    yield self._result(pending.popleft())
            while pending:
                yield self._result(pending.popleft())
        finally:
            for future in pending:  # an error or an abandoned iterator: stop the rest
                future.cancel()

    def _parcel(self, item: Any) -> "Parcel":
        return Parcel(self._files.dump(f"item-{uuid.uuid4().hex}", item))

    def _result(self, future: Any) -> Any:
        """A task's result, waited for; a worker lost meanwhile costs a rerun (Dask's)."""
        answer = self.client.gather(future, direct=self.local)
        return answer.result() if isinstance(answer, Parcel) else answer.value

    def map(self, task: Callable[[Any, Item], Result], items: Iterable[Item]) -> List[Result]:
        return list(self.imap(task, items))

    def close(self) -> None:
        """Release the state and the shared value (its argument, and the value each worker
        built from it: a long-lived cluster would otherwise keep the last one)."""
        state, shared = self._state, self._shared
        self._state = self._shared = None
        try:
            for handle in (state, shared):
                if isinstance(handle, Held):
                    handle.release(self.client)
            if isinstance(state, StateFile) or shared is not None:
                self.client.run(_forget, state.path if isinstance(state, StateFile) else None)
        except Exception as exc:  # a cluster going away: its workers' memory goes with it
            warnings.warn(f"could not release the pool's state on the Dask workers: {exc}", stacklevel=2)
        self._files.close()

    def __enter__(self) -> "DaskPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Opaque:
    """A value that Dask sends as one pickle, not element by element (see the module's
    docstring): the pools' state, shared arguments, items and results travel in one.

    >>> Opaque([b"ab", b"c"]).value
    [b'ab', b'c']
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> Any:
        return (Opaque, (self.value,))


_HELD: Dict[str, Any] = {}  # in a worker: the values of the pools' HeldState plugins, by key


def _hold(client: Any, value: Any) -> "Held":
    """``value`` on every worker of the cluster, now and joining later (:class:`HeldState`)."""
    held = Held(f"bytepiece-{uuid.uuid4().hex}")
    client.register_plugin(HeldState(held.key, Opaque(value)), name=held.key)
    return held


class HeldState(_WorkerPlugin):
    """A worker plugin that keeps a pool's state (or a round's shared argument) in each
    worker under a key, from its setup to its teardown. The scheduler keeps the plugin,
    pickled, while it is registered, and installs it on every worker that joins, so a
    worker restarted mid-run has the state before its first task."""

    def __init__(self, key: str, value: Opaque) -> None:
        self.key, self.value = key, value

    def setup(self, worker: Any) -> None:
        _HELD[self.key] = self.value.value

    def teardown(self, worker: Any) -> None:
        _HELD.pop(self.key, None)


class Held:
    """What a task gets in place of a value held by :class:`HeldState`: its key.

    >>> _HELD["k"] = 5; Held("k").value
    5
    """

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    @property
    def value(self) -> Any:
        try:
            return _HELD[self.key]
        except KeyError:
            raise RuntimeError(
                f"this Dask worker does not hold the pool's state {self.key}: its plugin was not installed "
                "(is bytepiece the same version on every worker?) or the pool was closed"
            ) from None

    def release(self, client: Any) -> None:
        """Remove the plugin: every worker lets the value go."""
        client.unregister_worker_plugin(self.key)

    def __reduce__(self) -> Any:
        return (Held, (self.key,))


class StateFile:
    """A pool's state in a file (:func:`~bytepiece.parallel.write_state`), for workers on
    the driver's machine: each maps it once (:func:`~bytepiece.parallel.mapped_state`)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def value(self) -> Any:
        return mapped_state(self.path)

    def __reduce__(self) -> Any:
        return (StateFile, (self.path,))


def _forget(path: Optional[str]) -> None:
    """On a worker, when a pool closes: drop its shared value, and its mapped state."""
    forget_shared()
    if path is not None:
        forget_mapped(path)


class Parcel:
    """A task's item and then its result, in files (``local:N``): the item is pickled to
    ``path`` by the driver, the result to ``path + ".result"`` by the worker, and Dask
    carries only the path, rather than relaying the item through the scheduler in the
    driver's process and the result through the worker's and the driver's event loops.
    A rerun (its worker lost) reads the same item and replaces the result."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def value(self) -> Any:
        return PoolFiles.load(self.path)

    def reply(self, result: Any) -> "Parcel":
        """Write the result (in a worker): whole or not at all. Not through
        ``io.files.atomic_writer``, which fsyncs: a result lives for milliseconds, and a
        sync per task would cost on the hot path."""
        temporary = f"{self.path}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, self.path + ".result")
        return self

    def result(self) -> Any:
        """The result (in the driver), its files then deleted."""
        result = PoolFiles.load(self.path + ".result")
        os.unlink(self.path + ".result")
        os.unlink(self.path)
        return result

    def __reduce__(self) -> Any:
        return (Parcel, (self.path,))


def _answer(item: "Opaque | Parcel", result: Any) -> "Opaque | Parcel":
    return item.reply(result) if isinstance(item, Parcel) else Opaque(result)


def run_task(task: Callable[[Any, Any], Any], state: "Held | StateFile", item: "Opaque | Parcel") -> "Opaque | Parcel":
    """What a Dask worker runs: one task on the pool's state (after undoing Dask's
    malloc setting, :func:`keep_freed_memory`: a few microseconds, idempotent)."""
    keep_freed_memory()
    return _answer(item, task(state.value, item.value))


def run_shared_task(task: Callable[[Any, Any], Any], shared: Shared, argument: "Held | Opaque", item: "Opaque | Parcel") -> "Opaque | Parcel":
    """One task on a shared value, built from its argument once per worker."""
    keep_freed_memory()
    return _answer(item, task(shared_value(shared, argument.value), item.value))
