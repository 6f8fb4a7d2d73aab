"""``bytepiece show``: see how a model segments a text, in the terminal or as an HTML page.

Colour follows the usual conventions: on a terminal unless ``NO_COLOR`` is set (to
anything but the empty string), never in a pipe; ``--color always|never`` decides
instead. Without colour, tokens are separated by ``│``. See ``docs/recipes/viewer.md``.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..encoding.tokenizer import Tokenizer
from ..io.files import atomic_write_bytes
from ..viewer.page import render_html
from ..viewer.terminal import render_terminal
from ._io import open_inputs, open_output


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "show",
        help="show a text's tokens: coloured in the terminal, or an HTML page (--html)",
        description="Print FILE (or stdin) with each token on an alternating background colour; "
        "with --alpha, sampled segmentations follow the best one.",
    )
    parser.add_argument("input", nargs="?", default="-", metavar="FILE", help="UTF-8 text file; '-' or none for stdin")
    parser.add_argument("-m", "--model", required=True, help="model file")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--ids", action="store_const", dest="show", const="ids", default="text", help="show each token's id instead of its text")
    shown.add_argument("--pieces", action="store_const", dest="show", const="pieces", help="show each token's piece (escaped as in the model file)")
    parser.add_argument("--alpha", type=float, default=None, help="also show sampled segmentations with this alpha (>= 0)")
    parser.add_argument("--seed", type=int, default=None, help="with --alpha: sample k uses seed (SEED, k), so the output can be made again")
    parser.add_argument("--samples", type=int, default=3, help="with --alpha: how many sampled segmentations (default 3)")
    parser.add_argument("--html", metavar="OUT.html", help="write one self-contained HTML page instead (hover a token for its id, piece and log-probability)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour in the terminal (default auto: on a terminal unless NO_COLOR is set)")
    parser.set_defaults(func=run)


def use_color(choice: str, stream: object) -> bool:
    """``--color``: ``auto`` is a terminal without ``NO_COLOR`` (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def run(args: argparse.Namespace) -> int:
    if args.samples < 0:
        raise ValueError(f"--samples must be >= 0, got {args.samples}")
    tok = Tokenizer(args.model)
    with open_inputs([args.input]) as lines:
        text = "".join(line for _name, _number, line in lines)
    if args.html:
        title = "stdin" if args.input == "-" else os.path.basename(args.input)
        page = render_html(tok, text, alpha=args.alpha, seed=args.seed, samples=args.samples, title=title)
        atomic_write_bytes(args.html, page.encode("utf-8"))
        print(f"wrote {args.html}", file=sys.stderr)
        return 0
    color = use_color(args.color, sys.stdout)
    drawn = render_terminal(tok, text, show=args.show, color=color, alpha=args.alpha, seed=args.seed, samples=args.samples)
    with open_output(None) as out:
        out.write(drawn)
    return 0
