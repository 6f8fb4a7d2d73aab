"""Viterbi decoding: the most probable segmentation of a chunk under the unigram model.

Explained in ``docs/decoding.md``. The lattice comes from an Aho-Corasick automaton whose
``iter`` yields every vocabulary piece occurring in the chunk, in order of end position;
pieces ending at the same position arrive longest first. Each automaton value is
``(byte_length, log_probability, id)``.

Tie-breaking is the original BytePiece's, so results match it id for id: a position's best
score is only replaced on a *strict* improvement, which makes ties go to the longer piece.
"""

from __future__ import annotations

from typing import Any, List, Sequence

_NEG_INF = float("-inf")


def best_path(automaton: Any, chunk: str, lengths: Sequence[int]) -> List[int]:
    """Ids of the best segmentation of ``chunk`` (bytes mapped 1:1 to latin-1 code points).

    ``lengths[id]`` is the byte length of piece ``id``, used to walk the path backwards.
    """
    size = len(chunk)
    score = [_NEG_INF] * (size + 1)
    score[0] = 0.0
    arrived_by = [0] * (size + 1)  # id of the last piece of the best path into each position
    for end, (length, logp, piece_id) in automaton.iter(chunk):
        end += 1
        candidate = score[end - length] + logp
        if candidate > score[end]:
            score[end] = candidate
            arrived_by[end] = piece_id
    return _walk_back(arrived_by, lengths, size)


def _walk_back(arrived_by: List[int], lengths: Sequence[int], position: int) -> List[int]:
    ids = []
    while position:
        piece_id = arrived_by[position]
        ids.append(piece_id)
        position -= lengths[piece_id]
    ids.reverse()
    return ids
