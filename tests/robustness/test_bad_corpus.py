"""Bad corpus input under both policies: every problem is skipped and counted, or stops
the run with a CorpusError naming the file (and line); nothing crashes, hangs or goes
missing silently. Also across training's two passes."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest

import bytepiece
from bytepiece import Tokenizer, Trainer
from bytepiece.cli import main
from bytepiece.io import corpus as corpus_module
from bytepiece.io.corpus import CorpusReader
from bytepiece.training import trainer as trainer_module

GOOD = ("the quick brown fox jumps over the lazy dog\n" * 40).encode()


def corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(b ^ 0x5A for b in data[at : at + 16]) + data[at + 16 :]


def fifo(path: Path) -> None:
    os.mkfifo(path)


# name -> (file name, how to make it, what the skip policy counts: "file" or "line")
CASES: Dict[str, Tuple[str, Callable[[Path], None], str]] = {
    "corrupt deflate data in a .gz": ("a.txt.gz", lambda p: p.write_bytes(corrupt(gzip.compress(GOOD * 20), 30)), "file"),
    "truncated .gz": ("a.txt.gz", lambda p: p.write_bytes(gzip.compress(GOOD * 20)[:60]), "file"),
    "bad .gz header": ("a.txt.gz", lambda p: p.write_bytes(b"\x1f\x8b\x09" + GOOD), "file"),
    "corrupt .bz2": ("a.txt.bz2", lambda p: p.write_bytes(corrupt(bz2.compress(GOOD * 20), 40)), "file"),
    "truncated .bz2": ("a.txt.bz2", lambda p: p.write_bytes(bz2.compress(GOOD * 20)[:-10]), "file"),
    "corrupt .xz": ("a.txt.xz", lambda p: p.write_bytes(corrupt(lzma.compress(GOOD * 20), 40)), "file"),
    "truncated .xz": ("a.txt.xz", lambda p: p.write_bytes(lzma.compress(GOOD * 20)[:-10]), "file"),
    "corrupt .jsonl.gz": ("a.jsonl.gz", lambda p: p.write_bytes(corrupt(gzip.compress(b'{"text": "x"}\n' * 500), 30)), "file"),
    "deeply nested JSON line": ("a.jsonl", lambda p: p.write_bytes(b"[" * 100_000 + b"\n"), "line"),
    "JSON number of 5,000 digits": ("a.jsonl", lambda p: p.write_bytes(b'{"text": "a", "n": ' + b"9" * 5000 + b"}\n"), "line"),
    "JSON line not UTF-8": ("a.jsonl", lambda p: p.write_bytes(b'{"text": "\xff"}\n'), "line"),
    "JSON line without the field": ("a.jsonl", lambda p: p.write_bytes(b'{"body": "x"}\n'), "line"),
    "text line not UTF-8": ("a.txt", lambda p: p.write_bytes(b"ok\n\xc3(\n"), "line"),
    "empty file": ("a.txt", lambda p: p.write_bytes(b""), "file"),
    "binary file": ("a.txt", lambda p: p.write_bytes(b"\x89PNG\x00\x00"), "file"),
    "dangling link": ("a.txt", lambda p: p.symlink_to(p.parent / "nowhere"), "file"),
    "a FIFO (would block forever)": ("a.txt", fifo, "file"),
}


def make_corpus(root: Path, case: str) -> Path:
    root.mkdir()
    (root / "0-good.txt").write_bytes(GOOD)
    name, build, _unit = CASES[case]
    build(root / name)
    return root


@pytest.mark.parametrize("case", sorted(CASES))
def test_skip_policy_counts_and_reports_each_problem(tmp_path, case):
    root = make_corpus(tmp_path / "c", case)
    warnings = []
    reader = CorpusReader(root, warn=warnings.append)
    texts = list(reader)
    assert texts[0] == GOOD.decode()  # the good file is read whole
    stats = reader.stats
    unit = CASES[case][2]
    assert (stats.skipped_files, stats.skipped_lines) == ((1, 0) if unit == "file" else (0, 1)), stats
    assert len(warnings) == 1 and CASES[case][0] in warnings[0] and warnings[0].startswith("skipped: ")
    assert list(reader) == texts and reader.stats.changed_files == 0  # the second pass agrees


@pytest.mark.parametrize("case", sorted(CASES))
def test_fail_policy_raises_a_corpus_error_naming_the_file(tmp_path, case):
    root = make_corpus(tmp_path / "c", case)
    with pytest.raises(bytepiece.CorpusError) as info:
        list(CorpusReader(root, on_error="fail"))
    message = str(info.value)
    assert info.value.path.endswith(CASES[case][0]) and message.startswith(str(root / CASES[case][0]))
    assert "skipped" not in message.split("(use")[0]  # under fail nothing is "skipped"
    assert (info.value.line is not None) == (CASES[case][2] == "line")


def locked_directory(monkeypatch, locked: Path) -> None:
    """``locked`` cannot be listed (tests may run as root, where permissions do not stop
    a listing, so the refusal is simulated where os.walk meets it)."""
    real = os.scandir

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_subdirectory_is_reported_or_fails(tmp_path, monkeypatch):
    root = tmp_path / "c"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "hidden.txt").write_bytes(GOOD)
    (root / "0-good.txt").write_bytes(GOOD)
    locked_directory(monkeypatch, root / "locked")
    warnings = []
    reader = CorpusReader(root, warn=warnings.append)
    assert list(reader) == [GOOD.decode()]
    assert reader.stats.skipped_files == 1 and "locked: directory cannot be read" in warnings[0]
    with pytest.raises(bytepiece.CorpusError, match="locked: directory cannot be read"):
        list(CorpusReader(root, on_error="fail"))
    with pytest.raises(PermissionError):  # list_files without a policy raises
        corpus_module.list_files(root)


def train_with_change(root: Path, change: Callable[[], None], on_error: str):
    """Train, running ``change`` between the two passes over the corpus."""
    real = trainer_module.stream_model

    def stream_model(*args, **kwargs):
        change()
        return real(*args, **kwargs)

    trainer_module.stream_model = stream_model
    try:
        return Trainer(vocab_size=300, min_count=1, progress=False, on_error=on_error).train(root)
    finally:
        trainer_module.stream_model = real


@pytest.mark.parametrize("how", ["deleted", "rewritten", "appended"])
def test_a_file_that_changes_between_the_passes(tmp_path, how):
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.txt").write_bytes(GOOD)
    (root / "b.txt").write_bytes(GOOD.upper())
    change = {
        "deleted": lambda: (root / "b.txt").unlink(),
        "rewritten": lambda: (root / "b.txt").write_bytes(b"something else\n"),
        "appended": lambda: (root / "b.txt").write_bytes(GOOD.upper() + b"more\n"),
    }[how]
    (model,) = train_with_change(root, change, "skip").values()
    counts = model.training["corpus"]
    assert counts["changed_files"] == 1 and counts["files"] == 2
    assert any("b.txt: changed since the first pass" in w for w in counts["warnings"])
    (root / "b.txt").write_bytes(GOOD.upper())
    with pytest.raises(bytepiece.CorpusError, match="b.txt: changed since the first pass"):
        train_with_change(root, change, "fail")


def test_a_file_read_differently_with_the_same_size_and_time_is_reported(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"good line\nsecond\n")
    stat = path.stat()
    warnings = []
    reader = CorpusReader(tmp_path, warn=warnings.append)
    list(reader)
    path.write_bytes(b"good line\nsec\xffnd\n")  # same size; time set back below
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    list(reader)
    assert reader.stats.changed_files == 1 and "read differently" in warnings[-1]


def test_training_leaves_out_a_part_read_differently_in_pass_two(tmp_path, monkeypatch):
    # Same size and modification time, different content: only the per-part counts of
    # pass 1 can tell. Under skip the part is reported and what pass 2 read of it is not
    # counted (no "Q" beyond the count 1 of a missing byte); under fail it stops the run.
    monkeypatch.setattr(corpus_module, "PART_BYTES", 600)  # b.txt is cut into parts
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.txt").write_bytes(GOOD)
    b = root / "b.txt"
    b.write_bytes(GOOD)
    stat = b.stat()

    def change():
        b.write_bytes(GOOD[:-40] + b"Q" * 20 + b"\xff" + b"Q" * 18 + b"\n")  # the same size
        os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    (model,) = train_with_change(root, change, "skip").values()
    counts = model.training["corpus"]
    assert counts["changed_files"] == 1 and counts["skipped_lines"] == 0
    assert any("b.txt: read differently than in the first pass" in w for w in counts["warnings"])
    assert [(p, c) for p, c in zip(model.pieces, model.counts) if b"Q" in p] == [(b"Q", 1)]
    b.write_bytes(GOOD)
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(bytepiece.CorpusError, match=r"b\.txt, line 40: not valid UTF-8"):  # fails at once
        train_with_change(root, change, "fail")
    # read differently with no bad line: a part's counts alone tell (the verify step)
    reader = CorpusReader(root, on_error="fail")
    plan = list(reader.parts())
    first = corpus_module.CorpusStats(files=1, documents=1, bytes=10)
    reader.record(first, plan[0])
    assert reader.verify(plan[0], first)
    with pytest.raises(bytepiece.CorpusError, match="read differently than in the first pass"):
        reader.verify(plan[0], corpus_module.CorpusStats(files=1, documents=1, bytes=9))


def test_no_text_left_says_how_much_was_skipped(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"body": "x"}\n' * 3)
    with pytest.raises(bytepiece.CorpusError, match=r"1 files read \(0 documents\), 0 files and 3 lines skipped"):
        Trainer(vocab_size=300, progress=False).train(tmp_path)


@pytest.mark.parametrize("case", ["corrupt deflate data in a .gz", "deeply nested JSON line"])
def test_training_on_the_command_line(tmp_path, capsys, case):
    root = make_corpus(tmp_path / "c", case)
    args = ["train", str(root), "-o", str(tmp_path / "m.model"), "--vocab-size", "300", "--min-count", "1"]
    args.append("--quiet")
    assert main(args) == 0
    assert "skipped" in capsys.readouterr().err
    assert Tokenizer(tmp_path / "m.model").model.training["corpus"]["skipped_" + CASES[case][2] + "s"] == 1
    assert main(args + ["--on-error", "fail", "-o", str(tmp_path / "f.model")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bytepiece train: error: " + str(root / CASES[case][0]) in err
    assert not (tmp_path / "f.model").exists()


@pytest.mark.parametrize("case", ["corrupt deflate data in a .gz", "deeply nested JSON line", "truncated .xz"])
def test_encode_corpus_on_the_command_line(tmp_path, capsys, case):
    from conftest import tiny_model

    root = make_corpus(tmp_path / "c", case)
    model = tmp_path / "m.bpm"
    Tokenizer(tiny_model({b"the": 5})).save(model)
    assert main(["encode-corpus", str(root), "-m", str(model), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    counted = "1 files and 0 lines skipped" if CASES[case][2] == "file" else "0 files and 1 lines skipped"
    assert "skipped: " in err and counted in err
    meta = bytepiece.TokenFile(tmp_path / "out").meta
    assert meta["corpus"]["skipped_" + CASES[case][2] + "s"] == 1
    assert main(["encode-corpus", str(root), "-m", str(model), "-o", str(tmp_path / "fail"), "--on-error", "fail"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "m.bpm", "out"]  # no output, no staging left
