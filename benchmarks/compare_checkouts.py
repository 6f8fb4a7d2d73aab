"""Two checkouts of bytepiece side by side: did a change make encoding slower?

Each round runs every checkout once, in turn, in a fresh subprocess with its own
``PYTHONPATH`` (so the two never share a process or an import), over the same texts; the
rounds alternate the order. Time is the process's CPU time (``time.process_time``), which
other processes on a busy machine disturb far less than wall time; still, read the ratio
``B / A`` per round, and its median and spread, not single figures.

    git worktree add ../before <commit>     # or: git clone . ../before && git -C ../before checkout <commit>
    python benchmarks/compare_checkouts.py ../before . --rounds 5 [--max-mb 0.5] [--out results/x.md]

Measured per model: scalar ``encode`` (one call per document), ``encode_batch``, scalar
and batched sampling (``alpha=0.1``). Texts: the corpus sample in ``../shared`` (a
document per line, code a document per file), all four domains together.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from _common import SHARED, command_line, shown

MEASURE = r"""
import json, sys, time
from pathlib import Path
from bytepiece import Tokenizer
model, corpus, max_bytes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
texts, size = [], 0
for domain in ("zh", "en", "code", "multi"):
    taken = 0
    for path in sorted((corpus / domain).rglob("*.txt")):
        docs = [path.read_text(encoding="utf-8")] if domain == "code" else path.read_text(encoding="utf-8").splitlines(True)
        for doc in docs:
            texts.append(doc)
            taken += len(doc.encode())
            if taken >= max_bytes:
                break
        if taken >= max_bytes:
            break
    size += taken
tok = Tokenizer(model, seed=0)
tok.encode_batch(texts[:50]); tok.encode(texts[0], alpha=0.1)  # build the tables first
cases = {
    "encode (one call per document)": lambda: [tok.encode(t) for t in texts],
    "encode_batch": lambda: tok.encode_batch(texts),
    "sample alpha=0.1 (one call per document)": lambda: [tok.encode(t, alpha=0.1) for t in texts],
    "sample alpha=0.1 encode_batch": lambda: tok.encode_batch(texts, alpha=0.1),
}
def best_of_two(run):
    times = []
    for _ in range(2):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)
print(json.dumps({name: size / 1e6 / best_of_two(run) for name, run in cases.items()}))
"""


def measure(checkout: Path, model: str, corpus: Path, max_bytes: int) -> Dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, model, str(corpus), str(max_bytes)],
        env=env, capture_output=True, text=True, check=True, cwd=checkout,
    )
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="the baseline checkout (A)")
    parser.add_argument("b", type=Path, help="the changed checkout (B)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-mb", type=float, default=0.5, help="text per domain, MB")
    parser.add_argument("--model", action="append", help="model files (default: the two 0.6 models in ../shared)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    corpus = SHARED / "corpus" / "sample"
    models = args.model or [str(SHARED / "models" / "bytepiece_80k.zip"), str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000")]
    lines = [f"Command: `{command_line()}`", "", f"B / A throughput, {args.rounds} rounds (median, min-max); "
             f"A = `{shown(str(args.a.resolve()))}`, B = `{shown(str(args.b.resolve()))}`; {args.max_mb} MB per domain.", ""]
    for model in models:
        ratios: Dict[str, List[float]] = {}
        for round_index in range(args.rounds):
            order = [args.a, args.b] if round_index % 2 == 0 else [args.b, args.a]
            figures = {checkout: measure(checkout, model, corpus, int(args.max_mb * 1e6)) for checkout in order}
            for case in figures[args.a]:
                ratios.setdefault(case, []).append(figures[args.b][case] / figures[args.a][case])
            print(f"{Path(model).name} round {round_index + 1}: " + ", ".join(f"{c}: {r[-1]:.2f}" for c, r in ratios.items()), flush=True)
        lines += [f"### {Path(model).name}", "", "| case | B / A median | min | max |", "|---|---:|---:|---:|"]
        lines += [f"| {case} | {statistics.median(r):.3f} | {min(r):.3f} | {max(r):.3f} |" for case, r in ratios.items()]
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
