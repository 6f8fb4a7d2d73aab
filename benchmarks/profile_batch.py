"""Where encode_batch spends its time: cProfile cumulative times per phase, in ms per MB,
per domain.

    python benchmarks/profile_batch.py [--model PATH] [--alpha A] [--documents]

Each domain of the corpus sample (~1 MB) is one call, after a warm-up call; with
``--documents``, the documents of 1-20 KB of ``benchmarks/peers.py``, one ``encode`` call
each (the scalar decoders below 5 KB, 2.5 KB when sampling; the batch path above).
Times are this process's CPU time, not wall time, so that the other jobs of a shared machine
do not count. cProfile adds a little to every Python-level call, so the phases sum to a bit
more than the unprofiled time; compare the phases with each other.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pstats
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DOMAINS, SHARED, domain_documents, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402

PHASES = [  # (label, module of bytepiece, function: its qualified name in the module)
    ("encode(document): normalise, UTF-8", "encoding.engine", "Engine.normalized_utf8"),
    ("encode(document): the batch path (documents from 5 KB; sampled, 2.5 KB)", "encoding.batch.encode", "encode_utf8"),
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
    ("ids to a list (one document)", "encoding.engine", "Engine.id_list"),
    ("total encode_batch", "encoding.batch.encode", "encode_batch"),
    ("total encode(document)", "encoding.tokenizer", "Tokenizer.encode"),
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
    parser.add_argument("--documents", action="store_true", help="documents of 1-20 KB, one encode() call each")
    args = parser.parse_args()
    codes = phase_codes()
    tok = Tokenizer(args.model, seed=0)
    if args.documents:
        texts = {d: domain_documents(d, 1_000_000) for d in DOMAINS}

        def run(docs: List[str]) -> None:
            for doc in docs:
                tok.encode(doc, alpha=args.alpha)

    else:
        texts = {d: domain_texts(d, 1_000_000) for d in DOMAINS}

        def run(docs: List[str]) -> None:
            tok.encode_batch(docs, alpha=args.alpha)

    sizes = {d: sum(len(t.encode()) for t in docs) / 1e6 for d, docs in texts.items()}
    for docs in texts.values():
        run(docs)  # warm-up: tables, working arrays
    cumulative: Dict[str, Dict[str, float]] = {}
    for domain, docs in texts.items():
        profile = cProfile.Profile(time.process_time)  # CPU time: other jobs on the machine do not count
        profile.enable()
        run(docs)
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        for key, (_, _, _, cum, _) in stats.items():
            label = codes.get(key)
            if label is not None:
                cumulative.setdefault(label, {})[domain] = cumulative.get(label, {}).get(domain, 0.0) + cum
    case = "documents of 1-20 KB, one encode() call each" if args.documents else "one encode_batch call per domain"
    print(f"{Path(args.model).name}, alpha={args.alpha}, {case}: " + ", ".join(f"{d} {s:.2f} MB" for d, s in sizes.items()))
    print("| phase | " + " | ".join(DOMAINS) + " |\n|---|" + "---:|" * len(DOMAINS))
    for label, _, _ in PHASES:
        if label in cumulative:
            cells = [f"{cumulative[label][d] * 1000 / sizes[d]:.0f}" if d in cumulative[label] else "-" for d in DOMAINS]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
