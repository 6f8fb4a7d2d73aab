"""Where the scalar Viterbi decoder's time goes, for the documents ``encode()`` gives it
(those of ``benchmarks/peers.py`` under ``--max-kb``): the Aho-Corasick automaton's
iteration alone (each match unpacked, nothing done with it), ``viterbi.best_path`` over
each chunk (iteration and the dynamic programme), and ``encode`` of each document
(normalisation, chunks, ids). ns of CPU per byte, best of 3 alternating passes.

    python benchmarks/scalar_cost.py [--model MODEL] [--max-kb 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED  # noqa: E402
from throughput import DOMAINS, domain_documents  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402
from bytepiece.encoding.viterbi import best_path  # noqa: E402
from bytepiece.normalization import split_chunks  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000"))
    parser.add_argument("--max-kb", type=float, default=5.0, help="documents shorter than this (under engine.BATCH_MIN_BYTES: the scalar decoder)")
    args = parser.parse_args()
    tok = Tokenizer(args.model)
    engine = tok.engine
    automaton, lengths = engine.automaton(), engine.piece_lengths
    print(f"{Path(args.model).name}, documents under {args.max_kb:g} KB: ns of CPU per byte (matches per byte)")
    print("| domain | automaton iteration | best_path per chunk | encode per document | matches/byte |")
    print("|---|---:|---:|---:|---:|")
    for domain in DOMAINS:
        docs = [d.encode() for d in domain_documents(domain, 1_000_000) if len(d.encode()) < args.max_kb * 1000]
        chunks = [str(c, "latin-1") for d in docs for c in split_chunks(d)]
        size = sum(map(len, docs))

        def iterate() -> None:
            for chunk in chunks:
                for _end, (_length, _logp, _piece) in automaton.iter(chunk):
                    pass

        def decode() -> None:
            for chunk in chunks:
                best_path(automaton, chunk, lengths)

        def encode() -> None:
            for data in docs:
                engine.encode_utf8(data)

        runs: Dict[str, Callable[[], None]] = {"iterate": iterate, "decode": decode, "encode": encode}
        best: Dict[str, float] = {name: float("inf") for name in runs}
        for _ in range(3):
            for name, run in runs.items():
                engine.chunk_cache.clear()  # every pass from empty: the same documents again would all be cached
                started = time.process_time()
                run()
                best[name] = min(best[name], time.process_time() - started)
        matches = sum(1 for chunk in chunks for _ in automaton.iter(chunk))
        cells: List[str] = [f"{best[name] / size * 1e9:.0f}" for name in runs]
        print(f"| {domain} | " + " | ".join(cells) + f" | {matches / size:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
