"""``bytepiece decode``: ids (one sequence per line, space-separated) -> text.

Line endings are part of the encoded text, so decoded lines are concatenated as they are.
"""

from __future__ import annotations

import argparse

from ..errors import CorpusError
from ..io.model_file import unescape_piece
from ..encoding.tokenizer import Tokenizer
from ._io import open_inputs, open_output


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser("decode", help="decode ids (or pieces) back to text")
    parser.add_argument("inputs", nargs="*", metavar="FILE", help="files of ids; '-' or none for stdin")
    parser.add_argument("-m", "--model", required=True, help="model file")
    parser.add_argument("-o", "--output", help="output file (default stdout)")
    parser.add_argument("--pieces", action="store_true", help="input is escaped, tab-separated pieces")
    parser.add_argument("--errors", default="replace", choices=["strict", "replace", "ignore", "backslashreplace"],
                        help="what to do with bytes that are not valid UTF-8 (default: replace)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    tok = Tokenizer(args.model)
    with open_inputs(args.inputs) as lines, open_output(args.output) as out:
        for name, number, line in lines:
            line = line.rstrip("\r\n")
            try:
                if args.pieces:
                    data = b"".join(unescape_piece(p) for p in line.split("\t") if p)
                    out.write(data.decode("utf-8", args.errors))
                    continue
                try:
                    ids = [int(field) for field in line.split()]
                except ValueError:
                    raise ValueError(f"expected space-separated integer ids, got {line[:60]!r}") from None
                out.write(tok.decode(ids, errors=args.errors))
            except ValueError as exc:  # UnicodeDecodeError (--errors strict) included
                raise CorpusError(str(exc), name, line=number) from None
    return 0
