"""``bytepiece encode``: text -> ids (or pieces), one output line per input line.

Each input line is encoded *with* its line ending, so ``bytepiece decode`` of the output
reproduces the input exactly (after the model's normalization). ``--offsets`` writes one
JSON object per line instead: the ids, each token's ``[start, end]`` characters in the
input line, and with ``--pieces`` the pieces. Lines go through
``encode_batch`` about a megabyte at a time (the ids are those of ``encode``; sampled
segmentations are drawn from the same distribution); a terminal on stdin is answered
line by line.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..io.corpus import batched
from ..io.model_file import escape_piece
from ..encoding.tokenizer import Tokenizer
from ._io import open_inputs, open_output


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser("encode", help="encode text files (or stdin) to ids or pieces")
    parser.add_argument("inputs", nargs="*", metavar="FILE", help="UTF-8 text files; '-' or none for stdin")
    parser.add_argument("-m", "--model", required=True, help="model file")
    parser.add_argument("-o", "--output", help="output file (default stdout)")
    parser.add_argument("--pieces", action="store_true", help="print pieces (escaped, tab-separated) instead of ids")
    parser.add_argument("--alpha", type=float, default=None, help="sample segmentations with this alpha (>= 0)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for --alpha (reproducible samples)")
    parser.add_argument("--offsets", action="store_true", help='one JSON object per line: {"ids": [...], "offsets": [[start, end], ...]} in characters of the input line (with --pieces, also "pieces")')
    parser.set_defaults(func=run)


BATCH_CHARS = 1 << 20


def run(args: argparse.Namespace) -> int:
    tok = Tokenizer(args.model, seed=args.seed)
    interactive = args.inputs in ([], ["-"]) and sys.stdin.isatty()
    with open_inputs(args.inputs) as lines, open_output(args.output) as out:
        for batch in batched((line for _name, _number, line in lines), 1 if interactive else BATCH_CHARS):
            if args.offsets:
                for ids, offsets in tok.encode_batch(batch, alpha=args.alpha, return_offsets=True):
                    row = {"ids": ids, "offsets": offsets}
                    if args.pieces:
                        row["pieces"] = [escape_piece(tok.engine.pieces_by_id[i]) for i in ids]
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            elif args.pieces:
                for pieces in tok.tokenize_batch(batch, alpha=args.alpha):
                    out.write("\t".join(escape_piece(p) for p in pieces) + "\n")
            else:
                for ids in tok.encode_batch(batch, alpha=args.alpha):
                    out.write(" ".join(map(str, ids)) + "\n")
            if interactive:
                out.flush()
    return 0
