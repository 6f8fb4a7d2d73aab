"""Exact subword sampling: draw a segmentation with probability ∝ p(segmentation)^alpha.

Explained in ``docs/sampling.md``. One forward pass over the lattice keeps, for every
position ``e``, ``F[e] = log Σ exp(alpha · score(path))`` over all paths into ``e``, and a
back-pointer chosen by weighted reservoir sampling: when a piece ``(s, e)`` arrives with
weight ``w = F[s] + alpha·logp``, it replaces the back-pointer with probability
``exp(w - F_new[e])``. After all pieces into ``e`` have arrived, each was kept with
probability proportional to its weight, so walking the back-pointers from the end draws
a segmentation from the exact distribution (forward filtering, backward sampling).

alpha = 0 is uniform over all segmentations; large alpha tends to the Viterbi path.

Chunks up to ``WINDOW`` bytes keep exp(F) instead of F, rescaled every few bytes, which
replaces the exp and log1p per edge by a multiply and an add (``_sample_linear``); very
large alpha (where p^alpha underflows within a few bytes) stays in log space.

Long chunks go window by window as in ``viterbi.py`` (same meeting-point argument: the
back-pointers are final once drawn). The batch path is in ``batch.py``.
"""

from __future__ import annotations

import math
from math import exp, log1p
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .viterbi import WINDOW, walk_back, windowed_path

_NEG_INF = float("-inf")


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float, or ``ValueError`` unless it is >= 0 (NaN included)."""
    alpha = float(alpha)
    if not alpha >= 0.0:
        raise ValueError(f"alpha must be >= 0 (or None for Viterbi decoding), got {alpha}")
    return alpha


def sample_path(
    automaton: Any,
    chunk: str,
    lengths: Sequence[int],
    alpha: float,
    rng: np.random.Generator,
) -> List[int]:
    """Ids of one random segmentation of ``chunk``, drawn exactly."""
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
    """The same reservoir pass with F kept as exp(F) times a running scale: a multiply and an
    add per edge instead of exp and log1p. Every ``table.block`` bytes the values that can
    still be read (the last ``reach`` positions) are rescaled together, before they can
    underflow or overflow; a decision only compares values of one scale."""
    size = len(chunk)
    weights, block, reach = table.weights, table.block, table.reach
    matches = list(automaton.iter(chunk))
    uniforms = rng.random(len(matches)).tolist()
    total = [0.0] * size + [1.0]  # inclusive-end index; total[-1]: the empty prefix
    arrived_by = [0] * size
    boundary = block
    for (end, (length, _, piece_id)), u in zip(matches, uniforms):
        if end >= boundary:  # positions before `end` are complete
            live = range(max(end - reach, -1), end)
            factor = 1.0 / max(total[p] for p in live)
            for p in live:
                total[p] *= factor
            boundary = end + block
        weight = total[end - length] * weights[piece_id]
        new_total = total[end] + weight
        total[end] = new_total
        if u * new_total < weight:
            arrived_by[end] = piece_id
    return walk_back(arrived_by, lengths)


class _Weights:
    """p(piece)^alpha by id, and how often to rescale (see ``_linear_weights``)."""

    def __init__(self, automaton: Any, weights: List[float], block: int, reach: int) -> None:
        self.automaton, self.weights, self.block, self.reach = automaton, weights, block, reach


_WEIGHTS: Dict[Tuple[int, float], _Weights] = {}


def _linear_weights(automaton: Any, alpha: float) -> Optional[_Weights]:
    """Cached per automaton and alpha; None when alpha is too large for linear scale.

    A value can be min(p)^alpha per byte smaller than the one before it, so within the
    ``reach`` positions that are rescaled together the smallest may be min(p)^(alpha·reach)
    of the largest, and it shrinks for ``block`` more bytes before the next rescaling:
    that whole spread, alpha·worst·(reach + block) in natural log, must stay within
    e^575 or the newest values underflow to 0. Growth is at most the number of pieces
    ending at a position (<= reach) per byte, which the block also bounds."""
    key = (id(automaton), alpha)
    table = _WEIGHTS.get(key)
    if table is not None and table.automaton is automaton:
        return table
    values = list(automaton.values())
    worst = -min(logp for _, logp, _ in values)
    reach = max(length for length, _, _ in values)
    block = int(min(250 / math.log10(reach + 1), 575 / max(alpha * worst, 1e-12) - reach))
    if block < 8:
        return None
    weights = [0.0] * (max(i for _, _, i in values) + 1)
    for _, logp, piece_id in values:
        weights[piece_id] = math.exp(alpha * logp)
    if len(_WEIGHTS) >= 8:
        _WEIGHTS.clear()
    table = _WEIGHTS[key] = _Weights(automaton, weights, block, reach)
    return table


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
