"""``bytepiece extend`` and ``bytepiece encode --offsets``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from bytepiece import Tokenizer, load_model

from conftest import legacy_zip

MODEL = str(legacy_zip("bytepiece_80k"))


def bytepiece(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bytepiece", *args], input=stdin, capture_output=True)


def test_extend_adds_pieces_and_special_tokens(tmp_path):
    pieces = tmp_path / "pieces.txt"
    pieces.write_bytes("def __init__(self\r\n\n新词发现\ntab\\x09here\nback\\\\slash\n".encode())
    new = tmp_path / "new.bpm"
    out = bytepiece("extend", MODEL, "--pieces", str(pieces), "--special-token", "<|im_start|>", "-o", str(new))
    assert out.returncode == 0, out.stderr
    assert b"vocab size 79901" in out.stderr
    model = load_model(new)
    assert model.added_pieces == (b"def __init__(self", "新词发现".encode(), b"tab\there", b"back\\slash")
    assert model.special_tokens["<|im_start|>"] == 79900
    tok, old = Tokenizer(new), Tokenizer(MODEL)
    assert tok.encode("x 新词发现 y") == [*old.encode("x "), 79897, *old.encode(" y")]
    assert tok.encode("plain text") == old.encode("plain text")


def test_extend_with_a_count_competes(tmp_path):
    pieces = tmp_path / "pieces.txt"
    pieces.write_text("zxqvzxqv\n", encoding="utf-8")
    new = tmp_path / "new.bpm"
    assert bytepiece("extend", MODEL, "--pieces", str(pieces), "--count", "50000", "-o", str(new)).returncode == 0
    model = load_model(new)
    assert model.added_pieces == () and model.counts[-1] == 50000
    assert model.total_count == sum(load_model(MODEL).counts)


def test_extend_reads_stdin_and_fails_clearly(tmp_path):
    new = tmp_path / "new.bpm"
    assert bytepiece("extend", MODEL, "--pieces", "-", "-o", str(new), stdin=b"qqq\n").returncode == 0
    for args, stdin, message in [
        (("--pieces", "-"), b"ok\nbad\\q\n", "<stdin>: line 2: malformed escape"),
        (("--pieces", "-"), b"\xff\n", "not valid UTF-8"),
        (("--pieces", "-", "--count", "0"), b"qqq\n", "count must be an integer from 1"),
        ((), b"", "nothing to add"),
    ]:
        out = bytepiece("extend", MODEL, *args, "-o", str(tmp_path / "other.bpm"), stdin=stdin)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr.decode() and "Traceback" not in out.stderr.decode()
        assert len(out.stderr.decode().strip().splitlines()) == 1
    assert not (tmp_path / "other.bpm").exists()


def test_encode_offsets(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("cafe\u0301 ok\n第二行\n", encoding="utf-8")
    out = bytepiece("encode", "-m", MODEL, "--offsets", "--pieces", str(source))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    tok = Tokenizer(MODEL)
    assert len(rows) == 2
    for line, row in zip(["cafe\u0301 ok\n", "第二行\n"], rows):
        ids, spans = tok.encode_with_offsets(line)
        assert row["ids"] == ids and [tuple(s) for s in row["offsets"]] == spans
        assert len(row["pieces"]) == len(ids)
    assert rows[0]["offsets"][2] == [3, 6]  # "é " from "e" + U+0301 + " "
