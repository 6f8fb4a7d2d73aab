"""Plot a scaling result: wall time by stage for ``workers=1``, ``workers=2`` and a local
Dask cluster (the median of the rounds of one commit), and the Amdahl projection of the
serial-fraction run for more cores.

    python benchmarks/plot_scaling.py benchmarks/results/scaling-2026-12-04.json docs/scaling.png --commit dd4f5b7

The JSON holds the rounds of ``train_benchmark.py`` (wall and stage seconds) and the
JSON that ``serial_fraction.py`` prints (see ``benchmarks/results/scaling-runs.md`` for
the commands). Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STAGES = ("counting n-grams", "segmenting", "pruning")
RUNS = ("workers 1", "workers 2", "dask local:2")


def main(source: str, target: str, commit: str) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = json.loads(Path(source).read_text(encoding="utf-8"))
    rounds = [r for r in result["rounds"] if r["commit"] == commit]
    if not rounds:
        print(f"no rounds of commit {commit} in {source}", file=sys.stderr)
        return 2
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})

    # Left: the median run of each kind, its stages stacked (the rest: the model's build,
    # planning, saving, starting processes).
    labels = []
    for position, run in enumerate(RUNS):
        mine = sorted((r for r in rounds if r["run"] == run), key=lambda r: r["wall_s"])
        if not mine:
            continue
        median = mine[len(mine) // 2]
        start = 0.0
        for k, stage in enumerate(STAGES):
            seconds = median["stages_s"][stage]
            left.barh(position, seconds, left=start, color=f"C{k}", label=stage if position == 0 else None)
            start += seconds
        left.barh(position, median["wall_s"] - start, left=start, color="0.75", label="the rest" if position == 0 else None)
        labels.append(f"{run}\n(median of {len(mine)}: {median['wall_s']:.1f} s)")
    left.set_yticks(range(len(labels)))
    left.set_yticklabels(labels, fontsize=9)
    left.invert_yaxis()
    left.set_xlabel("wall seconds")
    left.set_title(f"{result['corpus']}\n{result['machine']}, commit {commit}", fontsize=9)
    left.legend(fontsize=8, loc="lower right")

    # Right: Amdahl's projection from the serial-fraction run.
    fraction = result["serial_fraction"]
    cores = sorted(int(n) for n in fraction["projection_s"])
    projected = [fraction["projection_s"][str(n)] for n in cores]
    right.plot(cores, projected, marker="o", label="projected wall (driver + tasks / N + bytes at 10 Gbit/s)")
    right.axhline(fraction["driver_s"], color="C3", linestyle="--", label=f"the driver alone ({fraction['driver_s']:.1f} s)")
    right.set_xscale("log", base=2)
    right.set_xticks(cores)
    right.set_xticklabels([str(n) for n in cores])
    right.set_xlabel("cores")
    right.set_ylabel("seconds")
    right.set_title(
        f"serial fraction {100 * fraction['serial_fraction']:.1f}% (workers=1: {fraction['wall_s']:.1f} s), commit {fraction['commit']}",
        fontsize=9,
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--commit", required=True, help="whose rounds to plot")
    args = parser.parse_args()
    sys.exit(main(args.source, args.target, args.commit))
