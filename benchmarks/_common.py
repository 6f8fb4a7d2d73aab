"""What the benchmark scripts share: where ../shared is, best-of-N timing, and commands as
the result files record them."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BYTEPIECE_SHARED", REPO.parent / "shared"))


def temp_dir(name: str) -> Path:
    """``name`` in the platform's temporary directory: the default home of what a benchmark
    builds and keeps between runs (a virtual environment, trained peers, corpus slices)."""
    return Path(tempfile.gettempdir()) / name


def best_of(
    repeat: int, function: Callable[[], object], clock: Callable[[], float] = time.perf_counter, setup: Callable[[], object] = lambda: None
) -> float:
    """The fastest of ``repeat`` calls, in seconds: the least disturbed by a busy machine.
    ``clock=time.process_time`` counts this process's CPU time only. ``setup`` runs before
    each call, untimed (``cold``: every pass starts with an empty chunk cache)."""
    times = []
    for _ in range(repeat):
        setup()
        started = clock()
        function()
        times.append(clock() - started)
    return min(times)


def shown(argument: str) -> str:
    """A command-line argument as a result file shows it: an absolute path inside the
    repository relative to it, one beside it (``../shared``, ``../corpus-full``) as ``../``,
    one in the temporary directory as ``$TMPDIR/``; so results name no machine's folders.

    >>> shown(str(REPO / "benchmarks" / "results")), shown(str(REPO.parent / "corpus-full"))
    ('benchmarks/results', '../corpus-full')
    """
    option, equals, value = argument.partition("=") if argument.startswith("--") else ("", "", argument)
    if not os.path.isabs(value):
        return argument
    path = Path(value).resolve()
    for root, prefix in ((REPO, ""), (SHARED.resolve(), "../shared/"), (REPO.parent, "../"),
                         (Path(tempfile.gettempdir()).resolve(), "$TMPDIR/")):
        try:
            relative = path.relative_to(root).as_posix()
        except ValueError:
            continue
        value = (prefix + relative if relative != "." else prefix.rstrip("/")) or "."
        break
    return option + equals + value


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    """``python`` and the script's arguments (``sys.argv`` by default), paths as :func:`shown`
    gives them: the command relative to the repository, as run from its root."""
    return " ".join(["python", *map(shown, sys.argv if argv is None else argv)])


def cold(tok: object) -> None:
    """Empty ``tok``'s chunk cache (if its checkout has one), so that a pass over texts
    does not find the ids of the previous pass over the same texts: repeated passes over
    the same documents would otherwise measure the cache, not the decoder."""
    cache = getattr(getattr(tok, "engine", None), "chunk_cache", None)
    if cache is not None:
        cache.clear()
