"""Refinement (``Trainer(refine=True)``, ``bytepiece train --refine``): after the original's
pruning, re-estimate piece counts on the corpus and prune by how much each piece saves.

Explained in ``docs/algorithm.md`` ("Refinement"). The stage runs after ``pruning.py``, from
a vocabulary ``OVERSHOOT`` times the largest size asked for:

1. **Sample.** One more pass over the corpus keeps a deterministic sample of its training
   chunks (all of them when the corpus fits in ``sample_bytes``), identical chunks merged
   with a weight, and counts every substring of whole UTF-8 characters (at most 7 bytes) in
   the sample (:func:`sample_task`, in the worker pool).
2. **Seeds.** The candidates are the pruned vocabulary, every character of the sample, and
   the ``SEEDS`` x largest-size substrings that would save the most tokens,
   ``count x (bytes - 1)`` (:func:`seed_vocabulary`).
3. **Re-estimate** (:func:`reestimate`): segment the sample with the unigram model of the
   candidates (the tokenizer's own batch Viterbi, through ``pruning.count_segments``) and
   take the counts of that segmentation. Pieces it never uses are dropped.
4. **Prune by loss** (:func:`removal_losses`): removing piece ``p`` costs
   ``count(p) x (k - 1)`` tokens, where ``k`` is the number of pieces that spell ``p`` when
   ``p`` is gone (the tokenizer's best segmentation of its bytes without the whole-piece
   match); the log-likelihood lost is the tie-break (or, with ``loss="likelihood"``, the
   criterion). The cheapest ``1 - SHRINK`` of the pieces (never more than the excess) go,
   the counts are re-estimated, and so on down to each size, largest first: the
   vocabularies are nested, and each one's counts are those of its own segmentation of
   the sample.

Everything is integer counts, total orders and a sample chosen by position, so the result
is the same for any number of workers.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..encoding.engine import Engine
from ..encoding.viterbi import best_path
from ..model import Model
from ..parallel import Runner, as_executor
from .count_store import CountStore
from ..io.corpus import batched
from .ngram_counting import merge_sorted_counts, run_lengths
from .packed_keys import PACKED_MAX, pack, pack_pieces, packed_lengths, packed_values, unpack_pieces, windows
from .pruning import Counts, Progress, Strings, count_segments
from .tasks import GROUP_BYTES, chunk_texts

LOSSES = ("tokens", "likelihood")
OVERSHOOT = 1.5  # the original's pruning keeps this many times the largest size
SEEDS = 1.0  # substrings added: this many times the largest size
SHRINK = 0.6  # each round keeps at least this fraction of the pieces
SAMPLE_BYTES = 8 << 20  # bytes of chunks in the sample, at most (docs/algorithm.md, Refinement)

Batch = Tuple[int, List[str]]  # (batch number, texts)
SampleShard = Tuple[List[bytes], np.ndarray, np.ndarray, int]


def _no_progress(size: int) -> None:
    return None


def overshoot(vocab_sizes: Sequence[int]) -> int:
    """The size the original's pruning stops at before refinement.

    >>> overshoot([8000, 32000])
    48000
    """
    return int(OVERSHOOT * max(vocab_sizes))


def check_loss(loss: Any) -> str:
    """``True`` means ``"tokens"``; otherwise one of :data:`LOSSES`."""
    if loss is True:
        return "tokens"
    if loss not in LOSSES:
        raise ValueError(f"refine must be True, False or one of {LOSSES}, got {loss!r}")
    return str(loss)


# ---------------------------------------------------------------- 1. the sample
def sample_task(config: Dict[str, Any], batch: Batch) -> SampleShard:
    """The chunks of a batch kept in the sample (evenly spaced, at ``config["rate"]``,
    from a phase set by the batch number), and their character substrings' counts."""
    number, texts = batch
    chunks = chunk_texts(texts, config)
    rate = config["rate"]
    if rate < 1:
        phase = (number * 0.6180339887498949) % 1.0  # golden ratio: phases spread evenly
        positions = np.arange(len(chunks)) * rate + phase
        taken = np.flatnonzero(np.floor(positions + rate) > np.floor(positions))
        chunks = [chunks[i] for i in taken.tolist()]
    keys, counts = count_substrings(chunks)
    return chunks, keys, counts, sum(map(len, chunks))


def count_substrings(chunks: Sequence[bytes]) -> Tuple[np.ndarray, np.ndarray]:
    """Counts of the substrings of whole UTF-8 characters, at most 7 bytes, of each chunk:
    (sorted packed keys, counts). Like n-gram counting, one sort counts all lengths: the
    windows start at character starts only, and a prefix counts when it ends where a
    character does.

    >>> keys, counts = count_substrings(["aé".encode(), b"a"])
    >>> list(zip(unpack_pieces(keys), counts.tolist()))
    [(b'a', 2), (b'\\xc3\\xa9', 1), (b'a\\xc3\\xa9', 1)]
    """
    # a megabyte at a time: the arrays take about 40 bytes per byte
    return merge_sorted_counts([_count_group(group) for group in batched(chunks, GROUP_BYTES)])


def _count_group(chunks: Sequence[bytes]) -> Tuple[np.ndarray, np.ndarray]:
    buf = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    ends = np.repeat(np.cumsum(lengths), lengths)
    starts = np.flatnonzero((buf & 0xC0) != 0x80)  # bytes that start a character
    # bit n-1 of `ends_char`: a character ends n bytes after this start (inside the chunk)
    boundary = np.zeros(len(buf) + PACKED_MAX + 1, dtype=bool)
    boundary[starts] = True
    boundary[np.cumsum(lengths)] = True  # a chunk's end ends its last character
    left = ends[starts] - starts
    ends_char = np.zeros(len(starts), dtype=np.uint64)
    for n in range(1, PACKED_MAX + 1):
        ends_char |= ((boundary[starts + n] & (left >= n)).astype(np.uint64)) << np.uint64(n - 1)
    # sort the windows with their end mask in the low bits: prefixes stay sorted
    words = np.sort((windows(buf, PACKED_MAX)[starts] << np.uint64(PACKED_MAX)) | ends_char)
    values, mask = words >> np.uint64(PACKED_MAX), words & np.uint64((1 << PACKED_MAX) - 1)
    parts = []
    for n in range(1, PACKED_MAX + 1):
        selected = (mask >> np.uint64(n - 1)) & np.uint64(1) == 1
        grams, counts = run_lengths(values[selected] >> np.uint64(8 * (PACKED_MAX - n)))
        parts.append((pack(grams, np.full(len(grams), n)), counts))
    keys = np.concatenate([k for k, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    order = np.argsort(keys, kind="stable")
    return keys[order], counts[order]


def read_sample(
    batches: Iterable[List[str]],
    config: Dict[str, Any],
    store: CountStore,
    *,
    rate: float,
    min_count: int,
    workers: Runner = 1,
    progress: Progress = _no_progress,
) -> Tuple[Strings, np.ndarray, np.ndarray]:
    """Step 1: the sample (distinct chunks weighted by their count, longest first) and
    the substrings seen at least ``min_count`` times (sorted packed keys, counts)."""
    chunks: Counter = Counter()
    with as_executor(workers).pool({**config, "rate": rate}, purpose="training") as pool:
        for taken, keys, counts, size in pool.imap(sample_task, enumerate(batches)):
            chunks.update(taken)
            store.add("substrings", keys, counts)
            progress(size)
    keys, counts = store.result("substrings", min_count)
    return Strings.from_items(list(chunks.items())), keys, counts


# ---------------------------------------------------------------- 2. seeds
def seed_vocabulary(pruned: Counts, keys: np.ndarray, counts: np.ndarray, *, extra: int) -> Counts:
    """Step 2: the pruned pieces, every character among the substrings (``keys``,
    ``counts``: packed, sorted), and the ``extra`` other substrings that save most tokens,
    ``count x (bytes - 1)`` (ties: shorter first, then by bytes).

    >>> found = {b"a": 9, "é".encode(): 2, b"ab": 3, b"abc": 2, b"bc": 2}
    >>> keys = pack_pieces(list(found))
    >>> order = np.argsort(keys)
    >>> seed_vocabulary({b"a": 1}, keys[order], np.array(list(found.values()))[order], extra=1)
    {b'a': 1, b'\\xc3\\xa9': 2, b'abc': 2}
    """
    lengths = packed_lengths(keys)
    lead = packed_values(keys) >> (np.uint64(8) * (lengths - 1).astype(np.uint64))
    utf8_length = np.select([lead < 0x80, lead < 0xE0, lead < 0xF0], [1, 2, 3], 4)
    known = np.isin(keys, pack_pieces([p for p in pruned if len(p) <= PACKED_MAX]))
    character = (utf8_length == lengths) & ~known
    others = np.flatnonzero(~character & ~known)
    gain = counts[others] * (lengths[others] - 1)
    best = others[np.lexsort((keys[others], lengths[others], -gain))[:extra]]
    chosen = np.sort(np.concatenate([np.flatnonzero(character), best]))
    seeds = dict(pruned)
    seeds.update(zip(unpack_pieces(keys[chosen]), counts[chosen].tolist()))
    return seeds


# ---------------------------------------------------------------- 3. re-estimation
def reestimate(vocabulary: Counts, sample: Strings, workers: Runner = 1) -> Counts:
    """Step 3: the counts of the Viterbi segmentation of ``sample`` by ``vocabulary``.
    Pieces it never uses are dropped, except single bytes, which keep at least 1 (a model
    needs every byte).

    >>> vocabulary = {**{bytes([b]): 1 for b in range(256)}, b"ab": 5, b"xy": 5}
    >>> counts = reestimate(vocabulary, Strings.from_items([(b"abab", 2)]))
    >>> counts[b"ab"], counts[b"a"], b"xy" in counts
    (4, 1, False)
    """
    counts = count_segments(vocabulary, sample, workers)
    for piece in vocabulary:
        if len(piece) == 1 and piece not in counts:
            counts[piece] = 1
    return counts


# ---------------------------------------------------------------- 4. pruning by loss
class _WithoutWholeMatch:
    """An automaton whose ``iter`` leaves out the match that covers the whole string, so
    that ``best_path`` gives the best segmentation of a piece by the other pieces."""

    def __init__(self, automaton: Any) -> None:
        self.automaton = automaton

    def iter(self, text: str) -> Iterator[Any]:
        size = len(text)
        return (match for match in self.automaton.iter(text) if match[1][0] != size)


def alternatives(engine: Engine) -> Iterator[Tuple[int, Sequence[int]]]:
    """``(id, ids)`` for each piece of two or more bytes: how the tokenizer would spell it
    if it were gone (same probabilities, same tie rule)."""
    without = _WithoutWholeMatch(engine.automaton())
    lengths = engine.piece_lengths
    for piece_id, piece in enumerate(engine.pieces_by_id):
        if len(piece) > 1:
            yield piece_id, best_path(without, piece.decode("latin-1"), lengths)


def removal_losses(counts: Counts, loss: str = "tokens") -> List[Tuple[float, float, bytes]]:
    """``(loss, tie-break, piece)`` for each piece of two or more bytes, cheapest first.

    The token loss is ``count x (k - 1)``: the piece's uses are spelled with ``k`` pieces
    instead of one. The likelihood loss is SentencePiece's estimate of the log-likelihood
    lost: the piece's count moves to the ``k`` pieces that spell it, and the total grows
    by ``count x (k - 1)``.

    >>> counts = {**{bytes([b]): 1 for b in range(256)}, b"ab": 40, b"abc": 10, b"c": 50}
    >>> [(tokens, piece) for tokens, _, piece in removal_losses(counts)]
    [(10.0, b'abc'), (40.0, b'ab')]
    """
    engine = Engine(Model.from_counts(counts, special_tokens=()))
    freq = np.zeros(engine.vocab_size, dtype=np.float64)
    freq[np.asarray(engine.model.ids)] = engine.model.counts
    total = float(freq.sum())
    out = []
    for piece_id, spelling in alternatives(engine):
        count, k = float(freq[piece_id]), len(spelling)
        tokens = count * (k - 1)
        new_total = math.log(total + count * (k - 1))
        spelled = sum(math.log(freq[q] + count) - new_total for q in spelling)
        likelihood = count * (math.log(count) - math.log(total) - spelled)
        first, second = (tokens, likelihood) if loss == "tokens" else (likelihood, tokens)
        out.append((first, second, engine.pieces_by_id[piece_id]))
    out.sort()
    return out


def refine(
    seeds: Counts,
    sample: Strings,
    *,
    vocab_sizes: Sequence[int],
    reserved: int = 3,
    loss: str = "tokens",
    shrink: Optional[float] = None,
    workers: Runner = 1,
    progress: Optional[Progress] = None,
) -> Dict[int, Counts]:
    """Steps 3 and 4: ``{vocab_size: counts}`` for each size, nested, largest first.
    Each round keeps at least ``shrink`` of the pieces (default :data:`SHRINK`, read at
    call time). ``progress`` is told the bytes segmented after each round."""
    check_loss(loss)
    shrink = SHRINK if shrink is None else shrink
    tell = progress or _no_progress
    segmented = len(sample.data)
    counts = reestimate(seeds, sample, workers)
    tell(segmented)
    result: Dict[int, Counts] = {}
    for size in sorted(set(vocab_sizes), reverse=True):
        target = size - reserved
        while len(counts) > target:
            remove = min(len(counts) - target, max(1, int(len(counts) * (1 - shrink))))
            gone = {piece for _, _, piece in removal_losses(counts, loss)[:remove]}
            counts = reestimate({p: c for p, c in counts.items() if p not in gone}, sample, workers)
            tell(segmented)
        result[size] = dict(counts)
    return result
