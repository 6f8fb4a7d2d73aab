"""The model file: v1 round trip, BytePiece 0.6 JSON, validation and atomic writes."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bytepiece import Model, ModelFormatError, load_model, save_model
from bytepiece.io.model_file import dumps_model, escape_piece, loads_model, unescape_piece

from conftest import LEGACY_MODELS, tiny_model


@given(st.binary(min_size=1, max_size=40))
def test_escape_round_trips_every_byte_string(piece):
    text = escape_piece(piece)
    assert "\n" not in text and "\t" not in text and "\r" not in text
    assert unescape_piece(text) == piece


def test_escape_keeps_printable_text_readable():
    assert escape_piece("新词发现".encode()) == "新词发现"
    assert escape_piece(b" the") == " the"
    assert escape_piece(b"\n") == "\\x0a"
    assert escape_piece("\u00a0".encode()) == "\\xc2\\xa0"  # non-printing space shown as bytes
    assert escape_piece(b"\xe6\x96") == "\\xe6\\x96"  # a broken character stays exact


@pytest.mark.parametrize("bad", ["\\", "a\\b", "\\x4", "\\xzz"])
def test_unescape_rejects_malformed_escapes(bad):
    with pytest.raises(ValueError):
        unescape_piece(bad)


@pytest.mark.parametrize("name", LEGACY_MODELS)
def test_legacy_zip_and_json_load_the_same(name, legacy_json_files, legacy_models):
    from_json = load_model(legacy_json_files[name])
    assert from_json == legacy_models[name]
    assert from_json.origin == "bytepiece-0.6 json"
    assert from_json.normalization == "nfc"
    assert from_json.special_tokens == {"<pad>": 0, "<bos>": 1, "<eos>": 2}


def test_legacy_pieces_are_exact_bytes(legacy_models):
    # 871 pieces of bytepiece_80k are not valid UTF-8: the display text in the JSON is
    # lossy, so the bytes must come from the base64 key.
    model = legacy_models["bytepiece_80k"]
    broken = [p for p in model.pieces if len(p) > 1 and not _is_utf8(p)]
    assert len(broken) == 871


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("name", LEGACY_MODELS)
def test_v1_round_trip_is_exact_and_smaller(name, legacy_models, legacy_json_files, tmp_path):
    model = legacy_models[name]
    path = tmp_path / "m.bpm"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.pieces == model.pieces and loaded.ids == model.ids and loaded.counts == model.counts
    assert loaded.settings() == model.settings()
    assert path.stat().st_size < legacy_json_files[name].stat().st_size / 2


def test_v1_carries_settings_and_training_record(tmp_path):
    training = {"order": 6, "corpus": {"bytes": 123, "documents": 4, "skipped_files": ["a.bin"]}}
    model = tiny_model({b"ab": 7}, normalization="none", isolate_digits=True, ensure_unicode=True, training=training)
    path = tmp_path / "m.bpm"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded == model
    header = json.loads(path.read_text(encoding="utf-8").split("\n")[1])
    assert header["normalization"] == "none" and header["isolate_digits"] is True
    assert header["training"] == training


def test_saved_file_gets_ordinary_permissions(tmp_path):
    path = tmp_path / "m.bpm"
    old = os.umask(0o022)
    try:
        save_model(tiny_model({b"ab": 7}), path)
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)  # an existing file keeps its mode when overwritten
        save_model(tiny_model({b"cd": 7}), path)
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    model = tiny_model({b"ab": 7})
    path = tmp_path / "m.bpm"
    save_model(model, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_model(tiny_model({b"cd": 9}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.bpm"]


@pytest.fixture()
def saved(tmp_path):
    path = tmp_path / "m.bpm"
    save_model(tiny_model({"新词".encode(): 5, b"ab": 7}), path)
    return path


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.3, 0.6, 0.999])
def test_truncated_file_raises_model_format_error_naming_the_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFormatError) as info:
        load_model(saved)
    assert str(saved) in str(info.value)


def test_corrupt_byte_is_detected(saved):
    data = bytearray(saved.read_bytes())
    data[-20] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="checksum"):
        load_model(saved)


def test_unknown_version_says_to_upgrade(saved):
    saved.write_bytes(saved.read_bytes().replace(b"bytepiece-model 1", b"bytepiece-model 9", 1))
    with pytest.raises(ModelFormatError, match="version 9"):
        load_model(saved)


def test_hand_edited_file_without_checksum_loads(saved):
    lines = saved.read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[1])
    del header["sha256"]
    lines[1] = json.dumps(header)
    saved.write_text("\n".join(lines), encoding="utf-8")
    assert load_model(saved).vocab_size == 3 + 256 + 2


def unchecked(path, edit):
    """The saved file with its piece lines edited by ``edit`` (lines, a list) and no checksum."""
    lines = path.read_bytes().split(b"\n")
    header = json.loads(lines[1])
    del header["sha256"]
    lines[1] = json.dumps(header).encode()
    body = lines[2:-1]
    edit(body)
    return b"\n".join(lines[:2] + body) + b"\n"


def test_escaped_pieces_load_exactly(tmp_path):
    pieces = {b"a\\b": 3, b"\x00\xff": 4, b"\\": 5, b"tab\there": 6, "新".encode()[:2]: 7}
    path = tmp_path / "m.bpm"
    save_model(tiny_model(pieces), path)
    model = load_model(path)
    assert {p: c for p, c in zip(model.pieces, model.counts) if p in pieces} == pieces


@pytest.mark.parametrize("edit, line, message", [
    (lambda body: body.__setitem__(5, body[5] + b"\tx"), 8, "got"),  # 4 fields
    (lambda body: body.__setitem__(5, body[5].replace(b"\t", b"", 1)), 8, "got"),  # 2 fields
    # two wrong lines whose tabs add up: three on one line, one on the next
    (lambda body: body.__setitem__(slice(5, 7), [body[5] + b"\t" + body[6].split(b"\t", 1)[0], body[6].split(b"\t", 1)[1]]), 8, "got"),
    (lambda body: body.__setitem__(9, b"x" + body[9]), 12, "invalid literal"),  # id not a number
    (lambda body: body.__setitem__(9, body[9] + b"\\q"), 12, "malformed escape"),
    (lambda body: body.__setitem__(9, b"1" * 21 + body[9]), 12, "more than 20 digits"),
])
def test_a_malformed_piece_line_is_named_by_its_number(saved, edit, line, message):
    saved.write_bytes(unchecked(saved, edit))
    with pytest.raises(ModelFormatError, match=message) as info:
        load_model(saved)
    assert info.value.line == line


def test_duplicate_piece_is_rejected():
    with pytest.raises(ModelFormatError, match="duplicate piece"):
        Model(pieces=[bytes([b]) for b in range(256)] + [b"a"], counts=[1] * 257, ids=range(3, 260))


def test_duplicate_legacy_key_is_rejected(tmp_path):
    path = tmp_path / "dup.model"
    path.write_text('{"YQ==": [3, "a", 1], "YQ==": [4, "a", 2]}')
    with pytest.raises(ModelFormatError, match="duplicate piece key"):
        load_model(path)


def test_repr_is_short(legacy_models):
    text = repr(legacy_models["bytepiece_80k"])
    assert len(text) < 300 and "vocab_size=79896" in text


def test_missing_bytes_are_rejected():
    with pytest.raises(ModelFormatError, match="single-byte pieces are missing"):
        Model.from_counts({b"a": 1, b"b": 2})


@pytest.mark.parametrize(
    "piece, count, message",
    [
        (b"", 1, "every piece must be non-empty bytes, got b''"),
        ("a", 1, "every piece must be non-empty bytes, got 'a'"),
        (b"ab", 0, "piece counts must be integers from 1 to 2\\*\\*63 - 1, found 0"),
        (b"ab", -3, "found -3"),
        (b"ab", 2**63, "found 9223372036854775808"),
        (b"ab", True, "piece counts must be integers, found True"),
    ],
)
def test_bad_pieces_and_counts_are_named(piece, count, message):
    """The C-level checks of a model's pieces and counts fall back to naming the culprit."""
    pieces = [bytes([b]) for b in range(256)] + [piece]
    counts = [1] * 256 + [count]
    with pytest.raises(ModelFormatError, match=message):
        Model(pieces=pieces, counts=counts, ids=list(range(257)), special_tokens={})


def test_ids_must_be_contiguous():
    counts = {bytes([b]): 1 for b in range(256)}
    model = Model.from_counts(counts)
    with pytest.raises(ModelFormatError, match="ids must be"):
        Model(pieces=model.pieces, counts=model.counts, ids=[i + 1 for i in model.ids])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"hello world", "not a bytepiece model"),
        (b"\x80\x03}q\x00.", "not a bytepiece model"),  # a pickle is never executed
        (b'{"YQ==": [3, "a"', "corrupt or truncated JSON"),
        (b'{"!!": [3, "a", 1]}', "bad entry"),
        (b"PK\x03\x04garbage", "corrupt zip"),
    ],
)
def test_garbage_is_rejected_clearly(tmp_path, content, message):
    path = tmp_path / "bad.model"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_loads_without_path_still_explains():
    data = dumps_model(tiny_model({b"ab": 7}))
    assert loads_model(data).vocab_size == 3 + 256 + 1
    with pytest.raises(ModelFormatError, match="truncated|checksum"):
        loads_model(data[:-3])
