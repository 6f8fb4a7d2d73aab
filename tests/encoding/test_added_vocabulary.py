"""Extending a vocabulary: added pieces, pieces with a count, added special tokens, and the
special-token policy (allowed / disallowed), checked against enumeration and against the
model before the extension."""

from __future__ import annotations

import pickle
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import DisallowedSpecialTokenError, Model, ModelFormatError, Tokenizer, load_model
from bytepiece.io.model_file import dumps_model, loads_model

from conftest import golden_rows, tiny_model
from reference import (
    added_parts,
    best_score,
    chi_square,
    chi_square_critical,
    constrained_distribution,
    pieces_of,
    segmentation_distribution,
)

BASE = tiny_model({b"ab": 30, b"abc": 20, b"bc": 25, b"ca": 10, b"cab": 12, b"aa": 5, "新词".encode(): 40})
DRAWS = 20_000


def extended(pieces, **options) -> Tokenizer:
    tok = Tokenizer(BASE, seed=11)
    tok.add_pieces(pieces, **options)
    return tok


@pytest.fixture(scope="module")
def extended80k(tok80k) -> Tokenizer:
    tok = Tokenizer(tok80k.model)
    tok.add_pieces(["def __init__(self", "torch.nn.functional", "新词发现"])  # added: win where they occur
    tok.add_pieces(["zxqv"], count=1000)  # competes by likelihood
    tok.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    return tok


# ---------------------------------------------------------------- ids
def test_new_ids_are_appended_and_old_ids_keep_their_pieces(tok80k, extended80k):
    old, new = tok80k.model, extended80k.model
    assert new.vocab_size == old.vocab_size + 6
    assert all(extended80k.id_to_piece(i) == tok80k.id_to_piece(i) for i in range(old.vocab_size))
    assert extended80k.piece_to_id("torch.nn.functional") == old.vocab_size + 1
    assert extended80k.special_tokens["<|im_end|>"] == old.vocab_size + 5
    assert new.added_pieces == (b"def __init__(self", b"torch.nn.functional", "新词发现".encode())


def test_text_without_the_new_pieces_keeps_its_ids(tok80k, extended80k):
    rows = [row["text"] for row in golden_rows("bytepiece_80k")]
    new = [p.decode() for p in extended80k.model.pieces[len(tok80k.model.pieces):]]
    plain = [text for text in rows if not any(piece in text for piece in new)]
    assert len(plain) > 500
    assert extended80k.encode_batch(plain) == tok80k.encode_batch(plain)
    assert [extended80k.encode(text) for text in plain[:100]] == [tok80k.encode(text) for text in plain[:100]]
    # Sampling too: the same seed draws the same segmentation.
    assert extended80k.encode(plain[3], alpha=0.1, seed=4) == tok80k.encode(plain[3], alpha=0.1, seed=4)


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from("abc新词 \n"), max_size=30))
def test_any_text_without_them_keeps_its_ids(text):
    tok = extended([b"cabca", "词新"])
    tok.add_pieces([b"bcbc"], count=7)
    if "cabca" not in text and "词新" not in text and "bcbc" not in text:
        assert tok.encode(text) == Tokenizer(BASE).encode(text)


def test_an_added_piece_wins_wherever_it_occurs_as_a_whole():
    tok = extended([b"bca", b"bcab"])
    base = Tokenizer(BASE)
    for text in ["abcab", "bcabca", "xbcay bca", "aabcaab\nbca\n", "bcbcabcab"]:
        ids = tok.encode(text)
        expected = [p[0] if isinstance(p, tuple) else None for p in added_parts(text.encode(), tok.model.added_pieces)]
        pieces = tok.tokenize(text)
        assert [p for p in expected if p] == [p for p in pieces if p in (b"bca", b"bcab")]
        assert tok.decode(ids) == text
    # Between added pieces, the usual segmentation: "ab" + "bcab" + "ca".
    assert tok.tokenize("abbcabca") == [b"ab", b"bcab", b"ca"]
    assert base.tokenize("abbcabca") != tok.tokenize("abbcabca")


def test_an_added_piece_can_hold_a_newline_and_crosses_the_chunk():
    tok = extended([b"a\nb"])
    assert tok.tokenize("xa\nby") == [b"x", b"a\nb", b"y"]
    assert tok.encode_batch(["xa\nby"]) == [tok.encode("xa\nby")]


def test_an_existing_piece_given_without_count_keeps_its_id_and_starts_winning():
    tok = Tokenizer(BASE)
    abc = tok.piece_to_id(b"abc")
    assert tok.add_pieces([b"bc"]) == [tok.piece_to_id(b"bc")]
    assert tok.vocab_size == BASE.vocab_size
    assert tok.tokenize("abcbc") == [b"a", b"bc", b"bc"]
    assert abc == tok.piece_to_id(b"abc")


def test_a_piece_with_a_count_competes_by_likelihood():
    # Its log p is log(count) - log(total before): the Viterbi score is the best one of
    # the enumeration, and a big count wins where a small one loses.
    text = "cabcab"
    strong, weak = extended([b"bcab"], count=300), extended([b"bcab"], count=1)
    assert b"bcab" in strong.tokenize(text) and b"bcab" not in weak.tokenize(text)
    for tok in (strong, weak):
        assert tok.model.total_count == sum(BASE.counts)
        assert tok.score(text, tok.encode(text)) == pytest.approx(best_score(text.encode(), tok.model), abs=1e-12)
    assert strong.model.added_pieces == ()


def test_str_pieces_are_normalized_like_the_text(tok80k):
    tok = Tokenizer(tok80k.model)
    (piece_id,) = tok.add_pieces(["cafe\u0301 noir"])
    assert tok.id_to_piece(piece_id) == "café noir".encode()
    assert piece_id in tok.encode("un cafe\u0301 noir")


@pytest.mark.parametrize(
    "pieces, options, error, message",
    [
        ("abc", {}, TypeError, "a list of pieces"),
        ([b""], {}, ValueError, r"pieces\[0\] is empty"),
        ([3], {}, TypeError, r"pieces\[0\] is a int"),
        ([b"ab"], {"count": 5}, ValueError, "already piece"),
        ([b"qq"], {"count": 0}, ValueError, "count must be an integer from 1"),
        ([b"qq"], {"count": 10**9}, ValueError, "count must be an integer from 1"),
    ],
)
def test_bad_pieces_are_clear_errors_and_change_nothing(pieces, options, error, message):
    tok = Tokenizer(BASE)
    with pytest.raises(error, match=message):
        tok.add_pieces(pieces, **options)
    assert tok.model is BASE


def test_pieces_given_twice_are_added_once():
    tok = Tokenizer(BASE)
    assert tok.add_pieces([b"qq", b"qq"], count=3) == [BASE.vocab_size] * 2
    assert tok.vocab_size == BASE.vocab_size + 1


# ---------------------------------------------------------------- exact sampling
@pytest.mark.parametrize("alpha", [0.0, 0.2])
@pytest.mark.parametrize("text", ["abababcaab", "aabcaabab"])
def test_sampling_of_an_extended_model_is_exact(text, alpha):
    # Added pieces are fixed, the rest is drawn exactly; a piece with a count takes part
    # in the draw like any other. Scalar and batch paths both.
    tok = extended([b"bca"])
    tok.add_pieces([b"abab"], count=40)
    expected = constrained_distribution(text.encode(), tok.model, alpha)
    assert len(expected) == 10 and min(expected.values()) * DRAWS > 10  # a fair chi-square
    assert sum(p for segmentation, p in expected.items() if b"abab" in segmentation) >= 0.2
    scalar = [tok.encode(text, alpha=alpha) for _ in range(DRAWS)]
    batch = tok.encode_batch([text] * DRAWS, alpha=alpha)  # one batch: the vectorised sampler
    for draws in (scalar, batch):
        observed = Counter(pieces_of(ids, tok.model) for ids in draws)
        stat, dof = chi_square(observed, expected, DRAWS)
        assert stat < chi_square_critical(dof), f"chi2={stat:.1f} dof={dof}"


def test_with_only_counted_pieces_sampling_is_the_plain_distribution():
    tok = extended([b"cabc"], count=40)
    expected = segmentation_distribution(b"cabcab", tok.model, 0.3)
    observed = Counter(pieces_of(tok.encode("cabcab", alpha=0.3), tok.model) for _ in range(DRAWS))
    stat, dof = chi_square(observed, expected, DRAWS)
    assert stat < chi_square_critical(dof)


def test_nbest_score_and_entropy_respect_added_pieces():
    tok = extended([b"bca"])
    text = "abcabca"
    everything = constrained_distribution(text.encode(), tok.model, 1.0)
    best = tok.nbest(text, 50)
    assert best[0].ids == tok.encode(text)
    assert {pieces_of(s.ids, tok.model) for s in best} == set(everything)
    assert tok.score(text, best[0].ids) == best[0].logp
    with pytest.raises(ValueError, match="splits the added piece"):
        tok.score(text, [b"a", b"b", b"c", b"a", b"b", b"c", b"a"])
    import math

    assert tok.entropy(text) == pytest.approx(-sum(p * math.log(p) for p in everything.values()), abs=1e-9)


# ---------------------------------------------------------------- saving, pickling, exporting
def test_extended_models_save_load_and_pickle(extended80k, tmp_path):
    path = tmp_path / "extended.bpm"
    extended80k.save(path)
    header = path.read_text(encoding="utf-8").split("\n")[1]
    assert '"added_pieces": [79896, 79897, 79898]' in header and '"total_count"' in header
    again = Tokenizer(path)
    assert again.model == extended80k.model
    texts = ["class A:\n    def __init__(self, x):\n", "新词发现 zxqv <|im_start|>", "torch.nn.functional.relu"]
    for other in (again, pickle.loads(pickle.dumps(extended80k))):
        assert other.encode_batch(texts, allowed_special="all") == extended80k.encode_batch(texts, allowed_special="all")
        assert other.special_tokens == extended80k.special_tokens


def test_the_originals_json_model_can_be_extended(legacy_json_files, tmp_path):
    tok = Tokenizer(legacy_json_files["bytepiece_80k"])
    tok.add_pieces(["新词发现"])
    tok.save(tmp_path / "new.bpm")
    assert (tmp_path / "new.bpm").read_bytes().startswith(b"bytepiece-model 1\n")
    assert load_model(tmp_path / "new.bpm").added_pieces == ("新词发现".encode(),)


def test_a_bad_added_pieces_header_is_a_model_format_error():
    data = dumps_model(extended([b"bca"]).model).replace(b'"added_pieces": [', b'"added_pieces": [99999, ', 1)
    with pytest.raises(ModelFormatError, match="added_pieces"):
        loads_model(data, path="x.bpm")
    with pytest.raises(ModelFormatError, match="total_count"):
        Model(pieces=BASE.pieces, counts=BASE.counts, ids=BASE.ids, total_count=1)


def test_hugging_face_export_of_an_extended_model(extended80k, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    extended80k.to_huggingface(tmp_path / "hf")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "hf" / "tokenizer.json"))
    fast = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:60]] + [
        "class A:\n    def __init__(self, x):  # 新词发现\n",
        "import torch.nn.functional as F; zxqv zxqvzxqv",
        "<|im_start|>user\nhi<|im_end|>",
    ]
    for text in texts:
        ids = extended80k.encode(text, allowed_special="all")
        assert hf.encode(text, add_special_tokens=False).ids == ids
        assert fast(text, add_special_tokens=False)["input_ids"] == ids
        assert fast.decode(ids) == extended80k.decode(ids)
    assert set(fast.all_special_tokens) >= {"<|im_start|>", "<|im_end|>"}


def test_sentencepiece_export_marks_added_pieces_user_defined(legacy_tokenizers, tmp_path):
    spm = pytest.importorskip("sentencepiece")
    tok = Tokenizer(legacy_tokenizers["bytepiece.zh.id.eu.80k"].model)
    tok.add_pieces(["def __init__(self", "新词发现"])
    tok.to_sentencepiece(tmp_path / "x.model")
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "x.model"))
    text = "class A:\n    def __init__(self, x): 新词发现\n"
    assert sp.encode(text) == tok.encode(text)
    assert sp.id_to_piece(tok.piece_to_id("新词发现")) == "新词发现" and sp.is_unknown(0) is False


# ---------------------------------------------------------------- special tokens
def test_added_special_tokens_are_never_produced_from_ordinary_text(extended80k, tok80k):
    text = "<|im_start|>user\nhello<|im_end|>"
    ordinary = extended80k.encode(text)
    assert not set(ordinary) & set(extended80k.special_tokens.values())
    assert ordinary == tok80k.encode(text)
    allowed = extended80k.encode(text, allowed_special={"<|im_start|>", "<|im_end|>"})
    assert allowed[0] == extended80k.special_tokens["<|im_start|>"] and allowed[-1] == extended80k.special_tokens["<|im_end|>"]
    assert extended80k.decode(allowed) == text
    assert extended80k.decode(allowed, skip_special_tokens=True) == "user\nhello"


def test_disallowed_special_names_the_token_and_its_position(extended80k):
    text = "hello <|im_end|> and <eos>"
    with pytest.raises(DisallowedSpecialTokenError, match=r"'<\|im_end\|>' at character 6") as caught:
        extended80k.encode(text, disallowed_special="all")
    assert (caught.value.token, caught.value.position, caught.value.index) == ("<|im_end|>", 6, None)
    # "all" means every special token that is not allowed.
    with pytest.raises(DisallowedSpecialTokenError, match="'<eos>' at character 21"):
        extended80k.encode(text, allowed_special={"<|im_end|>"}, disallowed_special="all")
    assert extended80k.encode(text, disallowed_special=["<pad>"]) == extended80k.encode(text)
    with pytest.raises(ValueError, match="not special tokens of this model"):
        extended80k.encode(text, disallowed_special=["<nope>"])


def test_disallowed_special_in_a_batch_names_the_text(extended80k):
    texts = ["fine", "also fine", "x<|im_start|>"]
    with pytest.raises(DisallowedSpecialTokenError, match=r"text 2 of the batch contains the special token '<\|im_start\|>' at character 1") as caught:
        extended80k.encode_batch(texts, disallowed_special="all")
    assert caught.value.index == 2
    again = pickle.loads(pickle.dumps(caught.value))  # e.g. raised in a data-loader worker
    assert (again.token, again.position, again.index, str(again)) == ("<|im_start|>", 1, 2, str(caught.value))
    assert extended80k.encode_batch(texts, allowed_special="all", disallowed_special="all") == [
        extended80k.encode(t, allowed_special="all") for t in texts
    ]
    with pytest.raises(DisallowedSpecialTokenError):
        extended80k.encode_with_offsets(texts[2], disallowed_special="all")


def test_bad_special_tokens_are_clear_errors():
    tok = Tokenizer(BASE)
    with pytest.raises(ValueError, match="non-empty str"):
        tok.add_special_tokens(["<ok>", ""])
    with pytest.raises(TypeError, match="not one"):
        tok.add_special_tokens("<one>")
    assert tok.add_special_tokens(["<eos>", "<tool>"]) == [tok.eos_id, BASE.vocab_size]


def test_a_model_never_extended_saves_as_before(tok80k, extended80k):
    # Old v1 files have neither key; a model that was not extended writes neither, so it
    # loads (and saves) byte for byte as before.
    plain = dumps_model(tok80k.model)
    assert b"added_pieces" not in plain and b"total_count" not in plain
    assert dumps_model(loads_model(plain)) == plain
    from bytepiece.commands.inspect import summarize

    info = summarize(extended80k.model)
    assert info["added_pieces"] == ["def __init__(self", "torch.nn.functional", "新词发现"]
    assert info["total_count"] == sum(tok80k.model.counts)


def test_extended_models_give_the_same_ids_for_any_number_of_workers(extended80k):
    texts = [row["text"] for row in golden_rows("bytepiece_80k")] * 3 + ["新词发现 def __init__(self <|im_end|>"]
    try:
        with_workers = extended80k.encode_batch(texts, workers=2, allowed_special="all")
        assert extended80k.engine.pool is not None  # the jobs went to worker processes
        assert with_workers == extended80k.encode_batch(texts, allowed_special="all")
    finally:
        extended80k.close()
