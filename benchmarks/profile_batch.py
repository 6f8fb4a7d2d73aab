"""Where encode_batch spends its time: cProfile cumulative times per phase, in ms per MB,
per domain.

    python benchmarks/profile_batch.py [--model PATH] [--alpha A] [--documents] [--timers]

Each domain of the corpus sample (~1 MB) is one call, after a warm-up call; with
``--documents``, the documents of 1-20 KB of ``benchmarks/peers.py``, one ``encode`` call
each (the scalar decoders below 5 KB, 2.5 KB when sampling; the batch path above).
Times are this process's CPU time, not wall time, so that the other jobs of a shared machine
do not count. cProfile adds a little to every Python-level call, so the phases sum to a bit
more than the unprofiled time; compare the phases with each other. ``--timers`` instead
wraps each phase's function in a CPU-time clock (every reference to it in the package),
which costs nothing between the phases: the table then adds up to the unprofiled time (a
phase that is a generator, the trie walks and "ties decoded again", is then only its
start: near 0).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import pstats
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cold  # noqa: E402
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


def install_timers(spent: Dict[str, float]) -> None:
    """Wrap each phase's function, wherever the package holds it (a module that imported it
    by name, its class), so that each call adds its CPU time to ``spent[label]``."""
    for label, module_name, qualname in PHASES:
        owner: Any = importlib.import_module(f"bytepiece.{module_name}")
        *path, name = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def timed(function: Callable[..., Any], label: str = label) -> Callable[..., Any]:
            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.process_time()
                try:
                    return function(*args, **kwargs)
                finally:
                    spent[label] = spent.get(label, 0.0) + time.process_time() - started

            return wrapper

        wrapper = timed(original)
        setattr(owner, name, wrapper)
        if not path:  # a module-level function: also where other modules imported it by name
            for module in [m for n, m in sys.modules.items() if n.startswith("bytepiece") and m is not None]:
                for attribute, value in list(vars(module).items()):
                    if value is original:
                        setattr(module, attribute, wrapper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000"))
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--documents", action="store_true", help="documents of 1-20 KB, one encode() call each")
    parser.add_argument("--timers", action="store_true", help="a CPU clock around each phase instead of cProfile")
    args = parser.parse_args()
    codes = phase_codes()
    spent: Dict[str, float] = {}
    if args.timers:
        install_timers(spent)
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
        cold(tok)  # the warm-up pass filled the chunk cache: the timed pass would find every short chunk
        if args.timers:
            spent.clear()
            run(docs)
            for phase, seconds in spent.items():
                cumulative.setdefault(phase, {})[domain] = seconds
            continue
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
    clock = "CPU clocks around the phases" if args.timers else "cProfile"
    print(f"{Path(args.model).name}, alpha={args.alpha}, {case}, {clock}: " + ", ".join(f"{d} {s:.2f} MB" for d, s in sizes.items()))
    print("| phase | " + " | ".join(DOMAINS) + " |\n|---|" + "---:|" * len(DOMAINS))
    for label, _, _ in PHASES:
        if label in cumulative:
            cells = [f"{cumulative[label][d] * 1000 / sizes[d]:.0f}" if d in cumulative[label] else "-" for d in DOMAINS]
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
