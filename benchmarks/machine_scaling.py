"""How much faster two processes get through work than one, on this machine: the ceiling
of any 1 -> 2 worker speed-up, before a line of the trainer runs.

Each kernel runs alone, then as two copies at once (forked processes, started together),
alternating, ``--rounds`` times. The speed-up is ``2 x alone / together``: 2.0 means the
second core is a full core; a virtual machine's two "cores" may be two hyperthreads of one
physical core, or share its memory bandwidth, and then even independent work falls short.

Kernels: a pure-Python loop (the interpreter), a random gather from a 400 MB array (memory
bandwidth, like the n-gram hash table's look-ups), a sort of 20M integers (the count
reduces), and ``encode_batch`` of real text (the batch path that pass 2 and pruning run).

    python benchmarks/machine_scaling.py --out benchmarks/results/machine-scaling.md
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import SHARED, command_line  # noqa: E402

_STATE: Dict[str, object] = {}  # built before the fork, shared by both copies


def python_loop() -> None:
    total = 0
    for i in range(12_000_000):
        total += i & 7


def random_gather() -> None:
    table, where = _STATE["table"], _STATE["where"]
    for _ in range(4):
        table.take(where).sum()  # type: ignore[attr-defined]


def sort_integers() -> None:
    np.sort(_STATE["integers"], kind="stable")  # type: ignore[call-overload]


def encode_batch() -> None:
    _STATE["tokenizer"].encode_batch(_STATE["texts"])  # type: ignore[attr-defined]


KERNELS: Dict[str, Callable[[], None]] = {
    "pure-Python loop": python_loop,
    "random gather, 400 MB array": random_gather,
    "stable sort, 20M uint64": sort_integers,
    "encode_batch, 2 MB of real text (80k model)": encode_batch,
}


def prepare(names: List[str]) -> None:
    rng = np.random.default_rng(0)
    if "random gather, 400 MB array" in names:
        _STATE["table"] = rng.random(50_000_000)
        _STATE["where"] = rng.integers(0, 50_000_000, 10_000_000)
    if "stable sort, 20M uint64" in names:
        _STATE["integers"] = rng.integers(0, 1 << 62, 20_000_000, dtype=np.uint64)
    if any(name.startswith("encode_batch") for name in names):
        from bytepiece import Tokenizer

        tokenizer = Tokenizer(SHARED / "models" / "bytepiece_80k.zip")
        texts: List[str] = []
        size = 0
        for path in sorted((SHARED / "corpus" / "sample").rglob("*.txt")):
            text = path.read_text(encoding="utf-8", errors="replace")
            texts.append(text)
            size += len(text.encode())
            if size >= 2 << 20:
                break
        tokenizer.encode_batch(texts[:5])  # build its tables before the fork
        _STATE["tokenizer"], _STATE["texts"] = tokenizer, texts


def _timed(name: str, start: "multiprocessing.synchronize.Barrier", out: "multiprocessing.queues.Queue[float]") -> None:
    start.wait()
    began = time.perf_counter()
    KERNELS[name]()
    out.put(time.perf_counter() - began)


def run(name: str, copies: int) -> float:
    """Wall seconds per copy (the slowest) of ``copies`` copies started together."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(copies)
    out = context.Queue()
    processes = [context.Process(target=_timed, args=(name, start, out)) for _ in range(copies)]
    for process in processes:
        process.start()
    times = [out.get() for _ in processes]
    for process in processes:
        process.join()
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernels", nargs="*", default=list(KERNELS), choices=list(KERNELS), metavar="KERNEL")
    parser.add_argument("--out", help="append the markdown result to this file")
    args = parser.parse_args()
    prepare(args.kernels)
    rows = []
    for name in args.kernels:
        alone, together = [], []
        for _ in range(args.rounds):
            alone.append(run(name, 1))
            together.append(run(name, 2))
        ratios = [2 * a / t for a, t in zip(alone, together)]
        rows.append(
            f"| {name} | {statistics.median(alone):.2f} | {statistics.median(together):.2f} | "
            f"**{statistics.median(ratios):.2f}x** | {min(ratios):.2f}-{max(ratios):.2f}x |"
        )
        print(rows[-1], flush=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    text = "\n".join([
        f"Command: `{command_line()}`  ",
        f"Date: {now:%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; {os.cpu_count()} cores; {platform.machine()}",
        "",
        "| kernel | alone s (median) | two at once s per copy (median) | speed-up of two (median) | range over rounds |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
    ])
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
