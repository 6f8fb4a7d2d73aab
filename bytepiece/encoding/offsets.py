"""Offsets: for every token, the ``(start, end)`` characters of the caller's text it came from.

Explained in ``docs/offsets.md``. The ids come from the engine's own paths (scalar or
batch, Viterbi or sampled); their spans are then read off their piece lengths, in two
steps:

1. bytes -> characters of the normalized text. A piece that splits a character (a byte
   of a character the vocabulary has no piece for) gets that whole character's span, as
   HF tokenizers does; so two tokens can share a span.
2. normalized characters -> characters of the original text. Without normalization, or
   where NFC left the text as it was, this is the identity. Where NFC changed it, the text
   is cut at *cut points*, the positions where normalizing the two sides separately gives
   the same result as normalizing the whole; a normalized character maps to the stretch
   between the two cut points around the characters that produced it (``é`` from
   ``e`` + U+0301 maps to both). Those are the finest spans that are right whatever the
   normalization did (it composes, and reorders within a run of combining marks).

Cut points are found without normalizing the text once per position: a character can only
interact with the ones before it if it is a non-starter, a starter that composes with its
predecessor (Hangul vowel and final jamo, some vowel signs), or decomposes to one of
those; every other character starts a stretch that normalizes on its own. Only the short
regions around the characters that can interact are searched position by position.

Special tokens found in the text (``allowed_special``) span their text; ``<bos>`` added by
``add_bos`` is ``(0, 0)`` and ``<eos>`` added by ``add_eos`` is ``(len(text), len(text))``.

Deliberately left out: byte offsets (``tok.tokenize`` gives the pieces; their lengths are
byte offsets in the normalized UTF-8) and the encoding itself (``engine.py``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from ..normalization import Normalization, normalize

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

Span = Tuple[int, int]
# A stretch of the original text and what normalization made of it: (start, end) in the
# original, the number of normalized characters, and whether they map one to one
# (unchanged text) or each to the whole stretch.
Atom = Tuple[int, int, int, bool]

MAX_REGION = 64  # longer runs of interacting characters map as one stretch (see align)


def align(text: str, form: Normalization) -> Tuple[str, List[Atom]]:
    """``text`` normalized, and the atoms that map it back (see the module docstring).

    >>> align("cafe\\u0301!", "nfc")
    ('café!', [(0, 3, 3, True), (3, 5, 1, False), (5, 6, 1, True)])
    >>> align("abc", "nfc")
    ('abc', [(0, 3, 3, True)])
    """
    normalized = normalize(text, form)
    if normalized is text or normalized == text:
        return text, [(0, len(text), len(text), True)] if text else []
    atoms: List[Atom] = []
    position = 0
    for match in _interacting(text).finditer(text):
        start, end = match.span()
        if start > position:
            atoms.append((position, start, start - position, True))
        atoms.extend(_region_atoms(text[start:end], start))
        position = end
    if position < len(text):
        atoms.append((position, len(text), len(text) - position, True))
    if not _spells(text, atoms, normalized):
        # Not expected with this Python's Unicode tables (the tests check it); if a future
        # table breaks the reasoning above, one stretch is still right, only coarse.
        return normalized, [(0, len(text), len(normalized), False)]
    return normalized, atoms


def _spells(text: str, atoms: List[Atom], normalized: str) -> bool:
    """The atoms, normalized one by one, spell the normalized text."""
    parts = [text[a:b] if same else unicodedata.normalize("NFC", text[a:b]) for a, b, _, same in atoms]
    return "".join(parts) == normalized and sum(n for _, _, n, _ in atoms) == len(normalized)


def _region_atoms(region: str, offset: int) -> List[Atom]:
    """The stretches between the cut points inside one region of interacting characters."""
    whole = unicodedata.normalize("NFC", region)
    if len(region) > MAX_REGION:
        return [(offset, offset + len(region), len(whole), False)]
    cuts = [0]
    for k in range(1, len(region)):
        if unicodedata.normalize("NFC", region[:k]) + unicodedata.normalize("NFC", region[k:]) == whole:
            cuts.append(k)
    cuts.append(len(region))
    return [
        (offset + a, offset + b, len(unicodedata.normalize("NFC", region[a:b])), False)
        for a, b in zip(cuts, cuts[1:])
    ]


# ---------------------------------------------------------------- which characters interact
_STABLE, _JOINS, _CHANGES = 0, 1, 2  # starts a stretch; joins the one before; starts one but changes
_KINDS: Dict[str, int] = {}
_SECOND: Optional[FrozenSet[str]] = None


def _interacting(text: str) -> "re.Pattern[str]":
    """A pattern matching each region of ``text`` that normalization may change: a
    character with the run of joining characters after it, or a changing character."""
    joins, changes = [], []
    for char in set(text):
        kind = _KINDS.get(char)
        if kind is None:
            kind = _KINDS[char] = _kind(char)
        if kind == _JOINS:
            joins.append(char)
        elif kind == _CHANGES:
            changes.append(char)
    alternatives = []
    if joins:
        alternatives.append(f".?{_char_class(joins)}+")
    if changes:
        alternatives.append(_char_class(changes))
    return re.compile("|".join(alternatives) or "(?!)", re.DOTALL)


def _char_class(chars: Sequence[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


def _kind(char: str) -> int:
    first = unicodedata.normalize("NFD", char)[0]
    if unicodedata.combining(char) or unicodedata.combining(first) or first in _second_starters():
        return _JOINS
    return _STABLE if unicodedata.normalize("NFC", char) == char else _CHANGES


def _second_starters() -> FrozenSet[str]:
    """Starters that compose with the character before them: the second half of a
    canonical pair of a composite NFC keeps, and the Hangul vowel and final jamo (whose
    composition is arithmetic, not in the tables). Built once, from this Python's tables."""
    global _SECOND
    if _SECOND is None:
        second = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
        # Canonical composites are all in planes 0 and 1 (planes 2 and 3 hold only CJK
        # ideographs, whose compatibility variants are singletons).
        for code in range(0x20000):
            decomposition = unicodedata.decomposition(chr(code))
            if decomposition and not decomposition.startswith("<"):
                parts = decomposition.split()
                if len(parts) == 2 and unicodedata.normalize("NFC", chr(code)) == chr(code):
                    second.add(chr(int(parts[1], 16)))
        _SECOND = frozenset(c for c in second if not unicodedata.combining(c))
    return _SECOND


# ---------------------------------------------------------------- token offsets
def token_offsets(
    engine: "Engine",
    texts: Sequence[str],
    ids: np.ndarray,
    bounds: np.ndarray,
    *,
    splitter: "Optional[re.Pattern[str]]" = None,
    head: int = 0,
    tail: int = 0,
) -> np.ndarray:
    """The ``(start, end)`` of every id of ``ids``: text ``t``'s ids are
    ``ids[bounds[t] : bounds[t + 1]]`` as ``encode`` made them, with ``head`` ids before
    and ``tail`` after each text (``<bos>`` / ``<eos>``) and, if ``splitter`` is given, the
    special tokens it finds in the text. Spans count characters of each text.

    >>> from bytepiece.model import Model
    >>> from bytepiece.encoding.engine import Engine
    >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
    >>> ids = np.array(engine.encode_utf8("abé".encode()))
    >>> token_offsets(engine, ["abé"], ids, np.array([0, ids.size])).tolist()
    [[0, 2], [2, 3], [2, 3]]
    """
    form = engine.model.normalization
    text_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=text_starts[1:])
    # The ordinary parts of all texts (between the special tokens the splitter finds),
    # where they start in the texts joined, and the spans of those special tokens.
    parts: List[str] = []
    part_starts: List[int] = []
    specials: List[int] = []
    for text, base in zip(texts, text_starts.tolist()):
        if splitter is None:
            parts.append(text)
            part_starts.append(base)
            continue
        position = base
        for index, part in enumerate(splitter.split(text)):
            if index % 2:
                specials += [position, position + len(part)]
            elif part:
                parts.append(part)
                part_starts.append(position)
            position += len(part)
    # The atoms of all parts, in the coordinates of the joined texts and of the joined
    # normalized parts.
    atoms: List[Atom] = []
    normalized: List[str] = []
    if form == "none" or unicodedata.is_normalized("NFC", "".join(parts)):
        atoms = [(base, base + len(part), len(part), True) for part, base in zip(parts, part_starts)]
        normalized = parts
    else:
        for part, base in zip(parts, part_starts):
            part_normalized, part_atoms = align(part, form)
            normalized.append(part_normalized)
            atoms += [(base + a, base + b, n, same) for a, b, n, same in part_atoms]
    data = np.frombuffer("".join(normalized).encode("utf-8"), dtype=np.uint8)
    # Character (of the joined normalized parts) of each byte: count the lead bytes.
    char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1

    lengths_by_id = engine.piece_lengths
    flat = ids.tolist()
    lengths = np.fromiter((lengths_by_id[i] for i in flat), dtype=np.int64, count=len(flat))
    ordinary = lengths > 0  # special tokens are the only ids without bytes
    ends = np.cumsum(lengths)
    if ends.size and ends[-1] != data.size or not ends.size and data.size:
        raise ValueError("the ids do not spell the texts (internal error: please report it)")
    out = np.zeros((len(flat), 2), dtype=np.int64)
    if data.size:
        first_char = char_of_byte[ends[ordinary] - lengths[ordinary]]
        last_char = char_of_byte[ends[ordinary] - 1]
        out[ordinary, 0] = _map_chars(atoms, first_char, start=True)
        out[ordinary, 1] = _map_chars(atoms, last_char, start=False)
    _place_specials(out, ~ordinary, bounds, text_starts, head, tail, specials)
    text_of_id = np.repeat(np.arange(len(texts)), np.diff(bounds))
    out -= text_starts[text_of_id][:, None]
    return out


def _map_chars(atoms: List[Atom], chars: np.ndarray, *, start: bool) -> np.ndarray:
    """Where each normalized character of ``chars`` starts (or ends) in the joined texts."""
    table = np.array(atoms, dtype=np.int64).reshape(-1, 4)
    normalized_starts = np.cumsum(table[:, 2]) - table[:, 2]
    atom = np.searchsorted(normalized_starts, chars, side="right") - 1
    within = chars - normalized_starts[atom]
    one_to_one = table[atom, 3].astype(bool)
    if start:
        return np.where(one_to_one, table[atom, 0] + within, table[atom, 0])
    return np.where(one_to_one, table[atom, 0] + within + 1, table[atom, 1])


def _place_specials(
    out: np.ndarray,
    special: np.ndarray,
    bounds: np.ndarray,
    text_starts: np.ndarray,
    head: int,
    tail: int,
    spans: List[int],
) -> None:
    """Spans of the ids without bytes: ``<bos>`` at the start of its text, ``<eos>`` at
    the end, and the special tokens found in the text, in order, at theirs."""
    where = np.flatnonzero(special)
    if not where.size:
        return
    text = np.searchsorted(bounds, where, side="right") - 1
    rank = where - bounds[text]
    size = bounds[text + 1] - bounds[text]
    is_head, is_tail = rank < head, rank >= size - tail
    inner = ~(is_head | is_tail)
    out[where[is_head]] = text_starts[text[is_head]][:, None]
    out[where[is_tail]] = text_starts[text[is_tail] + 1][:, None]
    found = np.array(spans, dtype=np.int64).reshape(-1, 2)
    if found.shape[0] != int(inner.sum()):
        raise ValueError("the special tokens do not match the texts (internal error: please report it)")
    out[where[inner]] = found


def as_spans(offsets: np.ndarray) -> List[Span]:
    """Rows ``[start, end]`` as a list of tuples."""
    return [(a, b) for a, b in offsets.tolist()]
