"""Corrupt token files: the index is checked when the file is opened, the ids and the
checksums by ``TokenFile.verify()``; every problem is a TokenFileError naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import pytest

import bytepiece
from bytepiece import TokenFile
from bytepiece.io.token_file import write_token_file

DOCS = [[5, 6, 7, 2], [8, 2], [9, 10, 11, 12, 2], [2]]
VOCAB = 300


@pytest.fixture()
def good(tmp_path) -> Path:
    out = tmp_path / "good.tokens"
    write_token_file(out, DOCS, vocab_size=VOCAB, meta={"eos_appended": True, "eos_id": 2})
    return out


def edit_meta(path: Path, **changes) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


def save_offsets(path: Path, offsets) -> None:
    np.save(path / "offsets.npy", np.asarray(offsets), allow_pickle=False)


def flip(path: Path, name: str, at: int, mask: int = 0x10) -> None:
    data = bytearray((path / name).read_bytes())
    data[at] ^= mask
    (path / name).write_bytes(bytes(data))


# Found when the file is opened: each breaks the index, the metadata or their agreement.
ON_OPEN: Dict[str, Callable[[Path], None]] = {
    "swapped offsets": lambda p: save_offsets(p, [0, 6, 4, 11, 12]),
    "negative offset": lambda p: save_offsets(p, [0, -2, 6, 11, 12]),
    "offsets not starting at 0": lambda p: save_offsets(p, [1, 4, 6, 11, 12]),
    "offsets past the end": lambda p: save_offsets(p, [0, 4, 6, 11, 13]),
    "offsets of floats": lambda p: save_offsets(p, [0.0, 4.0, 6.0, 11.0, 12.0]),
    "offsets of two dimensions": lambda p: save_offsets(p, [[0, 4], [6, 12]]),
    "offsets of objects": lambda p: np.save(p / "offsets.npy", np.array([0, "x"], dtype=object), allow_pickle=True),
    "offsets missing an entry": lambda p: save_offsets(p, [0, 4, 6, 12]),
    "offsets not an .npy": lambda p: (p / "offsets.npy").write_bytes(b"not numpy"),
    "offsets truncated": lambda p: (p / "offsets.npy").write_bytes((p / "offsets.npy").read_bytes()[:-3]),
    "offsets missing": lambda p: (p / "offsets.npy").unlink(),
    "tokens.bin truncated": lambda p: (p / "tokens.bin").write_bytes((p / "tokens.bin").read_bytes()[:-2]),
    "tokens.bin missing": lambda p: (p / "tokens.bin").unlink(),
    "meta not JSON": lambda p: (p / "meta.json").write_text("{not json"),
    "meta not UTF-8": lambda p: (p / "meta.json").write_bytes(b'{"format": "\xff"}'),
    "meta an array": lambda p: (p / "meta.json").write_text("[1, 2]"),
    "meta nested too deeply": lambda p: (p / "meta.json").write_text("[" * 100_000),
    "meta of another format": lambda p: edit_meta(p, format="something-else"),
    "meta without dtype": lambda p: edit_meta(p, dtype=None),
    "meta with a bogus dtype": lambda p: edit_meta(p, dtype="object"),
    "meta with documents a string": lambda p: edit_meta(p, documents="4"),
    "meta with tokens true": lambda p: edit_meta(p, tokens=True),
    "meta with a negative vocab size": lambda p: edit_meta(p, vocab_size=-1),
    "meta with vocab size beyond its dtype": lambda p: edit_meta(p, vocab_size=1 << 20),
    "meta with checksums a list": lambda p: edit_meta(p, sha256=["x"]),
    "meta with more documents": lambda p: edit_meta(p, documents=5),
}

# Found by verify(): the index is consistent, the contents are not.
ON_VERIFY: Dict[str, Callable[[Path], None]] = {
    "flipped byte in tokens.bin": lambda p: flip(p, "tokens.bin", 3),
    "id at the vocabulary size": lambda p: (p / "tokens.bin").write_bytes(
        np.array([5, 6, VOCAB, 2, 8, 2, 9, 10, 11, 12, 2, 2], dtype="<u2").tobytes()),
    "offsets moved, still rising": lambda p: save_offsets(p, [0, 3, 6, 11, 12]),
    "a document without <eos>, no checksums": lambda p: (
        (p / "tokens.bin").write_bytes(np.array([5, 6, 7, 8, 8, 2, 9, 10, 11, 12, 2, 2], dtype="<u2").tobytes()),
        edit_meta(p, sha256=None)),
}


@pytest.mark.parametrize("case", sorted(ON_OPEN))
def test_broken_index_is_refused_when_opened(good, case):
    ON_OPEN[case](good)
    with pytest.raises(bytepiece.TokenFileError) as info:
        TokenFile(good)
    assert str(good) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("case", sorted(ON_VERIFY))
def test_corrupt_contents_are_found_by_verify(good, case):
    ON_VERIFY[case](good)
    tokens = TokenFile(good)  # the index is consistent: opening is cheap and succeeds
    with pytest.raises(bytepiece.TokenFileError) as info:
        tokens.verify()
    assert str(good) in str(info.value)


def test_a_good_file_verifies_and_reads_back(good, tmp_path):
    tokens = TokenFile(good)
    tokens.verify()
    assert [d.tolist() for d in tokens] == DOCS
    assert set(tokens.meta["sha256"]) == {"tokens.bin", "offsets.npy"}
    # A token file written before checksums were recorded is verified for ids and <eos>.
    edit_meta(good, sha256=None)
    TokenFile(good).verify()


def test_id_beyond_vocabulary_is_named_with_its_offset(good):
    ON_VERIFY["id at the vocabulary size"](good)
    with pytest.raises(bytepiece.TokenFileError, match=r"offset 2: id 300 \(document 0\)"):
        TokenFile(good).verify()


def test_documents_are_indexed_by_int_only(good):
    tokens = TokenFile(good)
    assert tokens[np.int64(1)].tolist() == [8, 2]
    for bad in ("1", 1.0, True, None):
        with pytest.raises(TypeError, match="document number"):
            tokens[bad]


def test_encode_corpus_writes_checksums_that_verify(tmp_path):
    from bytepiece import Tokenizer, encode_corpus

    from conftest import tiny_model

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("ab ab\nabc\n")
    tok = Tokenizer(tiny_model({b"ab": 9}))
    meta = encode_corpus(tok, corpus, tmp_path / "out")
    assert meta["corpus"]["files"] == 1 and meta["corpus"]["skipped_files"] == 0
    tokens = TokenFile(tmp_path / "out")
    tokens.verify()
    tokens.check_tokenizer(tok)
    shutil.copytree(tmp_path / "out", tmp_path / "copy")
    flip(tmp_path / "copy", "tokens.bin", 0, mask=0x01)  # "ab" (259) becomes 258, a valid id
    with pytest.raises(bytepiece.TokenFileError, match="checksum"):
        TokenFile(tmp_path / "copy").verify()
