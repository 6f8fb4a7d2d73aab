"""Serial fraction of training, per stage, and what it means for a cluster (Amdahl).

Trains in this process with ``workers=1``, so every map task runs here, and times each
task: a stage's *driver* time is its wall time less the time inside its tasks, less the
time building shared values (a pruning round's engine, which every worker builds for
itself: a cost per worker, paid in parallel, neither the driver's nor divisible), and less
the pickling this script adds to weigh what a cluster would send: the items, and the
spilled runs that reduce tasks read themselves on this machine but get from the driver
on a cluster elsewhere). The tasks' time is the
work any number of cores can share; the driver's is what they cannot. Also reported: the
bytes a cluster would move per stage (the pickled items sent to workers, the results sent
back, and the state and each shared value, such as a pruning round's vocabulary, once per
worker).

The projection for N cores is ``driver + built in each worker + tasks / N + bytes / bandwidth`` (the driver's
link, 1.25 GB/s = 10 Gbit/s, carries the results and N copies of the state).

    python benchmarks/serial_fraction.py --corpus ../corpus-full --size-mb 100 --vocab-size 32000 \\
        --out benchmarks/results/serial-fraction.md
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import pickle
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import shown  # noqa: E402
from train_benchmark import _memory, _tree, add_corpus_arguments, training_dir  # noqa: E402

from bytepiece import parallel  # noqa: E402
from bytepiece.training import count_store, pruning, trainer as trainer_module  # noqa: E402
from bytepiece.training.trainer import Trainer  # noqa: E402

BANDWIDTH = 1.25e9  # bytes/s of the driver's link in the projection
CORES = (1, 2, 16, 64, 256)


class Meter:
    """Task time, pickling time and bytes per stage; stage wall times."""

    def __init__(self) -> None:
        self.task_s: Dict[str, float] = collections.defaultdict(float)
        self.setup_s: Dict[str, float] = collections.defaultdict(float)  # shared values built
        self.pickle_s: Dict[str, float] = collections.defaultdict(float)
        self.sent: Dict[str, int] = collections.defaultdict(int)
        self.returned: Dict[str, int] = collections.defaultdict(int)
        self.state: Dict[str, int] = collections.defaultdict(int)
        self.tasks: Dict[str, int] = collections.defaultdict(int)
        self.wall: Dict[str, float] = collections.defaultdict(float)
        self.stage = "other (reading the plan, saving)"  # the stage running now
        self.peak_pss: Dict[str, int] = collections.defaultdict(int)

    def sample_memory(self, stop: threading.Event) -> None:
        """Peak PSS of this process and its children, per stage, every 0.1 s."""
        while not stop.wait(0.1):
            _, pss = _memory(_tree(os.getpid()))
            self.peak_pss[self.stage] = max(self.peak_pss[self.stage], pss)

    def install(self) -> None:
        meter = self
        imap = parallel.WorkerPool.imap
        init = parallel.WorkerPool.__init__

        def timed_imap(pool: Any, task: Any, items: Any, *, shared: Any = None) -> Any:
            def timed(state: Any, item: Any) -> Any:
                stage = meter.stage
                spilled = spilled_bytes(task, item)  # before the task: its file goes once it is done
                started = time.perf_counter()
                result = task(state, item)
                meter.task_s[stage] += time.perf_counter() - started
                started = time.perf_counter()
                meter.sent[stage] += len(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)) + spilled
                meter.returned[stage] += len(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
                meter.pickle_s[stage] += time.perf_counter() - started
                meter.tasks[stage] += 1
                return result

            return imap(pool, timed, items, shared=shared)  # a shared value is built in the first task

        def measured_init(pool: Any, workers: Any, state: Any, *, purpose: str = "this call") -> None:
            started = time.perf_counter()
            size = len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
            key = meter.stage
            meter.state[key] = max(meter.state[key], size)
            meter.pickle_s[key] += time.perf_counter() - started
            init(pool, workers, state, purpose=purpose)

        share = parallel.WorkerPool.share

        def measured_share(pool: Any, build: Any, argument: Any) -> Any:
            # a shared value (a pruning round's vocabulary) reaches every worker once
            started = time.perf_counter()
            meter.state[meter.stage] += len(pickle.dumps(argument, protocol=pickle.HIGHEST_PROTOCOL))
            meter.pickle_s[meter.stage] += time.perf_counter() - started
            return share(pool, build, argument)

        shared_value = parallel.shared_value

        def timed_shared_value(shared: Any, argument: Any = None) -> Any:
            # with one worker, imap builds the shared value here, outside the task
            started = time.perf_counter()
            try:
                return shared_value(shared, argument)
            finally:
                meter.setup_s[meter.stage] += time.perf_counter() - started

        parallel.shared_value = timed_shared_value  # type: ignore[assignment]
        parallel.WorkerPool.share = measured_share  # type: ignore[method-assign]
        parallel.WorkerPool.imap = timed_imap  # type: ignore[method-assign]
        parallel.WorkerPool.__init__ = measured_init  # type: ignore[method-assign]
        self.wrap(Trainer, "_count_ngrams", "pass 1: n-gram counting")
        self.wrap(trainer_module, "stream_model", "pass 1's reduce and building the n-gram model")
        self.wrap(Trainer, "_count_pieces", "pass 2: segmentation + piece counting")
        self.wrap(trainer_module, "prune_packed", "pruning")

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, outer, self.stage = time.perf_counter(), self.stage, stage
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[stage] += time.perf_counter() - started
                self.stage = outer

        setattr(owner, name, timed)


def spilled_bytes(task: Any, item: Any) -> int:
    """The bytes of the spilled run a reduce task reads itself: on this machine it goes
    from the disk to the task, but to a cluster elsewhere the driver reads it and sends
    it with the task, so it counts as sent (``count_store._reads_files``)."""
    if task is count_store.add_up_task and item[1] is not None:
        return sum(os.path.getsize(item[1] + suffix) for suffix in (".keys", ".counts"))
    if task is count_store.add_up_long_task and item[1] is not None:
        return os.path.getsize(item[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser, size_mb=100)
    parser.add_argument("--out", type=Path, help="append the markdown result to this file")
    args = parser.parse_args()
    train_dir = training_dir(args)
    meter = Meter()
    meter.install()
    stop = threading.Event()
    sampler = threading.Thread(target=meter.sample_memory, args=(stop,), daemon=True)
    sampler.start()
    started = time.perf_counter()
    Trainer(vocab_size=args.vocab_size, min_count=args.min_count, progress=False).train(train_dir, workers=1)
    total = time.perf_counter() - started
    stop.set()
    rows = []
    stages = list(dict.fromkeys(meter.wall))
    for stage in stages:
        wall = meter.wall[stage]
        tasks = meter.task_s.get(stage, 0.0)
        setup = meter.setup_s.get(stage, 0.0)
        driver = wall - tasks - setup - meter.pickle_s.get(stage, 0.0)
        rows.append({"stage": stage, "wall_s": wall - meter.pickle_s.get(stage, 0.0), "tasks_s": tasks, "setup_s": setup, "driver_s": driver,
                     "tasks": meter.tasks.get(stage, 0), "sent_mb": meter.sent.get(stage, 0) / 1e6,
                     "returned_mb": meter.returned.get(stage, 0) / 1e6, "state_mb": meter.state.get(stage, 0) / 1e6,
                     "peak_pss_gb": meter.peak_pss.get(stage, 0) / 1e9})
    pickling = sum(meter.pickle_s.values())
    wall_total = total - pickling
    other = wall_total - sum(r["wall_s"] for r in rows)
    rows.append({"stage": "other (reading the plan, saving)", "wall_s": other, "tasks_s": 0.0, "setup_s": 0.0, "driver_s": other,
                 "tasks": 0, "sent_mb": 0.0, "returned_mb": 0.0, "state_mb": 0.0,
                 "peak_pss_gb": meter.peak_pss.get("other (reading the plan, saving)", 0) / 1e9})
    driver = sum(r["driver_s"] for r in rows)
    tasks = sum(r["tasks_s"] for r in rows)
    setup = sum(r["setup_s"] for r in rows)
    result = {"slice_mb": args.size_mb, "vocab_size": args.vocab_size, "wall_s": wall_total, "driver_s": driver,
              "tasks_s": tasks, "setup_s": setup, "serial_fraction": driver / wall_total,
              "not_divided_fraction": (driver + setup) / wall_total, "stages": rows}
    projection = {}
    for cores in CORES:
        network = sum((r["returned_mb"] + r["sent_mb"] + cores * r["state_mb"]) * 1e6 for r in rows) / BANDWIDTH
        projection[cores] = driver + setup + tasks / cores + (network if cores > 1 else 0.0)
    result["projection_s"] = projection
    print(json.dumps(result, indent=2))
    if args.out:
        write_markdown(args, result)
    return 0


def write_markdown(args: argparse.Namespace, result: Dict[str, Any]) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### Serial fraction: {'all of ' + shown(str(args.corpus)) if args.whole else f'{args.size_mb:g} MB'} -> {args.vocab_size}, workers=1",
        "",
        f"Command: `python benchmarks/serial_fraction.py --corpus {shown(str(args.corpus))} "
        f"{'--whole' if args.whole else f'--size-mb {args.size_mb:g}'} --vocab-size {args.vocab_size} --min-count {args.min_count}`  ",
        f"Date: {now}; Python {platform.python_version()}; {os.cpu_count()} cores; {platform.machine()}",
        "",
        "| stage | wall s | in tasks s | built in each worker s | driver s | tasks | items sent MB | results MB | state + shared MB (per worker) | peak PSS GB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["stages"]:
        lines.append(f"| {r['stage']} | {r['wall_s']:.1f} | {r['tasks_s']:.1f} | {r['setup_s']:.1f} | {r['driver_s']:.1f} | {r['tasks']} | "
                     f"{r['sent_mb']:.1f} | {r['returned_mb']:.1f} | {r['state_mb']:.1f} | {r['peak_pss_gb']:.2f} |")
    lines += [
        f"| **total** | {result['wall_s']:.1f} | {result['tasks_s']:.1f} | {result['setup_s']:.1f} | {result['driver_s']:.1f} | | | | | |",
        "",
        f"Serial fraction (driver / wall): **{100 * result['serial_fraction']:.1f}%**; with what every worker "
        f"builds for itself (not divided by the workers): {100 * result['not_divided_fraction']:.1f}%.",
        "",
        "Projected wall time (Amdahl, driver + built in each worker + tasks / N + bytes at 1.25 GB/s): "
        + ", ".join(f"{n} cores {t:.0f} s" for n, t in result["projection_s"].items()),
        "",
    ]
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
