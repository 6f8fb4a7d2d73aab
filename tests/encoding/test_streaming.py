"""Streaming decode: never a broken character, never lost bytes, same text as decode()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece.encoding.streaming import StreamDecoder, decode_stream

from conftest import golden_rows


def stream(tok, ids, **options):
    decoder = tok.stream_decoder(**options)
    parts = [decoder.feed(i) for i in ids]
    return parts, decoder.flush()


def test_multibyte_characters_wait_for_their_last_byte(tok80k):
    ids = [tok80k.piece_to_id(bytes([b])) for b in "字a".encode()]
    parts, tail = stream(tok80k, ids)
    assert parts == ["", "", "字", "a"] and tail == ""


def test_legacy_pieces_that_end_mid_character(tok80k):
    broken = [p for p in tok80k.model.pieces if len(p) > 1 and not _valid(p)]
    assert len(broken) == 871  # bytepiece_80k predates ensure_unicode
    for piece in broken[:50]:
        decoder = tok80k.stream_decoder()
        text = decoder.feed(tok80k.piece_to_id(piece))
        assert "\ufffd" not in text or "\ufffd" in piece.decode("utf-8", "replace")[: len(text)]
        assert (text + decoder.flush()) == piece.decode("utf-8", "replace")


def _valid(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("name", ["bytepiece_80k", "bytepiece.zh.id.eu.80k"])
def test_golden_texts_stream_exactly(name, legacy_tokenizers):
    tok = legacy_tokenizers[name]
    for row in golden_rows(name)[::37]:
        parts, tail = stream(tok, row["ids"])
        assert "".join(parts) + tail == tok.decode(row["ids"])
        assert all("\ufffd" not in part for part in parts) or "\ufffd" in row["text"]
        assert tail == ""


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.integers(0, 79_895), max_size=30), skip=st.booleans())
def test_any_ids_stream_to_what_decode_gives(tok80k, ids, skip):
    parts, tail = stream(tok80k, ids, skip_special_tokens=skip)
    assert "".join(parts) + tail == tok80k.decode(ids, skip_special_tokens=skip)


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(3, 258), max_size=20))
def test_single_bytes_strict_mode(tok80k, ids):
    data = tok80k.decode_bytes(ids)
    decoder = tok80k.stream_decoder(errors="strict")
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            "".join(decoder.feed(i) for i in ids) + decoder.flush()
    else:
        assert "".join(decoder.feed(i) for i in ids) + decoder.flush() == expected


def test_flush_keeps_trailing_bytes_and_resets(tok80k):
    first_byte = tok80k.piece_to_id(b"\xe5")
    decoder = tok80k.stream_decoder()
    assert decoder.feed(first_byte) == ""
    assert decoder.pending == b"\xe5"
    assert decoder.flush() == "\ufffd"
    assert decoder.pending == b""
    assert decoder.feed(tok80k.encode("ok")) == "ok"


def test_special_tokens(tok80k):
    ids = [tok80k.piece_to_id(b"\xe5"), tok80k.eos_id] + tok80k.encode("x")
    assert "".join(stream(tok80k, ids)[0]) == "\ufffd<eos>x"
    assert "".join(decode_stream(tok80k, ids, skip_special_tokens=True)) == tok80k.decode(ids, skip_special_tokens=True)


def test_decode_stream_yields_nonempty_pieces(tok80k):
    ids = tok80k.encode("新词发现 new words 😀")
    parts = list(decode_stream(tok80k, ids))
    assert all(parts) and "".join(parts) == "新词发现 new words 😀"


def test_bad_input(tok80k):
    with pytest.raises(ValueError, match="unknown token id"):
        tok80k.stream_decoder().feed(10**7)
    with pytest.raises(ValueError, match="errors must name a codec error handler"):
        StreamDecoder(tok80k, errors="no-such-handler")
