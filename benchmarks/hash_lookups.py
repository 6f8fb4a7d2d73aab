"""Look-ups in training's hash table (``bytepiece/training/hash_table.py``), checkouts side by side.

Pass 2 of training looks up about four n-grams a byte, and the look-ups are most of its
time. This times ``HashTable.get`` on tables of random 48-bit keys (the size of 6-gram
keys) of a few sizes, with 2M queries of which one in eight is absent (the rest are keys
of the table), in each checkout in turn, in a fresh subprocess with its own
``PYTHONPATH``; rounds alternate the order. Read the ratios per round, not single figures.

    git worktree add ../before <commit>
    python benchmarks/hash_lookups.py ../before . --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from _common import command_line

MEASURE = r"""
import json, sys, time
import numpy as np
from bytepiece.training.hash_table import HashTable
result = {}
rng = np.random.default_rng(1)
for size in map(int, sys.argv[1].split(",")):
    keys = np.unique(rng.integers(0, 1 << 48, int(size * 1.02), dtype=np.uint64))[:size]
    rng.shuffle(keys)
    table = HashTable(keys, -rng.random(len(keys)))
    queries = keys[rng.integers(0, len(keys), 1 << 21)]
    queries[::8] += np.uint64(1)  # absent, nearly always
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        table.get(queries)
        best = min(best, time.perf_counter() - start)
    result[size] = best / len(queries) * 1e9
print(json.dumps(result))
"""


def measure(checkout: Path, sizes: str) -> Dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    # run from the checkout: "python -c" puts the working directory first on the path
    out = subprocess.run([sys.executable, "-c", MEASURE, sizes], env=env, cwd=checkout.resolve(), check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=Path, help="one or more checkouts of bytepiece (their roots)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="300000,3300000,14000000", help="table sizes, in keys, comma-separated")
    args = parser.parse_args()
    print(command_line())
    rows: List[str] = []
    for round_ in range(args.rounds):
        order = args.checkouts if round_ % 2 == 0 else args.checkouts[::-1]
        found = {checkout: measure(checkout, args.sizes) for checkout in order}
        for size in args.sizes.split(","):
            figures = [found[checkout][size] for checkout in args.checkouts]
            ratios = "".join(f" | {f / figures[0]:.2f}x" for f in figures[1:])
            rows.append(f"| {round_ + 1} | {int(size):,} | " + " | ".join(f"{f:.1f}" for f in figures) + ratios + " |")
    names = " | ".join(f"{c} ns/query" for c in args.checkouts)
    ratio_names = "".join(f" | {c} / {args.checkouts[0]}" for c in args.checkouts[1:])
    print(f"| round | keys | {names}{ratio_names} |")
    print("|---|---:|" + "---:|" * (len(args.checkouts) * 2 - 1))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
