"""Slow, obviously correct references that the fast code is checked against."""

from __future__ import annotations

import math
from typing import Dict, Iterator, List, Sequence, Tuple, Union

from bytepiece import Model


def log_probs(model: Model) -> Dict[bytes, float]:
    """log p of each piece; an extended model keeps the count total it had before."""
    total = math.log(model.total_count if model.total_count is not None else sum(model.counts))
    return {p: math.log(c) - total for p, c in zip(model.pieces, model.counts)}


def added_parts(data: bytes, added: Sequence[bytes]) -> List[Union[bytes, Tuple[bytes]]]:
    """``data`` cut at the added pieces, scanning left to right and taking the longest one
    that starts at a position: ``(piece,)`` for an added piece, else the bytes between."""
    parts: List[Union[bytes, Tuple[bytes]]] = []
    position = last = 0
    while position < len(data):
        match = max((p for p in added if data.startswith(p, position)), key=len, default=None)
        if match is None:
            position += 1
            continue
        if position > last:
            parts.append(data[last:position])
        parts.append((match,))
        position = last = position + len(match)
    if last < len(data):
        parts.append(data[last:])
    return parts


def constrained_distribution(data: bytes, model: Model, alpha: float) -> Dict[Tuple[bytes, ...], float]:
    """Exact P(segmentation) for a model with added pieces: each added piece is one token
    where it occurs, the text between them is segmented freely (``segmentation_distribution``)."""
    options = [
        {part: 1.0} if isinstance(part, tuple) else segmentation_distribution(part, model, alpha)
        for part in added_parts(data, model.added_pieces)
    ]
    distribution: Dict[Tuple[bytes, ...], float] = {(): 1.0}
    for choices in options:
        distribution = {seg + more: p * q for seg, p in distribution.items() for more, q in choices.items()}
    return distribution


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
