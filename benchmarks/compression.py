"""Compression at equal vocabulary size: bytepiece (default and ``--refine``) against
SentencePiece unigram and BPE and Hugging Face tokenizers BPE and Unigram, all trained on
the same slice of the full corpus and measured on held-out sources that none of them saw.

The split is by source, not by line. The corpus (``../shared/corpus/build_corpus.py``
output, ``MANIFEST.tsv``) is grouped into families: a source name without its language
suffix, so ``wesnoth_de``, ``wesnoth_en`` and ``wesnoth_zh-cn`` are one family. The
families in ``HELD_OUT`` are never trained on; from each domain's held-out sources,
``--held-mb`` MB are measured. The training slice takes ``--train-mb`` MB from the other
sources, each in proportion to its size: prose as evenly spaced runs of 20 consecutive
lines, code as whole files in a fixed pseudo-random order (SHA-1 of the path).

Measured on the held-out text, per trainer and size: bytes of UTF-8 per token, per domain
and overall (a document is a line of prose, without its newline, or a whole code file);
the Rényi efficiency (alpha = 2.5) of the unigram distribution of the tokens, H_2.5 / log
|V| (Zouhar et al., 2023); and the training wall time. Ours trains all sizes in one nested
run (``--vocab-size 64000,...``), so its time covers every size; ``--time-sizes`` adds
single-size runs of ours, default and refined, to compare the two at one size.

    python benchmarks/compression.py --corpus ../corpus-full --train-mb 20 \\
        --sizes 4000,8000,16000,32000,64000 --time-sizes 8000,32000 --workers 2 \\
        --out benchmarks/results/compression --plot docs/compression.png

Peer settings are those of ``../shared/docs/peers.md`` (SentencePiece: byte fallback,
identity normalization, whitespace kept; HF: byte-level pre-tokenizer). Trained models and
their training times are kept in ``--work`` (default: bytepiece-compression in the temporary
directory), so a rerun only trains what is missing. Needs sentencepiece, tokenizers and,
for the plot, matplotlib (the ``bench`` extra). Machines here are shared: compare times
within one run.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import command_line, shown, temp_dir  # noqa: E402

DOMAINS = ("zh", "en", "code", "multi")
HELD_OUT = ("peoples-daily-1998", "kicad-doc", "moby-dick", "email-spamassassin", "npm-js-ts", "wesnoth", "debian-reference")
RUN_LINES = 20
RENYI_ALPHA = 2.5
OURS = {"bytepiece": "", "bytepiece --refine": "tokens", "bytepiece --refine likelihood": "likelihood"}
PEERS = ("SentencePiece unigram", "SentencePiece BPE", "HF BPE", "HF Unigram")
TRAINERS = (*OURS, *PEERS)
Encoder = Callable[[List[str]], List[List[int]]]


# ---------------------------------------------------------------- the split
def family(source: str) -> str:
    """A source without its language suffix: ``wesnoth_zh-cn`` -> ``wesnoth``."""
    return source.split("_")[0]


def make_split(corpus: Path, train_mb: float, held_mb: float, work: Path) -> Tuple[Path, Path, Dict[str, Any]]:
    """Write (once) the training slice and the held-out text; return their directories
    and a summary (sources and bytes of each)."""
    name = f"split-{train_mb:g}mb-{held_mb:g}mb"
    train_dir, held_dir, summary_path = work / name / "train", work / name / "held-out", work / name / "summary.json"
    if summary_path.exists():
        return train_dir, held_dir, json.loads(summary_path.read_text())
    with open(corpus / "MANIFEST.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    training = [r for r in rows if family(r["source"]) not in HELD_OUT]
    held = [r for r in rows if family(r["source"]) in HELD_OUT]
    total = sum(int(r["bytes"]) for r in training)
    summary: Dict[str, Any] = {"train": {}, "held_out": {}}
    for row in training:
        share = train_mb * 1e6 * int(row["bytes"]) / total
        summary["train"][row["source"]] = _take(corpus, row, share, train_dir)
    for domain in DOMAINS:
        sources = [r for r in held if r["domain"] == domain]
        for row in sources:
            summary["held_out"][row["source"]] = _take(corpus, row, held_mb * 1e6 / len(sources), held_dir)
    summary["train_bytes"] = sum(summary["train"].values())
    summary["held_out_bytes"] = {d: sum(b for s, b in summary["held_out"].items() if _domain(rows, s) == d) for d in DOMAINS}
    summary_path.write_text(json.dumps(summary, indent=1))
    return train_dir, held_dir, summary


def _domain(rows: List[Dict[str, str]], source: str) -> str:
    return next(r["domain"] for r in rows if r["source"] == source)


def _take(corpus: Path, row: Dict[str, str], share: float, out: Path) -> int:
    """Copy about ``share`` bytes of one source into ``out``; return the bytes taken."""
    source = corpus / row["path"]
    taken = 0
    if row["unit"] == "file":  # code: whole files, in the order of the SHA-1 of their path
        files = sorted(source.rglob("*.txt"), key=lambda p: hashlib.sha1(p.relative_to(corpus).as_posix().encode()).hexdigest())
        for path in files:
            if taken >= share:
                break
            target = out / path.relative_to(corpus)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            target.write_bytes(data)
            taken += len(data)
        return taken
    lines = source.read_bytes().splitlines(keepends=True)  # prose: evenly spaced runs of lines
    size = sum(map(len, lines))
    runs = max(1, math.ceil(min(share, size) / (size / len(lines)) / RUN_LINES))
    step = len(lines) / runs
    chosen: List[bytes] = []
    for k in range(runs):
        for line in lines[int(k * step) : int(k * step) + RUN_LINES]:
            if taken >= share:
                break
            chosen.append(line)
            taken += len(line)
    target = out / row["path"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(chosen))
    return taken


def documents(held_dir: Path, domain: str) -> List[str]:
    """Held-out documents: each prose line without its newline, each code file whole."""
    docs: List[str] = []
    for path in sorted((held_dir / domain).rglob("*.txt")):
        text = path.read_text(encoding="utf-8")
        docs.extend([text] if domain == "code" else [line for line in text.split("\n") if line])
    return docs


# ---------------------------------------------------------------- trainers
def train_bytepiece(train_dir: Path, sizes: Sequence[int], workers: int, refine: str, work: Path) -> Tuple[Dict[int, Path], Dict[str, float]]:
    """One nested run of ``bytepiece train`` (``refine``: "" or a loss); the model paths and
    the seconds it took."""
    tag = f"refine-{refine}" if refine else "default"
    prefix = work / "models" / f"bytepiece-{tag}-{'-'.join(map(str, sorted(sizes)))}"
    paths = {size: Path(f"{prefix}.{size}") if len(sizes) > 1 else prefix for size in sizes}
    command = [sys.executable, "-m", "bytepiece", "train", str(train_dir), "-o", str(prefix),
               "--vocab-size", ",".join(map(str, sorted(sizes, reverse=True))), "--workers", str(workers), "--quiet"]
    seconds = _cached_run(prefix, lambda: subprocess.run(command + (["--refine", refine] if refine else []), check=True))
    return paths, seconds


def train_sentencepiece(kind: str, train_dir: Path, size: int, work: Path) -> Tuple[Path, Dict[str, float]]:
    import sentencepiece as spm

    prefix = work / "models" / f"spm-{kind}-{size}"
    corpus = work / "models" / "spm-input.txt"
    if not corpus.exists():
        texts = [p.read_text(encoding="utf-8") for p in sorted(train_dir.rglob("*.txt"))]
        corpus.write_text("".join(t if t.endswith("\n") else t + "\n" for t in texts), encoding="utf-8")

    def run() -> None:
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(prefix), vocab_size=size, model_type=kind,
            byte_fallback=True, character_coverage=0.9995, input_sentence_size=0,
            max_sentence_length=262144, normalization_rule_name="identity", add_dummy_prefix=False,
            remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, num_threads=2, minloglevel=2,
        )

    return prefix.with_suffix(".model"), _cached_run(prefix, run)


def train_hf(kind: str, train_dir: Path, size: int, work: Path) -> Tuple[Path, Dict[str, float]]:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    path = work / "models" / f"hf-{kind}-{size}.json"

    def run() -> None:
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        if kind == "bpe":
            tokenizer = HFTokenizer(models.BPE())
            trainer: Any = trainers.BpeTrainer(vocab_size=size, initial_alphabet=alphabet)
        else:
            tokenizer = HFTokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(vocab_size=size, initial_alphabet=alphabet, unk_token="<unk>", special_tokens=["<unk>"])
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.train([str(p) for p in sorted(train_dir.rglob("*.txt"))], trainer)
        tokenizer.save(str(path))

    return path, _cached_run(path, run)


def _cached_run(output: Path, run: Callable[[], object]) -> Dict[str, float]:
    """Run a training once; its wall and CPU seconds (this process, its threads and its
    finished child processes) are kept beside its output for later runs."""
    stamp = Path(f"{output}.seconds.json")
    if stamp.exists():
        return json.loads(stamp.read_text())
    output.parent.mkdir(parents=True, exist_ok=True)
    cpu, started = cpu_seconds(), time.perf_counter()
    run()
    seconds = {"wall": time.perf_counter() - started, "cpu": cpu_seconds() - cpu}
    stamp.write_text(json.dumps(seconds))
    return seconds


def cpu_seconds() -> float:
    """CPU seconds of this process, its threads and its finished child processes."""
    import resource

    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def encoder(trainer: str, path: Path) -> Tuple[Encoder, int]:
    """How to encode documents with a trained model, and its vocabulary size."""
    if trainer in OURS:
        from bytepiece import Tokenizer

        tok = Tokenizer(path)
        return (lambda docs: tok.encode_batch(docs)), tok.vocab_size
    if trainer.startswith("SentencePiece"):
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(path))
        return (lambda docs: processor.encode(docs)), processor.get_piece_size()
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer.from_file(str(path))
    return (lambda docs: [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]), hf.get_vocab_size()


# ---------------------------------------------------------------- measures
def renyi_efficiency(counts: Counter, vocab_size: int, alpha: float = RENYI_ALPHA) -> float:
    """H_alpha of the token distribution over log |V| (Zouhar et al., 2023).

    >>> round(renyi_efficiency(Counter({1: 1, 2: 1}), 4), 3)  # uniform over 2 of 4 tokens
    0.5
    """
    total = sum(counts.values())
    power = sum((c / total) ** alpha for c in counts.values())
    return math.log(power) / (1 - alpha) / math.log(vocab_size)


def measure(encode: Encoder, vocab_size: int, held: Dict[str, List[str]]) -> Dict[str, Any]:
    result: Dict[str, Any] = {"bytes_per_token": {}}
    counts: Counter = Counter()
    all_bytes = all_tokens = 0
    for domain, docs in held.items():
        ids = encode(docs)
        size, tokens = sum(len(d.encode("utf-8")) for d in docs), sum(map(len, ids))
        for row in ids:
            counts.update(row)
        result["bytes_per_token"][domain] = size / tokens
        all_bytes, all_tokens = all_bytes + size, all_tokens + tokens
    result["bytes_per_token"]["all"] = all_bytes / all_tokens
    result["renyi_efficiency"] = renyi_efficiency(counts, vocab_size)
    result["vocab_size"] = vocab_size
    return result


# ---------------------------------------------------------------- the run
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="the full corpus (build_corpus.py output)")
    parser.add_argument("--train-mb", type=float, default=20)
    parser.add_argument("--held-mb", type=float, default=2, help="held-out MB per domain")
    parser.add_argument("--sizes", default="4000,8000,16000,32000,64000")
    parser.add_argument("--time-sizes", default="", help="sizes to also train alone, ours default and refined")
    parser.add_argument("--trainers", default=",".join(TRAINERS), help="a subset of (comma-separated): " + ", ".join(TRAINERS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=temp_dir("bytepiece-compression"))
    parser.add_argument("--out", type=Path, help="write OUT-DATE.json and OUT-DATE.md")
    parser.add_argument("--plot", type=Path, help="write the plot of bytes/token against vocabulary size here")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    chosen = [t.strip() for t in args.trainers.split(",")]
    train_dir, held_dir, split = make_split(args.corpus, args.train_mb, args.held_mb, args.work)
    held = {d: documents(held_dir, d) for d in DOMAINS}
    print(f"training slice {split['train_bytes'] / 1e6:.1f} MB; held out {split['held_out_bytes']}", file=sys.stderr)
    rows: List[Dict[str, Any]] = []

    def record(trainer: str, size: int, path: Path, seconds: Dict[str, float], note: str = "") -> None:
        encode, vocab = encoder(trainer, path)
        row = {"trainer": trainer, "size": size, "train_s": seconds["wall"], "train_cpu_s": seconds["cpu"], "note": note,
               **measure(encode, vocab, held)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    for trainer, refine in OURS.items():
        if trainer in chosen:
            paths, seconds = train_bytepiece(train_dir, sizes, args.workers, refine, args.work)
            for size in sizes:
                record(trainer, size, paths[size], seconds, f"one nested run for {len(sizes)} sizes")
    failures = []
    for size in sizes:
        for trainer, train in (
            ("SentencePiece unigram", lambda: train_sentencepiece("unigram", train_dir, size, args.work)),
            ("SentencePiece BPE", lambda: train_sentencepiece("bpe", train_dir, size, args.work)),
            ("HF BPE", lambda: train_hf("bpe", train_dir, size, args.work)),
            ("HF Unigram", lambda: train_hf("unigram", train_dir, size, args.work)),
        ):
            if trainer in chosen:
                try:
                    record(trainer, size, *train())
                except RuntimeError as error:  # e.g. SentencePiece: more characters to cover than the size
                    failures.append({"trainer": trainer, "size": size, "error": str(error).strip()})
                    print(json.dumps(failures[-1]), file=sys.stderr, flush=True)
    timing = []
    for size in [int(s) for s in args.time_sizes.split(",") if s]:
        for refine in ("", "tokens"):  # back to back, so both see about the same machine load
            paths, seconds = train_bytepiece(train_dir, [size], args.workers, refine, args.work)
            encode, vocab = encoder("bytepiece", paths[size])
            measured = measure(encode, vocab, held)  # a single size is not nested: its own vocabulary
            timing.append({"size": size, "refine": bool(refine), "train_s": seconds["wall"], "train_cpu_s": seconds["cpu"],
                           "bytes_per_token": measured["bytes_per_token"]["all"], "renyi_efficiency": measured["renyi_efficiency"]})
            print(json.dumps(timing[-1]), file=sys.stderr, flush=True)
    result: Dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "machine": {"python": platform.python_version(), "cores": os.cpu_count(), "arch": platform.machine()},
        "versions": _versions(),
        "split": {**split, "held_out_families": HELD_OUT},
        "rows": rows,
        "failures": failures,
        "single_size_timing": timing,
    }
    if args.out:
        stamp = result["date"][:10]
        Path(f"{args.out}-{stamp}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        Path(f"{args.out}-{stamp}.md").write_text(markdown(result), encoding="utf-8")
    else:
        print(markdown(result))
    if args.plot:
        plot(result, args.plot)
    return 0


def _versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("numpy", "pyahocorasick", "sentencepiece", "tokenizers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def markdown(result: Dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        f"# Compression at equal vocabulary size ({result['date']})",
        "",
        f"Command: `{result['command']}`  ",
        f"Python {result['machine']['python']}, {result['machine']['cores']} cores (shared); "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        "",
        f"Training slice: {result['split']['train_bytes'] / 1e6:.1f} MB from {len(result['split']['train'])} sources; "
        f"held out (families {', '.join(result['split']['held_out_families'])}): "
        + ", ".join(f"{d} {b / 1e6:.2f} MB" for d, b in result["split"]["held_out_bytes"].items()),
        "",
        "| trainer | size | bytes/token zh | en | code | multi | all | Rényi eff. (2.5) | train s | CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: (r["size"], TRAINERS.index(r["trainer"]))):
        bpt = row["bytes_per_token"]
        lines.append(
            f"| {row['trainer']} | {row['size']} | " + " | ".join(f"{bpt[d]:.3f}" for d in (*DOMAINS, "all"))
            + f" | {row['renyi_efficiency']:.4f} | {row['train_s']:.0f}{' *' if row['note'] else ''} | {row['train_cpu_s']:.0f} |"
        )
    lines += ["", "\\* ours: one nested run trains every size; the time is that run's.", ""]
    lines += pivots(rows)
    for failure in result["failures"]:
        lines += [f"{failure['trainer']} at {failure['size']} failed: `{failure['error'][-240:]}`", ""]
    by = {(r["trainer"], r["size"]): r for r in rows}
    if any(t == "bytepiece --refine" for t, _ in by) and any(t in PEERS for t, _ in by):
        lines += ["`--refine` against the best peer and against the default, all domains:", "",
                  "| size | best peer | its bytes/token | --refine | gain | Rényi eff. default / --refine |",
                  "|---:|---|---:|---:|---:|---|"]
        for size in sorted({s for _, s in by}):
            peers = [by[t, size] for t in PEERS if (t, size) in by]
            refined, default = by.get(("bytepiece --refine", size)), by.get(("bytepiece", size))
            if not peers or not refined:
                continue
            best = max(peers, key=lambda r: r["bytes_per_token"]["all"])
            ours, theirs = refined["bytes_per_token"]["all"], best["bytes_per_token"]["all"]
            renyi = f"{default['renyi_efficiency']:.4f} / {refined['renyi_efficiency']:.4f}" if default else "-"
            lines.append(f"| {size} | {best['trainer']} | {theirs:.3f} | {ours:.3f} | {100 * (ours / theirs - 1):+.1f}% | {renyi} |")
        lines.append("")
    if result["single_size_timing"]:
        lines += ["Single-size runs of ours, back to back (and what those models give on the held-out text):", "",
                  "| size | default wall s | --refine wall s | ratio | default CPU s | --refine CPU s | ratio "
                  "| bytes/token default / --refine | Rényi eff. default / --refine |",
                  "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        by = {(t["size"], t["refine"]): t for t in result["single_size_timing"]}
        for size in sorted({t["size"] for t in result["single_size_timing"]}):
            cells = []
            for key in ("train_s", "train_cpu_s"):
                default, refined = by[size, False][key], by[size, True][key]
                cells += [f"{default:.0f}", f"{refined:.0f}", f"{refined / default:.2f}"]
            for key, digits in (("bytes_per_token", 3), ("renyi_efficiency", 4)):
                cells.append(" / ".join(f"{by[size, r][key]:.{digits}f}" if key in by[size, r] else "-" for r in (False, True)))
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def pivots(rows: List[Dict[str, Any]]) -> List[str]:
    """The same rows as tables of trainer by size: bytes/token of all the held-out text,
    the Rényi efficiency and the training wall time (a blank cell: not trained)."""
    sizes = sorted({r["size"] for r in rows})
    by = {(r["trainer"], r["size"]): r for r in rows}
    trainers = [t for t in TRAINERS if any((t, s) in by for s in sizes)]
    header = ["| trainer | " + " | ".join(f"{s // 1000}k" for s in sizes) + " |", "|---" + "|---:" * len(sizes) + "|"]
    tables = [
        ("Bytes/token, all held-out text:", lambda r: f"{r['bytes_per_token']['all']:.3f}"),
        (f"Rényi efficiency (alpha = {RENYI_ALPHA}):", lambda r: f"{r['renyi_efficiency']:.4f}"),
        ("Training wall seconds (ours: one nested run for all sizes):", lambda r: f"{r['train_s']:.0f}"),
    ]
    lines: List[str] = []
    for title, cell in tables:
        lines += [title, "", *header]
        for trainer in trainers:
            lines.append(f"| {trainer} | " + " | ".join(cell(by[trainer, s]) if (trainer, s) in by else "" for s in sizes) + " |")
        lines.append("")
    return lines


def plot(result: Dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for trainer in TRAINERS:
        points = sorted((r["size"], r["bytes_per_token"]["all"]) for r in result["rows"] if r["trainer"] == trainer)
        if points:
            style = "-o" if trainer in OURS else "--s"
            ax.plot([p[0] for p in points], [p[1] for p in points], style, label=trainer)
    ax.set_xscale("log", base=2)
    sizes = sorted({r["size"] for r in result["rows"]})
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s // 1000}k" for s in sizes])
    ax.set_xlabel("vocabulary size")
    ax.set_ylabel("held-out bytes per token (higher is better)")
    ax.set_title(f"Held-out compression, trained on {result['split']['train_bytes'] / 1e6:.0f} MB ({result['date'][:10]})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
