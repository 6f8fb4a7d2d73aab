"""Where encode_batch spends its time: cProfile cumulative times per phase, in ms per MB.

    python benchmarks/profile_batch.py [--model PATH] [--alpha A]

Each domain of the corpus sample (~1 MB) is one call, after a warm-up call. cProfile
adds a little to every Python-level call, so the phases sum to a bit more than the
unprofiled time; compare the phases with each other.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import sys
from pathlib import Path
from typing import Dict, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DOMAINS, SHARED, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402

PHASES = [  # (label, module of bytepiece, function: its qualified name in the module)
    ("normalise and encode to UTF-8", "encoding.batch.encode", "_utf8"),
    ("chunk bounds", "encoding.batch.layout", "chunk_bounds"),
    ("encode the chunks (slices and scalar)", "encoding.batch.encode", "BatchEncoder.encode_chunks"),
    ("plan slices", "encoding.batch.layout", "plan_slices"),
    ("lay out the lanes (cuts at free boundaries, scatter)", "encoding.batch.layout", "lay_out"),
    ("  of which free boundaries from the pieces (narrow lanes)", "encoding.batch.layout", "_free_from_pieces"),
    ("candidate rows: look-ups, trie walk, deep list", "encoding.batch.lattice", "_Steps.__init__"),
    ("trie walks (both)", "encoding.batch.flat_trie", "FlatTrie.walk"),
    ("forward and choices", "encoding.batch.lattice", "_Steps.forward"),
    ("walk back (pointer chase)", "encoding.batch.lattice", "_on_path"),
    ("ids of the path's pieces", "encoding.batch.lattice", "_Steps._chunk_ids"),
    ("margins of resumed stretches (Viterbi)", "encoding.batch.lattice", "_Steps.unsure"),
    ("ties decoded again", "encoding.batch.encode", "BatchEncoder._resolve"),
    ("scalar Viterbi (long chunks, ties)", "encoding.viterbi", "best_path"),
    ("scalar sampling (long chunks)", "encoding.sampling", "sample_path"),
    ("ids to lists", "encoding.batch.encode", "_as_lists"),
    ("total encode_batch", "encoding.batch.encode", "encode_batch"),
]

Code = Tuple[str, int, str]  # how pstats names a function: (file, first line, name)


def phase_codes() -> Dict[Code, str]:
    """The pstats key of each phase's function, found from the function itself: no two
    files or functions of the same name (``encode.py`` in ``commands/``, the engine's
    ``encode_chunks``, the many ``__init__``) can be mistaken for it. A phase whose
    function is gone fails here, by name, rather than missing from the table."""
    codes = {}
    for label, module_name, qualname in PHASES:
        target = importlib.import_module(f"bytepiece.{module_name}")
        for part in qualname.split("."):
            target = getattr(target, part, None)
            if target is None:
                raise SystemExit(f"profile_batch.py: bytepiece.{module_name}.{qualname} no longer exists; update PHASES")
        code = target.__code__  # type: ignore[attr-defined]
        codes[(code.co_filename, code.co_firstlineno, code.co_name)] = label
    return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000"))
    parser.add_argument("--alpha", type=float, default=None)
    args = parser.parse_args()
    codes = phase_codes()
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
    cumulative: Dict[str, float] = {}
    for key, (_, _, _, cum, _) in stats.items():
        label = codes.get(key)
        if label is not None:
            cumulative[label] = cumulative.get(label, 0.0) + cum
    print(f"{Path(args.model).name}, alpha={args.alpha}, {size:.1f} MB in {len(texts)} calls")
    print("| phase | ms / MB |\n|---|---:|")
    for label, _, _ in PHASES:
        if label in cumulative:
            print(f"| {label} | {cumulative[label] * 1000 / size:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
