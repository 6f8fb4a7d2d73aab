"""Bad input on the command line: one line naming the file and line (or the argument),
exit status 2, never a traceback and never a hang."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bytepiece.cli import main

from conftest import DEMO_CORPUS, legacy_zip

MODEL = str(legacy_zip("bytepiece_80k"))


def lines_with_bad_one(at: int, total: int = 3000, bad: bytes = b"bad \xff line\n") -> bytes:
    lines = [f"line {i} with some text\n".encode() for i in range(1, total + 1)]
    lines[at - 1] = bad
    return b"".join(lines)


@pytest.mark.parametrize("at, bad", [(1, b"\xc3(\n"), (500, b"bad \xff line\n"), (2500, b"bad \xc3 line\r\n"),
                                     (3000, b"last \xe6\x96")])
def test_encode_names_the_very_line_that_is_not_utf8(tmp_path, capsys, at, bad):
    path = tmp_path / "in.txt"
    path.write_bytes(lines_with_bad_one(at, bad=bad))
    assert main(["encode", "-m", MODEL, str(path), "-o", str(tmp_path / "out.ids")]) == 2
    err = capsys.readouterr().err
    assert err == f"bytepiece encode: error: {path}, line {at}: " + err.split(f"line {at}: ", 1)[1]
    assert "not valid UTF-8" in err and err.count("\n") == 1


def test_stdin_lines_are_counted_too():
    data = lines_with_bad_one(700)
    out = subprocess.run([sys.executable, "-m", "bytepiece", "encode", "-m", MODEL], input=data, capture_output=True)
    assert out.returncode == 2 and out.stderr.startswith(b"bytepiece encode: error: <stdin>, line 700: not valid UTF-8")


@pytest.mark.parametrize("args", [
    ["encode", "-m", MODEL, "--alpha", "inf"],
    ["encode", "-m", MODEL, "--alpha", "1e308"],
    ["encode", "-m", MODEL, "--alpha", "nan"],
    ["encode", "-m", MODEL, "--pieces", "--alpha", "-1"],
])
def test_an_alpha_that_cannot_be_sampled_is_refused(tmp_path, capsys, args):
    path = tmp_path / "in.txt"
    path.write_text("hello world\n")
    assert main(args + [str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bytepiece encode: error: alpha must be a number from 0 to 1e+100") and err.count("\n") == 1


def test_encode_corpus_refuses_such_an_alpha_before_reading(tmp_path, capsys):
    args = ["encode-corpus", str(DEMO_CORPUS), "-m", MODEL, "-o", str(tmp_path / "out"), "--alpha", "1e308"]
    assert main(args) == 2
    assert "alpha must be a number" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", [
    (b"5 6 x\n", "line 1: expected space-separated integer ids"),
    (b"5 6\n5 99999999\n", "line 2: ids[1]: unknown token id 99999999"),
    (b"5\n" + b"9" * 5000 + b"\n", "line 2: expected space-separated integer ids"),
    (b"5\n6 -3\n", "line 2: ids[1]: unknown token id -3"),
])
def test_decode_names_the_line(tmp_path, capsys, content, message):
    path = tmp_path / "in.ids"
    path.write_bytes(content)
    assert main(["decode", "-m", MODEL, str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, {message}" in err and err.count("\n") == 1


def test_decode_strict_names_the_line_of_a_broken_character(tmp_path, capsys):
    from bytepiece import Tokenizer

    tok = Tokenizer(MODEL)
    broken = [tok.piece_to_id("字".encode()[:1])]  # the first byte of a character only
    path = tmp_path / "in.ids"
    path.write_text("5\n" + " ".join(map(str, broken)) + "\n")
    assert main(["decode", "-m", MODEL, "--errors", "strict", str(path)]) == 2
    assert f"{path}, line 2: 'utf-8' codec can't decode" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["encode", "-m", "does-not-exist.model"], "No such file"),
    (["encode", "-m", str(DEMO_CORPUS)], "Is a directory"),
    (["inspect", str(DEMO_CORPUS / "README.md")], "not a bytepiece model"),
    (["train", "does-not-exist", "-o", "x.model"], "does not exist"),
    (["encode-corpus", "does-not-exist", "-m", MODEL, "-o", "x"], "does not exist"),
])
def test_missing_and_wrong_files(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
