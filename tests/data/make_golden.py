r"""Regenerate the golden fixtures in ``tests/data/`` with the original BytePiece 0.6.3.

Usage, from the repository root, with ``../shared`` beside it (or ``--shared DIR``)::

    bash benchmarks/setup_original.sh ../bytepiece-0.6.3
    python tests/data/make_golden.py ../bytepiece-0.6.3/bin/python [--check-ours]

It writes (``README.md`` here describes the files):

* ``models/bytepiece_80k.zip``: a byte-identical copy of ``../shared/models/bytepiece_80k.zip``;
* ``golden/bytepiece_80k.sample.jsonl``: about 400 rows of ``../shared/golden/`` (kept
  verbatim, chosen by :func:`select_rows`), then the rows of :func:`edge_texts`, whose ids
  the original computes here; finally every row is encoded again by the original and
  checked against its ids;
* ``golden/demo-trained.model.8000.zip`` and ``.2000.zip``: the vocabularies the original
  ``Trainer`` learns on ``demo-corpus/`` (:data:`TRAIN_SETTINGS`), each JSON file zipped
  alone.

``--check-ours`` then checks the ``bytepiece`` importable here (this repository) against
those files: the tokenizer's ids on every row, and our ``Trainer``'s vocabularies.

The original has our import name (``bytepiece``), so it only ever runs in a subprocess of
its own interpreter, started in a temporary directory without ``PYTHONPATH``. Importing
this module runs nothing and imports only the standard library (pytest imports it when it
collects doctests).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set

DATA = Path(__file__).resolve().parent
REPO = DATA.parents[1]
MODEL_NAME = "bytepiece_80k"
TARGET_ROWS = 400  # rows taken from the shared golden file, spread over its domains
MAX_BYTES = 600_000  # size budget of the whole golden .jsonl
EDGE_SOURCE = "tests/data/golden/README.md"
# Research data of unstated terms (../shared/corpus/README.md: "internal tokenizer statistics
# only"): never copied into the repository.
EXCLUDED_SOURCES = {"zh/peoples-daily-1998.txt", "zh/product-reviews.txt"}
DEMO_SIZES = [8000, 2000]
TRAIN_SETTINGS: Dict[str, Any] = {  # arguments of the original Trainer (ours: vocab_size=)
    "order": 6, "max_vocab_size": DEMO_SIZES, "min_count": 4, "max_piece_length": 36,
    "isolate_digits": False, "ensure_unicode": True,
}
ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # fixed member timestamp: the archives are reproducible

# ----------------------------------------------------------------- run by the original
# Both scripts run as ``ORIGINAL_PYTHON -c SCRIPT ARGS...`` (see run_original).
ENCODE_SCRIPT = r"""
import json, sys, tempfile, zipfile
import ahocorasick, bytepiece
assert bytepiece.__version__ == "0.6.3" and not ahocorasick.unicode, "need 0.6.3 and a byte-mode pyahocorasick"
model_zip, texts_path, out_path = sys.argv[1:4]
with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(model_zip) as archive:
    (member,) = archive.namelist()
    tok = bytepiece.Tokenizer(archive.extract(member, tmp))
texts = json.load(open(texts_path, encoding="utf-8"))
json.dump([tok.encode(t) for t in texts], open(out_path, "w", encoding="utf-8"))
"""

TRAIN_SCRIPT = r"""
import json, sys, time
from pathlib import Path
import bytepiece
assert bytepiece.__version__ == "0.6.3"
corpus, prefix, settings = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
files = sorted(corpus.rglob("*.txt"), key=lambda p: p.relative_to(corpus).as_posix())
texts = [p.read_text(encoding="utf-8") for p in files]
start = time.perf_counter()
trainer = bytepiece.Trainer(**settings)
trainer.train(texts, workers=1)
trainer.save(prefix)
print(json.dumps({"files": len(files), "seconds": time.perf_counter() - start,
                  "vocab_sizes": [len(p) + 3 for p in trainer.pieces]}))
"""


def run_original(python: str, script: str, *args: str) -> str:
    """Run ``script`` with the original's interpreter, out of reach of our package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONUTF8"] = "1"  # the original opens its JSON files with the locale's encoding
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run([python, "-c", script, *args], cwd=cwd, env=env,
                                capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"the original failed:\n{result.stderr[-3000:]}")
    return result.stdout


def original_encode(python: str, model_zip: Path, texts: Sequence[str]) -> List[List[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        texts_path, out_path = Path(tmp, "texts.json"), Path(tmp, "ids.json")
        texts_path.write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")
        run_original(python, ENCODE_SCRIPT, str(model_zip), str(texts_path), str(out_path))
        return json.loads(out_path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------- choosing sample rows
def unusual(text: str) -> Set[str]:
    r"""What makes a text unusual for a tokenizer (empty: nothing).

    >>> sorted(unusual("cafe\u0301 \U0001F600"))
    ['astral', 'combining mark', 'not NFC']
    >>> unusual("plain text,\tand a tab\n")
    set()
    """
    found = set()
    for ch in text:
        category = unicodedata.category(ch)
        if ord(ch) > 0xFFFF:
            found.add("astral")
        if category.startswith("M"):
            found.add("combining mark")
        if category == "Cf":
            found.add("format character")
        if category == "Cc" and ch not in "\n\t":
            found.add("control character")
        if category.startswith("Z") and ch != " ":
            found.add("unusual space")
        if category == "Co":
            found.add("private use")
    if unicodedata.normalize("NFC", text) != text:
        found.add("not NFC")
    return found


def group_of(row: Dict[str, Any]) -> str:
    """Prose rows by source file; code rows (one per file) by project: ``code/go-std``."""
    return "/".join(row["source"].split("/")[:2]) if row["domain"] == "code" else row["source"]


def apportion(total: int, weights: Dict[str, int]) -> Dict[str, int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder, ties by key).

    >>> apportion(10, {"a": 5, "b": 3, "c": 2})
    {'a': 5, 'b': 3, 'c': 2}
    >>> apportion(4, {"a": 1, "b": 1, "c": 1})
    {'a': 2, 'b': 1, 'c': 1}
    """
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    share = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: (share[k] - exact[k], k))[: total - sum(share.values())]:
        share[k] += 1
    return share


def spread(items: Sequence[int], n: int) -> List[int]:
    """``n`` evenly spaced items (the middle of ``n`` equal parts).

    >>> spread(list(range(10)), 3)
    [1, 5, 8]
    """
    n = min(n, len(items))
    return [items[(2 * k + 1) * len(items) // (2 * n)] for k in range(n)]


def select_rows(rows: Sequence[Dict[str, Any]], target: int = TARGET_ROWS) -> List[int]:
    """Indices (in file order) of a deterministic subset of about ``target`` rows.

    Rows of :data:`EXCLUDED_SOURCES` are left out; every other row with :func:`unusual` text
    is kept. Each domain gets rows in proportion to its
    share of the file, at least one per source (:func:`group_of`); the rest of a domain's
    share goes to its sources in proportion to their rows, evenly spaced in file order.
    """
    by_domain: Dict[str, List[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_domain[row["domain"]].append(i)
    quotas = apportion(target, {d: len(ix) for d, ix in by_domain.items()})
    allowed = {i for i, row in enumerate(rows) if row["source"] not in EXCLUDED_SOURCES}
    chosen = {i for i in allowed if unusual(rows[i]["text"])}
    for domain, indices in by_domain.items():
        groups: Dict[str, List[int]] = defaultdict(list)
        for i in indices:
            if i in allowed and i not in chosen:
                groups[group_of(rows[i])].append(i)
        special = sum(1 for i in indices if i in chosen)
        extra = max(0, quotas[domain] - special - len(groups))
        shares = apportion(extra, {g: len(ix) for g, ix in groups.items()}) if extra else {}
        for group, members in groups.items():
            chosen.update(spread(members, 1 + shares.get(group, 0)))
    return sorted(chosen)


# ----------------------------------------------------------------- hand-written edge cases
def chinese_line(n: int) -> str:
    """``n`` characters of Chinese on one line, no newline: clauses (written for this file)
    in an order drawn by a fixed linear congruential generator."""
    clauses = [
        "今天的天气很好，", "我们一起去公园散步。", "新词发现是一种无监督的方法，", "它从大量文本中统计片段的频率，",
        "再用维特比算法切分句子。", "分词器把字节序列变成编号，", "模型训练需要很多数据，", "中文没有空格，",
        "所以词的边界要靠统计来判断。", "北京、上海、广州和深圳都是大城市；", "他说：“这个问题很难。”", "（括号里的内容）",
        "第一章　总则", "人工智能和自然语言处理", "春眠不觉晓，处处闻啼鸟。", "数据清洗、去重和过滤",
        "一二三四五六七八九十百千万亿", "《红楼梦》《西游记》《水浒传》", "……", "——破折号——", "！？；：、",
    ]
    out, state = [], 20240601
    while sum(map(len, out)) < n:
        state = (state * 1103515245 + 12345) % 2**31
        out.append(clauses[state % len(clauses)])
    return "".join(out)[:n]


def edge_texts() -> List[str]:
    r"""About a hundred short texts for the cases the corpus sample lacks.

    >>> texts = edge_texts()
    >>> len(texts) == len(set(texts)), any("\r\n" in t for t in texts)
    (True, True)
    """
    texts = [
        # empty and nearly empty
        "", " ", "\n", "  ", "\n\n", " \n", "\n ", "\t", "\u3000", "\u00a0", ".", "a", "中", "\n\n\n \n",
        "\t\n\t\n", "?\n",
        # mixed scripts
        "Hello, 世界! Привет, мир! مرحبا بالعالم שלום עולם नमस्ते दुनिया こんにちは 안녕하세요 Γειά σου κόσμε\n",
        "abc中文def", "API接口v2.0版本发布于2024年", "Pythonはとても楽しいです。", "東京Tokyo２０２０", "数字123和English混合mixed",
        "العدد 12345 في النص العربي", "עברית with English ומספרים 42", "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง",
        "ሰላም ለዓለም", "Ελληνικά και English και 中文", "Кириллица, Latin и 汉字 в одной строке.\n",
        "한국어 문장과 English 단어 그리고 漢字", "Tiếng Việt có dấu: người, đường, Nguyễn", "हिन्दी में लिखा गया वाक्य।",
        # emoji: ZWJ sequences, modifiers, flags, keycaps, tags
        "👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "👩🏽\u200d💻 writes code", "🇨🇳🇺🇸🇯🇵🇩🇪", "1\ufe0f\u20e32\ufe0f\u20e3#\ufe0f\u20e3",
        "❤\ufe0f", "🧑\u200d🤝\u200d🧑", "😀😃😄😁😆", "👍🏻👍🏼👍🏽👍🏾👍🏿", "text🙂text", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        "表情😂符号🎉混排✨\n",
        # combining sequences that NFC composes, reorders, or leaves alone
        "e\u0301", "Cafe\u0301 au lait", "A\u030angstro\u0308m", "man\u0303ana", "a\u0323\u0302", "a\u0302\u0323",
        "\u1100\u1161\u11a8\u1112\u1161\u11ab", "\u212b \u2126 \u212a", "\uf900\uf901\uf902", "q\u0307\u0323",
        "\u0915\u093c\u0916\u093c", "\ufb01 \u2460 \uff21\uff22\uff23 \u337f", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334",
        "\u0301 starts with a mark", "e\u0301\u0301\u0301", "\u00f1 n\u0303 \u00f1", "\u03b1\u0301 \u03c9\u0342\u0345",
        "Tie\u0302\u0301ng Vie\u0323\u0302t", "\u304b\u3099\u304d\u3099\u304f\u3099",
        # line endings
        "line one\r\nline two\r\n", "\r\n", "\r\n\r\n\r\n", "a\rb\rc", "mixed\nendings\r\nhere\r", "中文\r\n第二行\r\n",
        "\u2028line separator\u2029paragraph separator", "\x85next line", "\x0bvertical tab\x0cform feed\n",
        # many blank lines
        "\n" * 50, "\n" * 101, "\n" * 1000, "a" + "\n" * 150 + "b", "x\n\n\ny\n\n\n\n\nz\n", " \n" * 100, "\r\n" * 60,
        "第一段\n\n\n\n第二段\n\n\n\n\n\n第三段",
        # tabs
        "\t" * 100, "\tdef f(x):\n\t\treturn x\n", "col1\tcol2\tcol3\n1\t2\t3\n", "\t\t中文\t制表符\n", " \t \t mixed\t \n",
        # control, format and other unusual characters
        "\x00", "a\x00b", "\x01\x02\x1f\x7f", "\ufeffBOM at the start", "zero\u200bwidth\u200cnon\u200djoiner",
        "soft\u00adhyphen", "\ue000\uf8ff private use", "\U0010fffd plane 16", "\ufffd replacement", "\ufdd0\uffff noncharacters",
        "𝕳𝖊𝖑𝖑𝖔 𝐦𝐚𝐭𝐡", "𠀀𠀁𪚥 CJK extension B", "0123456789" * 30, "3.14159265358979323846264338327950288419716939937510",
        "https://example.com/path?query=1&lang=zh-CN#frag", "    four spaces of indent\n", " " * 100 + "x",
        "<html><body>&amp;&lt;&gt;</body></html>", "{\"key\": [1, 2.5e-3, null, true]}",
    ]
    # long runs of a single character, and long lines of Chinese
    texts += [c * 5000 for c in ("a", " ", "中", "\u00e9", "0", "=")]
    texts += ["e\u0301" * 500, chinese_line(3000), chinese_line(3000) + "\n", chinese_line(12000)]
    return texts


# ----------------------------------------------------------------- the steps
def write_zip(member_path: Path, archive_path: Path) -> None:
    """Zip one file alone, under its own name, reproducibly."""
    info = zipfile.ZipInfo(member_path.name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr(info, member_path.read_bytes(), compresslevel=9)


def read_lines(path: Path) -> List[str]:
    """The lines of a .jsonl file, each with its newline, cut at "\\n" only (not at U+2028 and
    the other characters ``str.splitlines`` also breaks at), with no newline translation."""
    return [line + "\n" for line in path.read_bytes().decode("utf-8").split("\n") if line]


def json_line(row: Dict[str, Any]) -> str:
    r"""One .jsonl line, UTF-8 as is, but with the line breaks JSON leaves raw escaped too.

    >>> json_line({"text": "a\u2028b\x85中"})
    '{"text": "a\\u2028b\\u0085中"}\n'
    """
    line = json.dumps(row, ensure_ascii=False)
    for ch in "\x85\u2028\u2029":
        line = line.replace(ch, f"\\u{ord(ch):04x}")
    return line + "\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_sample(python: str, shared: Path) -> Path:
    model_zip = DATA / "models" / f"{MODEL_NAME}.zip"
    model_zip.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared / "models" / f"{MODEL_NAME}.zip", model_zip)
    assert sha256(model_zip) == sha256(shared / "models" / f"{MODEL_NAME}.zip")

    lines = read_lines(shared / "golden" / f"{MODEL_NAME}.sample.jsonl")
    rows = [json.loads(line) for line in lines]
    keep = select_rows(rows)
    texts = edge_texts()
    start = time.perf_counter()
    ids = original_encode(python, model_zip, texts)
    print(f"edge rows encoded by the original in {time.perf_counter() - start:.1f} s")
    edge = [json_line({"domain": "edge", "source": EDGE_SOURCE, "text": t, "ids": i}) for t, i in zip(texts, ids)]
    out = DATA / "golden" / f"{MODEL_NAME}.sample.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines[i] for i in keep) + "".join(edge), encoding="utf-8")
    counts: Dict[str, int] = defaultdict(int)
    for i in keep:
        counts[rows[i]["domain"]] += 1
    size = out.stat().st_size
    print(f"{out.relative_to(REPO)}: {len(keep)} sample rows {dict(counts)} "
          f"({sum(1 for i in keep if unusual(rows[i]['text']))} unusual), {len(edge)} edge rows, {size:,} bytes")
    if size > MAX_BYTES:
        print(f"warning: over the {MAX_BYTES:,}-byte budget")
    return out


def verify_sample(python: str, golden: Path) -> int:
    """Encode every row again with the original; return the number of mismatches."""
    rows = [json.loads(line) for line in read_lines(golden)]
    ids = original_encode(python, DATA / "models" / f"{MODEL_NAME}.zip", [r["text"] for r in rows])
    bad = [r for r, i in zip(rows, ids) if i != r["ids"]]
    for r in bad:
        print(f"  original mismatch: {r['source']}: {r['text'][:80]!r}")
    print(f"original 0.6.3 re-encoded {len(rows)} rows: {len(bad)} mismatches")
    return len(bad)


def demo_texts() -> List[str]:
    """The demo corpus as the trainers read it here: every .txt file, sorted by relative
    path, whole, one text per file."""
    corpus = REPO / "demo-corpus"
    files = sorted(corpus.rglob("*.txt"), key=lambda p: p.relative_to(corpus).as_posix())
    return [p.read_text(encoding="utf-8") for p in files]


def make_trained(python: str) -> None:
    golden = DATA / "golden"
    golden.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp, "demo-trained.model")
        start = time.perf_counter()
        report = json.loads(run_original(python, TRAIN_SCRIPT, str(REPO / "demo-corpus"), str(prefix),
                                         json.dumps(TRAIN_SETTINGS)))
        print(f"original Trainer on demo-corpus ({report['files']} files): {report['seconds']:.1f} s training, "
              f"{time.perf_counter() - start:.1f} s wall; vocab sizes {report['vocab_sizes']}")
        for size in DEMO_SIZES:
            member = Path(f"{prefix}.{size}")
            write_zip(member, golden / f"{member.name}.zip")
            print(f"  {(golden / f'{member.name}.zip').relative_to(REPO)}: {member.stat().st_size:,} bytes of JSON")


def check_ours(golden: Path) -> int:
    """Compare the ``bytepiece`` importable here with the golden files; return mismatches."""
    import bytepiece
    from bytepiece import Tokenizer, Trainer, load_model

    print(f"checking {bytepiece.__file__}")
    tok = Tokenizer(DATA / "models" / f"{MODEL_NAME}.zip")
    rows = [json.loads(line) for line in read_lines(golden)]
    bad = [r for r in rows if tok.encode(r["text"]) != r["ids"]]
    for r in bad:
        print(f"  our mismatch: {r['source']}: {r['text'][:80]!r}")
    print(f"our Tokenizer: {len(bad)} mismatches in {len(rows)} rows")
    failures = len(bad)
    settings = {k: v for k, v in TRAIN_SETTINGS.items() if k != "max_vocab_size"}
    start = time.perf_counter()
    ours = Trainer(vocab_size=DEMO_SIZES, progress=False, **settings).train(demo_texts(), workers=1)
    print(f"our Trainer on demo-corpus: {time.perf_counter() - start:.1f} s")
    for size in DEMO_SIZES:
        theirs = load_model(golden.parent / f"demo-trained.model.{size}.zip")
        mine = ours[size]
        a, b = dict(zip(theirs.pieces, theirs.counts)), dict(zip(mine.pieces, mine.counts))
        common = len(a.keys() & b.keys())
        same = a == b and dict(zip(theirs.pieces, theirs.ids)) == dict(zip(mine.pieces, mine.ids))
        print(f"  {size}: original {len(a)} pieces, ours {len(b)}, common {common} "
              f"({common / len(a):.2%} of the original's); pieces, counts and ids identical: {same}")
        failures += not same
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original_python", help="interpreter with the original BytePiece 0.6.3 "
                        "(benchmarks/setup_original.sh)")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BYTEPIECE_SHARED", REPO.parent / "shared")),
                        help="the shared directory with models/ and golden/ (default ../shared)")
    parser.add_argument("--no-train", action="store_true", help="keep the demo-trained vocabularies as they are")
    parser.add_argument("--check-ours", action="store_true", help="also check this repository's bytepiece")
    args = parser.parse_args(argv)
    golden = make_sample(args.original_python, args.shared)
    failures = verify_sample(args.original_python, golden)
    if not args.no_train:
        make_trained(args.original_python)
    if args.check_ours:
        failures += check_ours(golden)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
