"""Analysis of the segmentation lattice as a whole: n-best paths, scores of given paths, entropy.

A text's segmentations are the paths through a lattice whose nodes are byte positions of
the normalized UTF-8 text and whose edges are vocabulary pieces inside one chunk (no piece
crosses a chunk boundary, see ``normalization.py``). A path's *score* is the sum of its
pieces' log-probabilities, the unigram language model's log p(pieces). The tokenizer's
Viterbi path is the best-scoring one; sampling draws one with probability
∝ exp(alpha · score).

Everything here is exact (no pruning), and uses the same float arithmetic as Viterbi
decoding, so ``nbest(text, 1)[0].ids == tok.encode(text)`` and
``score(text, tok.encode(text)) == nbest(text, 1)[0].logp`` exactly.

Deliberately left out: lattice pruning or beam search (the lattice of a chunk is small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, List, Sequence, Tuple, Union

from ..normalization import split_chunks
from .sampling import check_alpha

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

_NEG_INF = float("-inf")
NBEST_WORK = 1 << 20  # nbest keeps up to n partial paths per byte: n x (bytes + 1) is bounded

Piece = Union[int, bytes, str]


@dataclass(frozen=True)
class Segmentation:
    """One segmentation of a text: its ids and its log-probability (natural log) under the
    unigram model, i.e. the sum of the pieces' log-probabilities."""

    ids: List[int]
    logp: float


# An edge of the lattice: (start, end, log p, id), byte offsets into the whole text.
_Edge = Tuple[int, int, float, int]


def _chunks(engine: "Engine", data: bytes) -> Iterator[Tuple[int, Union[bytes, int]]]:
    """``(offset, chunk)`` for each chunk of ``data``, where an added piece (which the
    tokenizer cuts out first, see ``added_vocabulary.py``) is an id instead."""
    added = engine.added_pieces()
    offset = 0
    for part in [data] if added is None else added.split(data):
        if isinstance(part, int):
            yield offset, part
            offset += engine.piece_lengths[part]
            continue
        for chunk in split_chunks(part):
            yield offset, chunk
            offset += len(chunk)


def _edges(engine: "Engine", data: bytes) -> Iterator[_Edge]:
    """All lattice edges in order of end position; at one end, longest piece first
    (the automaton's order, which is also Viterbi's tie-breaking order). An added piece
    is the only edge over its bytes."""
    automaton = engine.automaton()
    for offset, chunk in _chunks(engine, data):
        if isinstance(chunk, int):
            yield offset, offset + engine.piece_lengths[chunk], float(engine.log_probs()[chunk]), chunk
            continue
        for last, (length, logp, piece_id) in automaton.iter(chunk.decode("latin-1")):
            end = offset + last + 1
            yield end - length, end, logp, piece_id


def nbest(engine: "Engine", text: str, n: int) -> List[Segmentation]:
    """The ``n`` most probable segmentations of ``text``, best first.

    Fewer are returned when the text has fewer segmentations. Ties keep Viterbi's order
    (the longer last piece first), so the first result is exactly ``tok.encode(text)``.
    Cost: O(edges · n log n) time, up to n partial paths per byte in memory, so
    ``n x (bytes + 1)`` may be at most ``NBEST_WORK`` (about a million).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    data = engine.normalized_utf8(text)
    size = len(data)
    if n * (size + 1) > NBEST_WORK:
        raise ValueError(
            f"nbest(n={n}) of a text of {size} bytes could keep n x (bytes + 1) = {n * (size + 1):,} partial "
            f"paths; at most {NBEST_WORK:,} are allowed: ask for fewer or split the text (it is exact, not a beam)"
        )
    # best[e]: up to n entries (score, start, rank in best[start], piece id), best first.
    best: List[List[Tuple[float, int, int, int]]] = [[] for _ in range(size + 1)]
    best[0] = [(0.0, -1, -1, -1)]
    current_end = -1
    candidates: List[Tuple[float, int, int, int]] = []
    for start, end, logp, piece_id in _edges(engine, data):
        if end != current_end:
            _keep_best(best, current_end, candidates, n)
            current_end, candidates = end, []
        for rank, (score, _s, _r, _p) in enumerate(best[start]):
            candidates.append((score + logp, start, rank, piece_id))
    _keep_best(best, current_end, candidates, n)
    return [Segmentation(_walk(best, size, rank), best[size][rank][0]) for rank in range(len(best[size]))]


def _keep_best(best: list, end: int, candidates: list, n: int) -> None:
    if end >= 0:
        # A stable sort keeps arrival order among equal scores: Viterbi's tie-breaking.
        candidates.sort(key=lambda c: -c[0])
        best[end] = candidates[:n]


def _walk(best: list, position: int, rank: int) -> List[int]:
    ids = []
    while position > 0:
        _score, start, prev_rank, piece_id = best[position][rank]
        ids.append(piece_id)
        position, rank = start, prev_rank
    ids.reverse()
    return ids


def score(engine: "Engine", text: str, pieces: Sequence[Piece], *, id_to_piece: Callable[[int], Union[bytes, str]]) -> float:
    """Log-probability of one given segmentation of ``text``.

    ``pieces`` are ids, piece bytes, or piece strings (UTF-8 of the bytes), as returned by
    ``encode``/``tokenize``. They must spell the normalized text exactly and must not cross
    a chunk (line) boundary, otherwise ``ValueError``. ``id_to_piece`` turns ids into
    pieces (``Tokenizer.id_to_piece``, which checks them).
    """
    data = engine.normalized_utf8(text)
    automaton = engine.automaton()
    boundaries = set()
    added = {}  # where an added piece starts: its id
    for offset, chunk in _chunks(engine, data):
        if isinstance(chunk, int):
            added[offset] = chunk
            boundaries.add(offset)
        boundaries.add(offset + (engine.piece_lengths[chunk] if isinstance(chunk, int) else len(chunk)))
    total = 0.0
    position = 0
    for index, piece in enumerate(pieces):
        raw = _piece_bytes(id_to_piece, piece)
        value = automaton.get(raw.decode("latin-1"), None)
        if value is None:
            raise ValueError(f"pieces[{index}] = {piece!r} is not a piece of this vocabulary")
        end = position + len(raw)
        if data[position:end] != raw:
            raise ValueError(
                f"the pieces do not spell the text: pieces[{index}] = {raw!r} but the text has "
                f"{data[position:end]!r} at byte {position} (after {engine.model.normalization} normalization)"
            )
        if position in added and value[2] != added[position]:
            raise ValueError(f"pieces[{index}] = {raw!r} splits the added piece {engine.pieces_by_id[added[position]]!r}, which is always one token")
        if position not in added and any(b in boundaries for b in range(position + 1, end)):
            raise ValueError(f"pieces[{index}] = {raw!r} crosses a line (chunk) boundary or an added piece; no segmentation has it")
        total += value[1]
        position = end
    if position != len(data):
        raise ValueError(f"the pieces spell only {position} of the text's {len(data)} bytes")
    return total


def _piece_bytes(id_to_piece: Callable[[int], Union[bytes, str]], piece: Piece) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, str):
        return piece.encode("utf-8")
    raw = id_to_piece(piece)
    if isinstance(raw, str):
        raise ValueError(f"special token {raw!r} (id {piece}) is not part of a segmentation")
    return raw


def log_partition(engine: "Engine", text: str, alpha: float = 1.0) -> float:
    """log Σ over all segmentations of exp(alpha · score): the normalizer of the sampling
    distribution. With ``alpha=0`` it is the log of the number of segmentations."""
    return _forward(engine, text, alpha)[0]


def entropy(engine: "Engine", text: str, alpha: float = 1.0) -> float:
    """Entropy (nats) of the distribution over segmentations, p ∝ exp(alpha · score).

    ``alpha=1`` is the model's own posterior p(segmentation | text); the sampling of
    ``encode(alpha=...)`` draws from the same family. ``alpha=0`` gives log(#segmentations).
    Computed exactly in one forward pass (an expectation semiring): H = log Z − E[alpha·score].
    """
    log_z, mean = _forward(engine, text, alpha)
    return max(0.0, log_z - mean)


def _forward(engine: "Engine", text: str, alpha: float) -> Tuple[float, float]:
    alpha = check_alpha(alpha)
    data = engine.normalized_utf8(text)
    size = len(data)
    log_z = [_NEG_INF] * (size + 1)  # log of the total weight of paths into each position
    mean = [0.0] * (size + 1)  # expected alpha·score of a path into it, under those weights
    log_z[0] = 0.0
    for start, end, logp, _id in _edges(engine, data):
        gain = alpha * logp
        weight = log_z[start] + gain
        old = log_z[end]
        new = max(old, weight) + math.log1p(math.exp(-abs(old - weight)))
        # Mix the two expectations by their shares of the new total weight.
        share = math.exp(weight - new)
        mean[end] = mean[end] * (1.0 - share) + (mean[start] + gain) * share
        log_z[end] = new
    return log_z[size], mean[size]
