"""Offsets: for every token, the ``(start, end)`` characters of the caller's text it came from.

Explained in ``docs/recipes/offsets.md``. The ids come from the engine's own paths (scalar or
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
) -> Tuple[np.ndarray, np.ndarray]:
    """Where every id of ``ids`` starts and ends: text ``t``'s ids are
    ``ids[bounds[t] : bounds[t + 1]]`` as ``encode`` made them, with ``head`` ids before
    and ``tail`` after each text (``<bos>`` / ``<eos>``) and, if ``splitter`` is given, the
    special tokens it finds in the text. Spans count characters of each text.

    >>> from bytepiece.model import Model
    >>> from bytepiece.encoding.engine import Engine
    >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
    >>> ids = np.array(engine.encode_utf8("abé".encode()))
    >>> starts, ends = token_offsets(engine, ["abé"], ids, np.array([0, ids.size]))
    >>> starts.tolist(), ends.tolist()
    ([0, 2, 2], [2, 3, 3])
    """
    text_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=text_starts[1:])
    parts, part_starts, specials = _ordinary_parts(texts, text_starts, splitter)
    normalized, atoms = _normalize_parts(parts, part_starts, engine.model.normalization)
    data = np.frombuffer("".join(normalized).encode("utf-8"), dtype=np.uint8)
    # Character (of the joined normalized parts) of each byte: count the lead bytes.
    char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1

    lengths = engine.piece_length_table()[ids]
    ends = np.cumsum(lengths)
    if (ends[-1] if ends.size else 0) != data.size:
        raise ValueError("the ids do not spell the texts (internal error: please report it)")
    if not data.size:  # nothing but special tokens (placed below)
        starts, ends = np.zeros_like(lengths), np.zeros_like(lengths)
    else:
        # First and last character of each token (clipped: special tokens are placed below).
        first = char_of_byte[np.minimum(ends - lengths, data.size - 1)]
        last = char_of_byte[np.maximum(ends - 1, 0)]
        if atoms is None:  # the joined texts are the joined normalized parts: characters map 1:1
            starts, ends = first, last + 1
        else:
            starts, ends = _map_chars(atoms, first, last)
    special = lengths == 0  # special tokens are the only ids without bytes
    if special.any():
        _place_specials(starts, ends, special, bounds, text_starts, head, tail, specials)
    text_start = np.repeat(text_starts[:-1], np.diff(bounds))
    return starts - text_start, ends - text_start


def _ordinary_parts(
    texts: Sequence[str], text_starts: np.ndarray, splitter: "Optional[re.Pattern[str]]"
) -> Tuple[List[str], List[int], List[int]]:
    """The ordinary parts of all texts (between the special tokens ``splitter`` finds),
    where each starts in the texts joined, and the spans of those special tokens (flat)."""
    if splitter is None:
        return list(texts), text_starts[:-1].tolist(), []
    parts: List[str] = []
    part_starts: List[int] = []
    specials: List[int] = []
    for text, position in zip(texts, text_starts.tolist()):
        for index, part in enumerate(splitter.split(text)):
            if index % 2:
                specials += [position, position + len(part)]
            elif part:
                parts.append(part)
                part_starts.append(position)
            position += len(part)
    return parts, part_starts, specials


def _normalize_parts(
    parts: List[str], part_starts: List[int], form: Normalization
) -> Tuple[List[str], Optional[List[Atom]]]:
    """The parts normalized, and their atoms in the coordinates of the joined texts (and,
    by their counts, of the joined normalized parts); ``None`` when the joined normalized
    parts are the joined texts themselves (nothing changed, nothing cut out)."""
    contiguous = all(a + len(p) == b for p, a, b in zip(parts, part_starts, part_starts[1:]))
    if form == "none" or unicodedata.is_normalized("NFC", "".join(parts)):
        if contiguous and (not part_starts or part_starts[0] == 0):
            return parts, None
        return parts, [(base, base + len(part), len(part), True) for part, base in zip(parts, part_starts)]
    normalized: List[str] = []
    atoms: List[Atom] = []
    for part, base in zip(parts, part_starts):
        part_normalized, part_atoms = align(part, form)
        normalized.append(part_normalized)
        atoms += [(base + a, base + b, n, same) for a, b, n, same in part_atoms]
    return normalized, atoms


def _map_chars(atoms: List[Atom], first: np.ndarray, last: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Where the characters ``first`` start and ``last`` end in the joined texts
    (characters of the joined normalized parts)."""
    table = np.array(atoms, dtype=np.int64).reshape(-1, 4)
    origin, end, one_to_one = table[:, 0], table[:, 1], table[:, 3].astype(bool)
    normalized_starts = np.cumsum(table[:, 2]) - table[:, 2]
    atom = np.searchsorted(normalized_starts, first, side="right") - 1
    starts = np.where(one_to_one[atom], origin[atom] + first - normalized_starts[atom], origin[atom])
    atom = np.searchsorted(normalized_starts, last, side="right") - 1
    ends = np.where(one_to_one[atom], origin[atom] + last - normalized_starts[atom] + 1, end[atom])
    return starts, ends


def _place_specials(
    starts: np.ndarray,
    ends: np.ndarray,
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
    text = np.searchsorted(bounds, where, side="right") - 1
    rank = where - bounds[text]
    size = bounds[text + 1] - bounds[text]
    is_head, is_tail = rank < head, rank >= size - tail
    inner = ~(is_head | is_tail)
    found = np.array(spans, dtype=np.int64).reshape(-1, 2)
    if found.shape[0] != int(inner.sum()):
        raise ValueError("the special tokens do not match the texts (internal error: please report it)")
    for positions, values in (
        (where[is_head], text_starts[text[is_head]]),
        (where[is_tail], text_starts[text[is_tail] + 1]),
    ):
        starts[positions] = ends[positions] = values
    starts[where[inner]], ends[where[inner]] = found[:, 0], found[:, 1]


def spans_by_text(starts: np.ndarray, ends: np.ndarray, bounds: np.ndarray) -> List[List[Span]]:
    """The ``(start, end)`` tuples of each text (``bounds`` as in :func:`token_offsets`)."""
    pairs = list(zip(starts.tolist(), ends.tolist()))
    cuts = bounds.tolist()
    return [pairs[a:b] for a, b in zip(cuts, cuts[1:])]
