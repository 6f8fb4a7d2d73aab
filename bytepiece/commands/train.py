"""``bytepiece train``: train vocabularies on a corpus directory (see ``docs/training.md``)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import List

from ..io.corpus import ON_ERROR, CorpusPaths
from ..training.refinement import LOSSES
from ..training.trainer import DEFAULT_MEMORY_BUDGET, Trainer

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "train",
        help="train vocabularies on a corpus (directory of .txt/.jsonl, maybe .gz/.bz2/.xz)",
        description="Train byte-level unigram vocabularies by n-gram new-word discovery.",
    )
    parser.add_argument("corpus", nargs="+", help="corpus directories, files or fsspec URLs (s3://, gs://, hf://, file://), read in the order given")
    parser.add_argument("-o", "--output", required=True, help="model file; with several sizes, MODEL.<size>")
    parser.add_argument("--vocab-size", type=parse_sizes, default=[32000], metavar="N[,N...]", help="vocabulary size(s), special tokens included; several (e.g. 32000,8000) give nested models MODEL.<size> (default 32000)")
    parser.add_argument("--order", type=int, default=6, help="n-gram order (default 6)")
    parser.add_argument("--min-count", type=int, default=2, help="minimum count of n-grams and pieces (default 2)")
    parser.add_argument("--max-piece-length", type=int, default=36, help="longest piece in bytes (default 36)")
    parser.add_argument("--isolate-digits", action="store_true", help="every digit is a token of its own")
    parser.add_argument("--no-ensure-unicode", dest="ensure_unicode", action="store_false", help="allow pieces that split UTF-8 characters")
    parser.add_argument("--normalization", choices=("nfc", "none"), default="nfc", help="Unicode normalization (default nfc)")
    parser.add_argument("--jsonl-field", default="text", help="field holding the text in .jsonl files (default text)")
    parser.add_argument("--on-error", choices=ON_ERROR, default="skip", help="bad files/lines: skip and count them (default), or fail")
    parser.add_argument("--memory-budget", type=parse_size, default=DEFAULT_MEMORY_BUDGET, metavar="SIZE", help="memory the driver may hold: count tables spill to disk beyond an eighth of it, the n-gram model keeps to half of it, pruning to one candidate per KiB of it, each keeping its most frequent entries (default 512M; e.g. 2G)")
    parser.add_argument("--spill-dir", default=None, metavar="DIR", help="where spilled count runs go (default: the system temporary directory)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1; 0: one per core); the model is the same for any value")
    parser.add_argument("--refine", nargs="?", const="tokens", default=False, choices=LOSSES, metavar="LOSS", help="re-estimate counts on the corpus and prune by the tokens each piece saves (or, with 'likelihood', by log-likelihood); compresses better, trains slower (docs/algorithm.md, Refinement)")
    add_dask_argument(parser, "the model is the same as with --workers")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.set_defaults(func=run)


def add_dask_argument(parser: argparse.ArgumentParser, same: str) -> None:
    """``--dask ADDRESS``, shared by the subcommands that run on a cluster."""
    parser.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help=f"run on a Dask cluster: a scheduler address (tcp://HOST:8786), or local:N to start N local "
        f"worker processes; needs the dask extra; {same}",
    )


def parse_sizes(text: str) -> List[int]:
    """``"32000,8000"`` -> ``[32000, 8000]``."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r} (example: 32000,8000)") from None


def parse_size(text: str) -> int:
    """``"512M"`` -> bytes.

    >>> parse_size("1.5G"), parse_size("4096")
    (1610612736, 4096)
    """
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 800M, 2G)")
    scale = 1024 ** " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * scale)


def run(args: argparse.Namespace) -> int:
    trainer = Trainer(
        order=args.order,
        vocab_size=args.vocab_size,
        min_count=args.min_count,
        max_piece_length=args.max_piece_length,
        isolate_digits=args.isolate_digits,
        ensure_unicode=args.ensure_unicode,
        normalization=args.normalization,
        jsonl_field=args.jsonl_field,
        on_error=args.on_error,
        memory_budget=args.memory_budget,
        spill_dir=args.spill_dir,
        progress=not args.quiet,
        refine=args.refine,
    )
    source = args.corpus[0] if len(args.corpus) == 1 else CorpusPaths(args.corpus)
    if args.dask is not None and args.workers != 1:
        raise ValueError("--workers and --dask do not go together: the cluster's workers do the work")
    started = time.perf_counter()
    models = trainer.train(source, args.output, workers=args.workers, dask=args.dask)
    if args.quiet:
        return 0
    corpus = next(iter(models.values())).training["corpus"]  # type: ignore[index]
    changed = f", {corpus['changed_files']} files changed between the passes" if corpus["changed_files"] else ""
    print(
        f"read {corpus['files']} files, {corpus['documents']} documents, {corpus['bytes'] / 1e6:.1f} MB "
        f"({corpus['skipped_files']} files and {corpus['skipped_lines']} lines skipped{changed}) "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    for size, model in models.items():
        path = args.output if len(models) == 1 else f"{os.fspath(args.output)}.{size}"
        print(f"wrote {path}: vocab size {model.vocab_size} (asked {size})", file=sys.stderr)
    return 0
