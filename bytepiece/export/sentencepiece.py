"""Export to a SentencePiece ``.model`` (a ``ModelProto``, written by hand: no protobuf).

How our model maps onto SentencePiece's unigram model:

* every multi-byte piece and every ASCII byte but NUL is a NORMAL piece with its UTF-8
  text and our log-probability as score, at our id; ``<pad>``/``<bos>``/``<eos>`` are
  CONTROL;
* the single bytes 0x80-0xFF and 0x00 are BYTE pieces ``<0x80>``…``<0xFF>``, ``<0x00>`` at
  our ids, with ``byte_fallback``: SentencePiece spells a character it has no piece for
  with them;
* added pieces (``Tokenizer.add_pieces`` without a count) are USER_DEFINED: SentencePiece
  too cuts them out wherever they occur, longest first; added special tokens are CONTROL;
* appended after our ids (never produced): ``<unk>`` (SentencePiece requires one) and the
  BYTE pieces ``<0x01>``…``<0x7F>`` it requires for byte fallback;
* normalizer ``identity``, no dummy prefix, no whitespace escaping or collapsing, so text
  goes in as it is. A piece never crosses a newline run, so one lattice over the whole
  text equals our per-line lattices.

Documented divergences (measured in ``docs/recipes/export.md``):

1. No NFC: SentencePiece's NFC-like rules are NFKC variants; apply
   ``unicodedata.normalize("NFC", text)`` first for an NFC model.
2. A character with no single-character piece is "unknown" to SentencePiece. It scores it
   ``min_score - 10`` instead of the sum of its bytes' scores, so where such a character
   could also be covered by a longer piece the best path can differ.
3. Scores are float32 and summed in another order, so ties and near-ties (the same
   pieces in another order, e.g. ``"-" "--"`` vs ``"--" "-"``) may break the other way.

Models with multi-byte pieces that are not valid UTF-8 (``bytepiece_80k``, trained before
``ensure_unicode``) cannot be expressed (SentencePiece pieces are text): ``ValueError``.
Use the Hugging Face export for them.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING, List, Tuple

from ..model import BOS, EOS, PAD, PathLike
from ..io.files import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer

# ModelProto.SentencePiece.Type
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _BYTE = 1, 2, 3, 4, 6
_UNIGRAM = 1


def build_model_proto(tok: "Tokenizer") -> bytes:
    """The serialized ``ModelProto`` for ``tok``."""
    entries = _pieces(tok)
    specials = tok.special_tokens
    unk_id = tok.vocab_size
    trainer = b"".join(
        [
            _varint_field(3, _UNIGRAM),
            _varint_field(4, len(entries)),
            _varint_field(35, 1),  # byte_fallback
            _varint_field(40, unk_id),
            _varint_field(41, _signed(specials.get(BOS, -1))),
            _varint_field(42, _signed(specials.get(EOS, -1))),
            _varint_field(43, _signed(specials.get(PAD, -1))),
            # SentencePiece looks the special ids up by these names (defaults <s>, </s>).
            _bytes_field(45, b"<unk>"),
            _bytes_field(46, BOS.encode()),
            _bytes_field(47, EOS.encode()),
            _bytes_field(48, PAD.encode()),
        ]
    )
    normalizer = b"".join(
        [
            _bytes_field(1, b"identity"),
            _varint_field(3, 0),  # add_dummy_prefix
            _varint_field(4, 0),  # remove_extra_whitespaces
            _varint_field(5, 0),  # escape_whitespaces
        ]
    )
    out = [_bytes_field(1, _piece_message(text, score, kind)) for text, score, kind in entries]
    out.append(_bytes_field(2, trainer))
    out.append(_bytes_field(3, normalizer))
    return b"".join(out)


def to_sentencepiece(tok: "Tokenizer", path: PathLike) -> Path:
    """Write ``tok`` as a SentencePiece model file (atomically); returns the path.

    >>> tok.to_sentencepiece("tok.model")                        # doctest: +SKIP
    >>> import sentencepiece as spm                              # doctest: +SKIP
    >>> spm.SentencePieceProcessor(model_file="tok.model").encode("hello")   # doctest: +SKIP
    """
    target = Path(path)
    atomic_write_bytes(target, build_model_proto(tok))
    return target


def _pieces(tok: "Tokenizer") -> List[Tuple[str, float, int]]:
    model = tok.model
    log_probs = tok.engine.log_probs().tolist()  # the exact floats Viterbi uses
    entries: List = [None] * tok.vocab_size
    for token, token_id in tok.special_tokens.items():
        entries[token_id] = (token, 0.0, _CONTROL)
    invalid = []
    added = set(model.added_pieces)
    for piece, piece_id in zip(model.pieces, model.ids):
        logp = log_probs[piece_id]
        if piece in added:
            try:
                entries[piece_id] = (piece.decode("utf-8"), 0.0, _USER_DEFINED)
            except UnicodeDecodeError:
                invalid.append(piece)
            continue
        if len(piece) == 1 and (piece[0] >= 0x80 or piece[0] == 0):
            # SentencePiece takes no NUL piece; a NUL byte falls back to <0x00> instead.
            entries[piece_id] = (f"<0x{piece[0]:02X}>", 0.0, _BYTE)
            continue
        try:
            entries[piece_id] = (piece.decode("utf-8"), logp, _NORMAL)
        except UnicodeDecodeError:
            invalid.append(piece)
    if invalid:
        raise ValueError(
            f"{len(invalid)} pieces are not valid UTF-8 on their own (e.g. {invalid[0]!r}); "
            "SentencePiece pieces are text, so this model (trained without ensure_unicode) "
            "cannot be exported to SentencePiece. The Hugging Face export handles it exactly."
        )
    entries.append(("<unk>", 0.0, _UNKNOWN))
    entries.extend((f"<0x{b:02X}>", 0.0, _BYTE) for b in range(1, 0x80))
    return entries


# ---------------------------------------------------------------- protobuf wire format
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _signed(value: int) -> int:
    # int32 fields encode negative values as 64-bit two's complement varints.
    return value & 0xFFFFFFFFFFFFFFFF


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _piece_message(text: str, score: float, kind: int) -> bytes:
    score_field = _varint(2 << 3 | 5) + struct.pack("<f", score)
    return _bytes_field(1, text.encode("utf-8")) + score_field + _varint_field(3, kind)
