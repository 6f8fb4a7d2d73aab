"""Offsets: every token's span in the caller's string, checked against a slow reference.

The properties a user relies on: spans are monotone, they cover the text without gaps
(tokens that split one character share its span), and each stretch of spans gives the
ids' bytes back (after normalization). Under NFC the mapping is checked against a
reference that finds the cut points by normalizing both sides of every position.
"""

from __future__ import annotations

import unicodedata
from typing import List, Tuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bytepiece import Tokenizer
from bytepiece.encoding import offsets as offsets_module

from conftest import DEMO_CORPUS, corpus_sample, golden_rows, tiny_model

ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
# Characters that NFC composes, decomposes or reorders, with ordinary ones around them:
# combining marks of several classes, Hangul jamo and syllables, vowel signs that compose
# with the starter before them, singletons, excluded compositions, emoji, newlines.
NORMALIZATION_ALPHABET = (
    "ae oAnquz\n\t"
    "\u0300\u0301\u0302\u0303\u0308\u0316\u0323\u0327\u0345\u0342\u0344\u3099"
    "\u1100\u1112\u1161\u1175\u11a8\u11ab\uac00\ud55c"
    "\u0b47\u0b3e\u0b57\u0bc6\u0bbe\u0dd9\u0dcf\u0f73\u0f71\u0f72"
    "\u212b\u2126\u0958\u0915\u093c\u00e9\u00c5\u1e69\u304b\u30ab"
    "\U0001f642\u65b0\u8bcd"
)
NFC_TEXT = st.text(st.sampled_from(NORMALIZATION_ALPHABET), max_size=40)
TRICKY = [
    "",
    "cafe\u0301 au lait",
    "e\u0301\u0302x",
    "a\u0323\u0302 vs a\u0302\u0323",
    "\u1100\u1161\u11a8\u1112\u1161\u11ab",
    "\uac00\u11a8",
    "\u0b47\u0b3e \u0b47\u0300\u0b3e",
    "\u212b\u2126 \u0958",
    "\u0f73\u0f71\u0f72",
    "\u304b\u3099\u304d\u3099",
    "\U0001f642 新词发现\r\n\n",
]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def reference_offsets(tok: Tokenizer, text: str, ids: List[int]) -> List[Tuple[int, int]]:
    """Slow and obviously correct: the cut points of ``text`` are the positions where
    normalizing both sides separately gives the normalized text; a token spans from the
    last cut at or before its first character to the first cut after its last."""
    norm = nfc if tok.model.normalization == "nfc" else (lambda s: s)
    whole = norm(text)
    cuts = [(i, len(norm(text[:i]))) for i in range(len(text) + 1) if norm(text[:i]) + norm(text[i:]) == whole]
    char_of_byte = [k for k, char in enumerate(whole) for _ in char.encode("utf-8")]
    spans, position = [], 0
    for token in ids:
        size = len(tok.id_to_piece(token))
        first, last = char_of_byte[position], char_of_byte[position + size - 1]
        position += size
        start = max(cut for cut, at in cuts if at <= first)
        end = min(cut for cut, at in cuts if at >= last + 1)
        spans.append((start, end))
    return spans


def assert_offsets_hold(tok: Tokenizer, text: str, ids: List[int], spans: List[Tuple[int, int]]) -> None:
    """Monotone, no gaps, and each group of overlapping spans spells its tokens' bytes."""
    norm = nfc if tok.model.normalization == "nfc" else (lambda s: s)
    assert len(spans) == len(ids)
    assert all(start < end for start, end in spans)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(spans, spans[1:]))
    groups: List[List[int]] = []  # runs of tokens whose spans overlap (a split character)
    for index, (start, end) in enumerate(spans):
        if groups and start < spans[groups[-1][-1]][1]:
            groups[-1].append(index)
        else:
            groups.append([index])
    cover = [(spans[g[0]][0], max(spans[i][1] for i in g)) for g in groups]
    starts, ends = [a for a, _ in cover], [b for _, b in cover]
    assert starts == [0] + ends[:-1] and ends[-1:] == [len(text)] if text else cover == []
    for group, (start, end) in zip(groups, cover):
        assert b"".join(tok.id_to_piece(ids[i]) for i in group) == norm(text[start:end]).encode("utf-8")


@pytest.fixture(scope="module")
def byte_nfc_tok() -> Tokenizer:
    """An NFC model without most composed characters: pieces split characters."""
    return Tokenizer(tiny_model({b"ae": 5, b"e\xcc": 3, "é".encode(): 4, "가".encode(): 2, b"\xe1\x84": 2}))


@settings(max_examples=250, deadline=None)
@given(NFC_TEXT)
@example("e\u0301\u0302x")
@example("\u1100\u1161\u11a8")
def test_nfc_offsets_equal_the_reference(tok80k, byte_nfc_tok, text):
    for tok in (tok80k, byte_nfc_tok):
        ids, spans = tok.encode_with_offsets(text)
        assert ids == tok.encode(text)
        assert spans == reference_offsets(tok, text, ids)
        assert_offsets_hold(tok, text, ids, spans)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
@example("\r\n\n\r")
def test_offsets_of_any_text(tok80k, raw_tok, text):
    for tok in (tok80k, raw_tok):
        ids, spans = tok.encode_with_offsets(text)
        assert_offsets_hold(tok, text, ids, spans)


@settings(max_examples=60, deadline=None)
@given(ANY_TEXT, st.sampled_from([0.0, 0.2, 1.0]))
def test_sampled_offsets_hold_too(tok80k, text, alpha):
    ids, spans = tok80k.encode_with_offsets(text, alpha=alpha, seed=7)
    assert ids == tok80k.encode(text, alpha=alpha, seed=7)
    assert_offsets_hold(tok80k, text, ids, spans)


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_map_back_through_nfc(tok80k, text):
    ids, spans = tok80k.encode_with_offsets(text)
    assert spans == reference_offsets(tok80k, text, ids)
    assert_offsets_hold(tok80k, text, ids, spans)


def test_a_composed_character_spans_what_produced_it(byte_nfc_tok):
    # "e" + U+0301 is "é" after NFC: the tokens of "é" cover both characters; the byte
    # pieces of "가" (from three jamo) share the span of the three.
    ids, spans = byte_nfc_tok.encode_with_offsets("xe\u0301y\u1100\u1161\u11a8")
    assert byte_nfc_tok.tokenize("xe\u0301y\u1100\u1161\u11a8")[1] == "é".encode()
    assert spans[:3] == [(0, 1), (1, 3), (3, 4)]
    assert set(spans[3:]) == {(4, 7)} and len(spans[3:]) > 1


def test_long_runs_of_combining_marks_map_as_one_stretch(tok80k):
    text = "a" + "\u0301\u0316" * 40 + "b"  # reordered by NFC: a region of 81 characters
    ids, spans = tok80k.encode_with_offsets(text)
    assert_offsets_hold(tok80k, text, ids, spans)
    assert spans[-1] == (81, 82)


@pytest.mark.parametrize("name", ["tok80k", "raw_tok"])
def test_batch_offsets_are_those_of_encode_with_offsets(name, request):
    tok = request.getfixturevalue(name)
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:300]] + TRICKY
    batch = tok.encode_batch(texts, return_offsets=True)
    assert batch == [tok.encode_with_offsets(text) for text in texts]
    assert [ids for ids, _ in batch] == tok.encode_batch(texts)


def test_sampled_batch_offsets_belong_to_their_ids(tok80k):
    texts = TRICKY + ["sampling with offsets " * 20]
    batch = tok80k.encode_batch(texts, alpha=0.3, seed=5, return_offsets=True)
    assert [ids for ids, _ in batch] == tok80k.encode_batch(texts, alpha=0.3, seed=5)
    for text, (ids, spans) in zip(texts, batch):
        assert_offsets_hold(tok80k, text, ids, spans)


def test_special_tokens_span_their_text(tok80k):
    text = "<bos>hi<eos>\n<pad>"
    ids, spans = tok80k.encode_with_offsets(text, allowed_special="all", add_bos=True, add_eos=True)
    assert ids[0] == ids[1] == tok80k.bos_id and ids[-1] == tok80k.eos_id
    assert spans[0] == (0, 0) and spans[1] == (0, 5) and spans[-1] == (len(text), len(text))
    assert [text[a:b] for (a, b), i in zip(spans, ids) if i in tok80k.special_tokens.values()][1:-1] == [
        "<bos>", "<eos>", "<pad>"
    ]
    batch = tok80k.encode_batch([text, "x"], allowed_special={"<eos>"}, add_eos=True, return_offsets=True)
    assert batch == [
        tok80k.encode_with_offsets(t, allowed_special={"<eos>"}, add_eos=True) for t in [text, "x"]
    ]


def test_offsets_agree_with_hugging_face_where_nfc_changes_nothing(tok80k, tmp_path):
    # The exported tokenizer gives the same ids; HF's offsets are the same spans where the
    # text is NFC already. Where NFC composes, HF gives the composed character only the
    # first of its characters ("e" of "e" + U+0301), leaving a gap; ours covers both.
    tokenizers = pytest.importorskip("tokenizers")
    tok80k.to_huggingface(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    compared = 0
    for row in golden_rows("bytepiece_80k"):
        text = row["text"]
        ids, spans = tok80k.encode_with_offsets(text)
        encoding = hf.encode(text, add_special_tokens=False)
        if encoding.ids == ids and nfc(text) == text:
            assert [tuple(o) for o in encoding.offsets] == spans, text
            compared += 1
    assert compared > 450
    ids, spans = tok80k.encode_with_offsets("e\u0301")
    assert spans == [(0, 2)] and [tuple(o) for o in hf.encode("e\u0301").offsets] == [(0, 1)]


def test_added_pieces_have_offsets_like_any_token(tok80k):
    tok = Tokenizer(tok80k.model)
    tok.add_pieces(["naïve 新", "wor"])
    text = "a nai\u0308ve 新词 world"
    ids, spans = tok.encode_with_offsets(text)
    assert_offsets_hold(tok, text, ids, spans)
    assert (2, 10) in spans  # "naïve 新" from the decomposed ï: one token, its whole span


@pytest.mark.slow
def test_offsets_on_the_corpus(tok80k):
    # Whole files of the demo corpus (and of the shared sample when present), scalar and
    # batch: the properties hold and both paths give the same spans.
    files = sorted(DEMO_CORPUS.rglob("*.txt"))[:6]
    texts = [path.read_text(encoding="utf-8")[:40_000] for path in files]
    try:
        sample = corpus_sample()
        texts += [path.read_text(encoding="utf-8")[:40_000] for path in sorted(sample.rglob("*.txt"))[:4]]
    except pytest.skip.Exception:
        pass
    batch = tok80k.encode_batch(texts, return_offsets=True)
    for text, (ids, spans) in zip(texts, batch):
        assert_offsets_hold(tok80k, text, ids, spans)
        assert (ids, spans) == tok80k.encode_with_offsets(text)
    decomposed = nfc(texts[0]).replace("é", "e\u0301")
    ids, spans = tok80k.encode_with_offsets(decomposed)
    assert_offsets_hold(tok80k, decomposed, ids, spans)


def test_second_starters_come_from_this_pythons_tables():
    # The characters that compose with the one before them, from the Unicode tables:
    # Hangul vowel and final jamo, and vowel signs such as Oriya U+0B3E.
    second = offsets_module._second_starters()
    assert {"\u1161", "\u11a8", "\u0b3e", "\u0dcf"} <= second
    assert not {"a", "\u0301", "\u1100"} & second
