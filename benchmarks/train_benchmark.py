"""Training benchmark: wall time, peak memory of the process tree, held-out bytes/token.

Slices the full corpus built by ``../shared/corpus/build_corpus.py`` (about 390 MB): from
every file, the first ``size / total`` of its bytes (cut at a line end) go to the training
slice and the last 0.4% to a held-out set, so every source is represented and the two
never overlap. Then it runs ``bytepiece train`` on the slice in a child process, polling
``/proc`` every 50 ms for the resident memory of the child and its workers (the sum of
RSS, which counts shared pages once per process, and the sum of PSS, which splits them),
and measures bytes/token on the held-out text of each domain with our Tokenizer.

The polling is not free: reading ``smaps_rollup`` walks a process's page tables, in the
kernel, and took 12.9 s of CPU during a 67 s ``workers=2`` run at 100 MB (session 10), CPU
that two busy workers on two cores do not have to spare, while ``workers=1`` leaves a core
for it. Compare wall times with ``--no-memory`` (no polling); measure memory apart.

    python ../shared/corpus/build_corpus.py ../corpus-full
    python benchmarks/train_benchmark.py --corpus ../corpus-full --size-mb 20 \\
        --vocab-size 8000 --workers 2 --out benchmarks/results/training-20mb-8k.md

Slices, models and held-out sets go in ``--slices`` (default: bytepiece-train-bench in the
temporary directory) and are kept for later runs.

Machines here are shared and noisy: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import shown, temp_dir  # noqa: E402

from bytepiece.io import corpus as corpus_io  # noqa: E402

HELD_OUT = 0.004
DOMAINS = ("zh", "en", "code", "multi")


def make_slice(corpus: Path, size_mb: float, out: Path) -> Tuple[Path, Path]:
    """Write (once) the training slice and the held-out set; return their directories."""
    train_dir, held_dir = out / f"train-{size_mb:g}mb", out / f"heldout-{size_mb:g}mb"
    if (train_dir / ".sliced").exists():  # not ".done": slices made before hidden files were left out
        return train_dir, held_dir
    files = corpus_files(corpus)
    total = sum(p.stat().st_size for p in files)
    fraction = size_mb * 1e6 / total
    if fraction + HELD_OUT >= 1:
        raise SystemExit(f"the corpus has only {total / 1e6:.0f} MB")
    for path in files:
        data = path.read_bytes()
        head = data[: _line_end(data, int(len(data) * fraction))]
        tail = data[_line_end(data, int(len(data) * (1 - HELD_OUT))) :]
        for directory, part in ((train_dir, head), (held_dir, tail)):
            if part:
                target = directory / path.relative_to(corpus)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(part)
    (train_dir / ".sliced").write_text("")
    return train_dir, held_dir


def corpus_files(root: Path) -> List[Path]:
    """The ``*.txt`` files of ``root`` as the trainer lists them (``bytepiece.io.corpus``:
    hidden files and directories left out, such as the ``.cache`` that ``build_corpus.py``
    leaves in its output: 29.9 MB of the "100 MB" slices of session 9, which trained on
    79.7 MB)."""
    return [Path(path) for path, _ in corpus_io.corpus_files(str(root)) if path.endswith(".txt")]


def add_corpus_arguments(parser: argparse.ArgumentParser, size_mb: float) -> None:
    """The corpus and model arguments of the per-stage benchmarks (``serial_fraction.py``,
    ``memory_by_stage.py``); :func:`training_dir` reads them."""
    parser.add_argument("--corpus", type=Path, required=True, help="the full corpus directory (sliced), or with --whole a corpus used as it is")
    parser.add_argument("--whole", action="store_true", help="train on --corpus itself, not a slice of it")
    parser.add_argument("--size-mb", type=float, default=size_mb)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--slices", type=Path, default=temp_dir("bytepiece-train-bench"))


def training_dir(args: argparse.Namespace) -> Path:
    """The directory to train on: ``--corpus`` itself with ``--whole``, else its slice."""
    return args.corpus if args.whole else make_slice(args.corpus, args.size_mb, args.slices)[0]


def _line_end(data: bytes, position: int) -> int:
    if position >= len(data):
        return len(data)
    end = data.find(b"\n", position)
    return len(data) if end < 0 else end + 1


def _tree(pid: int) -> List[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = []
        try:  # every thread's: a Dask local cluster starts its workers from another thread
            for task in Path(f"/proc/{parent}/task").iterdir():
                children.extend((task / "children").read_text().split())
        except OSError:
            continue
        pids.extend(int(c) for c in children)
        frontier.extend(int(c) for c in children)
    return pids


def _memory(pids: List[int]) -> Tuple[int, int]:
    rollups = [rollup(pid) for pid in pids]
    return sum(r.get("Rss", 0) for r in rollups), sum(r.get("Pss", 0) for r in rollups)


def rollup(pid: int) -> Dict[str, int]:
    """A process's ``/proc/PID/smaps_rollup`` in bytes (Rss, Pss, Shared_Dirty,
    Private_Dirty, ...); empty if it is gone."""
    fields: Dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                fields[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return fields


def run_training(command: List[str], *, memory: bool = True) -> Dict[str, float]:
    """Wall time of ``command``, and unless ``memory`` is false the peak memory of its
    process tree, polled every 50 ms."""
    started = time.perf_counter()
    child = subprocess.Popen(command)
    if not memory:
        if child.wait():
            raise SystemExit(f"training failed with exit status {child.returncode}")
        return {"wall_s": time.perf_counter() - started, "peak_rss_sum_gb": float("nan"), "peak_pss_sum_gb": float("nan")}
    peak_rss = peak_pss = 0
    while child.poll() is None:
        rss, pss = _memory(_tree(child.pid))
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.05)
    if child.returncode:
        raise SystemExit(f"training failed with exit status {child.returncode}")
    return {"wall_s": time.perf_counter() - started, "peak_rss_sum_gb": peak_rss / 1e9, "peak_pss_sum_gb": peak_pss / 1e9}


def held_out_bytes_per_token(model_path: Path, held_dir: Path) -> Dict[str, float]:
    """Bytes/token of the held-out text per domain, by the scalar Viterbi of inference
    (called directly, so a batch encoder in progress elsewhere cannot change the figure)."""
    from bytepiece import Tokenizer
    from bytepiece.encoding.viterbi import best_path
    from bytepiece.normalization import normalize, split_chunks

    engine = Tokenizer(model_path).engine
    model, automaton, lengths = engine.model, engine.automaton(), engine.piece_lengths
    result = {}
    all_size = all_tokens = 0
    for domain in DOMAINS:
        size = tokens = 0
        for path in sorted((held_dir / domain).rglob("*.txt")):
            data = normalize(path.read_text(encoding="utf-8"), model.normalization).encode("utf-8")
            size += len(data)
            tokens += sum(len(best_path(automaton, c.decode("latin-1"), lengths)) for c in split_chunks(data))
        result[domain] = size / max(tokens, 1)
        all_size, all_tokens = all_size + size, all_tokens + tokens
    result["all"] = all_size / max(all_tokens, 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="the full corpus directory")
    parser.add_argument("--size-mb", type=float, default=20)
    parser.add_argument("--whole", action="store_true", help="train on all of --corpus (no slice, no held-out figures)")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slices", type=Path, default=temp_dir("bytepiece-train-bench"),
                        help="where the slices and models are written and kept (default: %(default)s)")
    parser.add_argument("--no-memory", action="store_true",
                        help="wall time only: do not poll the memory (the polling takes CPU from the run)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `bytepiece train` options")
    parser.add_argument("--out", type=Path, help="append the markdown result to this file")
    args = parser.parse_args()
    if args.whole:
        train_dir, held_dir = args.corpus, None
    else:
        train_dir, held_dir = make_slice(args.corpus, args.size_mb, args.slices)
    slice_mb = sum(p.stat().st_size for p in corpus_files(train_dir)) / 1e6
    model = args.slices / ("model-whole" if args.whole else f"model-{args.size_mb:g}mb-{args.vocab_size}")
    model.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bytepiece", "train", str(train_dir), "-o", str(model),
               "--vocab-size", str(args.vocab_size), "--workers", str(args.workers), *args.extra]
    print(" ".join(command), file=sys.stderr)
    measured = run_training(command, memory=not args.no_memory)
    print(json.dumps(measured), file=sys.stderr)
    compression = held_out_bytes_per_token(model, held_dir) if held_dir is not None else {d: float("nan") for d in (*DOMAINS, "all")}
    row = {"slice_mb": round(slice_mb, 1), "vocab_size": args.vocab_size, "workers": args.workers, **measured,
           "heldout_bytes_per_token": compression}
    print(json.dumps(row, indent=2))
    if args.out:
        write_markdown(args, row)
    return 0


def _gb(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"  # not measured (--no-memory): NaN


def write_markdown(args: argparse.Namespace, row: Dict) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    domains = " | ".join(f"{row['heldout_bytes_per_token'][d]:.3f}" for d in (*DOMAINS, "all"))
    extra = " ".join(args.extra)
    lines = [
        f"### {row['slice_mb']:.0f} MB -> {args.vocab_size}, workers={args.workers} {extra}".rstrip(),
        "",
        f"Command: `python benchmarks/train_benchmark.py --corpus {shown(str(args.corpus))} "
        f"{'--whole' if args.whole else f'--size-mb {args.size_mb:g}'} "
        f"--vocab-size {args.vocab_size} --workers {args.workers}{' --no-memory' if args.no_memory else ''}"
        f"{' --extra ' + extra if extra else ''}`  ",
        f"Date: {now}; Python {platform.python_version()}; {os.cpu_count()} cores; {platform.machine()}",
        "",
        "| slice MB | vocab | workers | wall s | peak RSS sum GB | peak PSS sum GB | bytes/token zh | en | code | multi | all |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {row['slice_mb']:.1f} | {args.vocab_size} | {args.workers} | {row['wall_s']:.1f} | "
        f"{_gb(row['peak_rss_sum_gb'])} | {_gb(row['peak_pss_sum_gb'])} | {domains} |",
        "",
    ]
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
