"""Normalization and chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bytepiece.normalization import check_normalization, normalize, split_chunks, training_chunks


@given(st.binary(max_size=300))
def test_chunks_concatenate_back_and_end_at_newline_runs(data):
    chunks = split_chunks(data)
    assert b"".join(chunks) == data
    for chunk in chunks[:-1]:
        assert chunk.endswith(b"\n")
    for chunk in chunks:
        assert b"\n" not in chunk.rstrip(b"\n")


def test_only_newline_ends_a_chunk():
    assert split_chunks("a\r\nb\rc\u2028d\n\ne".encode()) == [b"a\r\n", "b\rc\u2028d\n\n".encode(), b"e"]


@given(st.text(max_size=300), st.booleans())
def test_training_chunks_concatenate_back(text, isolate):
    assert "".join(training_chunks(text, isolate_digits=isolate, max_chars=7, max_newlines=3)) == text


def test_training_chunk_bounds_and_digit_isolation():
    assert list(training_chunks("x" * 5 + "\n" * 5, max_chars=3, max_newlines=2)) == ["xxx", "xx\n\n", "\n\n", "\n"]
    assert list(training_chunks("v1.2３\n", isolate_digits=True)) == ["v", "1", ".", "2", "３", "\n"]


def test_normalize_forms():
    assert normalize("e\u0301", "nfc") == "\u00e9"
    assert normalize("e\u0301", "none") == "e\u0301"
    assert check_normalization("NFC") == "nfc"
    with pytest.raises(ValueError, match="unknown normalization"):
        check_normalization("nfkc")
