"""The chunk cache (``bytepiece/encoding/chunk_cache.py``) on the documents of ``peers.py``:
how often it hits, what it saves where it is used, and the ceilings of the places where it
is not (the batch path of long documents, and sampling).

    python benchmarks/chunk_cache.py [--model M ...] [--max-mb 1.0] [--rounds 5] [--out FILE]
    python benchmarks/chunk_cache.py --policies [--max-mb 1.0]
    python benchmarks/chunk_cache.py --texts ...

``--texts``: the texts of ``peers.py`` instead (``throughput.domain_texts``: a line of
prose or a code file each, one ``encode`` call each): most prose texts are one chunk.

``--policies``: no timing; the share of all bytes found in a cache fed by every chunk of
every document in order (no model needed: a chunk's ids depend on its bytes only), for
eviction by clearing when full, by two generations (what ``ChunkCache`` does) and by LRU,
at several budgets and chunk-length limits (an entry counted as 3 bytes a byte + 150).

Per model and domain (documents of 1-20 KB, ``throughput.domain_documents``, one pass in
order from an empty cache, as a data loader would see them):

* **hits**: short chunks looked up by ``encode(doc)`` and found, and the share of all
  bytes they hold;
* **scalar**: ``encode(doc)`` of the documents under ``BATCH_MIN_BYTES`` (the scalar
  path, where the cache is), with and without the cache, alternating document by document
  (CPU time, best of ``--rounds`` passes; each pass from an empty cache);
* **batch ceiling**: the documents from ``BATCH_MIN_BYTES`` through the batch path
  (``Engine.encode_chunks``) with all their chunks, and with only the chunks not seen
  before (short repeats dropped, as a free cache would): the most a cache on that path
  could save, before the cost of its look-ups;
* **sampling ceiling**: with ``alpha=0.1`` only documents under ``SAMPLE_BATCH_MIN_BYTES``
  take the scalar sampler (the batch sampler draws differently, so a cached lattice
  there could not give the same samples for a seed); the time the scalar sampler spends
  on repeated short chunks, as a share of the whole ``encode(doc, alpha=0.1)`` pass: the
  most a cache of lattices could save if it made those chunks free.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import unicodedata
from pathlib import Path
from typing import Callable, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line  # noqa: E402
from throughput import DOMAINS, SHARED, domain_documents, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402
from bytepiece.encoding.batch.layout import chunk_bounds  # noqa: E402
from bytepiece.encoding.engine import BATCH_MIN_BYTES, SAMPLE_BATCH_MIN_BYTES, Engine  # noqa: E402
from bytepiece.normalization import split_chunks  # noqa: E402

ALPHA = 0.1
clock = time.process_time


def best(function: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = clock()
        function()
        times.append(clock() - started)
    return min(times)


def alternating(first: Callable[[bytes], object], second: Callable[[bytes], object], docs: List[bytes], rounds: int,
                before_pass: Callable[[], object]) -> List[float]:
    """Best-of-``rounds`` totals of ``first`` and ``second``, run on each document in turn."""
    totals = [float("inf"), float("inf")]
    for round_index in range(rounds):
        before_pass()
        spent = [0.0, 0.0]
        for doc in docs:
            for who in ((0, 1) if round_index % 2 == 0 else (1, 0)):
                started = clock()
                (first, second)[who](doc)
                spent[who] += clock() - started
        totals = [min(a, b) for a, b in zip(totals, spent)]
    return totals


def policies(max_mb: float) -> List[str]:
    """The eviction table of ``--policies``."""
    from collections import OrderedDict

    def found(chunks: List[bytes], budget: int, longest: int, policy: str) -> int:
        current: "OrderedDict[bytes, int]" = OrderedDict()
        old: set = set()
        size = hit = 0
        for chunk in chunks:
            if len(chunk) > longest:
                continue
            if chunk in current or (policy == "generations" and chunk in old):
                hit += len(chunk)
                if policy == "lru":
                    current.move_to_end(chunk)
                if chunk in current:
                    continue
            cost = 3 * len(chunk) + 150
            if size + cost > budget:
                if policy == "lru":
                    while current and size + cost > budget:
                        size -= current.popitem(last=False)[1]
                else:
                    old = set(current) if policy == "generations" else set()
                    current, size = OrderedDict(), 0
            current[chunk] = cost
            size += cost
        return hit

    lines = ["| domain | budget | longest chunk | clear when full | two generations | LRU |", "|---|---:|---:|---:|---:|---:|"]
    for domain in DOMAINS:
        chunks = [c for t in domain_documents(domain, int(max_mb * 1e6)) for c in split_chunks(unicodedata.normalize("NFC", t).encode())]
        total = sum(map(len, chunks))
        for budget in (256 << 10, 1 << 20, 4 << 20):
            for longest in (64, 128, 256):
                shares = [found(chunks, budget, longest, p) / total for p in ("clear", "generations", "lru")]
                lines.append(f"| {domain} | {budget >> 10} KB | {longest} | " + " | ".join(f"{x:.1%}" for x in shares) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--max-mb", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--policies", action="store_true", help="the hit shares of three evictions, no timing")
    parser.add_argument("--texts", action="store_true", help="peers.py's texts (a line or a code file each), not its documents")
    args = parser.parse_args()
    if args.policies:
        text = "\n".join([f"Command: `{command_line()}`", "", *policies(args.max_mb)]) + "\n"
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
        return 0
    models = args.model or [str(SHARED / "models" / "bytepiece_80k.zip"), str(SHARED / "models" / "bytepiece.zh.id.eu.80k.zip"),
                            str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000")]
    lines = [f"Command: `{command_line()}`  ",
             f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; CPU time, best of {args.rounds}.", "",
             "| model | domain | hits / short chunks | hit bytes / all bytes | scalar docs: no cache / cache | "
             "batch docs: all chunks / new chunks only (ceiling) | sampling: repeated chunks' share of the pass (ceiling) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for model in models:
        tok = Tokenizer(model)
        engine = tok.engine
        plain = Engine(tok.model, cache_bytes=0)
        for e in (engine, plain):
            e.automaton()
            e.batch_encoder().prepare()
        longest = engine.chunk_cache.max_chunk
        for domain in DOMAINS:
            texts = (domain_texts if args.texts else domain_documents)(domain, int(args.max_mb * 1e6))
            docs = [unicodedata.normalize("NFC", t).encode() for t in texts]
            total = sum(map(len, docs))
            # One pass in order, from empty: the short chunks found, and their bytes.
            engine.chunk_cache.clear()
            for doc in docs:
                engine.encode_utf8(doc)
            hits, looked_up = engine.chunk_cache.hits, engine.chunk_cache.hits + engine.chunk_cache.misses
            engine.chunk_cache.clear()
            hit_bytes = 0
            for doc in docs:
                if len(doc) < BATCH_MIN_BYTES:
                    for chunk in split_chunks(doc):
                        if len(chunk) <= longest and engine.chunk_cache.get(chunk) is not None:
                            hit_bytes += len(chunk)
                    engine.encode_utf8(doc)
            small = [d for d in docs if len(d) < BATCH_MIN_BYTES]
            big = [d for d in docs if len(d) >= BATCH_MIN_BYTES]
            without, with_cache = alternating(plain.encode_utf8, engine.encode_utf8, small, args.rounds, engine.chunk_cache.clear)
            # The batch path's ceiling: the same documents without the short chunks seen before.
            seen = set()
            jobs = []
            for doc in big:
                starts, lengths = chunk_bounds(np.frombuffer(doc, dtype=np.uint8), np.array([0, len(doc)]))
                keep = []
                for k, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist())):
                    chunk = doc[s : s + n]
                    if n <= longest and chunk in seen:
                        continue
                    seen.add(chunk)
                    keep.append(k)
                kept = np.asarray(keep, dtype=np.int64)
                jobs.append((doc, starts, lengths, starts.take(kept), lengths.take(kept)))
            all_chunks = new_only = float("inf")
            for round_index in range(args.rounds):
                for which in ((0, 1) if round_index % 2 == 0 else (1, 0)):
                    started = clock()
                    for doc, starts, lengths, new_starts, new_lengths in jobs:
                        if which == 0:
                            plain.encode_chunks(doc, starts, lengths)
                        else:
                            plain.encode_chunks(doc, new_starts, new_lengths)
                    spent = clock() - started
                    all_chunks, new_only = (min(all_chunks, spent), new_only) if which == 0 else (all_chunks, min(new_only, spent))
            # Sampling's ceiling: the scalar sampler's time on repeated short chunks / the pass.
            seen = set()
            repeats: List[bytes] = []
            for doc in docs:
                if len(doc) < SAMPLE_BATCH_MIN_BYTES:
                    for chunk in split_chunks(doc):
                        if len(chunk) <= longest and chunk in seen:
                            repeats.append(chunk)
                        seen.add(chunk)
            rng = np.random.default_rng(0)
            repeated = best(lambda: [plain.decode_chunk(c, ALPHA, rng) for c in repeats], args.rounds)
            whole = best(lambda: [plain.encode_utf8(d, ALPHA, rng) for d in docs], max(1, args.rounds // 2))
            row = (f"| {Path(model).name} | {domain} | {hits}/{looked_up} ({hits / max(looked_up, 1):.1%}) | {hit_bytes / total:.1%} | "
                   f"{without * 1e3:.0f} / {with_cache * 1e3:.0f} ms = {without / with_cache:.3f}x | "
                   f"{all_chunks * 1e3:.0f} / {new_only * 1e3:.0f} ms = {all_chunks / new_only:.3f}x | "
                   f"{repeated * 1e3:.1f} of {whole * 1e3:.0f} ms = {repeated / whole:.1%} |")
            print(row, flush=True)
            lines.append(row)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
