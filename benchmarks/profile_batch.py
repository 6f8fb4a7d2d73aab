"""Where encode_batch spends its time: cProfile cumulative times per phase, in ms per MB.

    python benchmarks/profile_batch.py [--model PATH] [--alpha A]

Each domain of the corpus sample (~1 MB) is one call, after a warm-up call. cProfile
adds a little to every Python-level call, so the phases sum to a bit more than the
unprofiled time; compare the phases with each other.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DOMAINS, SHARED, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402

PHASES = [  # (label, file suffix, function name)
    ("normalise and encode to UTF-8", "batch.py", "_utf8"),
    ("chunk bounds", "batch_layout.py", "chunk_bounds"),
    ("plan slices", "batch_layout.py", "plan_slices"),
    ("lay out the lanes", "batch_layout.py", "lay_out"),
    ("candidate rows: look-ups, trie walk, deep list", "batch_lattice.py", "__init__"),
    ("  of which the trie walk", "flat_trie.py", "walk"),
    ("forward and choices", "batch_lattice.py", "forward"),
    ("walk back (pointer chase)", "batch_lattice.py", "_on_path"),
    ("ids of the path's pieces", "batch_lattice.py", "_chunk_ids"),
    ("long chunks, scalar Viterbi", "viterbi.py", "best_path"),
    ("long chunks, scalar sampling", "sampling.py", "sample_path"),
    ("ids to lists", "batch.py", "_as_lists"),
    ("total encode_batch", "batch.py", "encode_batch"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000"))
    parser.add_argument("--alpha", type=float, default=None)
    args = parser.parse_args()
    tok = Tokenizer(args.model, seed=0)
    texts = {d: domain_texts(d, 1_000_000) for d in DOMAINS}
    size = sum(len(t.encode()) for docs in texts.values() for t in docs) / 1e6
    for docs in texts.values():
        tok.encode_batch(docs, alpha=args.alpha)
    profile = cProfile.Profile()
    profile.enable()
    for docs in texts.values():
        tok.encode_batch(docs, alpha=args.alpha)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    cumulative = {}
    for (file, _, name), (_, _, _, cum, _) in stats.items():
        for label, suffix, function in PHASES:
            if file.endswith(suffix) and name == function:
                cumulative[label] = cumulative.get(label, 0.0) + cum
    print(f"{Path(args.model).name}, alpha={args.alpha}, {size:.1f} MB in 4 calls")
    print("| phase | ms / MB |\n|---|---:|")
    for label, _, _ in PHASES:
        if label in cumulative:
            print(f"| {label} | {cumulative[label] * 1000 / size:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
