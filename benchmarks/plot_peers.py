"""Bar chart of a peers.py result: MB/s per system, one group of bars per domain, one panel
per case (documents one call each; texts).

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
    cases = [case for case in ("documents", "texts") if any(r.get("case", "texts") == case for r in result["rows"])]
    domains = [*next(iter(result["bytes"].values())), "all"] if cases != ["texts"] else [*result["bytes"], "all"]
    panels = [[r for r in result["rows"] if r.get("case", "texts") == case] for case in cases]
    fig, axes = plt.subplots(
        len(cases), 1, figsize=(11, sum(0.16 * len(rows) * len(domains) + 1.2 for rows in panels)),
        gridspec_kw={"height_ratios": [len(rows) for rows in panels]}, squeeze=False,
    )
    height = 0.8 / len(domains)
    for ax, case, rows in zip(axes[:, 0], cases, panels):
        labels = [f"{r['system']} ({r['model'].replace('.zip', '').replace('ref-sample-mc4.model.', 'sample ')})" for r in rows]
        for k, domain in enumerate(domains):
            values = [r["mb_per_s"][domain] for r in rows]
            positions = [i + k * height for i in range(len(rows))]
            ax.barh(positions, values, height=height, label=domain)
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title({"documents": "documents of 1-20 KB, one call each", "texts": "texts (a line, or a code file, each)"}[case],
                     fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0, 0].legend(title="domain", fontsize=8)
    axes[-1, 0].set_xlabel("MB/s of UTF-8 input (log scale), single process unless it says workers")
    clock = ", each process's CPU time (workers=: wall time)" if result.get("clock") == "cpu" else ""
    fig.suptitle(f"Encode throughput, one run on {result['date'][:10]} ({result['machine']['cores']} shared cores{clock})")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(target, dpi=110)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a peers.py result (.json)")
    parser.add_argument("target", help="the image to write (.png)")
    arguments = parser.parse_args()
    sys.exit(main(arguments.source, arguments.target))
