"""``bytepiece encode-corpus``: a corpus directory -> a memory-mappable token file.

See ``bytepiece/io/token_file.py`` for the format and ``docs/recipes/encode-corpus.md``.
"""

from __future__ import annotations

import argparse
import sys

from ..io.corpus import ON_ERROR, SPLITS, CorpusPaths
from ..encoding.encode_corpus import DEFAULT_SHUFFLE_BUDGET, encode_corpus
from ..encoding.tokenizer import Tokenizer
from .train import add_dask_argument, parse_size


def add_parser(subparsers: "argparse._SubParsersAction") -> None:
    parser = subparsers.add_parser(
        "encode-corpus",
        help="encode a corpus directory into a flat token file (memory-mappable) with a document index",
        description="Encode every document of CORPUS into OUT/tokens.bin (uint16 or uint32 ids), "
        "OUT/offsets.npy (document boundaries) and OUT/meta.json. The output is the same for any --workers.",
    )
    parser.add_argument("corpus", metavar="CORPUS", nargs="+", help="corpus directories, files (.txt/.jsonl, maybe .gz/.bz2/.xz) or fsspec URLs, read in the order given")
    parser.add_argument("-m", "--model", required=True, help="model file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory (must not exist unless --overwrite)")
    parser.add_argument("--split", choices=SPLITS, default="files", help="a .txt file is one document (files, default) or one per line (lines); a .jsonl record is always one")
    parser.add_argument("--jsonl-field", default="text", help="field holding the text in .jsonl files (default text)")
    parser.add_argument("--on-error", choices=ON_ERROR, default="skip", help="bad files/lines: skip with a warning (default), or fail")
    parser.add_argument("--no-eos", dest="eos", action="store_false", help="do not end each document with <eos> (the index still marks boundaries)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1; 0: one per core); the output is the same for any value")
    add_dask_argument(parser, "the output is the same as with --workers")
    parser.add_argument("--shuffle", type=int, default=None, metavar="SEED", help="write the documents in one global random order, a function of SEED alone (0 <= SEED < 2**64)")
    parser.add_argument("--memory-budget", type=parse_size, default=DEFAULT_SHUFFLE_BUDGET, metavar="SIZE", help="with --shuffle: encoded documents held in memory; the rest waits in temporary files (default 512M)")
    parser.add_argument("--alpha", type=float, default=None, help="sample segmentations with this alpha (default: Viterbi)")
    parser.add_argument("--seed", type=int, default=0, help="with --alpha: block b (about 1M characters) of part p (about 2 MB of the corpus) uses seed (SEED, p, b) (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (atomically)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dask is not None and args.workers != 1:
        raise ValueError("--workers and --dask do not go together: the cluster's workers do the work")
    tok = Tokenizer(args.model)
    meta = encode_corpus(
        tok,
        args.corpus[0] if len(args.corpus) == 1 else CorpusPaths(args.corpus),
        args.output,
        split=args.split,
        jsonl_field=args.jsonl_field,
        on_error=args.on_error,
        eos=args.eos,
        workers=args.workers,
        dask=args.dask,
        shuffle=args.shuffle,
        memory_budget=args.memory_budget,
        alpha=args.alpha,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=not args.quiet and sys.stderr.isatty(),
        warn=lambda message: print(f"bytepiece encode-corpus: {message}", file=sys.stderr),
    )
    if not args.quiet:
        corpus = meta["corpus"]
        skipped = f"; {corpus['skipped_files']} files and {corpus['skipped_lines']} lines skipped"
        print(
            f"{args.output}: {meta['documents']} documents, {meta['tokens']} tokens ({meta['dtype']})"
            f"{skipped if corpus['skipped_files'] or corpus['skipped_lines'] else ''}",
            file=sys.stderr,
        )
    return 0
