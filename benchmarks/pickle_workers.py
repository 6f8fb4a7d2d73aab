"""Tokenizer pickling for data-loader workers: size and time for the 80k models.

What a worker pays: the pickle (the compact model file plus the random-stream state),
unpickling it, and rebuilding the automaton on the first encode. Also the time for a
2-worker ``multiprocessing`` pool to start and encode one text, with fork and spawn.

    python benchmarks/pickle_workers.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle

from bytepiece import Tokenizer
from _common import SHARED, best_of




def _first_encode(tok: Tokenizer) -> int:
    return len(tok.encode("a worker's first text"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"Command: `python benchmarks/pickle_workers.py --repeat {args.repeat}` (best of {args.repeat})\n")
    print("| model | pickle MB | dumps s | loads s | first encode s | pool(2) fork s | pool(2) spawn s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("bytepiece_80k", "bytepiece.zh.id.eu.80k"):
        tok = Tokenizer(SHARED / "models" / f"{name}.zip")
        tok.encode("warm")
        data = pickle.dumps(tok)
        dumps = best_of(args.repeat, lambda: pickle.dumps(tok))
        loads = best_of(args.repeat, lambda: pickle.loads(data))
        first = best_of(args.repeat, lambda: pickle.loads(data).encode("x"))
        pools = []
        for method in ("fork", "spawn"):
            def run() -> None:
                with multiprocessing.get_context(method).Pool(2) as pool:
                    pool.map(_first_encode, [tok, tok])
            pools.append(best_of(max(1, args.repeat // 2), run))
        print(
            f"| {name} | {len(data) / 1e6:.2f} | {dumps:.3f} | {loads:.3f} | {first - loads:.3f} "
            f"| {pools[0]:.2f} | {pools[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
