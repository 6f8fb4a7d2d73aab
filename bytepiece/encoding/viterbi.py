"""Viterbi decoding: the most probable segmentation of a chunk under the unigram model.

Explained in ``docs/decoding.md``. The lattice comes from an Aho-Corasick automaton whose
``iter`` yields every vocabulary piece occurring in the chunk, in order of end position;
pieces ending at the same position arrive longest first. Each automaton value is
``(byte_length, log_probability, id)``.

Tie-breaking is the original BytePiece's, so results match it id for id: a position's best
score is only replaced on a *strict* improvement, which makes ties go to the longer piece.

Long chunks (a 100 MB text without a newline) are decoded in windows of ``WINDOW`` bytes
with the same float operations in the same order, so the ids are identical; after each
window the ids up to a *meeting point* are emitted and the per-byte lists before it are
dropped. A meeting point is a position that the back-pointer walks from every position of
the last ``max piece length`` bytes pass through: the final path must cross that stretch,
so it passes through the meeting point, and its part before it can no longer change.
Scores are kept for one window only; back-pointers (4 bytes each) for the stretch since the
last meeting point, which on real text is a few bytes. Periodic text such as "abab..." can
have no meeting point at all (the walks from odd and even positions never join): then the
back-pointers of the whole chunk are held, 4 bytes per byte, still linear.

The batch path (many chunks at once, vectorised with numpy) is in ``batch/encode.py``.
"""

from __future__ import annotations

import heapq
from array import array
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

_NEG_INF = float("-inf")
WINDOW = 1 << 16  # chunks longer than this are decoded window by window

Match = Tuple[int, Tuple[int, float, int]]
Relax = Callable[[Iterable[Match], List[float], Any, int, int, int], None]


def best_path(automaton: Any, chunk: str, lengths: Sequence[int], start_score: float = 0.0) -> Sequence[int]:
    """Ids of the best segmentation of ``chunk`` (bytes mapped 1:1 to latin-1 code points):
    a list, or for a chunk longer than ``WINDOW`` an ``array("i")`` (4 bytes an id).

    ``lengths[id]`` is the byte length of piece ``id``, used to walk the path backwards.
    ``start_score`` is the score the sums start from: the score of the text before ``chunk``
    when ``chunk`` is the part of a longer one after a boundary every path passes through
    (the batch path's resumed lanes); the float additions are then those of the longer one.
    """
    size = len(chunk)
    if size > WINDOW:
        return windowed_path(automaton, chunk, lengths, _relax_best, start_score=start_score)
    # score[i]: best score of the prefix ending with byte i, indexed like the automaton's
    # (inclusive) end positions; the last slot, score[-1], is the empty prefix: ``start_score``.
    score = [_NEG_INF] * size + [start_score]
    arrived_by = [0] * size  # id of the last piece of the best path into each prefix
    for end, (length, logp, piece_id) in automaton.iter(chunk):
        candidate = score[end - length] + logp
        if candidate > score[end]:
            score[end] = candidate
            arrived_by[end] = piece_id
    return walk_back(arrived_by, lengths)


def _relax_best(
    matches: Iterable[Match], score: List[float], arrived_by: Any, origin: int, skip: int, shift: int
) -> None:
    """The loop of ``best_path`` over one window: ``score`` index = position - ``origin``,
    ``arrived_by`` index = that + ``shift``; matches ending at or before position ``skip``
    were done by the previous window."""
    for end, (length, logp, piece_id) in matches:
        end += 1
        if end > skip:
            end -= origin
            candidate = score[end - length] + logp
            if candidate > score[end]:
                score[end] = candidate
                arrived_by[end + shift] = piece_id


def windowed_path(
    automaton: Any, chunk: str, lengths: Sequence[int], relax: Relax, window: int = WINDOW, start_score: float = 0.0
) -> "array[int]":
    """Run a left-to-right lattice recurrence (``relax``) over ``chunk`` in windows, emitting
    the ids before each meeting point (see the module docstring). ``values`` start at
    ``start_score`` at position 0 and -inf elsewhere, as in the one-piece decoders. The ids
    are an ``array("i")``: a chunk of 10 MB of one letter has 10 million of them."""
    reach = max(lengths)
    size = len(chunk)
    # At most one id per byte: allocated once and trimmed at the end, since growing it
    # would copy it (and leave the old copies in the heap).
    ids = array("i", [0]) * size
    count = 0
    values = [start_score]  # from position `values_origin`: only the last `reach` are read again
    arrived_by = array("i", [0])  # from position `origin` (compact: kept until a meeting point)
    values_origin = origin = committed = 0  # the path is known up to `committed`
    for lo in range(0, size, window):
        hi = min(lo + window, size)
        values.extend([_NEG_INF] * (hi - lo))
        arrived_by.frombytes(bytes(arrived_by.itemsize * (hi - lo)))
        shift = values_origin - origin
        first = max(0, lo - reach + 1)  # a slice: pyahocorasick copies the whole string it is given
        relax(automaton.iter(chunk[first:hi]), values, arrived_by, values_origin - first, lo - first, shift)
        meeting = _meeting_point(arrived_by, lengths, origin, max(committed, hi - 2 * window), hi, reach)
        if meeting is not None:
            found = _walk_back_between(arrived_by, lengths, origin, meeting, committed)
            ids[count : count + len(found)] = found
            count += len(found)
            committed = meeting
        cut = hi + 1 - reach
        if cut > values_origin:
            del values[: cut - values_origin]
            values_origin = cut
        if committed > origin:
            del arrived_by[: committed - origin]
            origin = committed
    found = _walk_back_between(arrived_by, lengths, origin, size, committed)
    ids[count : count + len(found)] = found
    del ids[count + len(found) :]
    return ids


def _meeting_point(
    arrived_by: Sequence[int], lengths: Sequence[int], origin: int, floor: int, hi: int, reach: int
) -> Optional[int]:
    """The latest position after ``floor`` that the walks back from every position in
    (hi - reach, hi] pass through, or None (``floor`` bounds the work: not quadratic)."""
    heap = [-p for p in range(max(floor, hi - reach + 1), hi + 1)]
    heapq.heapify(heap)
    members = set(heap)
    while len(members) > 1:
        position = -heapq.heappop(heap)
        members.discard(-position)
        piece_id = arrived_by[position - origin]
        previous = position - (lengths[piece_id] or _no_piece(piece_id, position))
        if previous <= floor:
            return None
        if -previous not in members:
            members.add(-previous)
            heapq.heappush(heap, -previous)
    (last,) = members
    return -last if -last > floor else None


def _walk_back_between(arrived_by: Sequence[int], lengths: Sequence[int], origin: int, position: int, stop: int) -> "array[int]":
    ids = array("i")  # the whole chunk's, for periodic text with no meeting point: compact
    while position > stop:
        piece_id = arrived_by[position - origin]
        ids.append(piece_id)
        position -= lengths[piece_id] or _no_piece(piece_id, position)
    ids.reverse()
    return ids


def walk_back(arrived_by: List[int], lengths: Sequence[int]) -> List[int]:
    """The path into the last byte, following ``arrived_by`` indexed by inclusive end."""
    ids = []
    position = len(arrived_by) - 1
    while position >= 0:
        piece_id = arrived_by[position]
        ids.append(piece_id)
        position -= lengths[piece_id] or _no_piece(piece_id, position)
    ids.reverse()
    return ids


def _no_piece(piece_id: int, position: int) -> int:
    """A back-pointer to an id of no bytes (a special token, or the 0 a position starts
    with) means no piece was chosen there: a bug, never a loop that walks forever."""
    raise RuntimeError(f"internal error: no piece chosen at byte {position} (back-pointer {piece_id}); please report it")
