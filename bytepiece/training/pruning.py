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

Re-segmenting *is* inference: a vocabulary becomes an :class:`~bytepiece.encoding.engine.Engine`
and the strings go through its batch path (``encoding/batch/``), the same vectorised Viterbi
that ``encode_batch`` uses (score ``log count - log total``, ties to the longer piece), on
the executor (``parallel.py``). One pool serves the whole run: each round's vocabulary is
sent to the workers as a shared value (``Pool.share``), and each worker makes the round's
engine on its first task, so no round starts processes, and the engines are made in
parallel, not by the driver.

Rounds only take pieces away: every vocabulary of step 3 is a subset of the first, and
every one of step 4 a subset of its size's kept set. So a run of rounds is segmented over
one fixed list of pieces (:class:`RoundPieces`), each round being their counts, 0 for the
pieces it has dropped; a worker builds the engine over the list once and, each round after
that, only rescores it (``Engine.rescored``: a dropped piece scores -inf, so no path uses
it). Building the trie of 300k-800k pieces took 1.5-4 s a round in each worker; rescoring
is a pass over its slots. The scores are the ones a fresh engine of the round's vocabulary
computes (the same ``unigram_log_probs``), so the segmentations are identical.
"""

from __future__ import annotations

import functools
import pickle
import tempfile
import uuid
from collections import Counter
from operator import itemgetter
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ..encoding.batch.layout import longest_first
from ..encoding.engine import Engine
from ..model import Model, unigram_log_probs
from ..parallel import Pool, Runner, pool_for
from .packed_keys import PACKED_MAX, pack_pieces, packed_bytes, packed_lengths, unpack_pieces
from .count_store import LongCounts, read_pickles
from .ngram_counting import keep_threshold
from .piece_counting import PieceCounts

Counts = Dict[bytes, int]
Progress = Callable[[int], object]  # told the bytes segmented, after each batch
Workers = Union[Runner, Pool[Any]]  # a number of workers, an executor, or an open pool
# Bytes of strings segmented in one call of the batch path: its arrays take about 120
# bytes a byte, so a worker holds about 60 MB less with 512 KiB than with 1 MiB, for the
# same time (docs/scaling.md, "Session 16").
GROUP_BYTES = 512 << 10
MIN_GROUP_BYTES = 64 << 10  # and at least (a slice of the batch path costs about 0.5 ms)
TASKS_PER_WORKER = 2  # re-segmenting tasks per worker: balance, and a cheap rerun if one is lost


def _no_progress(size: int) -> None:
    return None


def rank_key(item: Tuple[bytes, int]) -> tuple:
    """Order of step 4: single bytes first, then count descending, longer first, bytes.

    >>> sorted([(b"ab", 5), (b"z", 1), (b"abc", 5), (b"b", 9)], key=rank_key)
    [(b'b', 9), (b'z', 1), (b'abc', 5), (b'ab', 5)]
    """
    piece, count = item
    return (len(piece) > 1, -count, -len(piece), piece)


def rank(counts: Counts) -> List[Tuple[bytes, int]]:
    """``counts``' items in :func:`rank_key` order, sorted in C: the bytes by ``sorted``,
    then the rest of the key by a stable ``np.lexsort`` (a key tuple per piece in Python
    took seconds for a few hundred thousand pieces).

    >>> rank({b"ab": 5, b"z": 1, b"abc": 5, b"b": 9})
    [(b'b', 9), (b'z', 1), (b'abc', 5), (b'ab', 5)]
    """
    pieces = sorted(counts)
    if len(pieces) < 2:
        return [(p, counts[p]) for p in pieces]
    weights = np.array(itemgetter(*pieces)(counts), dtype=np.int64)
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    order = np.lexsort((-lengths, -weights, lengths > 1))  # the last key sorts first
    return list(zip(pick(pieces, order), weights[order].tolist()))


def unjoin(data: bytes, lengths: np.ndarray) -> List[bytes]:
    """The strings that were joined into ``data``, of these ``lengths``, sliced in C.

    >>> unjoin(b"abcd", np.array([1, 3]))
    [b'a', b'bcd']
    """
    ends = np.cumsum(lengths).tolist()
    return list(map(data.__getitem__, map(slice, [0] + ends[:-1], ends)))


def pick(items: Sequence[Any], indices: np.ndarray) -> Sequence[Any]:
    """``[items[i] for i in indices]``, gathered in C.

    >>> pick([b"a", b"b", b"c"], np.array([2, 0]))
    (b'c', b'a')
    """
    if len(indices) < 2:
        return [items[i] for i in indices.tolist()]
    return itemgetter(*indices.tolist())(items)


def split_into(keep: Counts, drop: List[Tuple[bytes, int]], workers: Workers = 1, progress: Progress = _no_progress) -> Counts:
    """``keep`` plus the count of each dropped piece added to its segmentation by ``keep``.

    ``drop`` is consumed (emptied once packed), so a big one is not held twice.

    >>> base = {bytes([b]): 1 for b in range(256)}
    >>> out = split_into({**base, b"ab": 10}, [(b"abab", 3)])
    >>> out[b"ab"], out[b"a"]
    (16, 1)
    """
    result = Counter(keep)
    if drop:
        strings = Strings.from_items(drop)
        drop.clear()
        result.update(count_segments(keep, strings, workers))
        progress(len(strings.data))
    return dict(result)


def remove_wasted(counts: Counts, workers: Workers = 1, progress: Progress = _no_progress) -> Counts:
    """Step 3: rebuild from self-segmentations until the number of pieces stops changing.

    Each round's pieces are some of the first round's, so the rounds run on arrays over
    one :class:`RoundPieces` (a round's counts, 0 for the pieces it dropped), and its
    strings are the first round's, laid out once, less the dropped ones: the driver makes
    no dict and sorts no strings between rounds (a dict of up to 524k pieces a round, its
    strings sorted and joined again, were a third of pruning's time in the driver).

    >>> vocabulary = {**{bytes([b]): 1 for b in range(256)}, b"ab": 50, b"abab": 2}
    >>> remove_wasted(vocabulary)[b"ab"]  # abab is ab + ab: wasted, its count goes to ab
    54
    """
    within = RoundPieces(list(counts))
    weights = within.counts_of(counts)
    order = longest_first(within.lengths)  # the strings of every round, in this order
    lengths = within.lengths[order]
    data = np.frombuffer(b"".join(pick(within.pieces, order)), dtype=np.uint8)
    with pool_for(workers, purpose="pruning") as pool:  # one pool: its workers keep the engine
        while True:
            ordered = weights[order]
            present = ordered > 0
            if present.all():
                strings = Strings(data.tobytes(), lengths, ordered)
            else:
                strings = Strings(data[np.repeat(present, lengths)].tobytes(), lengths[present], ordered[present])
            totals = segment_totals(within.round_of(weights), strings, pool)
            progress(len(strings.data))
            done = np.count_nonzero(totals) == np.count_nonzero(weights)
            weights = totals
            if done:
                return within.as_counts(weights)


def count_segments(
    vocabulary: Counts,
    strings: Union["Strings", Iterable["Strings"]],
    workers: Workers = 1,
    progress: Progress = _no_progress,
    *,
    within: Optional["RoundPieces"] = None,
) -> Counts:
    """``{piece: sum of the weights of the strings whose segmentation by vocabulary uses
    it, once per use}``. ``vocabulary`` must hold every single byte. ``strings``: one
    :class:`Strings`, or a stream of them (each segmented by one task, so only the few in
    flight are in memory); ``progress`` is told the bytes of each one done. ``within``:
    the pieces of a run of rounds, which hold ``vocabulary``'s (default: its own).

    >>> vocabulary = {**{bytes([b]): 1 for b in range(256)}, b"ab": 50, b"abc": 2}
    >>> count_segments(vocabulary, Strings.from_items([(b"abcab", 1), (b"c", 3)]))  # abc+ab beats ab+c+ab
    {b'c': 3, b'ab': 1, b'abc': 1}
    """
    within = RoundPieces(list(vocabulary)) if within is None else within
    return within.as_counts(segment_totals(within.round(vocabulary), strings, workers, progress))


def segment_totals(round_: "Round", strings: Union["Strings", Iterable["Strings"]], workers: Workers = 1, progress: Progress = _no_progress) -> np.ndarray:
    """:func:`count_segments` by the round's vocabulary, as totals by place in its
    pieces (0 for the pieces no segmentation used)."""
    # The engine (its model, checked, and its tables) is built in the workers, which
    # answer with each piece's place in the round's list: the driver sorts nothing (the
    # ids' order, Model.piece_order, took it 0.65 s a run at 100 MB).
    totals = np.zeros(len(round_.lengths), dtype=np.int64)
    with pool_for(workers, purpose="pruning") as pool:
        if isinstance(strings, Strings):  # a vocabulary of 90k pieces is one group of 600 KB: cut it for every worker
            share = -(-len(strings.data) // (TASKS_PER_WORKER * pool.workers))
            groups: Iterable[Strings] = strings.split(max(MIN_GROUP_BYTES, min(GROUP_BYTES, share)))
        else:
            groups = strings
        segmenter = pool.share(Segmenter.for_round, round_)
        for places, counts, size in pool.imap(segment_strings, groups, shared=segmenter):
            totals[places] += counts
            progress(size)
    return totals


class Round(NamedTuple):
    """What the workers get for a round: its pieces, as :class:`RoundPieces` (their key,
    their bytes joined and their lengths: two objects to pickle, not 800k), and the
    round's count of each (0: not in its vocabulary)."""

    key: str
    data: bytes
    lengths: np.ndarray
    counts: np.ndarray


class RoundPieces:
    """The pieces of a run of rounds, in a fixed order: every round's vocabulary is some
    of them (see the module docstring), sent as :class:`Round`.

    >>> within = RoundPieces([b"a", b"b", b"ab"])
    >>> within.round({b"b": 4, b"a": 2}).counts.tolist()
    [2, 4, 0]
    """

    def __init__(self, pieces: List[bytes]) -> None:
        self.pieces = pieces
        self.key = uuid.uuid4().hex
        self.data = b"".join(pieces)
        self.lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))

    @functools.cached_property
    def place(self) -> Dict[bytes, int]:
        """Each piece's place in the list, made for the first round that is not all of them."""
        return dict(zip(self.pieces, range(len(self.pieces))))

    def round(self, vocabulary: Counts) -> Round:
        """``vocabulary`` as counts of these pieces; ``ValueError`` for a piece not among them."""
        return self.round_of(self.counts_of(vocabulary))

    def round_of(self, counts: np.ndarray) -> Round:
        """The round whose vocabulary has these counts, by place (0: not in it)."""
        return Round(self.key, self.data, self.lengths, counts)

    def counts_of(self, vocabulary: Counts) -> np.ndarray:
        """``vocabulary``'s counts by place in these pieces (0: not in it); ``ValueError``
        for a piece not among them."""
        values = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        if list(vocabulary) == self.pieces:  # the pieces' own vocabulary (a first round): no look-ups
            return values
        counts = np.zeros(len(self.pieces), dtype=np.int64)
        try:
            where = np.fromiter(map(self.place.__getitem__, vocabulary), dtype=np.int64, count=len(vocabulary))
        except KeyError as exc:
            raise ValueError(f"piece {exc.args[0]!r} is not among the pieces of these rounds") from None
        counts[where] = values
        return counts

    def as_counts(self, counts: np.ndarray) -> Counts:
        """Counts by place as a ``piece -> count`` dict of the pieces counted (in this
        list's order).

        >>> RoundPieces([b"a", b"b", b"ab"]).as_counts(np.array([2, 0, 7]))
        {b'a': 2, b'ab': 7}
        """
        used = np.flatnonzero(counts)
        return dict(zip(pick(self.pieces, used), counts[used].tolist()))


class Segmenter:
    """What each worker makes for a round: an engine over the run's pieces scored by the
    round's counts (no special tokens), and each id's place in the run's list of pieces,
    the order the driver knows them in."""

    def __init__(self, key: str, engine: Engine, places: np.ndarray) -> None:
        self.key, self.engine, self.places = key, engine, places

    @classmethod
    def for_round(cls, round_: Round, previous: Any) -> "Segmenter":
        """The round's segmenter: the last round's engine rescored, if it is over the same
        pieces (it holds one table of scores, as an engine built afresh would: the last
        round's goes once this one is made), else one built from the round's pieces."""
        if isinstance(previous, Segmenter) and previous.key == round_.key:
            return cls(round_.key, previous.engine.rescored(_scores(round_.counts[previous.places])), previous.places)
        pieces = unjoin(round_.data, round_.lengths)
        # a piece the round has dropped (count 0) is still in the trie, and scores -inf
        engine = Engine(Model.from_counts(dict(zip(pieces, np.maximum(round_.counts, 1).tolist())), special_tokens=()))
        place = dict(zip(pieces, range(len(pieces))))
        places = np.fromiter(map(place.__getitem__, engine.model.pieces), dtype=np.int64, count=len(pieces))
        if not round_.counts.all():
            engine = engine.rescored(_scores(round_.counts[places]))
        return cls(round_.key, engine, places)


def _scores(counts: np.ndarray) -> np.ndarray:
    """Each id's log probability for these counts by id (-inf for 0), as a model of the
    pieces with counts would score them (``unigram_log_probs``: the same floats)."""
    scores = np.full(len(counts), -np.inf)
    present = counts > 0
    scores[present] = unigram_log_probs(counts[present], int(counts.sum()))
    return scores


def segment_strings(segmenter: Segmenter, strings: "Strings") -> Tuple[np.ndarray, np.ndarray, int]:
    """The task: weighted piece totals of the strings, segmented by the round's engine,
    as (places in the run's pieces, totals) of the pieces used (a few thousand, not the
    whole vocabulary), and the bytes segmented."""
    ids, offsets = segmenter.engine.encode_chunks(strings.data, strings.starts, strings.lengths)
    totals = np.zeros(len(segmenter.places), dtype=np.int64)  # by id: adding into it is 60x np.unique's sort
    np.add.at(totals, ids, np.repeat(strings.weights, np.diff(offsets)))
    used = np.flatnonzero(totals)
    return segmenter.places[used], totals[used], len(strings.data)


class Strings:
    """Weighted strings, longest first, as one bytes buffer with starts, lengths and weights."""

    def __init__(self, data: bytes, lengths: np.ndarray, weights: np.ndarray) -> None:
        if len(lengths) > 1 and np.any(np.diff(lengths) > 0):
            raise ValueError("strings must come longest first")
        if len(lengths) and lengths[-1] < 1:
            raise ValueError("cannot segment an empty string")
        self.data = data
        self.lengths = lengths
        self.weights = weights
        self.ends = np.cumsum(lengths)
        self.starts = self.ends - lengths

    @classmethod
    def from_items(cls, items: Sequence[Tuple[bytes, int]]) -> "Strings":
        """``(string, weight)`` items in any order."""
        strings, weights = zip(*items) if len(items) else ((), ())
        return cls.from_lists(strings, weights)

    @classmethod
    def from_lists(cls, strings: Sequence[bytes], weights: Iterable[int]) -> "Strings":
        """Strings and their weights, in any order. Pruning's driver makes millions of
        these, so the loops run in C (``map``, ``itemgetter``), not in Python."""
        lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        order = longest_first(lengths)
        data = b"".join(pick(strings, order))
        if not isinstance(weights, np.ndarray):
            weights = np.fromiter(weights, dtype=np.int64, count=len(strings))
        return cls(data, lengths[order], weights[order])

    def groups(self, size: int) -> List[Tuple[int, int]]:
        """Consecutive (first, last) string ranges of about ``size`` bytes each."""
        if not len(self.ends):
            return []
        cuts = np.searchsorted(self.ends, np.arange(size, int(self.ends[-1]) + size, size), side="left") + 1
        bounds = np.unique(np.concatenate(([0], np.minimum(cuts, len(self.lengths)))))
        return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))

    def split(self, size: int) -> Iterator["Strings"]:
        """The strings as consecutive groups of about ``size`` bytes each."""
        for first, last in self.groups(size):
            begin, end = int(self.starts[first]), int(self.ends[last - 1])
            yield Strings(self.data[begin:end], self.lengths[first:last], self.weights[first:last])


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
    workers: Runner = 1,
    progress: Progress = _no_progress,
    spill_dir: Optional[str] = None,
    max_candidates: Optional[int] = None,
    on_cut: Callable[[int], object] = _no_progress,
) -> Dict[int, Counts]:
    """Steps 1-4; returns ``{vocab_size: pieces}`` for each requested size.

    The counts of pass 2 stay packed in numpy until they are sorted into kept and
    dropped pieces: only the kept ones become a dict. ``pieces`` is consumed. The long
    dropped pieces wait for step 2 in a temporary file in ``spill_dir`` (default: the
    system's). ``max_candidates`` bounds the pieces step 2 keeps besides the single
    bytes, the most frequent ones (``docs/training.md``, "A model that fits its budget");
    ``None``: every piece that passes ``min_count``.
    ``on_cut`` is told the count the candidates needed if that bound raised it.
    """
    keep, drop = _sort_out(pieces, min_count, max_piece_length, spill_dir, workers, max_candidates, on_cut)
    result: Dict[int, Counts] = {}
    with pool_for(workers, purpose="pruning") as pool:
        split = Counter(keep)
        split.update(count_segments(keep, drop, pool, progress))  # step 2
    # Step 2's strings are gone now, but forked workers would keep their pages (the
    # driver's heap at the fork, 0.3 GB each at 391 MB) for all the rounds: the rounds
    # to come get a new pool, forked from the driver as it is now, and share it.
    counts: Counts = dict(split)
    del keep, drop, split  # before the fork: neither the driver nor the new workers hold a second copy
    with pool_for(workers, purpose="pruning") as pool:
        counts = remove_wasted(counts, pool, progress)  # step 3
        for size in sorted(set(vocab_sizes), reverse=True):  # step 4
            target = size - reserved
            if len(counts) > target:
                ranked = rank(counts)
                keep = dict(ranked[:target])
                del ranked[:target]
                counts = remove_wasted(split_into(keep, ranked, pool, progress), pool, progress)
            result[size] = dict(counts)
    return result


def _sort_out(
    pieces: PieceCounts,
    min_count: int,
    max_piece_length: int,
    spill_dir: Optional[str] = None,
    workers: Runner = 1,
    max_candidates: Optional[int] = None,
    on_cut: Callable[[int], object] = _no_progress,
) -> Tuple[Counts, Iterator[Strings]]:
    """Steps 1 and 2: add missing bytes; the kept pieces, and the dropped ones as a stream
    of groups of strings (made or read from disk as they are segmented: never all in
    memory at once). With ``max_candidates``, the count a piece needs to stay may be
    raised above ``min_count`` (:func:`~.ngram_counting.keep_threshold`: the most frequent
    ones stay), over the short and long pieces together."""
    singles = pack_pieces([bytes([b]) for b in range(256)])
    at = np.searchsorted(pieces.keys, singles)  # the keys are sorted (np.isin sorts them again)
    present = np.zeros(len(singles), dtype=bool)
    inside = at < len(pieces.keys)
    present[inside] = pieces.keys[at[inside]] == singles[inside]
    missing = singles[~present]
    keys = np.concatenate([pieces.keys, missing])
    counts = np.concatenate([pieces.counts, np.ones(len(missing), dtype=np.int64)])
    pieces.keys, pieces.counts = keys, counts  # consumed: the originals can go
    lengths = packed_lengths(keys)
    kept = (lengths == 1) | ((lengths <= max_piece_length) & (counts >= min_count))
    # The long pieces (2.4 million at 100 MB) come pickled, a partition at a time, and are
    # sorted out by tasks on the pool: the driver never makes them objects, and holds only
    # the kept ones (a few thousand) and one partition's dropped ones, packed, on their way
    # to a temporary file. Held in the driver, they would be inherited by every worker of
    # step 2, which is forked after this (0.2 GB at 391 MB; ``docs/scaling.md``, "Session
    # 7"). This pool is forked while the driver holds the pickles, and closed before them.
    long = pieces.long if isinstance(pieces.long, LongCounts) else LongCounts(pieces.long)
    pieces.long = long
    kept_long: List[Tuple[bytes, np.ndarray, np.ndarray]] = []
    packed = tempfile.TemporaryFile(prefix="bytepiece-dropped-", dir=spill_dir)  # no name: gone when closed, or if killed
    if len(long):
        with pool_for(workers, purpose="pruning") as pool:
            items = ((blob, min_count, max_piece_length) for blob in long.take_pickled())
            for kept_part, groups in pool.imap(sort_out_long, items):
                kept_long.append(kept_part)
                for group in groups:
                    pickle.dump(group, packed, protocol=pickle.HIGHEST_PROTOCOL)
    long.clear()
    # The budget's cut: the candidates that do not reach the threshold are dropped too.
    threshold = min_count
    if max_candidates is not None:
        passed = [counts[kept & (lengths > 1)], *(kept_counts for _, _, kept_counts in kept_long)]
        threshold = keep_threshold(np.concatenate(passed), min_count, max_candidates)
        del passed
    if threshold > min_count:
        on_cut(threshold)
        kept &= (lengths == 1) | (counts >= threshold)
    keep = dict(zip(unpack_pieces(keys[kept]), counts[kept].tolist()))
    for data, kept_lengths, kept_counts in kept_long:
        strings: Sequence[bytes] = unjoin(data, kept_lengths)
        if threshold > min_count:
            cut = np.flatnonzero(kept_counts < threshold)
            for below in Strings.from_lists(pick(strings, cut), kept_counts[cut]).split(GROUP_BYTES):
                pickle.dump((below.data, below.lengths, below.weights), packed, protocol=pickle.HIGHEST_PROTOCOL)
            chosen = np.flatnonzero(kept_counts >= threshold)
            strings, kept_counts = pick(strings, chosen), kept_counts[chosen]
        keep.update(zip(strings, kept_counts.tolist()))
    del kept_long

    def dropped() -> Iterator[Strings]:
        with packed:
            packed.seek(0)
            for data, group_lengths, weights in read_pickles(packed):
                yield Strings(data, group_lengths, weights)
        for length in range(PACKED_MAX, 0, -1):  # then the short ones, longest first
            where = np.flatnonzero(~kept & (lengths == length))
            step = max(1, GROUP_BYTES // length)
            for first in range(0, len(where), step):
                chosen = where[first : first + step]
                yield Strings(packed_bytes(keys[chosen], length), np.full(len(chosen), length, dtype=np.int64), counts[chosen])

    return keep, dropped()


def sort_out_long(state: Any, item: Tuple[bytes, int, int]) -> Tuple[Tuple[bytes, np.ndarray, np.ndarray], List[Tuple[bytes, np.ndarray, np.ndarray]]]:
    """The task that sorts out one partition of long pieces (a pickled ``piece -> count``
    dict, with ``min_count`` and ``max_piece_length``): the kept ones packed (their bytes
    joined, their lengths, their counts), and the dropped ones as groups of about
    ``GROUP_BYTES`` of :class:`Strings`, as (data, lengths, weights).

    >>> kept, dropped = sort_out_long(None, (pickle.dumps({b"a long piece": 5, b"a rare piece": 1}), 2, 36))
    >>> kept[0], dropped[0][0]
    (b'a long piece', b'a rare piece')
    """
    blob, min_count, max_piece_length = item
    part = pickle.loads(blob)
    strings = list(part)
    counts = np.fromiter(part.values(), dtype=np.int64, count=len(strings))
    del part
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    out = (lengths > max_piece_length) | (counts < min_count)
    chosen = np.flatnonzero(~out)
    kept = (b"".join(pick(strings, chosen)), lengths[chosen], counts[chosen])
    chosen = np.flatnonzero(out)
    dropped = Strings.from_lists(pick(strings, chosen), counts[chosen])
    return kept, [(group.data, group.lengths, group.weights) for group in dropped.split(GROUP_BYTES)]


def check_vocab_sizes(sizes: Sequence[int], reserved: int = 3) -> List[int]:
    """Validate requested sizes: each must leave room for the 256 single bytes."""
    checked = sorted({int(s) for s in sizes}, reverse=True)
    if not checked:
        raise ValueError("give at least one vocab_size")
    smallest = 256 + reserved
    if checked[-1] < smallest:
        raise ValueError(f"vocab_size must be at least {smallest} (256 single bytes + {reserved} special tokens), got {checked[-1]}")
    return checked
