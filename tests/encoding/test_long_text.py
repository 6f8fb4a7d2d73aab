"""Long chunks (no newline for megabytes): window-by-window decoding must give the ids of
the one-pass decoders, and hold bounded memory."""

from __future__ import annotations

import unicodedata

import pytest

from bytepiece.encoding import viterbi
from bytepiece.encoding.sampling import sample_path

from conftest import golden_rows


def one_line_text(n_rows: int = 400) -> str:
    """Real text without a newline, already NFC (so encode() sees these very bytes)."""
    text = " ".join(row["text"].strip() for row in golden_rows("bytepiece_80k")[:n_rows])
    return unicodedata.normalize("NFC", text).replace("\n", " ")


@pytest.fixture(scope="module")
def unwindowed():
    """best_path without windows, however long the chunk."""

    def decode(tok, chunk: str, start_score: float = 0.0):
        saved = viterbi.WINDOW
        viterbi.WINDOW = 1 << 62
        try:
            return viterbi.best_path(tok.engine.automaton(), chunk, tok.engine.piece_lengths, start_score)
        finally:
            viterbi.WINDOW = saved

    return decode


@pytest.mark.parametrize("window", [40, 64, 1000, 4096])
@pytest.mark.parametrize("kind", ["real", "aaaa", "abab", "cjk", "digits"])
def test_windows_give_the_same_ids(kind, window, tok80k, unwindowed):
    text = {
        "real": one_line_text(),
        "aaaa": "a" * 20_000,
        "abab": "ab" * 10_000,
        "cjk": "新词发现" * 3000,
        "digits": "".join(str(i) for i in range(4000)),
    }[kind]
    chunk = text.encode("utf-8").decode("latin-1")
    expected = unwindowed(tok80k, chunk)
    got = viterbi.windowed_path(tok80k.engine.automaton(), chunk, tok80k.engine.piece_lengths, viterbi._relax_best, window=window)
    assert list(got) == list(expected)


@pytest.mark.parametrize("window", [40, 1000])
def test_windows_from_a_start_score_give_the_same_ids(window, tok80k, unwindowed):
    """The batch path's resumed stretches are decoded from the score of the text before
    them (``start_score``): windows must add to it exactly as the one-pass decoder does. A
    score this far from 0 rounds every sum (a unit in the last place is 0.5), so the path
    differs from the one from 0.0 and a decoder that dropped the start score would fail."""
    chunk = one_line_text(100).encode("utf-8").decode("latin-1")
    start_score = -3e15
    expected = unwindowed(tok80k, chunk, start_score)
    assert list(expected) != list(unwindowed(tok80k, chunk))
    got = viterbi.windowed_path(
        tok80k.engine.automaton(), chunk, tok80k.engine.piece_lengths, viterbi._relax_best, window=window,
        start_score=start_score,
    )
    assert list(got) == list(expected)


def test_windowed_sampling_is_lossless_and_tends_to_viterbi(tok80k, unwindowed, monkeypatch):
    monkeypatch.setattr(viterbi, "WINDOW", 500)
    import bytepiece.encoding.sampling as sampling

    monkeypatch.setattr(sampling, "WINDOW", 500)
    chunk = one_line_text(100).encode("utf-8").decode("latin-1")
    automaton, lengths = tok80k.engine.automaton(), tok80k.engine.piece_lengths
    import numpy as np

    rng = np.random.default_rng(0)
    sample = sample_path(automaton, chunk, lengths, 0.1, rng)
    assert tok80k.decode_bytes(sample) == chunk.encode("latin-1")
    assert list(sample_path(automaton, chunk, lengths, 1e6, rng)) == list(unwindowed(tok80k, chunk))


def test_encode_of_a_long_line_equals_the_unwindowed_decoder(tok80k, unwindowed):
    text = one_line_text(1500)
    assert len(text.encode()) > 2 * viterbi.WINDOW
    assert tok80k.encode(text) == unwindowed(tok80k, text.encode("utf-8").decode("latin-1"))
    assert tok80k.encode_batch([text, "short"]) == [tok80k.encode(text), tok80k.encode("short")]


MEMORY_SCRIPT = r"""
import json, resource, sys, unicodedata
from bytepiece import Tokenizer
tok = Tokenizer(sys.argv[1])
rows = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8")]
text = unicodedata.normalize("NFC", " ".join(rows)).replace("\n", " ")  # NFC: decode gives it back
while len(text) < int(sys.argv[3]):
    text += " " + text
text = text[: int(sys.argv[3])]
tok.encode("warm up")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ids = tok.encode(text)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert tok.decode(ids) == text
print(json.dumps({"bytes": len(text.encode()), "ids": len(ids), "extra": (after - before) * 1024}))
"""


@pytest.mark.slow
def test_a_long_line_holds_bounded_memory():
    # One 4 MB line, in a fresh process. One-pass decoding would hold two Python lists per
    # byte (~40 B/byte); windowed decoding holds copies of the input and the output ids.
    import json
    import subprocess
    import sys

    from conftest import DATA, legacy_zip

    args = [str(legacy_zip("bytepiece_80k")), str(DATA / "golden" / "bytepiece_80k.sample.jsonl"), "4000000"]
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, *args], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    allowed = 4 * report["bytes"] + 16 * report["ids"] + (64 << 20)
    assert report["extra"] < allowed, report
