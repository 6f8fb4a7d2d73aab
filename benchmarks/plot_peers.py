"""Bar chart of a peers.py result: MB/s per system, one group of bars per domain.

    python benchmarks/plot_peers.py benchmarks/results/peers-DATE.json docs/performance-peers.png

Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(source: str, target: str) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = json.loads(Path(source).read_text(encoding="utf-8"))
    rows = result["rows"]
    domains = [*result["bytes"], "all"]
    labels = [f"{r['system']} ({r['model'].replace('.zip', '').replace('ref-sample-mc4.model.', 'sample ')})" for r in rows]
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(rows) * len(domains) / 2 + 2))
    height = 0.8 / len(domains)
    for k, domain in enumerate(domains):
        values = [r["mb_per_s"][domain] for r in rows]
        positions = [i + k * height for i in range(len(rows))]
        ax.barh(positions, values, height=height, label=domain)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("MB/s of UTF-8 input (log scale), single process unless it says workers")
    ax.set_title(f"Encode throughput, one run on {result['date'][:10]} ({result['machine']['cores']} shared cores)")
    ax.legend(title="domain", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a peers.py result (.json)")
    parser.add_argument("target", help="the image to write (.png)")
    arguments = parser.parse_args()
    sys.exit(main(arguments.source, arguments.target))
