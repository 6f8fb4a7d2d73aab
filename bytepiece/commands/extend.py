"""``bytepiece extend``: add pieces (and special tokens) to a model, writing a new model.

The pieces file has one piece per line, written as in the model file: UTF-8 text, ``\\\\``
for a backslash and ``\\xHH`` for any byte (``\\x0a`` a newline, ``\\x09`` a tab); empty
lines are skipped and the line ending is not part of the piece. See
``docs/recipes/extend-vocabulary.md``.
"""

from __future__ import annotations

import argparse
import sys
from typing import List

from ..encoding.added_vocabulary import add_pieces, add_special_tokens
from ..io.model_file import load_model, save_model, unescape_piece
from ._io import open_inputs


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "extend",
        help="add pieces (domain words, code identifiers) or special tokens to a model",
        description="Write NEW: MODEL with the pieces of FILE appended (new ids after the last; every "
        "existing id keeps its piece). By default an added piece wins wherever it occurs as a whole; "
        "with --count it competes by likelihood like any other piece. A BytePiece 0.6 JSON model "
        "can be extended too (NEW is in our format).",
    )
    parser.add_argument("model", metavar="MODEL", help="model file (ours or a BytePiece 0.6 JSON/.zip)")
    parser.add_argument("--pieces", metavar="FILE", help="one piece per line (escaped as in the model file; '-' for stdin)")
    parser.add_argument("--count", type=int, default=None, help="the new pieces compete with this count instead of always winning")
    parser.add_argument("--special-token", dest="special_tokens", action="append", default=[], metavar="TOKEN",
                        help="also add this special token (repeat the option for several)")
    parser.add_argument("-o", "--output", required=True, metavar="NEW", help="the extended model (written atomically)")
    parser.set_defaults(func=run)


def read_pieces(path: str) -> List[bytes]:
    """The pieces of a pieces file; a malformed line names the file and line."""
    pieces = []
    with open_inputs([path]) as lines:
        for name, number, line in lines:
            text = line[:-2] if line.endswith("\r\n") else line.rstrip("\n")
            if not text:
                continue
            try:
                pieces.append(unescape_piece(text))
            except ValueError as exc:
                raise ValueError(f"{name}: line {number}: {exc} (write a backslash as \\\\)") from None
    return pieces


def run(args: argparse.Namespace) -> int:
    if args.pieces is None and not args.special_tokens:
        raise ValueError("nothing to add: give --pieces FILE and/or --special-token TOKEN")
    model = load_model(args.model)
    pieces = read_pieces(args.pieces) if args.pieces is not None else []
    before = model.vocab_size
    if pieces:
        model, _ids = add_pieces(model, pieces, count=args.count)
    if args.special_tokens:
        model, _ids = add_special_tokens(model, args.special_tokens)
    save_model(model, args.output)
    print(
        f"wrote {args.output}: vocab size {model.vocab_size} ({model.vocab_size - before} new ids; "
        f"{len(model.added_pieces)} added pieces, {len(model.special_tokens)} special tokens)",
        file=sys.stderr,
    )
    return 0
