"""Export to Hugging Face: the real tokenizers and transformers load it, with our ids."""

from __future__ import annotations

import pytest

from bytepiece import Tokenizer
from bytepiece.export.huggingface import byte_alphabet

from conftest import GOLDEN, IN_REPO_MODEL, LazyModels, golden_rows, shared_path, tiny_model

tokenizers = pytest.importorskip("tokenizers")  # CI installs the hf extra
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def exported(legacy_tokenizers, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf")
    return LazyModels(lambda name: legacy_tokenizers[name].to_huggingface(out / name))


def test_byte_alphabet_is_hf_byte_level():
    alphabet = byte_alphabet()
    assert sorted(alphabet) == sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    byte_level = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    text = "".join(chr(c) for c in list(range(1, 0x800)) + list(range(0x800, 0x10FFFF, 997)) if not 0xD800 <= c < 0xE000)
    assert byte_level.pre_tokenize_str(text)[0][0] == "".join(alphabet[b] for b in text.encode())


@pytest.mark.parametrize("name", ["bytepiece.zh.id.eu.80k", "bytepiece_80k"])
def test_golden_ids_with_tokenizers(name, exported, legacy_tokenizers):
    tok = legacy_tokenizers[name]
    hf = tokenizers.Tokenizer.from_file(str(exported[name]))
    rows = golden_rows(name)
    encodings = hf.encode_batch([r["text"] for r in rows], add_special_tokens=False)
    differ = [(r, e.ids) for r, e in zip(rows, encodings) if e.ids != r["ids"]]
    # Measured: 6637/6637 (zh.id.eu) and 6635/6637 (80k). Every difference is an exact tie:
    # the same probability, the same pieces in another order (e.g. 8+7 spaces vs 7+8).
    assert len(differ) <= 2
    for row, ids in differ:
        assert sorted(ids) == sorted(row["ids"])
        assert tok.score(row["text"], ids) == pytest.approx(tok.score(row["text"], row["ids"]), abs=1e-9)
    for row, encoding in list(zip(rows, encodings))[::50]:
        assert hf.decode(encoding.ids) == tok.decode(row["ids"])


def test_transformers_loads_file_and_directory(exported, legacy_tokenizers):
    name = "bytepiece.zh.id.eu.80k"
    tok = legacy_tokenizers[name]
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(exported[name]), bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )
    auto = transformers.AutoTokenizer.from_pretrained(str(exported[name].parent))
    for row in golden_rows(name)[::23]:
        assert fast.encode(row["text"], add_special_tokens=False) == row["ids"]
        assert auto(row["text"], add_special_tokens=False)["input_ids"] == row["ids"]
        assert auto.decode(row["ids"]) == tok.decode(row["ids"])
    assert (auto.pad_token_id, auto.bos_token_id, auto.eos_token_id) == (tok.pad_id, tok.bos_id, tok.eos_id)
    batch = auto(["新词发现", "hello world\n\nagain"], padding=True, add_special_tokens=False)
    assert batch["input_ids"][0][-1] == tok.pad_id or len(batch["input_ids"][0]) == len(batch["input_ids"][1])


def test_special_token_strings_differ_as_documented(exported, legacy_tokenizers):
    name = "bytepiece.zh.id.eu.80k"
    tok = legacy_tokenizers[name]
    hf = tokenizers.Tokenizer.from_file(str(exported[name]))
    text = "end<eos>next"
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")
    assert tok.eos_id not in tok.encode(text)


def test_unnormalized_model_and_single_file(tmp_path):
    tok = Tokenizer(tiny_model({b"ab": 9, b"b\n": 4, "é".encode(): 3}, normalization="none"))
    path = tok.to_huggingface(tmp_path / "t.json")
    assert path == tmp_path / "t.json" and not (tmp_path / "tokenizer_config.json").exists()
    hf = tokenizers.Tokenizer.from_file(str(path))
    for text in ["abab\nb\n\nab", "e\u0301", "\u00e9", "\x00\r\n\t x", "😀ab"]:
        assert hf.encode(text).ids == tok.encode(text)
        assert hf.decode(hf.encode(text).ids) == text


@pytest.mark.parametrize("which", ["ref-sample-mc4.model.32000", "ref-sample-mc4.model.8000", "default", "refined"])
def test_trained_vocabularies_export_exactly(which, demo_trained, tmp_path):
    # "default" and "refined": 4000 pieces trained by us, without and with --refine
    tok = demo_trained[which] if which in ("default", "refined") else Tokenizer(shared_path(GOLDEN / "trained" / which))
    hf = tokenizers.Tokenizer.from_file(str(tok.to_huggingface(tmp_path / "t.json")))
    texts = [r["text"] for r in golden_rows(IN_REPO_MODEL)]  # real text and edge cases
    got = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    ours = [tok.encode(t) for t in texts]
    differ = [i for i in range(len(texts)) if got[i] != ours[i]]
    # Measured: no difference at all on these vocabularies; allow only exact ties.
    assert all(tok.score(texts[i], got[i]) == pytest.approx(tok.score(texts[i], ours[i]), abs=1e-9) for i in differ)
    assert len(differ) <= 2


@pytest.mark.parametrize("add_bos, add_eos", [(True, True), (True, False), (False, True)])
def test_bos_eos_post_processor(add_bos, add_eos, legacy_tokenizers, tmp_path):
    tok = legacy_tokenizers["bytepiece.zh.id.eu.80k"]
    directory = tmp_path / "hf"
    tok.to_huggingface(directory, add_bos=add_bos, add_eos=add_eos)
    fast = transformers.AutoTokenizer.from_pretrained(str(directory))
    for text in ["hello world", "新词发现\n"]:
        assert fast(text)["input_ids"] == tok.encode(text, add_bos=add_bos, add_eos=add_eos)
        assert fast(text, add_special_tokens=False)["input_ids"] == tok.encode(text)
    with pytest.raises(ValueError, match="no <bos>"):
        Tokenizer(tiny_model({}, special_tokens=("<pad>",))).to_huggingface(tmp_path / "x.json", add_bos=True)
