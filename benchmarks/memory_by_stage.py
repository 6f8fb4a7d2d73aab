"""Peak PSS per training stage, per process, and the sizes of the tables that grow with the corpus.

Trains a slice of the full corpus (or, with ``--whole``, the corpus itself) in this
process with ``--workers`` worker processes, samples the PSS of this process and its
children every 0.1 s, and reports for each stage the peak of their sum and how it split
between the driver and the workers at that moment. It also prints the entries of the
n-gram model (``count >= min_count``) and the distinct short and long pieces of pass 2:
run it on two corpus sizes to see which stage and which table grow with the corpus.

    python benchmarks/memory_by_stage.py --corpus ../corpus-full --size-mb 20
    python benchmarks/memory_by_stage.py --corpus ../corpus-full --whole --workers 2 --memory-budget 512M
    python benchmarks/memory_by_stage.py --corpus ../corpus-full --size-mb 100 --dask local:2

Its wall times include what the sampling costs: reading a big process's PSS walks its
page tables in the kernel, CPU that two busy workers on two cores miss (train_benchmark.py's
poller, every 50 ms, took 12.9 s of a 67 s ``workers=2`` run, session 10; this one polls
every 0.1 s, from a thread of the driver). Time runs with ``train_benchmark.py --no-memory``.

With ``--smaps``, it also prints each process's shared and private dirty memory at each
stage's peak: pages a worker shares with the driver or the other worker (inherited at the
fork, counted once in the sum) against its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from serial_fraction import Meter  # noqa: E402
from train_benchmark import _tree, add_corpus_arguments, rollup, training_dir  # noqa: E402

from bytepiece.commands.train import parse_size  # noqa: E402
from bytepiece.training import trainer as trainer_module  # noqa: E402

STAGES = (
    (trainer_module.Trainer, "_count_ngrams", "pass 1: n-gram counting"),
    (trainer_module, "stream_model", "pass 1's reduce and building the n-gram model"),
    (trainer_module.Trainer, "_count_pieces", "pass 2: segmentation + piece counting"),
    (trainer_module, "prune_packed", "pruning"),
)


Peak = Tuple[int, Dict[int, Dict[str, int]]]


def sample(meter: Meter, peaks: Dict[str, Peak], stop: threading.Event) -> None:
    """Every 0.1 s, the memory of this process and its children; per stage
    (``meter.stage``, set by ``Meter.wrap``), the peak of their PSS sum and each process's
    ``smaps_rollup`` at that moment."""
    while not stop.wait(0.1):
        per_process = {pid: rollup(pid) for pid in _tree(os.getpid())}
        total = sum(fields.get("Pss", 0) for fields in per_process.values())
        if total > peaks.get(meter.stage, (0, {}))[0]:
            peaks[meter.stage] = (total, per_process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser, size_mb=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dask", help="train on Dask (an address, or local:N) instead of --workers: stage times side by side")
    parser.add_argument("--memory-budget", type=parse_size, default=None, help="as bytepiece train's (default: the trainer's)")
    parser.add_argument("--smaps", action="store_true", help="also each process's shared and private dirty memory at each stage's peak")
    args = parser.parse_args()
    train_dir = training_dir(args)
    meter = Meter()  # only its stage wrappers: its task meters need tasks run in this process
    for owner, name, stage in STAGES:
        meter.wrap(owner, name, stage)
    peaks: Dict[str, Peak] = {}
    prune_packed = trainer_module.prune_packed
    stream_model = trainer_module.stream_model

    def counted_prune(pieces: Any, **options: Any) -> Any:
        print(f"pass 2: {len(pieces.keys)} distinct short pieces, {len(pieces.long)} long", flush=True)
        return prune_packed(pieces, **options)

    def counted_stream_model(*args: Any, **options: Any) -> Any:
        model = stream_model(*args, **options)
        print(f"n-gram model: {sum(model.sizes.values())} entries", flush=True)
        return model

    trainer_module.prune_packed = counted_prune  # type: ignore[assignment]
    trainer_module.stream_model = counted_stream_model  # type: ignore[assignment]
    stop = threading.Event()
    threading.Thread(target=sample, args=(meter, peaks, stop), daemon=True).start()
    started = time.perf_counter()
    budget = {} if args.memory_budget is None else {"memory_budget": args.memory_budget}
    runner = {"workers": args.workers} if args.dask is None else {"dask": args.dask}
    trainer_module.Trainer(vocab_size=args.vocab_size, min_count=args.min_count, progress=False, **budget).train(train_dir, **runner)
    stop.set()
    print(f"wall {time.perf_counter() - started:.1f} s, " + (f"workers {args.workers}" if args.dask is None else f"dask {args.dask}"))
    driver = os.getpid()
    rows: List[str] = []
    for stage, (total, per_process) in peaks.items():
        pss = {pid: fields.get("Pss", 0) for pid, fields in per_process.items()}
        workers = sorted((value for pid, value in pss.items() if pid != driver), reverse=True)
        shown = " + ".join(f"{value / 1e9:.2f}" for value in workers) or "-"
        wall = meter.wall.get(stage)
        rows.append(f"| {stage} | {'' if wall is None else f'{wall:.0f}'} | {total / 1e9:.2f} | {pss.get(driver, 0) / 1e9:.2f} | {shown} |")
    print("| stage | wall s | peak PSS sum GB | of which the driver | the workers |")
    print("|---|---:|---:|---:|---|")
    print("\n".join(rows))
    if args.smaps:
        print("\n| stage | process | PSS MB | shared dirty MB | private dirty MB |")
        print("|---|---|---:|---:|---:|")
        for stage, (_, per_process) in peaks.items():
            ranked = sorted(per_process.items(), key=lambda item: (item[0] != driver, -item[1].get("Pss", 0)))
            for pid, fields in ranked:
                name = "driver" if pid == driver else "worker"
                print(f"| {stage} | {name} | {fields.get('Pss', 0) / 1e6:.0f} | {fields.get('Shared_Dirty', 0) / 1e6:.0f} | {fields.get('Private_Dirty', 0) / 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
