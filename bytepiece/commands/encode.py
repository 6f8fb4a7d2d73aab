"""``bytepiece encode``: text -> ids (or pieces), one output line per input line.

Each input line is encoded *with* its line ending, so ``bytepiece decode`` of the output
reproduces the input exactly (after the model's normalization).
"""

from __future__ import annotations

import argparse

from ..model_file import escape_piece
from ..tokenizer import Tokenizer
from ._io import open_inputs, open_output


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser("encode", help="encode text files (or stdin) to ids or pieces")
    parser.add_argument("inputs", nargs="*", metavar="FILE", help="UTF-8 text files; '-' or none for stdin")
    parser.add_argument("-m", "--model", required=True, help="model file")
    parser.add_argument("-o", "--output", help="output file (default stdout)")
    parser.add_argument("--pieces", action="store_true", help="print pieces (escaped, tab-separated) instead of ids")
    parser.add_argument("--alpha", type=float, default=None, help="sample segmentations with this alpha (>= 0)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for --alpha (reproducible samples)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    tok = Tokenizer(args.model, seed=args.seed)
    with open_inputs(args.inputs) as lines, open_output(args.output) as out:
        for _name, _number, line in lines:
            if args.pieces:
                pieces = tok.tokenize(line, alpha=args.alpha)
                out.write("\t".join(escape_piece(p) for p in pieces) + "\n")
            else:
                out.write(" ".join(map(str, tok.encode(line, alpha=args.alpha))) + "\n")
    return 0
