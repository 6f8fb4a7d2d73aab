"""Exact subword sampling: draw a segmentation with probability ∝ p(segmentation)^alpha.

Explained in ``docs/sampling.md``. One forward pass over the lattice keeps, for every
position ``e``, ``F[e] = log Σ exp(alpha · score(path))`` over all paths into ``e``, and a
back-pointer chosen by weighted reservoir sampling: when a piece ``(s, e)`` arrives with
weight ``w = F[s] + alpha·logp``, it replaces the back-pointer with probability
``exp(w - F_new[e])``. After all pieces into ``e`` have arrived, each was kept with
probability proportional to its weight, so walking the back-pointers from the end draws
a segmentation from the exact distribution (forward filtering, backward sampling).

alpha = 0 is uniform over all segmentations; large alpha tends to the Viterbi path.
"""

from __future__ import annotations

from math import exp, log1p
from typing import Any, List, Sequence

import numpy as np

from .viterbi import _walk_back

_NEG_INF = float("-inf")


def sample_path(
    automaton: Any,
    chunk: str,
    lengths: Sequence[int],
    alpha: float,
    rng: np.random.Generator,
) -> List[int]:
    """Ids of one random segmentation of ``chunk``, drawn exactly."""
    size = len(chunk)
    matches = list(automaton.iter(chunk))
    # One uniform per lattice edge, drawn in a single call: far cheaper than per edge.
    uniforms = rng.random(len(matches)).tolist()
    total = [_NEG_INF] * (size + 1)
    total[0] = 0.0
    arrived_by = [0] * (size + 1)
    for (end, (length, logp, piece_id)), u in zip(matches, uniforms):
        end += 1
        weight = total[end - length] + alpha * logp
        current = total[end]
        # log(exp(current) + exp(weight)), stable for -inf and for large gaps.
        if weight > current:
            new_total = weight + log1p(exp(current - weight))
        else:
            new_total = current + log1p(exp(weight - current))
        total[end] = new_total
        if u < exp(weight - new_total):
            arrived_by[end] = piece_id
    return _walk_back(arrived_by, lengths, size)
