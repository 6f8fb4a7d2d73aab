"""How the settings of ``--refine`` were chosen: held-out compression of refined 32k and 8k
vocabularies when one setting of ``training/refinement.py`` changes at a time.

Uses the split of ``compression.py`` (same corpus, training slice and held-out sources,
kept in ``--work``). Each variant sets module constants of ``bytepiece.training.refinement``
(``OVERSHOOT``, ``SEEDS``, ``SHRINK``, ``SAMPLE_BYTES``) and trains in this process.

    python benchmarks/refine_settings.py --corpus ../corpus-full --train-mb 21 \\
        --out benchmarks/results/refine-settings

Wall times are those of a shared machine: they say roughly how the rounds add up, not more;
CPU seconds (this process and its finished workers) move less with the load.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, temp_dir  # noqa: E402
from compression import DOMAINS, cpu_seconds, documents, make_split, measure  # noqa: E402

from bytepiece import Tokenizer, Trainer  # noqa: E402
from bytepiece.training import refinement  # noqa: E402

DEFAULTS = {"OVERSHOOT": refinement.OVERSHOOT, "SEEDS": refinement.SEEDS, "SHRINK": refinement.SHRINK,
            "SAMPLE_BYTES": refinement.SAMPLE_BYTES}
VARIANTS: Dict[str, Dict[str, Any]] = {
    "defaults": {},
    "overshoot 2.0": {"OVERSHOOT": 2.0},
    "seeds 0 (characters only)": {"SEEDS": 0.0},
    "seeds 2.0": {"SEEDS": 2.0},
    "shrink 0.75": {"SHRINK": 0.75},
    "shrink 0.5": {"SHRINK": 0.5},
    "the whole slice as the sample": {"SAMPLE_BYTES": 1 << 40},
    "a 4 MiB sample": {"SAMPLE_BYTES": 4 << 20},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--train-mb", type=float, default=21)
    parser.add_argument("--held-mb", type=float, default=2)
    parser.add_argument("--sizes", default="32000,8000")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="a subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=temp_dir("bytepiece-compression"))
    parser.add_argument("--out", type=Path, help="write OUT-DATE.md")
    args = parser.parse_args()
    sizes = sorted((int(s) for s in args.sizes.split(",")), reverse=True)
    train_dir, held_dir, split = make_split(args.corpus, args.train_mb, args.held_mb, args.work)
    held = {d: documents(held_dir, d) for d in DOMAINS}
    rows: List[str] = []
    for name in args.variants.split(","):
        for key, value in {**DEFAULTS, **VARIANTS[name]}.items():
            setattr(refinement, key, value)
        started, cpu = time.perf_counter(), cpu_seconds()
        models = Trainer(vocab_size=sizes, refine=True, progress=False).train(train_dir, workers=args.workers)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        cells = []
        for size in sizes:
            tok = Tokenizer(models[size])
            result = measure(lambda docs: tok.encode_batch(docs), tok.vocab_size, held)
            cells += [f"{result['bytes_per_token']['all']:.4f}", f"{result['renyi_efficiency']:.4f}"]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {seconds:.0f} | {cpu:.0f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    for key, value in DEFAULTS.items():
        setattr(refinement, key, value)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = " | ".join(f"{s} bytes/token | {s} Rényi" for s in sizes)
    lines = [
        f"# Settings of --refine ({date})", "",
        f"Command: `{command_line()}`  ",
        f"Training slice {split['train_bytes'] / 1e6:.1f} MB; held-out text as in compression.py. "
        f"Defaults: {', '.join(f'{k} = {v}' for k, v in DEFAULTS.items())}.", "",
        f"| variant | {header} | train s | CPU s |", "|---" + "|---:" * (2 * len(sizes) + 2) + "|", *rows, "",
    ]
    text = "\n".join(lines)
    if args.out:
        Path(f"{args.out}-{date[:10]}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
