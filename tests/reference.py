"""Slow, obviously correct references that the fast code is checked against."""

from __future__ import annotations

import math
from typing import Dict, Iterator, List, Tuple

from bytepiece import Model


def log_probs(model: Model) -> Dict[bytes, float]:
    total = math.log(sum(model.counts))
    return {p: math.log(c) - total for p, c in zip(model.pieces, model.counts)}


def segmentations(data: bytes, vocab) -> Iterator[Tuple[bytes, ...]]:
    """Every way of writing ``data`` as a sequence of vocabulary pieces."""
    if not data:
        yield ()
        return
    for end in range(1, len(data) + 1):
        head = data[:end]
        if head in vocab:
            for rest in segmentations(data[end:], vocab):
                yield (head,) + rest


def segmentation_distribution(data: bytes, model: Model, alpha: float) -> Dict[Tuple[bytes, ...], float]:
    """Exact P(segmentation) ∝ prod p(piece)^alpha, by enumeration."""
    logp = log_probs(model)
    weights = {seg: alpha * sum(logp[p] for p in seg) for seg in segmentations(data, logp)}
    top = max(weights.values())
    norm = sum(math.exp(w - top) for w in weights.values())
    return {seg: math.exp(w - top) / norm for seg, w in weights.items()}


def best_score(data: bytes, model: Model) -> float:
    logp = log_probs(model)
    return max(sum(logp[p] for p in seg) for seg in segmentations(data, logp))


def chi_square_critical(dof: int, z: float = 4.0) -> float:
    """Upper critical value of chi-square (Wilson-Hilferty), z=4 ~ p = 3e-5."""
    k = float(dof)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def chi_square(observed: Dict, expected_probs: Dict, n: int) -> Tuple[float, int]:
    stat = 0.0
    for key, prob in expected_probs.items():
        expected = prob * n
        stat += (observed.get(key, 0) - expected) ** 2 / expected
    unexpected = set(observed) - set(expected_probs)
    assert not unexpected, f"sampled impossible segmentations: {unexpected}"
    return stat, len(expected_probs) - 1


def pieces_of(ids: List[int], model: Model) -> Tuple[bytes, ...]:
    by_id = dict(zip(model.ids, model.pieces))
    return tuple(by_id[i] for i in ids)
