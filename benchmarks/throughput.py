"""Encode and sampling throughput (MB/s of UTF-8 input) and bytes/token, per domain.

Runs every model given (default: the two BytePiece 0.6 models in ../shared/models) over
the corpus sample, one domain at a time, in this one process, and prints a markdown
table. Machines here are shared and noisy: compare rows of the same run, not runs.

    python benchmarks/throughput.py [--model PATH ...] [--max-mb 1.0] [--out results/x.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Dict, List

from bytepiece import Tokenizer
from _common import SHARED, command_line

DOMAINS = ("zh", "en", "code", "multi")


def domain_texts(domain: str, max_bytes: int) -> List[str]:
    """Documents of a domain: a line per document for prose, a file per document for code."""
    texts: List[str] = []
    size = 0
    for path in sorted((SHARED / "corpus" / "sample" / domain).rglob("*.txt")):
        content = path.read_text(encoding="utf-8")
        docs = [content] if domain == "code" else content.splitlines(keepends=True)
        for doc in docs:
            texts.append(doc)
            size += len(doc.encode("utf-8"))
            if size >= max_bytes:
                return texts
    return texts


def domain_documents(domain: str, max_bytes: int, seed: int = 0) -> List[str]:
    """Documents of 1-20 KB, as a data loader sees them: the domain's texts in order (lines
    of prose, lines of code files), joined until a size drawn log-uniformly from 1 to 20 KB
    (seeded) is reached; about ``max_bytes`` in all."""
    rng = random.Random(seed)
    documents: List[str] = []
    current: List[str] = []
    size, target = 0, int(1000 * 20 ** rng.random())
    for text in domain_texts(domain, max_bytes):
        for line in text.splitlines(keepends=True):
            current.append(line)
            size += len(line.encode("utf-8"))
            if size >= target:
                documents.append("".join(current))
                current, size, target = [], 0, int(1000 * 20 ** rng.random())
    if current:
        documents.append("".join(current))
    return documents


def measure(tok: Tokenizer, texts: List[str], alpha=None) -> Dict[str, float]:
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    start = time.perf_counter()
    tokens = sum(len(tok.encode(t, alpha=alpha)) for t in texts)
    elapsed = time.perf_counter() - start
    return {"mb_per_s": nbytes / elapsed / 1e6, "bytes_per_token": nbytes / tokens, "mb": nbytes / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model file (repeatable)")
    parser.add_argument("--max-mb", type=float, default=1.0, help="text per domain, MB")
    parser.add_argument("--alpha", type=float, default=0.1, help="alpha for the sampling column")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    models = args.model or [str(SHARED / "models" / f"{n}.zip") for n in ("bytepiece_80k", "bytepiece.zh.id.eu.80k")]
    texts = {d: domain_texts(d, int(args.max_mb * 1e6)) for d in DOMAINS}

    lines = [
        f"Command: `{command_line()}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"Python {platform.python_version()}; {os.cpu_count()} cores; {platform.processor() or platform.machine()}",
        "",
        f"| model | domain | MB | encode MB/s | sample (alpha={args.alpha}) MB/s | bytes/token |",
        "|---|---|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for model in models:
        tok = Tokenizer(model, seed=0)
        tok.encode("warm up: build the automaton")
        for domain in DOMAINS:
            viterbi = measure(tok, texts[domain])
            sampled = measure(tok, texts[domain], alpha=args.alpha)
            row = (
                f"| {Path(model).name} | {domain} | {viterbi['mb']:.2f} | {viterbi['mb_per_s']:.2f} | "
                f"{sampled['mb_per_s']:.2f} | {viterbi['bytes_per_token']:.3f} |"
            )
            lines.append(row)
            print(row, flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
