"""The ``bytepiece`` command: a thin entry point that wires one module per subcommand.

Each module in ``bytepiece/commands/`` exposes ``add_parser(subparsers)`` which registers
its sub-parser and sets ``func`` to a ``run(args) -> int`` function.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__
from .commands import COMMANDS
from .model import ModelFormatError


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
    try:
        return int(args.func(args) or 0)
    except (ModelFormatError, ValueError, OSError, ImportError) as exc:
        print(f"bytepiece {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `bytepiece encode ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
