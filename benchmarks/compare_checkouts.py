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

``--documents``: the data loader's case instead, per domain: the documents of 1-20 KB of
``benchmarks/peers.py`` (``throughput.domain_documents``), ``encode(doc)`` and
``encode(doc, alpha=0.1)`` one call each.
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
from typing import Dict, List, Optional

from _common import SHARED, command_line, shown
from throughput import DOMAINS, domain_documents

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
cache = getattr(tok.engine, "chunk_cache", None)  # each pass from empty: the same texts again would all hit
def best_of_two(run):
    times = []
    for _ in range(2):
        if cache is not None:
            cache.clear()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)
print(json.dumps({name: size / 1e6 / best_of_two(run) for name, run in cases.items()}))
"""


MEASURE_DOCUMENTS = r"""
import json, sys, time
from bytepiece import Tokenizer
model, documents = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
tok = Tokenizer(model, seed=0)
tok.encode_batch(["warm up"] * 2); tok.encode_batch(["warm up"] * 2, alpha=0.1)  # the tables first
tok.engine.automaton(); tok.engine.batch_encoder().prepare()
cache = getattr(tok.engine, "chunk_cache", None)  # each pass from empty: the same documents again would all hit
out = {}
for domain, docs in documents.items():
    size = sum(len(d.encode()) for d in docs)
    for name, alpha in (("encode(doc)", None), ("encode(doc, alpha=0.1)", 0.1)):
        times = []
        for _ in range(2):
            if cache is not None:
                cache.clear()
            start = time.process_time()
            [tok.encode(d, alpha=alpha) for d in docs]
            times.append(time.process_time() - start)
        out[f"{name} {domain}"] = size / 1e6 / min(times)
print(json.dumps(out))
"""


def measure(checkout: Path, model: str, corpus: Path, max_bytes: int, documents: Optional[Path] = None) -> Dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    arguments = [MEASURE_DOCUMENTS, model, str(documents)] if documents else [MEASURE, model, str(corpus), str(max_bytes)]
    result = subprocess.run(
        [sys.executable, "-c", *arguments], env=env, capture_output=True, text=True, check=True, cwd=checkout,
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
    parser.add_argument("--documents", action="store_true", help="documents of 1-20 KB, one encode() call each, per domain")
    args = parser.parse_args()
    corpus = SHARED / "corpus" / "sample"
    documents: Optional[Path] = None
    if args.documents:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
            json.dump({d: domain_documents(d, int(args.max_mb * 1e6)) for d in DOMAINS}, handle)
        documents = Path(handle.name)
    models = args.model or [str(SHARED / "models" / "bytepiece_80k.zip"), str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000")]
    lines = [f"Command: `{command_line()}`", "", f"B / A throughput, {args.rounds} rounds (median, min-max); "
             f"A = `{shown(str(args.a.resolve()))}`, B = `{shown(str(args.b.resolve()))}`; {args.max_mb} MB per domain.", ""]
    for model in models:
        ratios: Dict[str, List[float]] = {}
        for round_index in range(args.rounds):
            order = [args.a, args.b] if round_index % 2 == 0 else [args.b, args.a]
            figures = {checkout: measure(checkout, model, corpus, int(args.max_mb * 1e6), documents) for checkout in order}
            for case in figures[args.a]:
                ratios.setdefault(case, []).append(figures[args.b][case] / figures[args.a][case])
            print(f"{Path(model).name} round {round_index + 1}: " + ", ".join(f"{c}: {r[-1]:.2f}" for c, r in ratios.items()), flush=True)
        lines += [f"### {Path(model).name}", "", "| case | B / A median | min | max |", "|---|---:|---:|---:|"]
        lines += [f"| {case} | {statistics.median(r):.3f} | {min(r):.3f} | {max(r):.3f} |" for case, r in ratios.items()]
        lines.append("")
    if documents:
        documents.unlink()
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
