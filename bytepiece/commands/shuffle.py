"""``bytepiece shuffle``: lines of text or JSONL files in one global random order, under a
memory budget (``bytepiece/io/shuffle.py``, ``docs/scaling.md``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator, List

from ..io.corpus import open_input
from ..io.files import atomic_writer
from ..io.shuffle import shuffled
from .train import parse_size


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "shuffle",
        help="shuffle the lines of text/JSONL files into one file, in a global random order, under a memory budget",
        description="Write every line of IN... (maybe .gz/.bz2/.xz) to OUT in one uniformly random order that "
        "depends on --seed alone. Lines beyond --memory-budget wait in temporary files. A last line without a "
        "newline gets one. OUT is written atomically.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="text or JSONL files (one record per line)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the shuffled file (must not exist unless --overwrite)")
    parser.add_argument("--seed", type=int, required=True, help="the order's seed (0 <= SEED < 2**64)")
    parser.add_argument("--memory-budget", type=parse_size, default=512 << 20, metavar="SIZE", help="lines held in memory (default 512M)")
    parser.add_argument("--spill-dir", default=None, metavar="DIR", help="where lines wait beyond the budget (default: the system temporary directory)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (atomically)")
    parser.add_argument("--quiet", action="store_true", help="no summary")
    parser.set_defaults(func=run)


def lines(paths: List[str]) -> Iterator[bytes]:
    """Every line of the files, in order, each ending with a newline."""
    for path in paths:
        with open_input(path) as handle:
            for line in handle:
                yield line if line.endswith(b"\n") else line + b"\n"


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; choose another output or pass --overwrite")
    for path in args.inputs:
        if Path(path).resolve() == out.resolve():
            raise ValueError(f"{path} is both an input and the output; write the shuffled lines elsewhere")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} is not a file")
    count = 0
    with atomic_writer(out) as handle:
        for line in shuffled(lines(args.inputs), seed=args.seed, memory_budget=args.memory_budget, spill_dir=args.spill_dir):
            handle.write(line)
            count += 1
    if not args.quiet:
        print(f"{out}: {count} lines shuffled with seed {args.seed}", file=sys.stderr)
    return 0
