"""Where the time of ``bytepiece train --refine`` goes: wall and CPU seconds per stage of one
training run, in this process.

Wraps the trainer's passes and the refinement's steps (``training/refinement.py``) in
timers; CPU seconds are this process's and those of its finished worker processes (each
stage's pool is closed when the stage ends, so its workers are counted with it).

    python benchmarks/refine_stages.py --sizes 64000,32000,16000,8000,4000 \\
        $TMPDIR/bytepiece-compression/split-21mb-2mb/train

(the training slice of ``compression.py``). A shared machine moves wall times a lot; CPU
seconds less.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compression import cpu_seconds  # noqa: E402

from bytepiece import Trainer  # noqa: E402
from bytepiece.training import refinement  # noqa: E402
from bytepiece.training import trainer as trainer_module  # noqa: E402

STAGES = [
    (trainer_module.Trainer, "_count_ngrams", "n-gram counting (pass 1)"),
    (trainer_module.Trainer, "_count_pieces", "segmenting the corpus (pass 2)"),
    (trainer_module, "prune_packed", "the original's pruning"),
    (refinement, "read_sample", "sampling pass"),
    (refinement, "seed_vocabulary", "seeds"),
    (refinement, "reestimate", "re-estimation"),
    (refinement, "removal_losses", "removal losses"),
]


def timed(owner: Any, name: str, spent: List[float]) -> None:
    """Replace ``owner.name`` by a wrapper that adds its calls, wall and CPU seconds to
    ``spent``. The trainer and ``refine`` look these names up when they call them."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += 1
            spent[1] += time.perf_counter() - wall
            spent[2] += cpu_seconds() - cpu

    setattr(owner, name, wrapper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sizes", default="64000,32000,16000,8000,4000")
    parser.add_argument("--refine", default="tokens", help="tokens, likelihood, or none (the default trainer)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    spent: Dict[str, List[float]] = {}
    for owner, name, label in STAGES:
        spent[label] = [0, 0.0, 0.0]
        timed(owner, name, spent[label])
    sizes = [int(s) for s in args.sizes.split(",")]
    refine = False if args.refine == "none" else args.refine
    wall, cpu = time.perf_counter(), cpu_seconds()
    Trainer(vocab_size=sizes, refine=refine, progress=False).train(args.corpus, workers=args.workers)
    print(f"total: wall {time.perf_counter() - wall:.1f} s, CPU {cpu_seconds() - cpu:.1f} s")
    print("| stage | calls | wall s | CPU s |\n|---|---:|---:|---:|")
    for label, (calls, stage_wall, stage_cpu) in spent.items():
        print(f"| {label} | {calls:.0f} | {stage_wall:.1f} | {stage_cpu:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
