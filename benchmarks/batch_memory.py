"""Peak memory of encode_batch: a first 1 MB batch (the working arrays are allocated), then a
bigger batch on top of them. tracemalloc sees numpy's buffers and the returned lists.

    python benchmarks/batch_memory.py [--model PATH]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DOMAINS, SHARED, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402


def peak_mb(tok: Tokenizer, texts: list) -> tuple:
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    ids = tok.encode_batch(texts)
    current, peak = tracemalloc.get_traced_memory()
    del ids
    kept = tracemalloc.get_traced_memory()[0] - start
    return (peak - start) / 1e6, (current - start) / 1e6, kept / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "models" / "bytepiece_80k.zip"))
    args = parser.parse_args()
    tok = Tokenizer(args.model)
    tok.encode("warm up")
    tok.engine.batch_encoder().prepare()  # model tables (the flat trie) are not part of a batch's cost
    first = domain_texts("en", 1_000_000)
    big = [t for d in DOMAINS for t in domain_texts(d, 1_000_000)] * 2
    tracemalloc.start()
    for name, texts in (("first batch", first), ("second batch", big)):
        size = sum(len(t.encode()) for t in texts) / 1e6
        peak, with_result, kept = peak_mb(tok, texts)
        print(f"{name}: {size:.1f} MB of text: peak +{peak:.0f} MB, with the result +{with_result:.0f} MB, "
              f"kept after it (working arrays) +{kept:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
