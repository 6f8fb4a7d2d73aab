"""The vocabulary beyond the trained pieces: added pieces and added special tokens.

Explained in ``docs/recipes/extend-vocabulary.md``. Two kinds of pieces can be added to a
model (HF tokenizers' ``add_tokens``, BytePiece issue #17); new ids are appended after the
last one and every existing id keeps its piece:

* **Added pieces** (no count, the default) win wherever they occur as a whole. Before the
  lattice, the normalized UTF-8 text is cut at their occurrences, leftmost first and the
  longest at a position (as HF's added vocabulary does); each occurrence is one token, the
  text between them is segmented as usual. The model records them
  (``Model.added_pieces``); they are stored with count 1, which no segmentation uses.
* **Pieces with a count** compete by likelihood like any other piece:
  ``log p = log count - log total``, where ``total`` stays the model's count total from
  before the extension (``Model.total_count``). So every old piece keeps its exact
  log-probability, and text that does not contain a new piece keeps its old ids.

Special tokens added with :func:`add_special_tokens` are control tokens (``<|im_start|>``):
never produced from ordinary text, only by ``allowed_special`` or by id. What happens to
their text in the input is the front's special-token policy; :func:`find_disallowed` and
:class:`DisallowedSpecialTokenError` serve ``disallowed_special``.

Deliberately left out: segmenting the text between added pieces (``engine.py``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

import ahocorasick

from ..model import FORMAT_NAME, FORMAT_VERSION, Model
from ..normalization import normalize

Part = Union[bytes, int]
ORIGIN = f"{FORMAT_NAME} v{FORMAT_VERSION}"  # an extended model is one of ours: it saves as such  # a stretch of ordinary text, or the id of an added piece in it


def add_pieces(model: Model, pieces: Iterable[Union[str, bytes]], *, count: Optional[int] = None) -> Tuple[Model, List[int]]:
    """``model`` with ``pieces`` added, and the id of each piece (in order).

    ``str`` pieces are normalized as text will be (a piece the normalization changes could
    never match); ``bytes`` are taken as they are. Without ``count`` each piece becomes an
    added piece (an existing piece too: it keeps its id and starts winning); with ``count``
    each new piece competes with that count (at most the model's count total, so that no
    probability exceeds 1); an existing piece is then an error.

    >>> base = Model.from_counts({bytes([b]): 1 for b in range(256)})
    >>> model, ids = add_pieces(base, ["foo", b"a"])
    >>> ids, model.added_pieces, model.vocab_size
    ([259, 100], (b'foo', b'a'), 260)
    """
    if isinstance(pieces, (str, bytes)):
        raise TypeError("add_pieces takes a list of pieces, not one: add_pieces([piece])")
    total = model.total_count if model.total_count is not None else sum(model.counts)
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= total):
        raise ValueError(f"count must be an integer from 1 to the model's count total {total}, got {count!r}")
    existing = model.piece_to_id
    added = list(model.added_pieces)
    new_pieces: List[bytes] = []
    ids: List[int] = []
    for index, piece in enumerate(pieces):
        raw = _piece_bytes(piece, index, model)
        if raw in existing and existing[raw] >= model.vocab_size:  # given twice
            ids.append(existing[raw])
        elif raw in existing:
            if count is not None:
                raise ValueError(
                    f"pieces[{index}] = {piece!r} is already piece {existing[raw]}; add_pieces(count=...) adds "
                    "new pieces only (without a count, an existing piece becomes an added piece and keeps its id)"
                )
            if raw not in added:
                added.append(raw)
            ids.append(existing[raw])
        else:
            existing[raw] = model.vocab_size + len(new_pieces)
            new_pieces.append(raw)
            ids.append(existing[raw])
            if count is None:
                added.append(raw)
    extended = dataclasses.replace(
        model,
        pieces=model.pieces + tuple(new_pieces),
        counts=model.counts + (count or 1,) * len(new_pieces),
        ids=model.ids + tuple(range(model.vocab_size, model.vocab_size + len(new_pieces))),
        added_pieces=tuple(added),
        total_count=total,
        origin=ORIGIN,
    )
    return extended, ids


def _piece_bytes(piece: Union[str, bytes], index: int, model: Model) -> bytes:
    if isinstance(piece, str):
        raw = normalize(piece, model.normalization).encode("utf-8", errors="strict")
    elif isinstance(piece, (bytes, bytearray)):
        raw = bytes(piece)
    else:
        raise TypeError(f"pieces[{index}] is a {type(piece).__name__}; pieces are str or bytes")
    if not raw:
        raise ValueError(f"pieces[{index}] is empty; a piece has at least one byte")
    return raw


def add_special_tokens(model: Model, tokens: Iterable[str]) -> Tuple[Model, List[int]]:
    """``model`` with the special tokens ``tokens`` appended (one already there keeps its
    id), and the id of each.

    >>> model, ids = add_special_tokens(Model.from_counts({bytes([b]): 1 for b in range(256)}), ["<|im_start|>", "<eos>"])
    >>> ids, model.vocab_size
    ([259, 2], 260)
    """
    if isinstance(tokens, str):
        raise TypeError("add_special_tokens takes a list of tokens, not one: add_special_tokens([token])")
    specials = dict(model.special_tokens)
    ids = []
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            raise ValueError(f"tokens[{index}] = {token!r}: a special token is a non-empty str")
        if token not in specials:
            specials[token] = model.vocab_size + len(specials) - len(model.special_tokens)
        ids.append(specials[token])
    return dataclasses.replace(model, special_tokens=specials, origin=ORIGIN), ids


class AddedPieces:
    """Where the added pieces of a model occur in normalized UTF-8: leftmost first, the
    longest at a position, never overlapping.

    >>> AddedPieces([b"ab", b"abc", b"cd"], [7, 8, 9]).split(b"xabcdab")
    [b'x', 8, b'd', 7]
    """

    def __init__(self, pieces: Sequence[bytes], ids: Sequence[int]) -> None:
        automaton: Any = ahocorasick.Automaton()
        for piece, piece_id in zip(pieces, ids):
            automaton.add_word(piece.decode("latin-1"), (len(piece), piece_id))  # bytes as code points 0-255
        automaton.make_automaton()
        self._automaton = automaton

    def find(self, data: bytes) -> List[Tuple[int, int, int]]:
        """``(start, end, id)`` of each occurrence that becomes a token."""
        matches = sorted(
            (last + 1 - length, -length, piece_id) for last, (length, piece_id) in self._automaton.iter(data.decode("latin-1"))
        )
        found = []
        position = 0
        for start, negative_length, piece_id in matches:
            if start >= position:
                position = start - negative_length
                found.append((start, position, piece_id))
        return found

    def split(self, data: bytes) -> List[Part]:
        """``data`` as the stretches of ordinary text (non-empty) and the ids of the added
        pieces between them, in order."""
        parts: List[Part] = []
        position = 0
        for start, end, piece_id in self.find(data):
            if start > position:
                parts.append(data[position:start])
            parts.append(piece_id)
            position = end
        if position < len(data):
            parts.append(data[position:])
        return parts


# ---------------------------------------------------------------- disallowed special-token text
class DisallowedSpecialTokenError(ValueError):
    """The text holds the text of a special token that ``disallowed_special`` forbids.

    ``token`` is the special token, ``position`` the character where it starts and
    ``index`` the text's index in a batch (``None`` for one text)."""

    def __init__(self, token: str, position: int, index: Optional[int] = None) -> None:
        self.token, self.position, self.index = token, position, index
        where = f"text {index} of the batch" if index is not None else "the text"
        super().__init__(
            f"{where} contains the special token {token!r} at character {position}. Pass "
            f"allowed_special={{{token!r}}} (or 'all') to encode it as the special token, or "
            "disallowed_special=() to encode it as ordinary text"
        )

    def __reduce__(self) -> Tuple[Any, Tuple[str, int, Optional[int]]]:
        # Rebuilt from its fields (not its message), so it crosses process boundaries.
        return type(self), (self.token, self.position, self.index)


def find_disallowed(pattern: "re.Pattern[str]", texts: Sequence[str], *, batch: bool = False) -> None:
    """Raise :class:`DisallowedSpecialTokenError` for the first text in which ``pattern``
    (the disallowed special tokens) occurs."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            continue  # the encoder says what is wrong with it
        match = pattern.search(text)
        if match:
            raise DisallowedSpecialTokenError(match.group(), match.start(), index if batch else None)
