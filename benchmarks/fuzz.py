"""The long fuzz run (outside CI): generated inputs through every encoding entry point.

Each input is a generated text (random code points of many kinds, corpus fragments,
repetitions, special-token names, combining marks, CRs and NULs, a few lone surrogates)
and goes through:

* ``encode``: ids are ints of the vocabulary, ``decode(encode(t)) == NFC(t)`` (the model's
  normalization of t), ``tokenize`` gives the pieces of those ids;
* ``encode_batch`` (in batches of 64): the same ids as ``encode``, and sampled;
* sampling at four temperatures (alpha 0, 0.1, 1, 10; each input at one of them, in
  turn, and each batch at one of them): a valid segmentation of the text;
* offsets: the pieces' byte offsets tile the normalized UTF-8 exactly;
* documents of 2.5-20 KB (1% of the inputs), which ``encode()`` and sampling send to the
  batch path: their ids equal the scalar decoder's, chunk by chunk;
* the streaming decoder: fed the ids one at a time it gives ``decode``'s text, and fed
  arbitrary ids (broken UTF-8 included) it gives ``decode(ids, errors="replace")``.

Text with a lone surrogate must raise ``ValueError`` (from every entry point); any other
exception, a wrong id or a lost character is a failure, recorded with its input. The
inputs are reproducible from ``--seed``.

    python benchmarks/fuzz.py --model shipped --inputs 1000000 --seed 1
    python benchmarks/fuzz.py --model trained --inputs 1000000 --seed 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import unicodedata
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, command_line  # noqa: E402

from bytepiece import Tokenizer, Trainer  # noqa: E402
from bytepiece.normalization import split_chunks  # noqa: E402

ALPHAS = (0.0, 0.1, 1.0, 10.0)
LONG_BYTES = 2_500  # from here a document may take the batch path (engine.batch_min_bytes)
BATCH = 64


def load(name: str) -> Tokenizer:
    """``shipped``: the original's 80k model in tests/data; ``trained``: an 8k model our
    trainer learns from demo-corpus (a few seconds); or a path."""
    if name == "shipped":
        return Tokenizer(REPO / "tests" / "data" / "models" / "bytepiece_80k.zip")
    if name == "trained":
        (model,) = Trainer(vocab_size=8000, progress=False).train(REPO / "demo-corpus").values()
        return Tokenizer(model)
    return Tokenizer(name)


class Texts:
    """Reproducible generated texts."""

    RANGES = [  # (weight, low, high) code points
        (30, 0x20, 0x7E),  # printable ASCII
        (6, 0x00, 0x1F),  # control characters, \t \n \r and NUL among them
        (8, 0xA0, 0x24F),  # Latin-1 and Latin Extended
        (4, 0x300, 0x36F),  # combining marks: NFC changes the text
        (4, 0x370, 0x52F),  # Greek, Cyrillic
        (3, 0x590, 0x6FF),  # Hebrew, Arabic (right to left)
        (2, 0x900, 0x97F),  # Devanagari
        (2, 0x1100, 0x11FF),  # Hangul jamo (NFC composes them)
        (12, 0x4E00, 0x9FFF),  # CJK
        (2, 0xAC00, 0xD7A3),  # Hangul syllables
        (2, 0x2000, 0x206F),  # punctuation, zero-width and direction marks
        (3, 0x1F300, 0x1FAFF),  # emoji (4 bytes in UTF-8)
        (1, 0x10000, 0x10FFFF),  # anything astral
        (1, 0xFFF0, 0xFFFF),  # specials, noncharacters
    ]

    def __init__(self, seed: int, corpus: str) -> None:
        self.rng = np.random.default_rng(seed)
        weights = np.array([w for w, _, _ in self.RANGES], dtype=float)
        self.weights = weights / weights.sum()
        self.corpus = corpus

    def random_chars(self, length: int) -> str:
        rng = self.rng
        which = rng.choice(len(self.RANGES), size=length, p=self.weights)
        chars = []
        for k in which.tolist():
            _, low, high = self.RANGES[k]
            code = int(rng.integers(low, high + 1))
            if 0xD800 <= code <= 0xDFFF:
                code = 0xFFFD
            chars.append(chr(code))
        return "".join(chars)

    def one(self) -> str:
        rng = self.rng
        kind = int(rng.integers(100))
        length = int(rng.geometric(1 / 24))
        if kind < 45:
            return self.random_chars(length)
        if kind < 75:  # a fragment of real text
            start = int(rng.integers(0, len(self.corpus) - length))
            return self.corpus[start : start + length * 3]
        if kind < 83:  # a repetition of a short unit
            return self.random_chars(int(rng.integers(1, 4))) * int(rng.integers(2, 60))
        if kind < 90:  # real text with special-token names and odd characters spliced in
            start = int(rng.integers(0, len(self.corpus) - 40))
            parts = [self.corpus[start : start + 20], ["<eos>", "<bos>", "<pad>", "\r\n", "\x00", "\u0301"][int(rng.integers(6))],
                     self.corpus[start + 20 : start + 40]]
            return "".join(parts)
        if kind < 96:  # newlines and whitespace runs
            return "".join(rng.choice(["\n", "\r", "\r\n", " ", "\t", "a", "字"], size=length).tolist())
        if kind < 97:
            return ""
        if kind < 98:  # a document of 2.5-20 KB: encode() and sampling take the batch path
            size = int(np.exp(rng.uniform(np.log(2_500), np.log(20_000))))
            start = int(rng.integers(0, max(1, len(self.corpus) - size)))
            return self.corpus[start : start + size]
        # a lone surrogate somewhere: every entry point must refuse it with ValueError
        text = self.random_chars(max(1, length))
        at = int(rng.integers(0, len(text) + 1))
        return text[:at] + chr(int(rng.integers(0xD800, 0xE000))) + text[at:]


class Fuzz:
    def __init__(self, tok: Tokenizer, texts: Texts) -> None:
        self.tok, self.texts = tok, texts
        self.inputs = 0
        self.checks: Dict[str, int] = {}
        self.failures: List[Dict[str, Any]] = []

    def check(self, name: str, text: Any, condition: bool, detail: str = "") -> None:
        self.checks[name] = self.checks.get(name, 0) + 1
        if not condition:
            self.fail(name, text, detail or "check failed")

    def fail(self, name: str, text: Any, detail: str) -> None:
        if len(self.failures) < 200:
            self.failures.append({"check": name, "input": repr(text)[:500], "detail": detail[-2000:]})
        else:
            self.failures.append({"check": name})  # counted, not kept

    def guarded(self, name: str, text: Any, function: Callable[[], None]) -> None:
        try:
            function()
        except Exception:  # every exception is a failure here: bad input is tested separately
            self.checks[name] = self.checks.get(name, 0) + 1
            self.fail(name, text, traceback.format_exc())

    def batch(self, texts: List[str]) -> None:
        tok = self.tok
        good = []
        for text in texts:
            self.inputs += 1
            if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                self.guarded("surrogate refused", text, lambda t=text: self.surrogate(t))
            else:
                good.append(text)
                self.guarded("encode/decode/offsets/stream", text, lambda t=text: self.single(t))
        self.guarded("encode_batch", good, lambda: self.batched(good))
        self.guarded("stream decode of arbitrary ids", None, self.arbitrary_ids)
        del tok

    def surrogate(self, text: str) -> None:
        tok = self.tok
        for name, call in [("encode", lambda: tok.encode(text)), ("encode_array", lambda: tok.encode_array(text)),
                           ("sample", lambda: tok.encode(text, alpha=0.1, seed=0)),
                           ("encode_batch", lambda: tok.encode_batch(["ok", text]))]:
            try:
                call()
            except ValueError as exc:
                self.check("surrogate refused", text, "surrogate" in str(exc), f"{name}: {exc}")
            else:
                self.check("surrogate refused", text, False, f"{name} accepted a lone surrogate")

    def single(self, text: str) -> None:
        tok = self.tok
        normal = unicodedata.normalize("NFC", text) if tok.model.normalization == "nfc" else text
        data = normal.encode("utf-8")
        ids = tok.encode(text)
        self.check("ids are ints of the vocabulary", text, all(type(i) is int and 3 <= i < tok.vocab_size for i in ids))
        self.check("decode(encode(t)) == t", text, tok.decode(ids) == normal)
        self.check("encode_array == encode", text, tok.encode_array(text).tolist() == ids)
        if len(data) >= LONG_BYTES:  # encode() took the batch path: against the scalar decoder
            scalar = [i for chunk in split_chunks(data) for i in tok.engine.decode_chunk(chunk)]
            self.check("long document: encode == scalar decoder", text, ids == scalar)
        # offsets: the pieces tile the normalized UTF-8 exactly
        pieces = tok.tokenize(text)
        position, tiled = 0, True
        for piece_id, piece in zip(ids, pieces):
            tiled &= data[position : position + len(piece)] == piece and tok.id_to_piece(piece_id) == piece
            position += len(piece)
        self.check("offsets tile the text", text, tiled and position == len(data) and len(pieces) == len(ids))
        decoder = tok.stream_decoder()
        streamed = "".join(decoder.feed(i) for i in ids) + decoder.flush()
        self.check("stream decode == decode", text, streamed == normal)
        seed = self.inputs
        alpha = ALPHAS[seed % len(ALPHAS)]  # each temperature gets a quarter of the inputs
        sample = tok.encode(text, alpha=alpha, seed=seed)
        self.check(f"sample alpha={alpha} round trip", text, tok.decode(sample) == normal)
        with_specials = tok.encode(text, add_bos=True, add_eos=True, allowed_special="all")
        expected = "<bos>" + normal + "<eos>"
        self.check("specials round trip", text, tok.decode(with_specials) == expected)

    def batched(self, texts: List[str]) -> None:
        tok = self.tok
        expected = [tok.encode(t) for t in texts]
        self.check("encode_batch == encode", texts, tok.encode_batch(texts) == expected)
        alpha = ALPHAS[(self.inputs // BATCH) % len(ALPHAS)]
        sampled = tok.encode_batch(texts, alpha=alpha, seed=self.inputs)
        normal = [unicodedata.normalize("NFC", t) if tok.model.normalization == "nfc" else t for t in texts]
        self.check(f"encode_batch alpha={alpha} round trip", texts, tok.decode_batch(sampled) == normal)

    def arbitrary_ids(self) -> None:
        tok, rng = self.tok, self.texts.rng
        ids = rng.integers(0, tok.vocab_size, size=int(rng.integers(0, 30))).tolist()
        decoder = tok.stream_decoder()
        streamed = "".join(decoder.feed(i) for i in ids) + decoder.flush()
        self.check("stream decode of arbitrary ids", ids, streamed == tok.decode(ids))


def corpus_text() -> str:
    parts = [p.read_text(encoding="utf-8")[:400_000] for p in sorted((REPO / "demo-corpus").rglob("*.txt"))[:60]]
    parts += [p.read_text(encoding="utf-8")[:20_000] for p in sorted((REPO / "demo-corpus" / "code").rglob("*.*"))[:40]
              if p.suffix in (".py", ".go", ".rs")]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shipped", help="shipped, trained, or a model path")
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args()
    started = time.perf_counter()
    tok = load(args.model)
    fuzz = Fuzz(tok, Texts(args.seed, corpus_text()))
    last = 0
    while fuzz.inputs < args.inputs:
        fuzz.batch([fuzz.texts.one() for _ in range(min(BATCH, args.inputs - fuzz.inputs))])
        if fuzz.inputs - last >= 50_000:
            last = fuzz.inputs
            print(f"{fuzz.inputs:,} inputs, {sum(fuzz.checks.values()):,} checks, {len(fuzz.failures)} failures, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    result = {
        "command": command_line(),
        "model": args.model,
        "vocab_size": tok.vocab_size,
        "inputs": fuzz.inputs,
        "checks": sum(fuzz.checks.values()),
        "checks_by_kind": fuzz.checks,
        "failures": len(fuzz.failures),
        "first_failures": fuzz.failures[:20],
        "seconds": round(time.perf_counter() - started),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 1 if fuzz.failures else 0


if __name__ == "__main__":
    sys.exit(main())
