"""Pruning the counted pieces into vocabularies (``docs/algorithm.md``, "Pruning").

1. every missing single byte is added with count 1;
2. single bytes and pieces with ``len <= max_piece_length`` and ``count >= min_count`` are
   kept; every other piece is re-segmented by a unigram tokenizer of the kept set and its
   count goes to the pieces of its segmentation;
3. "wasted" pieces: every piece is segmented by a tokenizer of the whole set (itself
   included) and the set is rebuilt from those segmentations, weighted by counts, until
   its size stops changing;
4. for each vocabulary size, largest first: keep the first ``size - specials`` pieces in
   :func:`rank_key` order, re-segment the rest into them, and repeat step 3. Smaller sizes
   start from the larger result, so the vocabularies are nested.

Segmenting gives the same result as inference's Viterbi (``viterbi.py``): score
``log count - log total``, ties to the longer piece; it runs batched, in numpy, in
``workers`` processes (``piece_splitting.py``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np

from .piece_counting import PACKED_MAX, PieceCounts, packed_bytes, packed_lengths, unpack_pieces
from .piece_splitting import BatchSegmenter, StringBatch

Counts = Dict[bytes, int]
Progress = Callable[[int], object]  # told the bytes segmented, after each batch


def _no_progress(size: int) -> None:
    return None


def rank_key(item: Tuple[bytes, int]) -> tuple:
    """Order of step 4: single bytes first, then count descending, longer first, bytes.

    >>> sorted([(b"ab", 5), (b"z", 1), (b"abc", 5), (b"b", 9)], key=rank_key)
    [(b'b', 9), (b'z', 1), (b'abc', 5), (b'ab', 5)]
    """
    piece, count = item
    return (len(piece) > 1, -count, -len(piece), piece)


def split_into(keep: Counts, drop: List[Tuple[bytes, int]], workers: int = 1, progress: Progress = _no_progress) -> Counts:
    """``keep`` plus the count of each dropped piece added to its segmentation by ``keep``.

    ``drop`` is consumed (emptied once packed), so a big one is not held twice.

    >>> base = {bytes([b]): 1 for b in range(256)}
    >>> out = split_into({**base, b"ab": 10}, [(b"abab", 3)])
    >>> out[b"ab"], out[b"a"]
    (16, 1)
    """
    result = Counter(keep)
    if drop:
        batch = StringBatch(drop)
        drop.clear()
        result.update(BatchSegmenter(keep).count_batch(batch, workers))
        progress(len(batch.data))
    return dict(result)


def remove_wasted(counts: Counts, workers: int = 1, progress: Progress = _no_progress) -> Counts:
    """Step 3: rebuild from self-segmentations until the number of pieces stops changing."""
    while True:
        size = len(counts)
        counts = BatchSegmenter(counts).count_segments(list(counts.items()), workers)
        progress(sum(map(len, counts)))
        if len(counts) == size:
            return counts


def prune(counts: Counts, **options: Any) -> Dict[int, Counts]:
    """:func:`prune_packed` for a plain ``piece -> count`` dict (left unchanged)."""
    return prune_packed(PieceCounts.from_dict(counts), **options)


def prune_packed(
    pieces: PieceCounts,
    *,
    vocab_sizes: Sequence[int],
    min_count: int,
    max_piece_length: int,
    reserved: int = 3,
    workers: int = 1,
    progress: Progress = _no_progress,
) -> Dict[int, Counts]:
    """Steps 1-4; returns ``{vocab_size: pieces}`` for each requested size.

    The counts of pass 2 stay packed in numpy until they are sorted into kept and
    dropped pieces: only the kept ones become a dict. ``pieces`` is consumed.
    """
    keep, drop = _sort_out(pieces, min_count, max_piece_length)
    counts = Counter(keep)
    counts.update(BatchSegmenter(keep).count_batch(drop, workers))  # step 2
    progress(len(drop.data))
    del drop
    counts = remove_wasted(dict(counts), workers, progress)  # step 3
    result: Dict[int, Counts] = {}
    for size in sorted(set(vocab_sizes), reverse=True):  # step 4
        target = size - reserved
        if len(counts) > target:
            ranked = sorted(counts.items(), key=rank_key)
            keep = dict(ranked[:target])
            del ranked[:target]
            counts = remove_wasted(split_into(keep, ranked, workers, progress), workers, progress)
        result[size] = dict(counts)
    return result


def _sort_out(pieces: PieceCounts, min_count: int, max_piece_length: int) -> Tuple[Counts, StringBatch]:
    """Steps 1 and 2: add missing bytes; the kept pieces, and the dropped ones packed."""
    singles = (np.arange(256, dtype=np.uint64) << np.uint64(3)) | np.uint64(1)
    missing = singles[~np.isin(singles, pieces.keys)]
    keys = np.concatenate([pieces.keys, missing])
    counts = np.concatenate([pieces.counts, np.ones(len(missing), dtype=np.int64)])
    lengths = packed_lengths(keys)
    kept = (lengths == 1) | ((lengths <= max_piece_length) & (counts >= min_count))
    keep = dict(zip(unpack_pieces(keys[kept]), counts[kept].tolist()))
    long_drop = []
    for piece, count in pieces.long.items():
        if len(piece) <= max_piece_length and count >= min_count:
            keep[piece] = count
        else:
            long_drop.append((piece, count))
    pieces.long.clear()
    long_drop.sort(key=lambda item: len(item[0]), reverse=True)
    parts, part_lengths, weights = [b"".join(p for p, _ in long_drop)], [[len(p) for p, _ in long_drop]], [[c for _, c in long_drop]]
    for length in range(PACKED_MAX, 0, -1):  # then the short ones, longest first
        mask = ~kept & (lengths == length)
        parts.append(packed_bytes(keys[mask], length))
        part_lengths.append([length] * int(mask.sum()))
        weights.append(counts[mask].tolist())
    flat = lambda lists: np.array([x for part in lists for x in part], dtype=np.int64)
    return keep, StringBatch.from_sorted(b"".join(parts), flat(part_lengths), flat(weights))


def check_vocab_sizes(sizes: Sequence[int], reserved: int = 3) -> List[int]:
    """Validate requested sizes: each must leave room for the 256 single bytes."""
    checked = sorted({int(s) for s in sizes}, reverse=True)
    if not checked:
        raise ValueError("give at least one vocab_size")
    smallest = 256 + reserved
    if checked[-1] < smallest:
        raise ValueError(f"vocab_size must be at least {smallest} (256 single bytes + {reserved} special tokens), got {checked[-1]}")
    return checked
