"""The ``bytepiece`` command: a thin entry point that wires one module per subcommand.

Each module in ``bytepiece/commands/`` exposes ``add_parser(subparsers)`` which registers
its sub-parser and sets ``func`` to a ``run(args) -> int`` function.

Bad input (the error families of ``errors.py``, any other ``ValueError``, an ``OSError``)
is one line on stderr and exit status 2, never a traceback. SIGTERM is handled like
SIGINT: it raises in the main thread, so every ``with`` block and ``finally`` runs (worker
processes are stopped, spill and staging directories removed) before the exit, with
status 143 (SIGINT: 130). See ``docs/reliability.md``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

from . import __version__
from .commands import COMMANDS
from .errors import BadInputError


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM (a ``BaseException``, as
    ``KeyboardInterrupt`` is, so that ``except Exception`` does not swallow it)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bytepiece", description="Byte-based unigram tokenizer: train, encode, decode, inspect."
    )
    parser.add_argument("--version", action="version", version=f"bytepiece {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    with terminate_as_exception():
        try:
            return int(args.func(args) or 0)
        except (BadInputError, ValueError, OSError, ImportError) as exc:  # ImportError: a missing extra (dask)
            if isinstance(exc, BrokenPipeError):  # e.g. `bytepiece encode ... | head`
                return 0
            message = " ".join(str(exc).splitlines()) or type(exc).__name__
            print(f"bytepiece {args.command}: error: {message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 128 + signal.SIGINT
        except Terminated:
            return 128 + signal.SIGTERM


@contextmanager
def terminate_as_exception() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` in the main thread (once:
    a second SIGTERM during the clean-up kills the process as usual)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
