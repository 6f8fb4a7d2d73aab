"""First use of a big model: load it, encode one document, encode a batch, in a fresh process.

What a data-loader worker (or any short-lived process) pays before its first ids: the 160k
vocabulary of ``model_load.py`` (the union of the two BytePiece 0.6 models), written in
our v1 format and as the original's JSON; then, in each of ``--runs`` fresh processes,
the wall time of ``Tokenizer(path)``, of the first ``encode(document)`` (a ~10 KB English
document of the corpus sample: this builds the tables it needs) and of the first
``encode_batch`` (~100 KB of Chinese documents). Min and median over the runs: the machine
is shared, so the min is the least disturbed.

    python benchmarks/first_use.py [--runs 5] [--clock wall|cpu]

``--clock cpu`` counts the child's own CPU time: on a machine shared with other jobs, wall
time also counts the waits for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, command_line  # noqa: E402
from model_load import legacy_json, union_model  # noqa: E402
from throughput import domain_texts  # noqa: E402

from bytepiece import save_model  # noqa: E402

CHILD = r"""
import json, sys, time
clock = time.process_time if sys.argv[3] == "cpu" else time.perf_counter
started = clock()
from bytepiece import Tokenizer
imported = clock()
model, texts = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
tok = Tokenizer(model)
loaded = clock()
tok.encode(texts["document"])
encoded = clock()
tok.encode_batch(texts["batch"])
batched = clock()
print(json.dumps({"import": imported - started, "load": loaded - imported, "encode": encoded - loaded,
                  "encode_batch": batched - encoded, "total": batched - imported,
                  "automaton built": tok.engine.automaton_built}))
"""


def documents() -> dict:
    """A ~10 KB English document (lines of the sample, joined) and ~100 KB of Chinese ones."""
    lines = domain_texts("en", 200_000)
    document, size = [], 0
    for line in lines[200:]:  # past the first file's header lines
        document.append(line)
        size += len(line.encode())
        if size >= 10_000:
            break
    return {"document": "".join(document), "batch": domain_texts("zh", 100_000)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    model = union_model()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs, texts = Path(tmp) / "m.bpm", Path(tmp) / "m.json", Path(tmp) / "texts.json"
        save_model(model, ours)
        theirs.write_text(legacy_json(model), encoding="utf-8")
        texts.write_text(json.dumps(documents()), encoding="utf-8")
        results = {}
        for name, path in (("v1 (ours)", ours), ("BytePiece 0.6 JSON", theirs)):
            runs = []
            for _ in range(args.runs):
                output = subprocess.run([sys.executable, "-c", CHILD, str(path), str(texts), args.clock], capture_output=True,
                                        text=True, check=True, env=env).stdout
                runs.append(json.loads(output))
            results[name] = runs
    print(f"Command: `{command_line()}`; vocabulary: {model.vocab_size} ids; {args.runs} fresh processes each; "
          f"{'wall time' if args.clock == 'wall' else 'CPU time of each process'}\n")
    print("| file | load s | first encode s | first encode_batch s | total s (min / median) | automaton built |")
    print("|---|---:|---:|---:|---:|---|")
    for name, runs in results.items():
        def cell(key: str) -> str:
            values = [run[key] for run in runs]
            return f"{min(values):.3f} / {statistics.median(values):.3f}"
        built = sorted({str(run["automaton built"]) for run in runs})
        print(f"| {name} | {cell('load')} | {cell('encode')} | {cell('encode_batch')} | {cell('total')} | {', '.join(built)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
