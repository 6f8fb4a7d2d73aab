"""Arguments of the public API that are not allowed: each is refused at the boundary, once,
with a TypeError or ValueError naming the argument and the value; none hangs, none is
silently reinterpreted (a bool as an id, a str as a list, an int as bytes)."""

from __future__ import annotations

import pytest

import bytepiece
from bytepiece import Tokenizer, Trainer

from conftest import tiny_model


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer(tiny_model({b"ab": 9, b"abc": 3}))


def call(tok, name, *args, **kwargs):
    return getattr(tok, name)(*args, **kwargs)


REFUSED = [
    # (method, args, kwargs, error type, words the message must hold)
    ("encode", ("abc",), {"alpha": float("inf")}, ValueError, ["alpha", "inf", "from 0 to"]),
    ("encode", ("abc",), {"alpha": 2e307}, ValueError, ["alpha", "2e+307"]),
    ("encode", ("abc",), {"alpha": float("nan")}, ValueError, ["alpha", "nan"]),
    ("encode", ("abc",), {"alpha": -0.5}, ValueError, ["alpha", "-0.5"]),
    ("encode", ("abc",), {"alpha": True}, TypeError, ["alpha", "True"]),
    ("encode", ("abc",), {"alpha": "0.1"}, TypeError, ["alpha", "'0.1'"]),
    ("encode_batch", (["abc"],), {"alpha": float("inf")}, ValueError, ["alpha", "inf"]),
    ("encode_array", ("abc",), {"alpha": float("inf")}, ValueError, ["alpha", "inf"]),
    ("tokenize", ("abc",), {"alpha": 1e308}, ValueError, ["alpha"]),
    ("entropy", ("abc",), {"alpha": float("inf")}, ValueError, ["alpha", "inf"]),
    ("encode", ("abc",), {"alpha": 0.1, "seed": -1}, ValueError, ["seed", "-1", "non-negative"]),
    ("encode", ("abc",), {"alpha": 0.1, "seed": "x"}, TypeError, ["seed", "'x'"]),
    ("encode", ("abc",), {"alpha": 0.1, "seed": 1.5}, TypeError, ["seed", "1.5"]),
    ("encode", ("abc",), {"alpha": 0.1, "seed": True}, TypeError, ["seed", "True"]),
    ("encode_batch", (["abc"],), {"alpha": 0.1, "seed": [1, -2]}, ValueError, ["seed", "[1, -2]"]),
    ("reseed", (-3,), {}, ValueError, ["seed", "-3"]),
    ("reseed", (3,), {"worker_id": "a"}, ValueError, ["worker_id", "'a'"]),
    ("encode", ("abc",), {"allowed_special": 5}, TypeError, ["allowed_special", "5"]),
    ("encode", ("abc",), {"allowed_special": [b"<eos>"]}, TypeError, ["allowed_special"]),
    ("encode", ("abc",), {"allowed_special": {"<nope>"}}, ValueError, ["<nope>"]),
    ("encode", (b"abc",), {}, TypeError, ["str", "bytes"]),
    ("encode", (None,), {}, TypeError, ["str", "NoneType"]),
    ("encode_batch", ("a string",), {}, TypeError, ["encode_batch", "not one str"]),
    ("encode_batch", (None,), {}, TypeError, ["encode_batch", "NoneType"]),
    ("encode_batch", (["ok", 5],), {}, TypeError, ["text 1 of the batch"]),
    ("encode_batch", (["abc"],), {"workers": 1.5}, TypeError, ["workers", "1.5"]),
    ("encode_batch", (["abc"],), {"workers": True}, TypeError, ["workers", "True"]),
    ("encode_batch", (["abc"],), {"workers": -1}, ValueError, ["workers", "-1"]),
    ("decode", ([True],), {}, TypeError, ["ids[0]", "True", "bool"]),
    ("decode", ([3, [5]],), {}, TypeError, ["ids[1]", "[5]", "list"]),
    ("decode", ([3, 4.0],), {}, TypeError, ["ids[1]", "4.0", "float"]),
    ("decode", ("345",), {}, TypeError, ["ids", "str"]),
    ("decode", (7,), {}, TypeError, ["ids", "int"]),
    ("decode", ([3, -1],), {}, ValueError, ["ids[1]", "-1", "0..260"]),
    ("decode", ([3, 262],), {}, ValueError, ["ids[1]", "262"]),
    ("decode", ([3],), {"errors": "bogus"}, ValueError, ["errors", "'bogus'"]),
    ("decode", ([3],), {"errors": None}, ValueError, ["errors", "None"]),
    ("decode_batch", ([[3], [True]],), {}, TypeError, ["ids[0]", "True"]),
    ("decode_bytes", ([2.0],), {}, TypeError, ["ids[0]", "2.0"]),
    ("id_to_piece", (True,), {}, TypeError, ["token id", "True"]),
    ("id_to_piece", (3.0,), {}, TypeError, ["token id", "3.0"]),
    ("id_to_piece", (10**6,), {}, ValueError, ["1000000"]),
    ("piece_to_id", (5,), {}, TypeError, ["piece", "5"]),
    ("piece_to_id", ([b"ab"],), {}, TypeError, ["piece"]),
    ("complete_prefix", (5,), {}, TypeError, ["prefix", "5"]),
    ("complete_prefix", (None,), {}, TypeError, ["prefix", "None"]),
    ("nbest", ("abc", 10**7), {}, ValueError, ["nbest", "10000000", "at most"]),
    ("nbest", ("abc", 0), {}, ValueError, ["n ", "0"]),
    ("nbest", ("abc", True), {}, ValueError, ["n ", "True"]),
    ("heal", ([3, True],), {}, TypeError, ["ids[1]", "True"]),
    ("heal", ("abc",), {"back_off": True}, ValueError, ["back_off", "True"]),
    ("stream_decoder", (), {"errors": "bogus"}, ValueError, ["errors", "'bogus'"]),
]


@pytest.mark.parametrize("method, args, kwargs, error, words", REFUSED, ids=[f"{m}{a!r:.30}{k!r:.40}" for m, a, k, _, _ in REFUSED])
def test_refused_with_a_message_naming_the_argument(tok, method, args, kwargs, error, words):
    with pytest.raises(error) as info:
        call(tok, method, *args, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, message


def test_a_stream_decoder_refuses_a_bool_id(tok):
    with pytest.raises(TypeError, match="True"):
        tok.stream_decoder().feed(True)


def test_what_is_allowed_still_works(tok):
    import numpy as np

    ids = tok.encode("abcab")
    assert tok.decode(np.array(ids, dtype=np.uint16)) == "abcab"
    assert tok.decode([np.int64(i) for i in ids]) == "abcab"
    assert tok.decode(iter(ids)) == "abcab"
    assert tok.decode(ids, errors="strict") == "abcab"
    assert tok.encode("abc", alpha=np.float32(0.5), seed=np.uint8(3))
    assert tok.encode("abc", alpha=1e100, seed=[1, 2]) == tok.encode("abc")  # a huge alpha samples Viterbi
    assert tok.id_to_piece(np.int32(259)) == b"ab"
    assert tok.complete_prefix(bytearray(b"ab")).tolist() == [259, 260]
    assert len(tok.nbest("abc", 1000)) == 3  # abc, ab+c, a+b+c


def test_encode_array_is_encode_as_int32(tok):
    import numpy as np

    text = "ab<eos>abc" * 3
    for options in ({}, {"add_bos": True, "add_eos": True}, {"allowed_special": "all"}):
        array = tok.encode_array(text, **options)
        assert array.dtype == np.int32 and array.tolist() == tok.encode(text, **options)
    assert tok.encode_array("").tolist() == []
    long = "abcab " * 20000  # the batch path
    assert tok.encode_array(long).tolist() == tok.encode(long)


def test_hostile_model_arguments():
    with pytest.raises(bytepiece.ModelFormatError, match="piece ids must be integers, found True"):
        bytepiece.Model(pieces=[bytes([b]) for b in range(256)], counts=[1] * 256, ids=[True] + list(range(4, 259)))
    with pytest.raises(bytepiece.ModelFormatError, match="special-token ids must be integers, found 1.0"):
        tiny_model({}, special_tokens=()).__class__(
            pieces=[bytes([b]) for b in range(256)], counts=[1] * 256, ids=range(3, 259),
            special_tokens={"<pad>": 0, "<bos>": 1.0, "<eos>": 2})
    with pytest.raises(bytepiece.ModelFormatError, match="from 1 to 2\\*\\*63 - 1"):
        tiny_model({b"ab": 10**400})


def test_hostile_trainer_arguments(tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        Trainer(on_error="ignore")
    with pytest.raises(TypeError, match="vocab_size must be an integer or a list of them, got '32000'"):
        Trainer(vocab_size="32000")
    with pytest.raises(TypeError, match="vocab_size must be an integer, got 8000.5"):
        Trainer(vocab_size=[32000, 8000.5])
    with pytest.raises(TypeError, match="min_count must be an integer, got '2'"):
        Trainer(min_count="2")
    with pytest.raises(TypeError, match="workers"):
        Trainer(vocab_size=300, progress=False).train(["abc"], workers=1.5)
