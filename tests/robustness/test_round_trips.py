"""Round trips through every entry point, on generated text: whatever goes in comes back
out (after the model's normalization), whichever way it is encoded, sampled, streamed or
written to a file, on the original's 80k model (NFC), the same vocabulary without
normalization, and a vocabulary trained on demo-corpus."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bytepiece import Tokenizer, decode_stream, load_model
from bytepiece.cli import main

from conftest import DATA

# Text of every kind: any code point but lone surrogates, weighted towards what breaks
# tokenizers (newlines, CRs, combining marks, special-token names, long runs).
ODD = st.sampled_from(["\n", "\r\n", "\r", "\u0301", "<eos>", "<bos>", "\x00", "\u2028", " ", "字", "🙂", "ab"])
TEXTS = st.lists(st.one_of(st.text(max_size=12), ODD, st.builds(lambda c, n: c * n, ODD, st.integers(1, 40))),
                 max_size=8).map("".join)
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", params=["80k", "80k-raw", "trained"])
def any_tok(request, tok80k, raw_tok) -> Tokenizer:
    if request.param == "trained":
        return Tokenizer(load_model(DATA / "golden" / "demo-trained.model.8000.zip"))
    return {"80k": tok80k, "80k-raw": raw_tok}[request.param]


def normal(tok: Tokenizer, text: str) -> str:
    return unicodedata.normalize("NFC", text) if tok.model.normalization == "nfc" else text


@EXAMPLES
@given(text=TEXTS)
@example(text="<b<pad>os>")
def test_encode_decode_tokenize_and_arrays(any_tok, text):
    tok, expected = any_tok, normal(any_tok, text)
    ids = tok.encode(text)
    assert tok.decode(ids) == expected
    assert tok.decode(np.asarray(ids, dtype=np.int64)) == expected
    assert tok.encode_array(text).tolist() == ids
    assert b"".join(tok.tokenize(text)) == expected.encode()
    assert tok.decode_bytes(ids) == expected.encode()
    framed = tok.encode(text, add_bos=True, add_eos=True, allowed_special="all")
    assert tok.decode(framed) == "<bos>" + expected + "<eos>"
    # allowed_special="all": every special token's text in the input (here <pad> too) is
    # that token, so skipping special tokens removes it, leftmost longest first.
    names = "|".join(re.escape(name) for name in sorted(tok.special_tokens, key=len, reverse=True))
    assert tok.decode(framed, skip_special_tokens=True) == re.sub(names, "", expected)


@EXAMPLES
@given(texts=st.lists(TEXTS, max_size=6), seed=st.integers(0, 2**32))
def test_batches_iterators_and_sampling(any_tok, texts, seed):
    tok = any_tok
    expected = [normal(tok, t) for t in texts]
    viterbi = [tok.encode(t) for t in texts]
    assert tok.encode_batch(texts) == viterbi
    assert list(tok.encode_iter(texts)) == viterbi
    assert [b"".join(p) for p in tok.tokenize_batch(texts)] == [e.encode() for e in expected]
    for alpha in (0.0, 0.1, 1.0, 1e100):
        assert tok.decode_batch(tok.encode_batch(texts, alpha=alpha, seed=seed)) == expected
        assert [tok.decode(tok.encode(t, alpha=alpha, seed=seed)) for t in texts] == expected
    assert [tok.decode(ids) for ids in tok.encode_batch(texts, alpha=1e100, seed=seed)] == expected


@EXAMPLES
@given(text=TEXTS, ids=st.lists(st.integers(0, 79895), max_size=20))
def test_streaming_decode(any_tok, text, ids):
    tok = any_tok
    encoded = tok.encode(text)
    decoder = tok.stream_decoder()
    assert "".join(decoder.feed(i) for i in encoded) + decoder.flush() == normal(tok, text)
    ids = [i % tok.vocab_size for i in ids]  # arbitrary ids: characters broken anywhere
    assert "".join(decode_stream(tok, ids)) == tok.decode(ids)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=10))
def test_analysis_agrees_with_encode(tok80k, text):
    best = tok80k.nbest(text, 3)
    assert best[0].ids == tok80k.encode(text)
    assert tok80k.score(text, best[0].ids) == best[0].logp
    assert [tok80k.decode(s.ids) for s in best] == [normal(tok80k, text)] * len(best)
    healing = tok80k.heal(text)
    assert tok80k.decode_bytes(healing.ids) + healing.prefix == normal(tok80k, text).encode()


@pytest.fixture(scope="module")
def saved_80k(tok80k, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "80k.bpm"
    tok80k.save(path)  # v1 loads several times faster than the original's zipped JSON
    return str(path)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(TEXTS, min_size=1, max_size=5))
def test_command_line_and_token_files(tok80k, saved_80k, tmp_path_factory, lines):
    from bytepiece import TokenFile, encode_corpus

    tmp = tmp_path_factory.mktemp("cli")
    text = "".join(lines)
    (tmp / "in.txt").write_bytes(text.encode())
    assert main(["encode", "-m", saved_80k, str(tmp / "in.txt"), "-o", str(tmp / "in.ids")]) == 0
    assert main(["decode", "-m", saved_80k, str(tmp / "in.ids"), "-o", str(tmp / "back.txt")]) == 0
    # Each line is encoded with its newline; NFC of each line is NFC of the text (\n is a starter).
    assert (tmp / "back.txt").read_bytes() == normal(tok80k, text).encode()
    corpus = tmp / "corpus"
    corpus.mkdir()
    for index, line in enumerate(lines):
        (corpus / f"{index:02d}.txt").write_bytes(line.encode())
    encode_corpus(tok80k, corpus, tmp / "out")
    tokens = TokenFile(tmp / "out")
    tokens.verify()
    kept = [line for line in lines if line and "\x00" not in line]  # empty and binary files are skipped
    assert [tok80k.decode(d[:-1].tolist()) for d in tokens] == [normal(tok80k, line) for line in kept]
