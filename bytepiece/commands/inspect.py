"""``bytepiece inspect``: a human-readable summary of a model file."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any, Dict

from ..model import Model
from ..io.model_file import escape_piece, load_model


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser("inspect", help="show vocabulary size, settings and piece statistics")
    parser.add_argument("model", help="model file (ours or a BytePiece 0.6 JSON/.zip)")
    parser.add_argument("--top", type=int, default=10, help="how many longest / most frequent pieces to list")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def summarize(model: Model, top: int = 10) -> Dict[str, Any]:
    """The facts ``inspect`` prints, as a dict."""
    lengths = Counter(len(p) for p in model.pieces)
    not_utf8 = 0
    for piece in model.pieces:
        if len(piece) == 1:  # single bytes >= 0x80 are never valid alone; that is expected
            continue
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
    by_length = sorted(model.pieces, key=lambda p: (-len(p), p))[:top]
    by_count = sorted(zip(model.counts, model.pieces), key=lambda cp: (-cp[0], cp[1]))[:top]
    return {
        "origin": model.origin,
        "vocab_size": model.vocab_size,
        "pieces": len(model.pieces),
        "special_tokens": model.special_tokens,
        **model.settings(),
        "total_count": sum(model.counts) if model.total_count is None else model.total_count,
        "added_pieces": [escape_piece(p) for p in model.added_pieces],
        "multibyte_pieces_not_valid_utf8": not_utf8,
        "length_histogram": dict(sorted(lengths.items())),
        "longest_pieces": [escape_piece(p) for p in by_length],
        "most_frequent_pieces": [[escape_piece(p), c] for c, p in by_count],
        "training": model.training,
    }


def run(args: argparse.Namespace) -> int:
    info = summarize(load_model(args.model), args.top)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"model:           {args.model} ({info['origin']})")
    print(f"vocab size:      {info['vocab_size']} ({info['pieces']} pieces + {len(info['special_tokens'])} special tokens)")
    print("special tokens:  " + ", ".join(f"{t}={i}" for t, i in info["special_tokens"].items()))
    for key in ("normalization", "isolate_digits", "ensure_unicode"):
        value = info[key]
        print(f"{key + ':':<17}{'unknown (not recorded)' if value is None else value}")
    print(f"multi-byte pieces that are not valid UTF-8: {info['multibyte_pieces_not_valid_utf8']}")
    if info["added_pieces"]:
        shown = "  ".join(repr(p) for p in info["added_pieces"][: args.top])
        print(f"added pieces:    {len(info['added_pieces'])} (always one token where they occur): {shown}")
    print("piece length (bytes): count")
    peak = max(info["length_histogram"].values())
    for length, count in info["length_histogram"].items():
        print(f"  {length:>4}: {count:>7} {'#' * max(1, round(40 * count / peak))}")
    print("longest pieces:  " + "  ".join(repr(p) for p in info["longest_pieces"]))
    print("most frequent:   " + "  ".join(f"{p!r}:{c}" for p, c in info["most_frequent_pieces"]))
    if info["training"]:
        print("training:")
        for key, value in info["training"].items():
            print(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return 0
