"""Build time, peak memory and size of the flat trie (``FlatTrie.build``) for a model or a vocabulary.

The first ``encode`` of a big model builds the trie (issue 14: first use); every pruning
worker of a training run builds one for its whole candidate vocabulary (issue 10: the
run's peak memory). Prints the CPU time (``time.process_time``, best of ``--repeat``) of
the build and, in a separate build, its peak of traced memory (tracemalloc: numpy's
buffers included) and the memory the trie holds, and the trie's slots (its arrays' length).

    python benchmarks/flat_trie_build.py --model PATH [--repeat 5]
    python benchmarks/flat_trie_build.py --vocabulary PIECES.pkl [--repeat 1]

``--vocabulary``: a pickle of ``(pieces, ids)`` (lists of bytes and ints), e.g. the
pruning vocabulary of a training run. Runs the library on ``sys.path``: run it with
``PYTHONPATH`` set to the checkout to measure.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line  # noqa: E402

import bytepiece  # noqa: E402
from bytepiece import load_model  # noqa: E402
from bytepiece.encoding.batch.flat_trie import FlatTrie  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a model file")
    source.add_argument("--vocabulary", help="a pickle of (pieces, ids)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.model:
        model = load_model(args.model)
        pieces, ids = list(model.pieces), list(model.ids)
    else:
        with open(args.vocabulary, "rb") as file:
            pieces, ids = pickle.load(file)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.process_time()
        trie = FlatTrie.build(pieces, ids)
        best = min(best, time.process_time() - started)
    slots = trie.base.size
    del trie
    tracemalloc.start()
    trie = FlatTrie.build(pieces, ids)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"command: {command_line()}")
    print(f"library: {Path(bytepiece.__file__).resolve().parent.parent.name}")
    print(f"pieces: {len(pieces)}; slots: {slots}; dtypes base/check/term: {trie.base.dtype}/{trie.check.dtype}/{trie.term.dtype}")
    print(f"build: {best:.3f} s CPU (best of {args.repeat}); peak {peak / 1e6:.0f} MB traced; trie holds {held / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
