"""What offsets cost: ``encode_batch`` with and without ``return_offsets``, per domain.

Texts are the corpus sample's documents (as ``throughput.py`` reads them), once as they
are (NFC already: the fast path) and once decomposed (NFD, so that every accented or
Hangul character goes through the cut-point search), plus one ``encode`` /
``encode_with_offsets`` per document. MB per CPU second of UTF-8 input (process time, so
that other work on a shared machine counts less), best of ``--repeat``.

    python benchmarks/offsets.py [--model PATH] [--max-mb 0.5] [--repeat 3] [--out results/x.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
import unicodedata
from typing import Callable, List

from bytepiece import Tokenizer
from _common import SHARED, best_of, cold, command_line
from throughput import DOMAINS, domain_texts


def cpu_best_of(repeat: int, function: Callable[[], object]) -> float:
    return best_of(repeat, function, clock=time.process_time)


def rate(texts: List[str], seconds: float) -> str:
    return f"{sum(len(t.encode('utf-8')) for t in texts) / seconds / 1e6:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "models" / "bytepiece_80k.zip"))
    parser.add_argument("--max-mb", type=float, default=0.5, help="text per domain, MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    tok = Tokenizer(args.model)
    tok.encode_batch(["warm up"], return_offsets=True)
    rows = []
    for domain in DOMAINS:
        plain = domain_texts(domain, int(args.max_mb * 1e6))
        decomposed = [unicodedata.normalize("NFD", t) for t in plain]
        changed = sum(t != p for t, p in zip(decomposed, plain))
        cells = [domain, f"{changed}/{len(plain)}"]
        for texts in (plain, decomposed):
            cells.append(rate(texts, cpu_best_of(args.repeat, lambda: tok.encode_batch(texts))))
            cells.append(rate(texts, cpu_best_of(args.repeat, lambda: tok.encode_batch(texts, return_offsets=True))))
        # Each pass from an empty chunk cache, or the same texts again would be all hits.
        cells.append(rate(plain, best_of(args.repeat, lambda: [tok.encode(t) for t in plain], time.process_time, lambda: cold(tok))))
        cells.append(rate(plain, best_of(args.repeat, lambda: [tok.encode_with_offsets(t) for t in plain], time.process_time, lambda: cold(tok))))
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    lines = [
        f"Command: `{command_line()}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}; "
        f"Python {platform.python_version()}",
        "",
        f"MB of UTF-8 input per CPU second, best of {args.repeat}; model {args.model.rsplit('/', 1)[-1]}; "
        f"up to {args.max_mb} MB per domain. NFD: the same documents decomposed (the documents NFD changes are counted).",
        "",
        "| domain | NFD changes | batch | batch + offsets | NFD batch | NFD batch + offsets | encode | encode_with_offsets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
