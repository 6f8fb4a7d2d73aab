"""Random streams: one per tokenizer, reproducible, and never shared between workers.

Randomness belongs to the tokenizer (a numpy ``Generator`` in its engine's
:class:`RandomStream`) or to the call (``seed=``), never to the process.

A ``Tokenizer`` pickles as its compact model file plus the state of its random stream
(about 1.5 MB and 0.2 s round trip for an 80k vocabulary; the automaton is rebuilt lazily
in the worker, see ``docs/recipes/data-loaders.md``). Forked or unpickled copies start
with the *same* stream, so two workers sampling with ``alpha`` would produce the same
segmentations. Three ways out, from most to least convenient:

* ``DataLoader(..., worker_init_fn=bytepiece.worker_init_fn)``: reseeds every
  tokenizer reachable from the worker's dataset with torch's per-worker seed, which is
  different per worker and per epoch and reproducible under ``torch.manual_seed``.
* per-call seeds, e.g. ``tok.encode(text, alpha=0.1, seed=(base_seed, example_index))``:
  the result depends only on the example, not on which worker ran it (``datasets.map``).
* ``tok.reseed(seed, worker_id=i)`` by hand in any worker.

If none is used, the tokenizer notices on its first sampled encode that it runs in a
process other than the one that seeded it (fork or unpickling) and switches to fresh OS
entropy: streams are never shared. If it had an explicit seed it also warns once, since
the reproducibility that seed asked for is lost.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Union

import numpy as np

Seed = Union[None, int, Sequence[int], np.random.SeedSequence, np.random.Generator]

_MAX_DEPTH = 3


class RandomStream:
    """A tokenizer's random stream, which knows the process it was seeded in.

    ``seed=None`` draws fresh OS entropy. With ``worker_id``, each worker gets an
    independent stream derived from the same seed (``SeedSequence`` spawn keys).

    >>> stream = RandomStream(7)
    >>> int(stream.generator(None).integers(100)) == int(RandomStream(7).generator(None).integers(100))
    True
    """

    def __init__(self, seed: Seed = None) -> None:
        self.reseed(seed)

    def reseed(self, seed: Seed = None, *, worker_id: Optional[int] = None) -> None:
        """Start the stream again from ``seed`` (see the class docstring)."""
        if isinstance(seed, np.random.Generator):
            if worker_id is not None:
                raise ValueError("worker_id needs an integer seed, not a Generator")
            self._rng, self._pid, self._seeded = seed, os.getpid(), True
            return
        if worker_id is not None and (isinstance(worker_id, bool) or not isinstance(worker_id, (int, np.integer)) or worker_id < 0):
            raise ValueError(f"worker_id must be a non-negative integer (or None), got {worker_id!r}")
        rng = new_generator(seed)  # checks the seed
        if worker_id is not None:
            base = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
            rng = np.random.default_rng(np.random.SeedSequence(base.entropy, spawn_key=tuple(base.spawn_key) + (int(worker_id),)))
        self._seeded = seed is not None
        self._rng = rng
        self._pid = os.getpid()  # a copy in another process must not reuse the stream

    def generator(self, seed: Seed) -> np.random.Generator:
        """The generator a call with ``seed=`` draws from: a new one for a call seed, else
        this stream (replaced by fresh entropy, with a warning if it was seeded, when this
        is a forked or unpickled copy that nobody reseeded)."""
        if seed is None:
            if self._pid != os.getpid():
                if self._seeded:  # the user asked for reproducibility: say it is lost
                    self._rng = inherited_stream(self._pid)
                else:  # OS entropy before, OS entropy now: nothing to tell
                    self._rng = np.random.default_rng()
                self._pid = os.getpid()
            return self._rng
        if isinstance(seed, np.random.Generator):
            return seed
        return new_generator(seed)

    def __getstate__(self) -> Dict[str, Any]:
        return {"rng": self._rng.bit_generator.state, "pid": self._pid, "seeded": self._seeded}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        self._pid, self._seeded = state["pid"], state["seeded"]


def new_generator(seed: Seed) -> np.random.Generator:
    """``np.random.default_rng(seed)``, with an error that says what a seed may be.

    >>> new_generator(-1)
    Traceback (most recent call last):
    ValueError: seed must be None, a non-negative integer, a sequence of them, a numpy SeedSequence or a Generator; got -1
    """
    if isinstance(seed, bool) or isinstance(seed, (str, bytes, float)):
        raise TypeError(f"{_SEED_RULE}; got {seed!r} ({type(seed).__name__})")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError, OverflowError) as exc:
        raise (TypeError if isinstance(exc, TypeError) else ValueError)(f"{_SEED_RULE}; got {seed!r}") from None


_SEED_RULE = "seed must be None, a non-negative integer, a sequence of them, a numpy SeedSequence or a Generator"


def worker_init_fn(worker_id: int) -> None:
    """``torch.utils.data.DataLoader`` ``worker_init_fn``: reseed the dataset's tokenizers.

    Each tokenizer found in the worker's dataset (its attributes, up to three levels deep,
    through lists, tuples, dicts, ``Subset``/``ConcatDataset``) gets the stream
    ``reseed(torch_worker_seed)``. torch draws a new base seed per epoch, so epochs get
    different samples too; ``torch.manual_seed`` (or ``DataLoader(generator=...)``) makes
    everything reproducible.

    >>> loader = DataLoader(dataset, num_workers=2,                    # doctest: +SKIP
    ...                     worker_init_fn=bytepiece.worker_init_fn)
    """
    import torch.utils.data  # lazily: torch is an optional dependency

    info = torch.utils.data.get_worker_info()
    if info is None:
        raise RuntimeError("worker_init_fn must run inside a DataLoader worker")
    reseed_all(info.dataset, info.seed)


def seeded_worker_init_fn(seed: int) -> Callable[[int], None]:
    """A ``worker_init_fn`` with an explicit seed: worker ``i`` gets
    ``reseed(seed, worker_id=i)``. The same streams in every epoch (workers are recreated
    unless ``persistent_workers=True``), so prefer :func:`worker_init_fn` for training.
    Picklable, so it works with the ``spawn`` start method too."""
    return functools.partial(_seeded_init, seed)


def _seeded_init(seed: int, worker_id: int) -> None:
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    reseed_all(info.dataset if info is not None else None, seed, worker_id=worker_id)


def reseed_all(obj: Any, seed: Optional[int], *, worker_id: Optional[int] = None) -> int:
    """Reseed every ``Tokenizer`` reachable from ``obj``; returns how many were found."""
    found = list(find_tokenizers(obj))
    for tok in found:
        tok.reseed(seed, worker_id=worker_id)
    return len(found)


def find_tokenizers(obj: Any) -> Iterator[Any]:
    """``Tokenizer`` instances in ``obj`` or its attributes/items, up to three levels."""
    from .tokenizer import Tokenizer

    seen: Set[int] = set()

    def walk(node: Any, depth: int) -> Iterator[Any]:
        if id(node) in seen or depth > _MAX_DEPTH:
            return
        seen.add(id(node))
        if isinstance(node, Tokenizer):
            yield node
            return
        if isinstance(node, (str, bytes, int, float, np.ndarray)):
            return
        if isinstance(node, dict):
            children: List[Any] = list(node.values())
        elif isinstance(node, (list, tuple, set)):
            children = list(node)
        else:
            children = list(getattr(node, "__dict__", {}).values())
        for child in children:
            yield from walk(child, depth + 1)

    yield from walk(obj, 0)


def inherited_stream(owner_pid: int) -> np.random.Generator:
    """Called by a tokenizer that is about to sample in a process other than the one that
    seeded it: warn, and return a fresh stream so that copies do not repeat each other."""
    warnings.warn(
        f"this Tokenizer's random stream was seeded in process {owner_pid} and copied into "
        f"process {os.getpid()} (fork or pickling, e.g. a data-loader worker); using fresh "
        "OS entropy so workers do not draw identical samples. For reproducible per-worker "
        "streams call tok.reseed(seed, worker_id=...) in the worker (DataLoader: "
        "worker_init_fn=bytepiece.worker_init_fn) or pass seed= per call.",
        RuntimeWarning,
        stacklevel=4,
    )
    return np.random.default_rng()
