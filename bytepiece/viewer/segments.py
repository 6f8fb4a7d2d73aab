"""What the viewer shows: segmentations of one text, as runs of the text with their tokens.

A *unit* is a stretch of the caller's text and the tokens that came from it, found from
the offsets (``encoding/offsets.py``): usually one token, but the byte pieces that split
one character share its span and form one unit, so every unit shows real text and the
units spell the text exactly.

Deliberately left out: drawing (``terminal.py``, ``page.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Tuple

from ..encoding.random_streams import Seed
from ..io.model_file import escape_piece

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer


@dataclass(frozen=True)
class Token:
    """One id: its piece (bytes), the piece as the model file writes it, and ``log p``."""

    id: int
    piece: bytes
    logp: float
    added: bool  # an added piece (always one token where it occurs)

    @property
    def shown(self) -> str:
        return escape_piece(self.piece)

    @property
    def split_character(self) -> bool:
        """The piece is not text on its own: a byte (or bytes) of a character the
        vocabulary has no piece for."""
        try:
            self.piece.decode("utf-8")
            return False
        except UnicodeDecodeError:
            return True

    def describe(self) -> str:
        """``id 42 · "piece" · 70 69 65 63 65 · log p -7.13`` (what hovering shows)."""
        score = "added piece" if self.added else f"log p {self.logp:.2f}"
        return f"id {self.id} · {self.shown!r} · {self.piece.hex(' ')} · {score}"


@dataclass(frozen=True)
class Unit:
    """A stretch ``text[start:end]`` and its tokens (several when pieces split a character)."""

    start: int
    end: int
    text: str
    tokens: Tuple[Token, ...]


@dataclass(frozen=True)
class Segmentation:
    """One segmentation of the text: a label, its units, and its counts."""

    label: str
    units: Tuple[Unit, ...]
    tokens: int
    utf8_bytes: int
    split_pieces: int  # "unknown-byte pieces": bytes of a character the vocabulary has no piece for

    def summary(self) -> str:
        per_token = self.utf8_bytes / self.tokens if self.tokens else 0.0
        return (
            f"{self.tokens} tokens · {per_token:.2f} bytes/token · "
            f"{self.split_pieces} unknown-byte pieces"
        )


def segmentations(
    tok: "Tokenizer", text: str, *, alpha: Optional[float] = None, seed: Seed = None, samples: int = 3
) -> List[Segmentation]:
    """The best segmentation of ``text``, then with ``alpha`` ``samples`` sampled ones
    (sample ``k`` drawn with seed ``(seed, k)`` when ``seed`` is an int, so a page can be
    made again)."""
    if not isinstance(samples, int) or samples < 0:
        raise ValueError(f"samples must be a non-negative integer, got {samples!r}")
    views = [_segmentation(tok, text, "best segmentation (Viterbi)", None, None)]
    if alpha is not None:
        for k in range(samples):
            sample_seed = (seed, k) if isinstance(seed, int) else seed
            label = f"sample {k + 1} (alpha={alpha:g}" + (f", seed=({seed}, {k}))" if isinstance(seed, int) else ")")
            views.append(_segmentation(tok, text, label, alpha, sample_seed))
    return views


def _segmentation(tok: "Tokenizer", text: str, label: str, alpha: Optional[float], seed: Seed) -> Segmentation:
    ids, spans = tok.encode_with_offsets(text, alpha=alpha, seed=seed)
    engine = tok.engine
    log_probs = engine.log_probs()
    added = set(tok.model.added_pieces)
    tokens = [
        Token(i, engine.pieces_by_id[i], float(log_probs[i]), engine.pieces_by_id[i] in added) for i in ids
    ]
    units: List[Unit] = []
    group: List[int] = []
    for index, (start, end) in enumerate(spans):
        if group and start >= spans[group[-1]][1]:
            units.append(_unit(text, spans, tokens, group))
            group = []
        group.append(index)
    if group:
        units.append(_unit(text, spans, tokens, group))
    return Segmentation(
        label=label,
        units=tuple(units),
        tokens=len(ids),
        utf8_bytes=sum(len(t.piece) for t in tokens),
        split_pieces=sum(t.split_character for t in tokens),
    )


def _unit(text: str, spans: List[Tuple[int, int]], tokens: List[Token], group: List[int]) -> Unit:
    start, end = spans[group[0]][0], max(spans[i][1] for i in group)
    return Unit(start, end, text[start:end], tuple(tokens[i] for i in group))
