"""The ``bytepiece`` command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import legacy_zip

MODEL = str(legacy_zip("bytepiece_80k"))


def bytepiece(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bytepiece", *args], input=stdin, capture_output=True)


def test_encode_decode_round_trip_through_files(tmp_path):
    text = "第一行 first line\r\n\n\nlast line without newline 🙂"
    source = tmp_path / "in.txt"
    source.write_bytes(text.encode())
    ids = tmp_path / "in.ids"
    assert bytepiece("encode", "-m", MODEL, str(source), "-o", str(ids)).returncode == 0
    assert len(ids.read_text().splitlines()) == 4
    back = bytepiece("decode", "-m", MODEL, str(ids))
    assert back.returncode == 0 and back.stdout == text.encode()


def test_encode_ids_are_those_of_tokenizer_encode_line_by_line(tmp_path):
    from bytepiece import Tokenizer

    from conftest import golden_rows

    lines = [row["text"].replace("\n", " ") + "\n" for row in golden_rows("bytepiece_80k")[:400]]
    source = tmp_path / "many.txt"
    source.write_bytes("".join(lines).encode())
    out = bytepiece("encode", "-m", MODEL, str(source))
    assert out.returncode == 0, out.stderr
    tok = Tokenizer(MODEL)
    got = [[int(i) for i in line.split()] for line in out.stdout.decode().splitlines()]
    assert got == [tok.encode(line) for line in lines]


def test_encode_reads_stdin_and_prints_pieces():
    out = bytepiece("encode", "-m", MODEL, "--pieces", stdin="hello 世界\n".encode())
    assert out.returncode == 0
    pieces = out.stdout.decode().rstrip("\n").split("\t")
    assert "".join(pieces).replace("\\x0a", "\n") == "hello 世界\n"
    again = bytepiece("decode", "-m", MODEL, "--pieces", stdin=out.stdout)
    assert again.stdout.decode() == "hello 世界\n"


def test_sampling_with_a_seed_is_reproducible():
    args = ("encode", "-m", MODEL, "--alpha", "0.1", "--seed", "3")
    text = "sampling from the command line is reproducible\n".encode()
    first, second = bytepiece(*args, stdin=text), bytepiece(*args, stdin=text)
    assert first.returncode == 0 and first.stdout == second.stdout


def test_inspect_reports_the_vocabulary():
    out = bytepiece("inspect", MODEL, "--json")
    info = json.loads(out.stdout)
    assert info["vocab_size"] == 79896
    assert info["normalization"] == "nfc"
    assert info["multibyte_pieces_not_valid_utf8"] == 871
    assert sum(info["length_histogram"].values()) == info["pieces"]
    human = bytepiece("inspect", MODEL).stdout.decode()
    assert "vocab size:      79896" in human and "longest pieces" in human


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (("decode", "-m", MODEL), b"1 2 x\n", "line 1: expected space-separated integer ids"),
        (("decode", "-m", MODEL), b"5 99999999\n", "unknown token id 99999999"),
        (("encode", "-m", MODEL), b"ok\n\xff\xfe\n", "<stdin>, line 2: not valid UTF-8"),
        (("encode", "-m", "/nonexistent/model"), b"", "No such file"),
    ],
)
def test_bad_input_fails_with_a_clear_message(args, stdin, message):
    out = bytepiece(*args, stdin=stdin)
    assert out.returncode == 2
    assert message in out.stderr.decode()
    assert "Traceback" not in out.stderr.decode()


def test_corrupt_model_is_named(tmp_path):
    bad = tmp_path / "broken.bpm"
    bad.write_bytes(b"bytepiece-model 1\n{\"pieces\": 3}\n1\t2\n")
    out = bytepiece("inspect", str(bad))
    assert out.returncode == 2 and str(bad) in out.stderr.decode()
