"""The target ratios of several ``peers.py`` runs side by side: per model, ratio and domain,
the lowest and highest of the runs (and each run's figure), for docs/performance.md.

    python benchmarks/peers_spread.py benchmarks/results/peers-DATE-run1.json [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import ratios  # noqa: E402
from throughput import DOMAINS  # noqa: E402

TARGETS = {  # the ratio each label must reach (issue 14)
    "encode(document) / original's": 1.5,
    "encode(document, alpha) / original's": 1.5,
    "encode_batch / original encode": 5.0,
    "batched sampling / original's": 4.0,
    "encode_batch workers=N / tiktoken": 1.0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="peers.py JSON results, one per run")
    args = parser.parse_args()
    runs = [ratios(json.loads(Path(path).read_text(encoding="utf-8"))["rows"]) for path in args.results]
    columns = (*DOMAINS, "all")
    print(f"Ratios of {len(runs)} runs: lowest-highest (runs in order); **bold**: the target is met in every run.\n")
    print("| model | ratio (target) | " + " | ".join(columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for key in runs[0]:
        model, label = key
        target = TARGETS.get(label, 0.0)
        cells = []
        for domain in columns:
            values = [run[key][domain] for run in runs if key in run]
            text = f"{min(values):.2f}-{max(values):.2f}x"
            cells.append(f"**{text}**" if min(values) >= target else text)
        print(f"| {model} | {label} ({target:g}x) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
