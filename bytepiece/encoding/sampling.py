"""Exact subword sampling: draw a segmentation with probability ∝ p(segmentation)^alpha.

Explained in ``docs/sampling.md``. One forward pass over the lattice keeps, for every
position ``e``, the total weight ``F[e]`` of all paths into ``e`` (a path weighs
p(path)^alpha), and a back-pointer chosen by weighted reservoir sampling: a piece
``(s, e)`` of weight ``w = F[s]·p^alpha`` replaces the back-pointer with probability
``w / F_new[e]`` (``F_new`` including ``w``). After all pieces into ``e`` have arrived each
was kept with probability proportional to its weight, so walking the back-pointers from
the end draws a segmentation from the exact distribution (forward filtering, backward
sampling).

The test of a piece uses the uniform of its *start* position: one per position, not one
per edge. The pieces into a position have distinct starts, so their tests are
independent; and the choice of piece ``(s, e)`` at a position on the path depends only on
the uniforms of starts from ``s`` to ``e - 1``, while the next choice, at ``s``, reads only
starts before ``s``. The choices along the path are therefore independent, each exact.

alpha = 0 is uniform over all segmentations; large alpha tends to the Viterbi path.

Chunks up to ``WINDOW`` bytes keep ``F`` in linear scale, rescaled every few hundred bytes,
and stream the lattice (``_sample_linear``): a multiply and an add per edge instead of an
exp and a log1p. Very large alpha (where p^alpha underflows within a few bytes) stays in
log space, with one uniform per edge (``_reservoir``).

Long chunks go window by window as in ``viterbi.py`` (same meeting-point argument: the
back-pointers are final once drawn). The batch path is in ``batch/encode.py``.
"""

from __future__ import annotations

import math
import numbers
from itertools import islice
from math import exp, log1p
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .viterbi import WINDOW, Match, walk_back, windowed_path

_NEG_INF = float("-inf")


MAX_ALPHA = 1e100  # beyond this, alpha * log p of a long text could overflow to -inf


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float; ``TypeError`` unless it is a real number, ``ValueError``
    unless it is from 0 to ``MAX_ALPHA`` (so neither infinite nor NaN).

    Sampling ∝ p^alpha needs finite scores: with alpha = inf (or about 2e307 and up),
    alpha · log p is -inf and no piece can be told from another. Long before
    ``MAX_ALPHA`` every gap between two scores is so large that the draw is the Viterbi
    path (up to exact ties); ``alpha=None`` asks for Viterbi decoding itself.

    >>> check_alpha(0.1), check_alpha(0)
    (0.1, 0.0)
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a number from 0 to {MAX_ALPHA:g} (or None for Viterbi decoding), got {alpha!r}")
    value = float(alpha)
    if not 0.0 <= value <= MAX_ALPHA:
        hint = "; a large alpha already samples the Viterbi path" if value > MAX_ALPHA else ""
        raise ValueError(f"alpha must be a number from 0 to {MAX_ALPHA:g} (or None for Viterbi decoding), got {alpha!r}{hint}")
    return value


def sample_path(
    automaton: Any,
    chunk: str,
    lengths: Sequence[int],
    alpha: float,
    rng: np.random.Generator,
) -> Sequence[int]:
    """Ids of one random segmentation of ``chunk``, drawn exactly (a list, or an
    ``array("i")`` for a chunk longer than ``WINDOW``)."""
    size = len(chunk)
    table = _linear_weights(automaton, alpha)
    if size > WINDOW or table is None:
        relax = _reservoir(alpha, rng)
        if size > WINDOW:
            return windowed_path(automaton, chunk, lengths, relax)
        # Indexed by inclusive end as in viterbi.best_path: total[-1] is the empty prefix.
        total = [_NEG_INF] * size + [0.0]
        arrived_by = [0] * size
        relax(automaton.iter(chunk), total, arrived_by, 1, 0, 0)
        return walk_back(arrived_by, lengths)
    return _sample_linear(automaton, chunk, lengths, table, rng)


def _sample_linear(
    automaton: Any, chunk: str, lengths: Sequence[int], table: "_Weights", rng: np.random.Generator
) -> List[int]:
    """The reservoir pass with F kept as exp(F) times a running scale: a multiply and an add
    per edge instead of exp and log1p, and one uniform per *start* position instead of one
    per edge (see the module docstring). A chunk of at most ``table.block`` bytes needs no
    rescaling. A longer one goes ``block`` edges at a time: every byte is a piece, so they
    end at most ``block`` bytes further on, and in between the values that can still be read
    are rescaled together, before they can underflow or overflow (``_linear_weights``)."""
    size = len(chunk)
    weights, block = table.weights, table.block
    total = [0.0] * size + [1.0]  # inclusive-end index; total[-1]: the empty prefix
    arrived_by = [0] * size
    uniforms = rng.random(size + 1).tolist()  # one per start position, indexed as total
    matches = automaton.iter(chunk)
    if size > block:
        # Matches left after position size - 1 is reached belong to it: no rescaling needed.
        while (end := _relax_linear(islice(matches, block), total, weights, uniforms, arrived_by)) < size - 1:
            _rescale(total, end, table.reach)
    _relax_linear(matches, total, weights, uniforms, arrived_by)
    return walk_back(arrived_by, lengths)


def _relax_linear(
    matches: Iterable[Match], total: List[float], weights: List[float], uniforms: List[float], arrived_by: List[int]
) -> int:
    """Weighted reservoir sampling of the back-pointers; returns the last end position seen.

    An edge into ``end`` replaces the back-pointer with probability weight / new total:
    when u·new total < weight, u being the uniform of the edge's *start* (see the module
    docstring for why one per position is enough). The first edge, new total = weight,
    always enters."""
    end = -1
    for end, (length, _, piece_id) in matches:
        start = end - length
        weight = total[start] * weights[piece_id]
        total[end] = new_total = total[end] + weight
        if uniforms[start] * new_total < weight:
            arrived_by[end] = piece_id
    return end


def _rescale(total: List[float], end: int, reach: int) -> None:
    """Divide the values still readable at ``end`` (its own, possibly unfinished, and the
    ``reach`` before it) by their maximum: a common factor changes no decision."""
    low = end - reach
    if low < 0:  # the window includes the empty prefix, stored at total[-1]
        live = list(range(-1, end + 1))
        factor = 1.0 / max([total[p] for p in live])
        for p in live:
            total[p] *= factor
        return
    window = total[low : end + 1]
    factor = 1.0 / max(window)
    total[low : end + 1] = map(factor.__mul__, window)


class _Weights:
    """p(piece)^alpha by id, and how often to rescale (see ``_linear_weights``)."""

    def __init__(self, weights: List[float], block: int, reach: int) -> None:
        self.weights, self.block, self.reach = weights, block, reach


# Keyed by the automaton itself (hashed by identity), so an id cannot be reused.
_WEIGHTS: Dict[Tuple[Any, float], Optional[_Weights]] = {}


def _linear_weights(automaton: Any, alpha: float) -> Optional[_Weights]:
    """Cached per automaton and alpha; None when alpha is too large for linear scale."""
    key = (automaton, alpha)
    try:
        return _WEIGHTS[key]
    except KeyError:
        pass
    if len(_WEIGHTS) >= 8:
        _WEIGHTS.clear()
    table = _WEIGHTS[key] = _build_weights(automaton, alpha)
    return table


def _build_weights(automaton: Any, alpha: float) -> Optional[_Weights]:
    """The weights and ``block``, the bytes allowed between two rescalings.

    A rescaling leaves the ``reach + 1`` values still readable at most 1. Growing: at most
    one piece of each length ends at a position and every weight is <= 1, so a value is at
    most the sum of the ``reach`` before it: from values <= 1, at most reach·2^j after j
    bytes, kept within 10^250. Shrinking: a value is at least min(p)^alpha times the one
    before it (through its single-byte piece), so with that growth the smallest readable
    value is at least min(p)^(alpha·(reach + 1)) / (reach²·2^reach) of the largest, and it
    shrinks for ``block`` more bytes. All that, in natural log, is kept within 600: short
    of e^-708, below which doubles lose precision and, at worst, become 0."""
    values = list(automaton.values())
    worst = -min(logp for _, logp, _ in values)
    reach = max(length for length, _, _ in values)
    growth = 250 * math.log2(10) - math.log2(reach)
    spread = 600 - 2 * math.log(reach) - reach * math.log(2)
    block = int(min(growth, spread / max(alpha * worst, 1e-12) - reach - 1))
    if block < 8:
        return None
    weights = [0.0] * (max(i for _, _, i in values) + 1)
    for _, logp, piece_id in values:
        weights[piece_id] = math.exp(alpha * logp)
    return _Weights(weights, block, reach)


def _reservoir(alpha: float, rng: np.random.Generator) -> Any:
    """The forward pass over the matches of one window (see ``viterbi.windowed_path`` for
    the index arguments)."""

    def relax(matches: Any, total: List[float], arrived_by: Any, origin: int, skip: int, shift: int) -> None:
        # end + 1 > skip: not done by the previous window
        matches = [m for m in matches if m[0] >= skip] if skip else list(matches)
        # One uniform per lattice edge, drawn (and logged) in a single call: far cheaper
        # than per edge. u < exp(d) is tested as log(u) < d: one exp less per edge.
        with np.errstate(divide="ignore"):
            log_uniforms = np.log(rng.random(len(matches))).tolist()
        for (end, (length, logp, piece_id)), log_u in zip(matches, log_uniforms):
            end += 1 - origin
            weight = total[end - length] + alpha * logp
            current = total[end]
            # log(exp(current) + exp(weight)), stable for -inf and for large gaps.
            if weight > current:
                new_total = weight + log1p(exp(current - weight))
            else:
                new_total = current + log1p(exp(weight - current))
            total[end] = new_total
            if log_u < weight - new_total:
                arrived_by[end + shift] = piece_id

    return relax
