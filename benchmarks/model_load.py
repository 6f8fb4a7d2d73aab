"""Model file size and load time: our v1 format against BytePiece 0.6 JSON.

Builds a 160k vocabulary (the union of the two 80k BytePiece 0.6 models, counts summed,
topped up with "piece + space" pieces of the most frequent pieces), writes it in both
formats, and times loading and the automaton build.

    python benchmarks/model_load.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path

from bytepiece import Model, Tokenizer, load_model, save_model
from _common import SHARED, best_of, command_line


def union_model(size: int = 160_000) -> Model:
    counts: dict = {}
    for name in ("bytepiece_80k", "bytepiece.zh.id.eu.80k"):
        model = load_model(SHARED / "models" / f"{name}.zip")
        for piece, count in zip(model.pieces, model.counts):
            counts[piece] = counts.get(piece, 0) + count
    for piece in sorted(counts, key=counts.get, reverse=True):
        if len(counts) >= size - 3:
            break
        counts.setdefault(piece + b" ", max(1, counts[piece] // 10))
    return Model.from_counts(counts)


def legacy_json(model: Model) -> str:
    return json.dumps(
        {base64.b64encode(p).decode(): [i, p.decode("utf-8", "ignore"), c] for p, i, c in zip(model.pieces, model.ids, model.counts)},
        indent=4,
        ensure_ascii=True,
    )


def automaton_build(model: Model, repeat: int) -> float:
    """The fastest of ``repeat`` builds of the automaton, each by a fresh tokenizer's
    engine (its other tables, made when it is created, are not timed)."""
    times = []
    for _ in range(repeat):
        engine = Tokenizer(model).engine
        started = time.perf_counter()
        engine.automaton()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    model = union_model()
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "m.bpm", Path(tmp) / "m.json"
        save_model(model, ours)
        theirs.write_text(legacy_json(model), encoding="utf-8")
        rows = [
            ("v1 (ours)", ours.stat().st_size, best_of(args.repeat, lambda: load_model(ours))),
            ("BytePiece 0.6 JSON", theirs.stat().st_size, best_of(args.repeat, lambda: load_model(theirs))),
        ]
    build = automaton_build(model, args.repeat)
    print(f"Command: `{command_line()}`; vocabulary: {model.vocab_size} ids (best of {args.repeat})\n")
    print("| format | size MB | load s |\n|---|---:|---:|")
    for name, size, seconds in rows:
        print(f"| {name} | {size / 1e6:.2f} | {seconds:.3f} |")
    print(f"\nAutomaton build (pyahocorasick, {len(model.pieces)} pieces): {build:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
