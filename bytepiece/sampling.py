"""Exact subword sampling: draw a segmentation with probability ∝ p(segmentation)^alpha.

Explained in ``docs/sampling.md``. One forward pass over the lattice keeps, for every
position ``e``, ``F[e] = log Σ exp(alpha · score(path))`` over all paths into ``e``, and a
back-pointer chosen by weighted reservoir sampling: when a piece ``(s, e)`` arrives with
weight ``w = F[s] + alpha·logp``, it replaces the back-pointer with probability
``exp(w - F_new[e])``. After all pieces into ``e`` have arrived, each was kept with
probability proportional to its weight, so walking the back-pointers from the end draws
a segmentation from the exact distribution (forward filtering, backward sampling).

alpha = 0 is uniform over all segmentations; large alpha tends to the Viterbi path.

Long chunks go window by window as in ``viterbi.py`` (same meeting-point argument: the
back-pointers are final once drawn). The batch path is in ``batch.py``.
"""

from __future__ import annotations

from math import exp, log1p
from typing import Any, List, Sequence

import numpy as np

from .viterbi import WINDOW, walk_back, windowed_path

_NEG_INF = float("-inf")


def sample_path(
    automaton: Any,
    chunk: str,
    lengths: Sequence[int],
    alpha: float,
    rng: np.random.Generator,
) -> List[int]:
    """Ids of one random segmentation of ``chunk``, drawn exactly."""
    relax = _reservoir(alpha, rng)
    size = len(chunk)
    if size > WINDOW:
        return windowed_path(automaton, chunk, lengths, relax)
    # Indexed by inclusive end as in viterbi.best_path: total[-1] is the empty prefix.
    total = [_NEG_INF] * size + [0.0]
    arrived_by = [0] * size
    relax(automaton.iter(chunk), total, arrived_by, 1, 0, 0)
    return walk_back(arrived_by, lengths)


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
