"""Export to a Hugging Face ``tokenizer.json`` (``tokenizers`` and ``transformers``).

How our model is expressed in HF's pipeline, so that ids are the same:

* normalizer: ``NFC`` (or none), as the model says;
* pre-tokenizer: ``Split("\\n+", merged_with_previous)`` gives our chunks (a line plus its
  newline run), then ``ByteLevel(use_regex=False)`` maps every byte to one printable
  character (GPT-2's byte alphabet), so HF's Unigram lattice is our byte lattice;
* model: ``Unigram`` whose vocabulary is our pieces, written in that byte alphabet, in id
  order, with our log-probabilities as scores. Every single byte is a piece, so there is
  no unknown token and no byte fallback; pieces that are not valid UTF-8 on their own
  (``bytepiece_80k``) work like any other;
* decoder: ``ByteLevel``; special tokens are added tokens (``special=True``);
* added pieces (``Tokenizer.add_pieces`` without a count) are added tokens
  (``special=False, normalized=True``), which HF cuts out of the normalized text first,
  leftmost and longest, as we do. HF gives an added token the id of the vocabulary entry
  with its text, so the entry at the piece's id is its UTF-8 text (not the byte
  alphabet); the lattice never sees it, as ours never does. An added piece must be valid
  UTF-8 and its text must not be another entry's (``ValueError`` otherwise).

Known difference: HF treats special-token strings in the text (``"<eos>"``) as the special
token, like our ``encode(..., allowed_special="all")``; our default encodes them as text.
Token strings (``convert_ids_to_tokens``) are in the byte alphabet (``"Ġworld"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List

from ..model import BOS, EOS, PAD, PathLike
from ..io.files import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer

# Special tokens must never win inside the Unigram lattice (with split_special_tokens).
_SPECIAL_SCORE = -1e9


def byte_alphabet() -> List[str]:
    """GPT-2's byte -> character table (what HF's ``ByteLevel`` uses): printable Latin-1
    bytes stand for themselves, the other 68 bytes take code points from U+0100 up."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table: Dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def build_tokenizer(tok: "Tokenizer", *, add_bos: bool = False, add_eos: bool = False) -> Any:
    """The ``tokenizers.Tokenizer`` equivalent of ``tok`` (Viterbi encoding).

    ``add_bos``/``add_eos``: what ``add_special_tokens=True`` (HF's default) adds, like our
    ``encode(add_bos=..., add_eos=...)``; by default nothing, like our ``encode``.
    """
    try:
        from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("exporting to Hugging Face needs `pip install bytepiece[hf]` (tokenizers)") from None
    alphabet = byte_alphabet()
    log_probs = tok.engine.log_probs().tolist()  # the exact floats Viterbi uses
    vocab: List[Any] = [None] * tok.vocab_size
    for token, token_id in tok.special_tokens.items():
        vocab[token_id] = (token, _SPECIAL_SCORE)
    for piece, piece_id in zip(tok.model.pieces, tok.model.ids):
        vocab[piece_id] = ("".join(alphabet[b] for b in piece), log_probs[piece_id])
    added = _added_pieces(tok, vocab)
    hf = HFTokenizer(models.Unigram(vocab, unk_id=None, byte_fallback=False))
    if tok.model.normalization == "nfc":
        hf.normalizer = normalizers.NFC()
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("\n+"), behavior="merged_with_previous"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    hf.decoder = decoders.ByteLevel()
    specials = sorted(tok.special_tokens.items(), key=lambda kv: kv[1])
    hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, _ in specials])
    hf.add_tokens([AddedToken(text, special=False, normalized=True) for text in added])
    if add_bos or add_eos:
        hf.post_processor = _template(tok, processors, add_bos, add_eos)
    return hf


def _added_pieces(tok: "Tokenizer", vocab: List[Any]) -> List[str]:
    """The texts of the model's added pieces, written into ``vocab`` at their ids."""
    ids = tok.model.piece_to_id
    texts = []
    taken = {entry[0] for entry in vocab}
    for piece in tok.model.added_pieces:
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"added piece {piece!r} is not valid UTF-8; Hugging Face added tokens are text") from None
        if text != vocab[ids[piece]][0] and text in taken:
            raise ValueError(
                f"added piece {text!r} is written like another vocabulary entry in Hugging Face's byte "
                "alphabet, so its id would be ambiguous there; this model cannot be exported"
            )
        vocab[ids[piece]] = (text, vocab[ids[piece]][1])
        texts.append(text)
    return texts


def _template(tok: "Tokenizer", processors: Any, add_bos: bool, add_eos: bool) -> Any:
    wanted = [name for name, on in ((BOS, add_bos), (EOS, add_eos)) if on]
    missing = [name for name in wanted if name not in tok.special_tokens]
    if missing:
        raise ValueError(f"this model has no {', '.join(missing)} special token")
    def sequence(piece: str) -> List[str]:
        return ([BOS] if add_bos else []) + [piece] + ([EOS] if add_eos else [])

    return processors.TemplateProcessing(
        single=sequence("$A"),
        pair=sequence("$A") + [f"{p}:1" for p in sequence("$B")],
        special_tokens=[(name, tok.special_tokens[name]) for name in wanted],
    )


def to_huggingface(tok: "Tokenizer", path: PathLike, *, add_bos: bool = False, add_eos: bool = False) -> Path:
    """Write ``tok`` for Hugging Face; returns the ``tokenizer.json`` path.

    ``path`` ending in ``.json`` is the file itself. Otherwise it is a directory that gets
    ``tokenizer.json`` and a ``tokenizer_config.json``, so that
    ``transformers.AutoTokenizer.from_pretrained(path)`` loads it. Writes are atomic.
    ``add_bos``/``add_eos``: see :func:`build_tokenizer`.
    """
    hf = build_tokenizer(tok, add_bos=add_bos, add_eos=add_eos)
    target = Path(path)
    if target.suffix == ".json":
        atomic_write_bytes(target, hf.to_str().encode("utf-8"))
        return target
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target / "tokenizer.json", hf.to_str().encode("utf-8"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,
        "clean_up_tokenization_spaces": False,
    }
    for role, token in (("pad", PAD), ("bos", BOS), ("eos", EOS)):
        if token in tok.special_tokens:
            config[f"{role}_token"] = token
    others = [t for t, _ in sorted(tok.special_tokens.items(), key=lambda kv: kv[1]) if t not in (PAD, BOS, EOS)]
    if others:  # added special tokens (add_special_tokens): transformers lists them here
        config["additional_special_tokens"] = others
    atomic_write_bytes(target / "tokenizer_config.json", (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    return target / "tokenizer.json"
