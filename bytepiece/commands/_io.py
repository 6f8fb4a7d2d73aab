"""Shared helpers for subcommands: opening inputs and outputs as UTF-8 text, exactly."""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from typing import IO, Iterator, List, Optional, Tuple

from ..errors import CorpusError


@contextmanager
def open_inputs(paths: List[str]) -> Iterator[Iterator[Tuple[str, int, str]]]:
    """Yield an iterator of ``(name, line_number, line)`` over the files (``-`` = stdin).

    Lines end at ``\\n`` only (as chunks do: ``\\r`` stays inside a line) and keep it, so
    encoding is lossless. Each line is decoded on its own, so a line that is not UTF-8
    raises :class:`~bytepiece.errors.CorpusError` naming the file and that very line.
    """
    handles: List[IO[bytes]] = []

    def lines() -> Iterator[Tuple[str, int, str]]:
        for path in paths or ["-"]:
            if path == "-":
                handle: IO[bytes] = sys.stdin.buffer
                name = "<stdin>"
            else:
                handle = open(path, "rb")
                handles.append(handle)
                name = path
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise CorpusError(
                        f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line); convert the file to UTF-8 first",
                        name, line=number,
                    ) from None
                yield name, number, line

    try:
        yield lines()
    finally:
        for handle in handles:
            handle.close()


@contextmanager
def open_output(path: Optional[str]) -> Iterator[IO[str]]:
    """Text output to ``path`` or stdout, UTF-8, with ``\\n`` written as is."""
    if path is None or path == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=False)
        try:
            yield out
        finally:
            out.flush()
            out.detach()
    else:
        with open(path, "w", encoding="utf-8", newline="") as out:
            yield out
