"""Shared helpers for subcommands: opening inputs and outputs as UTF-8 text, exactly."""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from typing import IO, Iterator, List, Optional


@contextmanager
def open_inputs(paths: List[str]) -> Iterator[Iterator[tuple]]:
    """Yield an iterator of ``(name, line_number, line)`` over the files (``-`` = stdin).

    ``newline=""`` keeps ``\\r\\n`` and lone ``\\r`` as they are, so encoding is lossless.
    Invalid UTF-8 raises a ``ValueError`` naming the file and line.
    """
    handles: List[IO[str]] = []

    def lines() -> Iterator[tuple]:
        for path in paths or ["-"]:
            if path == "-":
                handle = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
                name = "<stdin>"
            else:
                handle = open(path, encoding="utf-8", newline="")
                name = path
            handles.append(handle)
            number = 0
            try:
                for number, line in enumerate(handle, start=1):
                    yield name, number, line
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"{name}: line {number + 1} is not valid UTF-8 ({exc.reason} at byte "
                    f"{exc.start} of the read buffer); convert the file to UTF-8 first"
                ) from None

    try:
        yield lines()
    finally:
        for handle in handles:
            if handle.name != "<stdin>" and handle is not sys.stdin:
                try:
                    handle.close()
                except Exception:
                    pass


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
