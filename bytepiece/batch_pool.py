"""The process pool behind ``encode_batch(workers=N)``: started once, kept with the tokenizer.

A pool per call paid a fork, a cold start in every worker (fresh working arrays fault in
page by page) and a shutdown each time, which cost more than the work for batches of a
few megabytes. The pool is kept on the tokenizer until ``Tokenizer.close()``, until the
tokenizer is garbage-collected, or until the interpreter exits. Workers are forked on
Linux, so they inherit the automaton and the trie; elsewhere they unpickle the tokenizer
(its model file) and build them once. A copy of the tokenizer in another process (a
data-loader worker, say) never uses its parent's pool: it starts its own when asked.

Jobs go out as lists of texts and come back as two arrays (ids and bounds), which pickle
as flat buffers; lists of lists of ints would cost more to send back than to compute.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import weakref
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer


class _Pool(NamedTuple):
    executor: ProcessPoolExecutor
    workers: int
    pid: int  # the process that started it: a forked copy must not use it
    finalizer: weakref.finalize  # shuts the pool down when the tokenizer is collected


def worker_pool(tok: "Tokenizer", workers: int) -> ProcessPoolExecutor:
    """``tok``'s pool of ``workers`` processes, started on first use."""
    pool: Optional[_Pool] = getattr(tok, "_pool", None)
    if pool is not None and pool.pid == os.getpid():
        if pool.workers == workers:
            return pool.executor
        close_pool(tok)
    tok._get_batch_encoder()._tables()  # built once here; forked workers inherit them
    tok._get_automaton()
    executor = ProcessPoolExecutor(workers, mp_context=process_context(), initializer=_start_worker, initargs=(tok,))
    finalizer = weakref.finalize(tok, _shut_down, executor, os.getpid())
    tok._pool = _Pool(executor, workers, os.getpid(), finalizer)
    return executor


def _shut_down(executor: ProcessPoolExecutor, owner: int) -> None:
    if os.getpid() == owner:  # a forked copy of the tokenizer must not touch its parent's pool
        executor.shutdown(wait=False, cancel_futures=True)


def process_context() -> Any:
    """fork on Linux: workers inherit the tables, and a script needs no ``__main__``
    guard (spawn re-imports the main module in every worker); the platform's default
    elsewhere (fork is unsafe on macOS)."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)


def close_pool(tok: "Tokenizer") -> None:
    """Shut ``tok``'s pool down (waiting for its workers), if this process started one."""
    pool: Optional[_Pool] = getattr(tok, "_pool", None)
    tok._pool = None
    if pool is not None and pool.pid == os.getpid():
        pool.finalizer.detach()
        pool.executor.shutdown(wait=True, cancel_futures=True)  # also fine on a broken pool


_WORKER: Any = {}


def _start_worker(tok: "Tokenizer") -> None:
    _WORKER["tok"] = tok


def worker_tokenizer() -> "Tokenizer":
    """The tokenizer of this worker process."""
    return _WORKER["tok"]
