"""encode-corpus: token file writer, memory-mapped reader, CLI; trained end to end."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

from bytepiece import TokenFileError, Tokenizer
from bytepiece.encoding import encode_corpus as corpus_encoding
from bytepiece.cli import main
from bytepiece.encoding.encode_corpus import encode_corpus
from bytepiece.io.corpus import CorpusPaths, iter_documents
from bytepiece.io.token_file import TokenFile, write_token_file
from bytepiece.training.trainer import Trainer

from conftest import DEMO_CORPUS, corpus_sample, legacy_zip

DOCS = {
    "a/one.txt": "first line\nsecond 行\n\nthird\n",
    "a/two.jsonl": json.dumps({"text": "json doc 1"}) + "\n" + json.dumps({"text": "json\ndoc 2"}) + "\n",
    "b/three.txt.gz": "compressed ½ text\nmore\n",
    "b/notes.md": "ignored: not a corpus file type\n",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for name, text in DOCS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode()
        path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return root


@pytest.fixture(scope="module")
def tok():
    # A real model trained on the demo corpus by our Trainer (8k: uint16 ids).
    texts = sorted(DEMO_CORPUS.glob("en/*.txt"))[:3]
    text = [p.read_text(encoding="utf-8")[:200_000] for p in texts]
    (model,) = Trainer(vocab_size=8000, min_count=3, progress=False).train(text).values()
    return Tokenizer(model)


def test_documents_files_and_lines(corpus):
    assert list(iter_documents(corpus)) == [DOCS["a/one.txt"], "json doc 1", "json\ndoc 2", "compressed ½ text\nmore\n"]
    assert list(iter_documents(corpus, split="lines"))[:5] == ["first line\n", "second 行\n", "\n", "third\n", "json doc 1"]
    with pytest.raises(ValueError, match="split"):
        list(iter_documents(corpus, split="paragraphs"))


def test_several_paths_as_strings_need_corpus_paths(tok, corpus, tmp_path):
    # A list of str would be texts for the trainer; read as documents it would encode the
    # path names themselves, so it is refused, naming the way to pass several paths.
    paths = [str(corpus / "b" / "three.txt.gz"), str(corpus / "a")]  # read in the order given
    with pytest.raises(TypeError, match="CorpusPaths"):
        list(iter_documents(paths))
    with pytest.raises(TypeError, match="CorpusPaths"):
        encode_corpus(tok, paths, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    both = list(iter_documents(CorpusPaths(paths)))
    assert both == list(iter_documents([corpus / "b" / "three.txt.gz", corpus / "a"]))
    assert both == ["compressed ½ text\nmore\n", DOCS["a/one.txt"], "json doc 1", "json\ndoc 2"]


def test_encode_and_read_back(tok, corpus, tmp_path):
    meta = encode_corpus(tok, corpus, tmp_path / "out")
    tokens = TokenFile(tmp_path / "out")
    docs = list(iter_documents(corpus))
    assert len(tokens) == len(docs) == meta["documents"] == 4
    assert tokens.dtype == np.uint16 and tokens.tokens.dtype == np.uint16
    assert isinstance(tokens.tokens, np.memmap)
    for doc, ids in zip(docs, tokens):
        assert ids.base is not None  # a view of the map, not a copy
        assert ids[-1] == tok.eos_id
        assert ids[:-1].tolist() == tok.encode(doc)
    assert tokens[-1].tolist() == tokens[3].tolist()
    assert tokens.num_tokens == meta["tokens"] == int(tokens.offsets[-1])
    # With <eos> separators the flat stream alone gives the documents back.
    assert tok.decode(tokens.tokens.tolist()) == "<eos>".join(docs) + "<eos>"
    tokens.check_tokenizer(tok)
    with pytest.raises(ValueError, match="another model"):
        tokens.check_tokenizer(Tokenizer(legacy_zip("bytepiece_80k")))
    with pytest.raises(IndexError):
        tokens[4]


def test_no_eos_and_uint32(corpus, tmp_path):
    tok = Tokenizer(legacy_zip("bytepiece.zh.id.eu.80k"))
    encode_corpus(tok, corpus, tmp_path / "out", eos=False, split="lines")
    tokens = TokenFile(tmp_path / "out")
    assert tokens.dtype == np.uint32
    docs = list(iter_documents(corpus, split="lines"))
    assert [tok.decode(d.tolist()) for d in tokens] == docs
    assert tok.decode(tokens.tokens.tolist()) == "".join(docs)


def test_deterministic_across_workers_and_with_sampling(tok, corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_encoding, "BLOCK_CHARS", 40)  # several blocks
    encode_corpus(tok, corpus, tmp_path / "w1", alpha=0.1, seed=3)
    encode_corpus(tok, corpus, tmp_path / "w2", alpha=0.1, seed=3, workers=2)
    for name in ("tokens.bin", "offsets.npy", "meta.json"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    sampled = [d.tolist() for d in TokenFile(tmp_path / "w1")]
    assert [tok.decode(d) for d in sampled] == [d + "<eos>" for d in iter_documents(corpus)]
    encode_corpus(tok, corpus, tmp_path / "other", alpha=0.1, seed=4)
    assert [d.tolist() for d in TokenFile(tmp_path / "other")] != sampled


def test_viterbi_ids_are_those_of_encode(tok, corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_encoding, "BLOCK_CHARS", 40)
    encode_corpus(tok, corpus, tmp_path / "out", workers=2)
    expected = [tok.encode(d) + [tok.eos_id] for d in iter_documents(corpus)]
    assert [d.tolist() for d in TokenFile(tmp_path / "out")] == expected


def test_workers_read_their_own_parts_and_write_the_same_file(tok, tmp_path, monkeypatch):
    # Tasks carry a file name and a byte range, never text; files are cut into many
    # parts, and the token file is the documents of the corpus read whole, for 1 and 2
    # workers, in order and shuffled. With --split files a .txt file stays one document.
    from bytepiece.io import corpus as corpus_io

    monkeypatch.setattr(corpus_io, "PART_BYTES", 8_000)
    root = tmp_path / "c"
    root.mkdir()
    moby = (DEMO_CORPUS / "en" / "moby-dick.txt").read_bytes()[:60_000]
    (root / "a.txt").write_bytes(moby)
    records = [json.dumps({"text": line}) for line in moby.decode("utf-8", "ignore").split("\n\n")[:200]]
    (root / "b.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")
    expected = [*moby.decode("utf-8").splitlines(keepends=True), *(json.loads(r)["text"] for r in records)]
    sent = []
    real = corpus_encoding.encode_part
    monkeypatch.setattr(corpus_encoding, "encode_part", lambda engine, task: (sent.append(task), real(engine, task))[1])
    encode_corpus(tok, root, tmp_path / "w1", split="lines")
    assert len(sent) > 10 and all(t.part.texts is None and t.part.size <= 8_000 for t in sent)
    assert [d.tolist() for d in TokenFile(tmp_path / "w1")] == [tok.encode(d) + [tok.eos_id] for d in expected]
    monkeypatch.setattr(corpus_encoding, "encode_part", real)  # workers get tasks by name
    encode_corpus(tok, root, tmp_path / "w2", split="lines", workers=2)
    encode_corpus(tok, root, tmp_path / "s1", split="lines", shuffle=5)
    encode_corpus(tok, root, tmp_path / "s2", split="lines", shuffle=5, workers=2, memory_budget=10_000)
    for name in ("tokens.bin", "offsets.npy"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
        assert (tmp_path / "s1" / name).read_bytes() == (tmp_path / "s2" / name).read_bytes()
    assert sorted(d.tobytes() for d in TokenFile(tmp_path / "s1")) == sorted(d.tobytes() for d in TokenFile(tmp_path / "w1"))
    encode_corpus(tok, root, tmp_path / "files", eos=False)
    assert TokenFile(tmp_path / "files")[0].tolist() == tok.encode(moby.decode("utf-8"))


def test_several_corpus_paths_and_urls(tok, corpus, tmp_path):
    # `encode-corpus A B`: the documents of A, then those of B; a path may be a file:// URL
    pytest.importorskip("fsspec")
    model = tmp_path / "m.model"
    tok.save(model)
    single = tmp_path / "one.txt"
    single.write_text("one more document\n", encoding="utf-8")
    assert main(["encode-corpus", str(corpus), single.as_uri(), "-m", str(model), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    expected = [*iter_documents(corpus), "one more document\n"]
    assert [tok.decode(d.tolist()) for d in TokenFile(tmp_path / "out")] == [d + "<eos>" for d in expected]


def test_existing_output_refused_or_replaced_atomically(tok, corpus, tmp_path):
    out = tmp_path / "out"
    encode_corpus(tok, corpus, out, eos=False)
    before = (out / "tokens.bin").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        encode_corpus(tok, corpus, out)
    assert (out / "tokens.bin").read_bytes() == before

    def failing():
        yield [3, 4]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_token_file(out, failing(), vocab_size=tok.vocab_size, overwrite=True)
    assert (out / "tokens.bin").read_bytes() == before  # the old file survives a failed run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind
    encode_corpus(tok, corpus, out, overwrite=True)
    assert TokenFile(out).meta["eos_appended"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_output_directory_gets_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_token_file(tmp_path / "t", [[3, 4]], vocab_size=300)
    finally:
        os.umask(old)
    assert (tmp_path / "t").stat().st_mode & 0o777 == 0o755


def test_reader_errors(tmp_path, tok):
    with pytest.raises(TokenFileError, match="not a token file"):
        TokenFile(tmp_path)
    write_token_file(tmp_path / "t", [[3, 4, 5], []], vocab_size=300)
    reader = TokenFile(tmp_path / "t")
    assert [d.tolist() for d in reader] == [[3, 4, 5], []]
    with open(tmp_path / "t" / "tokens.bin", "r+b") as handle:
        handle.truncate(2)
    with pytest.raises(ValueError, match="truncated"):
        TokenFile(tmp_path / "t")
    with pytest.raises(ValueError, match="outside"):
        write_token_file(tmp_path / "u", [[3, 300]], vocab_size=300)
    write_token_file(tmp_path / "empty", [], vocab_size=300)
    assert len(TokenFile(tmp_path / "empty")) == 0


def test_cli(tok, corpus, tmp_path, capsys):
    model = tmp_path / "m.model"
    tok.save(model)
    out = tmp_path / "out"
    assert main(["encode-corpus", str(corpus), "-m", str(model), "-o", str(out), "--workers", "1"]) == 0
    assert "4 documents" in capsys.readouterr().err
    assert main(["encode-corpus", str(corpus), "-m", str(model), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["encode-corpus", str(corpus), "-m", str(model), "-o", str(out), "--overwrite", "--quiet", "--split", "lines"]) == 0
    assert len(TokenFile(out)) == len(list(iter_documents(corpus, split="lines")))
    assert main(["encode-corpus", str(tmp_path / "missing"), "-m", str(model), "-o", str(tmp_path / "x")]) == 2


def test_bad_input_and_jsonl_field(tok, tmp_path, capsys):
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.jsonl").write_text('{"body": "one"}\nnot json\n{"body": "two"}\n', encoding="utf-8")
    model = tmp_path / "m.model"
    tok.save(model)
    args = ["encode-corpus", str(root), "-m", str(model), "--jsonl-field", "body"]
    assert main(args + ["-o", str(tmp_path / "skip")]) == 0
    assert "line 2" in capsys.readouterr().err
    assert [tok.decode(d[:-1].tolist()) for d in TokenFile(tmp_path / "skip")] == ["one", "two"]
    assert main(args + ["-o", str(tmp_path / "fail"), "--on-error", "fail"]) == 2
    assert not (tmp_path / "fail").exists()


@pytest.mark.slow
def test_corpus_sample_with_two_workers(tmp_path):
    tok = Tokenizer(legacy_zip("bytepiece.zh.id.eu.80k"))
    source = corpus_sample() / "zh"
    meta = encode_corpus(tok, source, tmp_path / "zh", workers=2, split="lines")
    tokens = TokenFile(tmp_path / "zh")
    assert meta["documents"] == len(tokens) > 100
    for index in range(0, len(tokens), max(1, len(tokens) // 50)):
        assert tok.decode(tokens[index].tolist()).endswith("<eos>")
    assert os.path.getsize(tmp_path / "zh" / "tokens.bin") == 4 * tokens.num_tokens
