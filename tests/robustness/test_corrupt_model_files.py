"""Corrupt, hostile and oversized model files: every one is a ModelFormatError naming the
file, before any large allocation, and one line with exit status 2 on the command line."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path
from typing import Callable, Dict

import pytest

from bytepiece import ModelFormatError, Tokenizer, load_model
from bytepiece.cli import main
from bytepiece.io import model_file
from bytepiece.io.model_file import dumps_model

from conftest import tiny_model

V1 = dumps_model(tiny_model({b"ab": 7, "新词".encode(): 5}))


def v1_with(header: Dict = None, body: bytes = None, checksum: bool = False) -> bytes:
    """The small v1 model with header fields replaced and/or another body (no checksum
    unless asked: these are the hand-edited files the checksum cannot protect)."""
    magic, head, rest = V1.split(b"\n", 2)
    fields = json.loads(head)
    fields.pop("sha256")
    fields.update(header or {})
    return magic + b"\n" + json.dumps(fields).encode() + b"\n" + (rest if body is None else body)


def zipped(data: bytes, name: str = "model.json", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def patch_zip(data: bytes, *, flags: int = None, method: int = None, size: int = None) -> bytes:
    """Rewrite the fields of the (single) member in both the local header and the central
    directory, as a hostile or broken archiver would have written them."""
    raw = bytearray(data)
    local = 0
    central = raw.rfind(b"PK\x01\x02")
    for offset, (flag_at, method_at, size_at) in ((local, (6, 8, 22)), (central, (8, 10, 24))):
        if flags is not None:
            raw[offset + flag_at : offset + flag_at + 2] = struct.pack("<H", flags)
        if method is not None:
            raw[offset + method_at : offset + method_at + 2] = struct.pack("<H", method)
        if size is not None:
            raw[offset + size_at : offset + size_at + 4] = struct.pack("<I", size)
    return bytes(raw)


LEGACY = json.dumps({"YQ==": [3, "a", 1]}).encode()
PIECES = V1.split(b"\n", 2)[2]

CASES: Dict[str, Callable[[], bytes]] = {
    # the archive
    "encrypted zip member": lambda: patch_zip(zipped(LEGACY), flags=0x1),
    "unsupported zip compression": lambda: patch_zip(zipped(LEGACY, method=zipfile.ZIP_STORED), method=99),
    "zip with two members": lambda: zipped(LEGACY)[:-22] + b"junk",
    "zip member lies about its size": lambda: patch_zip(zipped(b"{" + b" " * 5000 + b"}"), size=10),
    "truncated zip": lambda: zipped(LEGACY)[:40],
    "corrupt deflate data": lambda: (lambda z: z[:40] + bytes(b ^ 0xFF for b in z[40:60]) + z[60:])(zipped(LEGACY * 20)),
    # JSON
    "deeply nested legacy JSON": lambda: b"[" * 100_000,
    "deeply nested legacy JSON in an object": lambda: b'{"YQ==": ' + b"[" * 50_000,
    "deeply nested v1 header": lambda: V1.split(b"\n", 1)[0] + b"\n" + b'{"a": ' + b"[" * 50_000 + b"\n" + PIECES,
    "legacy count of 5,000 digits": lambda: b'{"YQ==": [3, "a", ' + b"9" * 5000 + b"]}",
    "legacy id true": lambda: b'{"YQ==": [true, "a", 1]}',
    "legacy entry not a list": lambda: b'{"YQ==": {"id": 3}}',
    # the v1 format
    "invalid UTF-8 without a checksum": lambda: v1_with(body=PIECES.replace("新词".encode(), b"\xff\xfe")),
    "count of 10^400": lambda: v1_with(body=PIECES.replace(b"\t7\tab", b"\t" + b"1" + b"0" * 400 + b"\tab")),
    "count of 2^63": lambda: v1_with(body=PIECES.replace(b"\t7\tab", b"\t%d\tab" % (1 << 63))),
    "count of 5,000 digits": lambda: v1_with(body=PIECES.replace(b"\t7\tab", b"\t" + b"9" * 5000 + b"\tab")),
    "header pieces of 5,000 digits": lambda: v1_with({}).replace(b'"pieces": ', b'"pieces": ' + b"9" * 5000 + b", \"x\": "),
    "float special-token id": lambda: v1_with({"special_tokens": {"<pad>": 0, "<bos>": 1.0, "<eos>": 2}}),
    "bool special-token id": lambda: v1_with({"special_tokens": {"<pad>": 0, "<bos>": True, "<eos>": 2}}),
    "special tokens a list": lambda: v1_with({"special_tokens": ["<pad>", "<bos>", "<eos>"]}),
    "normalization a number": lambda: v1_with({"normalization": 5}),
    "isolate_digits a string": lambda: v1_with({"isolate_digits": "yes"}),
    "training a string": lambda: v1_with({"training": "yes"}),
    "header an array": lambda: V1.split(b"\n", 1)[0] + b"\n[1, 2]\n" + PIECES,
    "huge version number": lambda: b"bytepiece-model " + b"9" * 5000 + b"\n{}\n",
    "piece line with 4 fields": lambda: v1_with(body=PIECES.replace(b"\t7\tab", b"\t7\tab\tx")),
    "flipped byte under a checksum": lambda: V1[:-20] + bytes([V1[-20] ^ 1]) + V1[-19:],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_model_file_is_a_model_format_error_naming_the_file(tmp_path, case):
    path = tmp_path / "bad.model"
    path.write_bytes(CASES[case]())
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert info.value.path == str(path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_model_file_is_one_line_and_status_2_on_the_command_line(tmp_path, capsys, case):
    path = tmp_path / "bad.model"
    path.write_bytes(CASES[case]())
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"bytepiece inspect: error: {path}")


def test_a_real_process_prints_no_traceback(tmp_path):
    path = tmp_path / "bad.model"
    path.write_bytes(CASES["encrypted zip member"]())
    out = subprocess.run([sys.executable, "-m", "bytepiece", "encode", "-m", str(path)], input=b"x\n", capture_output=True)
    assert out.returncode == 2 and b"Traceback" not in out.stderr and b"encrypted" in out.stderr


def test_valid_models_still_load(tmp_path):
    path = tmp_path / "m.model"
    path.write_bytes(v1_with({}))  # no checksum: fine
    assert load_model(path).vocab_size == 3 + 256 + 2
    path.write_bytes(zipped(V1, "m.bpm"))
    assert load_model(path).vocab_size == 3 + 256 + 2


def zip_bomb(path: Path, unpacked: int) -> None:
    """A zip of one member of ``unpacked`` zero bytes (about a thousandth of that on disk)."""
    block = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model.json", "w", force_zip64=True) as member:
            for _ in range(unpacked >> 20):
                member.write(block)


def test_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    bomb = tmp_path / "bomb.zip"
    zip_bomb(bomb, model_file.MAX_MODEL_BYTES + (16 << 20))
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match="more than the limit"):
            Tokenizer(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20  # the archive is read, its member is not unpacked


def test_the_size_limit_is_a_keyword_and_holds_for_plain_files_too(tmp_path):
    path = tmp_path / "m.zip"
    path.write_bytes(zipped(V1))
    with pytest.raises(ModelFormatError, match="limit of 1,000"):
        load_model(path, max_bytes=1000)
    assert load_model(path, max_bytes=len(V1)).vocab_size == 261
    liar = tmp_path / "liar.zip"  # says 10 bytes, holds more: read up to 10, then its CRC fails
    liar.write_bytes(patch_zip(zipped(V1), size=10))
    with pytest.raises(ModelFormatError, match="CRC"):
        load_model(liar, max_bytes=2000)
    plain = tmp_path / "m.bpm"
    plain.write_bytes(V1)
    with pytest.raises(ModelFormatError, match="limit"):
        load_model(plain, max_bytes=100)


def test_count_limit_keeps_encode_working():
    # A count of 2^63 - 1 is allowed and must encode (float log-probabilities).
    model = tiny_model({b"ab": (1 << 63) - 1})
    assert Tokenizer(model).encode("abab") == [259, 259]
