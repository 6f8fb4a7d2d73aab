"""Corpus reading: file types, compression, streaming, and the error policy."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pytest

from bytepiece.io import corpus
from bytepiece.io.corpus import CorpusError, CorpusReader, file_kind, list_files
from bytepiece.normalization import training_chunks

from conftest import DEMO_CORPUS, corpus_sample


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)
    with opener(path, "wb") as handle:
        handle.write(data)
    return path


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


@pytest.mark.parametrize(
    "name, kind",
    [("a.txt", ".txt"), ("a.jsonl", ".jsonl"), ("a.txt.gz", ".txt"), ("a.jsonl.xz", ".jsonl"),
     ("a.txt.bz2", ".txt"), ("a.json", None), ("a.gz", None), ("MANIFEST.tsv", None)],
)
def test_file_kind(name, kind):
    assert file_kind(name) == kind


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".xz"])
def test_txt_and_jsonl_in_every_compression(tmp_path, suffix):
    write(tmp_path / f"a.txt{suffix}", "héllo\nwörld\n".encode())
    write(tmp_path / f"b.jsonl{suffix}", jsonl({"text": "新词"}, {"text": "two", "id": 2}))
    reader = CorpusReader(tmp_path)
    assert list(reader) == ["héllo\nwörld\n", "新词", "two"]
    stats = reader.stats
    assert (stats.files, stats.documents, stats.skipped_files, stats.skipped_lines) == (2, 3, 0, 0)
    assert stats.bytes == len("héllo\nwörld\n新词two".encode())


def test_directories_are_recursive_sorted_and_skip_other_files(tmp_path):
    write(tmp_path / "b" / "z.txt", b"z")
    write(tmp_path / "a.txt", b"a")
    write(tmp_path / "b" / "c" / "y.txt", b"y")
    write(tmp_path / "notes.md", b"not read")
    write(tmp_path / ".hidden.txt", b"not read")
    assert [p.name for p in list_files(tmp_path)] == ["a.txt", "y.txt", "z.txt", "notes.md"]
    reader = CorpusReader(tmp_path)
    assert list(reader) == ["a", "y", "z"]
    assert reader.stats.ignored_files == 1


def test_jsonl_field_is_configurable(tmp_path):
    write(tmp_path / "a.jsonl", jsonl({"content": "x"}, {"content": "y"}))
    assert list(CorpusReader(tmp_path, jsonl_field="content")) == ["x", "y"]


def test_sources_paths_and_texts(tmp_path):
    a = write(tmp_path / "a.txt", b"A")
    b = write(tmp_path / "b.data", b"B")  # an explicitly named file is read as text
    assert list(CorpusReader([a, b])) == ["A", "B"]
    assert list(CorpusReader(str(a))) == ["A"]
    assert list(CorpusReader(["x", "y"])) == ["x", "y"]
    with pytest.raises(TypeError, match="re-iterable"):
        CorpusReader(t for t in ["x"])
    with pytest.raises(FileNotFoundError):
        CorpusReader(tmp_path / "missing")


def test_reading_twice_gives_the_same_texts_and_counts_once(tmp_path):
    write(tmp_path / "a.txt", b"one\n")
    write(tmp_path / "bad.txt", b"")
    reader = CorpusReader(tmp_path)
    assert list(reader) == list(reader) == ["one\n"]
    assert reader.stats.documents == 1 and reader.stats.skipped_files == 1


def test_streamed_txt_gives_the_same_training_chunks(tmp_path, monkeypatch):
    text = "".join(f"line {i} {'x' * (i % 50)}" + "\n" * (1 + i % 3) for i in range(3000))
    text += "long" * 5000 + "\n" * 150 + "tail"
    write(tmp_path / "a.txt", text.encode())
    monkeypatch.setattr(corpus, "_BLOCK", 1000)
    monkeypatch.setattr(corpus, "_SNIFF", 100)
    parts = list(CorpusReader(tmp_path))
    assert len(parts) > 10 and "".join(parts) == text
    streamed = [c for part in parts for c in training_chunks(part)]
    assert streamed == list(training_chunks(text))


@pytest.mark.parametrize("corpus", ["demo-corpus", "shared sample"])
def test_a_real_corpus_is_read_completely(corpus):
    root = DEMO_CORPUS if corpus == "demo-corpus" else corpus_sample()
    reader = CorpusReader(root)
    size = sum(len(t.encode()) for t in reader)
    on_disk = sum(p.stat().st_size for p in root.rglob("*.txt"))
    assert size == on_disk == reader.stats.bytes
    assert reader.stats.files == len(list(root.rglob("*.txt")))
    assert reader.stats.ignored_files == 1  # README.md / MANIFEST.tsv


# ---------------------------------------------------------------- the error policy
def bad_corpus(tmp_path: Path) -> Path:
    write(tmp_path / "0-good.txt", b"good\n")
    write(tmp_path / "1-empty.txt", b"")
    write(tmp_path / "2-binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(tmp_path / "3-latin1.txt", b"ok line\ncaf\xe9\nlast\n")
    write(tmp_path / "4-records.jsonl", b'{"text": "fine"}\n{broken\n\n{"other": 1}\n"just a string"\n' + b'{"text": "\xff"}\n')
    (tmp_path / "5-dangling.txt").symlink_to(tmp_path / "nowhere")
    (tmp_path / "6-corrupt.txt.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    return tmp_path


def test_skip_policy_reports_and_counts_every_problem(tmp_path):
    warnings = []
    reader = CorpusReader(bad_corpus(tmp_path), warn=warnings.append)
    texts = list(reader)
    assert texts == ["good\n", "ok line\n\nlast\n", "fine"]
    stats = reader.stats
    assert stats.skipped_files == 4  # empty, binary, dangling link, corrupt gzip
    assert stats.skipped_lines == 5  # latin-1 line, broken JSON, missing field, not an object, bad UTF-8
    assert stats.files == 3 and stats.documents == 3
    report = "\n".join(warnings)
    for expected in ["1-empty.txt: empty file", "2-binary.txt: binary file", "3-latin1.txt, line 2: not valid UTF-8",
                     "4-records.jsonl, line 2: malformed JSON", "4-records.jsonl, line 4: no string field 'text'",
                     "4-records.jsonl, line 6: not valid UTF-8", "5-dangling.txt: cannot be read", "6-corrupt.txt.gz: "]:
        assert expected in report
    assert len(stats.warnings) == 9


def test_second_pass_does_not_warn_again(tmp_path):
    warnings = []
    reader = CorpusReader(bad_corpus(tmp_path), warn=warnings.append)
    list(reader)
    count = len(warnings)
    list(reader)
    assert len(warnings) == count


def test_reading_again_after_the_parts_were_recorded_counts_nothing_twice(tmp_path):
    # Training's first pass reads parts in its tasks and records them; --refine then reads
    # the reader itself: a later pass, checked against the first, not counted again.
    warnings = []
    reader = CorpusReader(bad_corpus(tmp_path), warn=warnings.append)
    for part in reader.parts():
        stats = corpus.CorpusStats()
        list(corpus.read_part(part, reader.format, stats))
        reader.record(stats, part)
    first = reader.stats.as_dict()
    count = len(warnings)
    list(reader)
    assert reader.stats.as_dict() == first
    assert len(warnings) == count


def test_a_later_pass_cuts_the_corpus_as_the_first_plan_did(tmp_path, monkeypatch):
    # The trainer plans parts for its workers (min_parts); --refine then reads the reader
    # itself. Planned with other options, its parts were checked against other parts,
    # reported as "read differently", and under "fail" the refinement stopped.
    for name in "abc":
        write(tmp_path / f"{name}.txt", "".join(f"{name} line {i}\n" for i in range(2000)).encode())
    monkeypatch.setattr(corpus, "MIN_PART_BYTES", 1000)
    warnings = []
    reader = CorpusReader(tmp_path, on_error="fail", warn=warnings.append)
    for part in reader.parts(min_parts=8):
        stats = corpus.CorpusStats()
        list(corpus.read_part(part, reader.format, stats))
        reader.record(stats, part)
    assert "".join(reader) == "".join(CorpusReader(tmp_path))  # no CorpusError
    assert warnings == [] and reader.stats.changed_files == 0


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("e.txt", b"", r"e\.txt: empty file"),
        ("b.txt", b"ab\x00", r"b\.txt: binary file"),
        ("l.txt", b"a\nb\n\xff\n", r"l\.txt, line 3: not valid UTF-8"),
        ("j.jsonl", b'{"text": "a"}\n[1]\n', r"j\.jsonl, line 2: no string field"),
    ],
)
def test_fail_policy_raises_naming_file_and_line(tmp_path, name, data, message):
    write(tmp_path / name, data)
    with pytest.raises(CorpusError, match=message):
        list(CorpusReader(tmp_path, on_error="fail"))


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="on_error"):
        CorpusReader(["x"], on_error="ignore")


# ---------------------------------------------------------------- parts: what a task reads
def test_files_cut_into_parts_give_the_same_chunks_and_statistics(tmp_path, monkeypatch):
    text = "".join(f"line {i} {'x' * (i % 70)}" + "\n" * (1 + i % 4) for i in range(4000))
    text += "long" * 5000 + "\n" * 150 + "tail"
    write(tmp_path / "a.txt", text.encode())
    write(tmp_path / "b.jsonl", jsonl(*({"text": f"record {i}\n" * (i % 5)} for i in range(2000))))
    whole = CorpusReader(tmp_path)
    texts = list(whole)
    monkeypatch.setattr(corpus, "PART_BYTES", 997)
    monkeypatch.setattr(corpus, "_BLOCK", 300)
    reader = CorpusReader(tmp_path)
    parts = list(reader.parts())
    assert len(parts) > 100 and all(p.end is not None for p in parts)
    pieces = []
    for part in parts:  # each part read on its own, as a worker does
        stats = corpus.CorpusStats()
        pieces.append(list(corpus.read_part(part, reader.format, stats)))
        reader.record(stats)
    txt = "".join(t for p, got in zip(parts, pieces) if p.kind == ".txt" for t in got)
    assert txt == text
    assert [c for t in (t for got in pieces for t in got) for c in training_chunks(t)] == [
        c for t in texts for c in training_chunks(t)
    ]
    assert [t for p, got in zip(parts, pieces) if p.kind == ".jsonl" for t in got] == texts[-2000:]
    for name in ("files", "documents", "bytes"):
        assert getattr(reader.stats, name) == getattr(whole.stats, name), name


def test_a_problem_in_a_later_part_names_its_line_in_the_file(tmp_path, monkeypatch):
    lines = [f"line {i}\n".encode() for i in range(3000)]
    lines[2500] = b"caf\xe9\n"
    write(tmp_path / "a.txt", b"".join(lines))
    monkeypatch.setattr(corpus, "PART_BYTES", 1000)
    warnings = []
    reader = CorpusReader(tmp_path, warn=warnings.append)
    assert "".join(reader).count("\n") == 3000
    assert len(warnings) == 1 and "a.txt, line 2501: not valid UTF-8" in warnings[0]
    assert reader.stats.skipped_lines == 1 and reader.stats.files == 1 and reader.stats.documents == 1
    with pytest.raises(CorpusError, match=r"a\.txt, line 2501"):
        list(CorpusReader(tmp_path, on_error="fail"))


def test_a_binary_file_cut_into_parts_is_skipped_once(tmp_path, monkeypatch):
    write(tmp_path / "bin.txt", b"\x00" * 5000)
    monkeypatch.setattr(corpus, "PART_BYTES", 1000)
    reader = CorpusReader(tmp_path)
    assert len(list(reader.parts())) == 5
    assert list(reader) == [] and reader.stats.skipped_files == 1 and reader.stats.files == 0


def test_fsspec_urls_read_like_local_paths(tmp_path):
    pytest.importorskip("fsspec")
    write(tmp_path / "sub" / "a.txt", b"one\ntwo\n")
    write(tmp_path / "b.jsonl.gz", jsonl({"text": "three"}))
    write(tmp_path / ".hidden.txt", b"no")
    write(tmp_path / "notes.md", b"ignored")
    local = CorpusReader(tmp_path)
    url = CorpusReader(tmp_path.as_uri())
    assert list(url) == list(local) == ["three", "one\ntwo\n"]
    assert url.stats.as_dict() == local.stats.as_dict()
    assert list(CorpusReader((tmp_path / "sub" / "a.txt").as_uri())) == ["one\ntwo\n"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(CorpusReader((tmp_path / "missing").as_uri()))


def test_hidden_directories_and_links_to_directories_are_not_listed(tmp_path):
    write(tmp_path / "corpus" / "a.txt", b"a")
    write(tmp_path / "corpus" / ".cache" / "b.txt", b"not read")
    write(tmp_path / "elsewhere" / "c.txt", b"not read")
    (tmp_path / "corpus" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "corpus" / "loop").symlink_to(tmp_path / "corpus", target_is_directory=True)  # no cycle
    assert [p.name for p in list_files(tmp_path / "corpus")] == ["a.txt"]
    assert list(CorpusReader(tmp_path / "corpus")) == ["a"]


def test_a_small_corpus_is_cut_into_at_least_min_parts(tmp_path, monkeypatch):
    # so that every worker of a small corpus gets a share; the texts read are the same
    for name in "abc":
        write(tmp_path / f"{name}.txt", "".join(f"{name} line {i}\n" for i in range(2000)).encode())
    monkeypatch.setattr(corpus, "MIN_PART_BYTES", 1000)
    assert len(list(CorpusReader(tmp_path).parts())) == 1  # 3 small files: one group
    reader = CorpusReader(tmp_path)
    parts = list(reader.parts(min_parts=40))
    assert len(parts) >= 40 and max(p.size for p in parts) <= -(-sum(p.size for p in parts) // 40)
    texts = []
    for part in parts:
        texts.extend(corpus.read_part(part, reader.format, corpus.CorpusStats()))
    assert "".join(texts) == "".join(CorpusReader(tmp_path))
    monkeypatch.setattr(corpus, "MIN_PART_BYTES", 100_000)  # never cut finer than this
    assert len(list(CorpusReader(tmp_path).parts(min_parts=40))) == 1
