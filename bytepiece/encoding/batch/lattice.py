"""The vectorised lattice of one slice: Viterbi and exact sampling over all lanes at once.

Explained in ``docs/performance.md``; the slice comes from ``batch_layout.lay_out``.

1. ``FlatTrie.walk`` finds every piece occurring in the slice, one trie level at a time
   over all positions together;
2. pieces up to ``DENSE_DEPTH`` bytes go in dense rows, one per length, indexed by end
   key, -inf where no piece ends; the rare longer ones are listed by end, longest first.
   Step ``p`` then reads contiguous blocks: the values of the previous ``DENSE_DEPTH``
   steps and the rows' entries at ``p`` (no sorting or bucketing of matches by end);
3. the recurrence advances all lanes one position per step: one add and one reduction over
   the candidates, ``maximum`` (Viterbi) or a sum of weights p^alpha (sampling), and takes
   the choices of a block of steps at once;
4. each chunk's path is walked back for all lanes together, and the ids of the pieces on
   it are read off the trie.

Exactness. Viterbi does the scalar decoder's float operations (``score[start] + logp`` in
float64, from 0.0 at each chunk start, then a max), so scores are bit-identical; the
back-pointer is the *first* candidate in longest-first order whose value equals the best
score, which is the one the scalar "replace only on strict improvement" rule keeps.
Sampling computes the forward sums and then draws each position's back-pointer with
probability weight / sum (forward filtering, backward sampling): an exact sample. It uses
the random stream differently from the scalar sampler, so the same seed gives a different
(equally distributed) segmentation.

Deliberately left out: choosing what goes in a slice (``layout.py``), normalisation,
chunking and special tokens.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

import numpy as np

from .layout import Layout
from .flat_trie import Depth, FlatTrie

DENSE_DEPTH = 8  # pieces up to this long: dense candidate rows (longer ones: ranked rows)
LINEAR_RANGE = 700  # sampling on weights p^alpha while they provably stay within e^±LINEAR_RANGE
PASS_BYTES = 512 << 10  # candidates of whole blocks chosen together (a big batch's block alone is more)

# The ids of a slice's stretches back to back, how many each stretch has, and the stretches
# whose Viterbi path could not be proven exact (to be decoded again by the scalar decoder).
Slice = Tuple[np.ndarray, np.ndarray, np.ndarray]
ROUNDING = 2.0**-53  # the relative rounding error of one float64 addition
_NONE = np.zeros(0, dtype=np.int64)


class Table(NamedTuple):
    """What a slice adds up, looked up three ways: by trie slot (the piece ending there),
    by byte value (``SEPARATOR``: none) and by byte pair ``a * 257 + b`` (as
    ``FlatTrie.pairs``). Log probabilities (Viterbi, and sampling in log space: "none" is
    -inf) or weights p^alpha (``linear`` sampling: "none" is 0.0). Built once per model
    and alpha (``table``): the look-ups cover the whole trie."""

    slots: np.ndarray
    bytes: np.ndarray
    pairs: np.ndarray
    linear: bool


def table(trie: FlatTrie, slots: np.ndarray, linear: bool = False) -> Table:
    """The ``Table`` of the values ``slots`` by trie slot."""
    none = 0.0 if linear else -np.inf
    by_pair = np.where(trie.pairs >= 0, slots.take(trie.pairs), none)
    return Table(slots, np.append(slots[1:257], none), by_pair, linear)  # the root's children: bytes


def viterbi_slice(layout: Layout, trie: FlatTrie, logp: Table, worst: float, scratch: "Scratch") -> Slice:
    """Best-path ids of each stretch, bit-identical to ``viterbi.best_path``, except for the
    stretches it returns as unsure (see ``_Steps.unsure``); ``logp`` is the log probability of the piece ending
    at each trie slot (-inf: none), ``worst`` the largest -logp of a piece."""
    lattice = _Steps(layout, trie, logp, scratch)
    ids, counts, on_path, choice = lattice.paths(trie, _Choices(lattice.depth + 1, lattice.pass_steps, layout.lanes))
    return ids, counts, lattice.unsure(on_path, choice, worst)


def sample_weights(slot_logp: np.ndarray, alpha: float, linear: bool) -> np.ndarray:
    """What ``sample_slice`` adds up for each trie slot: the weight p^alpha of the piece
    ending there (0.0: none), or, not ``linear`` (where those could under- or overflow,
    ``linear_weights_fit``), alpha * log p (-inf: none)."""
    piece = slot_logp > -np.inf
    score = alpha * np.where(piece, slot_logp, 0.0)
    if linear:
        return np.where(piece, np.exp(score), 0.0)
    return np.where(piece, score, -np.inf)


def sample_slice(layout: Layout, trie: FlatTrie, weights: Table, rng: np.random.Generator, scratch: "Scratch") -> Slice:
    """One exact sample (probability ∝ p(segmentation)^alpha) of each stretch, with the
    ``weights`` of ``sample_weights``."""
    lattice = _Steps(layout, trie, weights, scratch)
    draws = (_LinearDraws if weights.linear else _Draws)(lattice.depth + 1, lattice.pass_steps, layout.lanes, rng)
    ids, counts, _, _ = lattice.paths(trie, draws)
    return ids, counts, _NONE


def linear_weights_fit(worst: float, reach: int) -> bool:
    """Whether weights p^alpha, rescaled every block as ``_Steps`` does, stay within
    e^±LINEAR_RANGE; ``worst`` is -min(alpha * logp), ``reach`` the longest piece.

    A value read later lies at most ``span = reach + DENSE_DEPTH + 1`` steps back from the
    lane's latest value, which the rescaling sets to 1. Going forward a value shrinks by
    at most e^-worst per step (the single byte is always a piece), so older values are at
    most e^(worst * span); it grows by at most 2x per step (every weight is <= 1, so the
    sum of the last ``reach`` values at most doubles), so older values are at least
    2^-span / reach of it. Both extremes must fit a double (e^±709), with a margin."""
    span = reach + DENSE_DEPTH + 1
    return worst * span + math.log(2.0) * span + math.log(reach + 1) < LINEAR_RANGE


class Scratch:
    """Working arrays kept between slices and calls, by a ``BatchEncoder`` and by training's
    pass-2 tasks (``training/ngram_segmentation.py``): fresh arrays of tens of MB cost
    about as much in page faults as the work done in them.

    >>> scratch = Scratch()
    >>> scratch.get("a", 4).size, scratch.get("a", 2).size, scratch.get("a", 2).base is scratch.get("a", 4).base
    (4, 2, True)
    """

    def __init__(self) -> None:
        self._arrays: Dict[str, np.ndarray] = {}

    def get(self, name: str, size: int, dtype: Any = np.float64) -> np.ndarray:
        """The first ``size`` items of array ``name`` (uninitialised), made larger if it is
        smaller than that."""
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != dtype:
            self._arrays.pop(name, None)  # the old one goes first: not both at once
            del array
            array = self._arrays[name] = np.empty(size, dtype)
        return array[:size]


class _Steps:
    """One slice (keys as in ``batch_layout.Layout``), candidates stored densely by piece
    length. Values carry ``depth`` rows of -inf in front (``pad`` keys), so that "``d``
    bytes back" is always a valid row, and the constant 0.0 last (index ``zero``).

    * ``dense[d - 1, key]``: logp of the piece of length ``d <= depth`` ending at ``key``,
      -inf when there is none. Step ``p``'s candidates for lengths ``depth .. 1`` are then
      ``rows[p - depth .. p - 1] + dense[::-1, p]``: contiguous blocks, no index arrays, no
      sorting of matches by end position.
    * Longer pieces (rare) are listed by end key, longest first, in groups of equal end:
      ``deep_end``, ``deep_start`` (value index of the start), ``deep_logp``. Each chunk
      start has a dummy from the constant 0.0 with logp 0.0, so each chunk's sums start
      from exactly 0.0. A step sees a group as one candidate (its max, or its sum).

    Candidates are ordered longest first (the deep group, then lengths ``depth .. 1``), so
    the first index of the maximum is the scalar decoder's choice.
    """

    def __init__(self, layout: Layout, trie: FlatTrie, values: Table, scratch: Scratch) -> None:
        depth = DENSE_DEPTH
        lanes = layout.lanes
        self.layout, self.width, self.lanes, self.depth = layout, layout.width, lanes, depth
        self.size, self.scratch, self.text = layout.width * lanes, scratch, layout.text
        self.pad, self.zero = depth * lanes, (depth + layout.width) * lanes
        # Steps whose choices are made together (``forward``): whole blocks, a few MB of candidates.
        span = depth + 1
        self.pass_steps = span * max(1, PASS_BYTES // (span * span * lanes * 8))
        self.dense = scratch.get("dense", depth * self.size).reshape(depth, self.size)
        # Log scores, or (``linear``) weights: "no piece" is -inf or 0.0, "sure" 0.0 or 1.0.
        linear = values.linear
        self.linear, self.none, self.one = linear, (0.0 if linear else -np.inf), (1.0 if linear else 0.0)
        self.reach = trie.max_length
        # Single bytes: a table look-up at every position. Longer pieces: scattered from the
        # layout's matches; or, when the lattice walks the lanes itself, pairs looked up at
        # every position too, and longer ones scattered from the walk.
        self.dense[1:].fill(self.none)
        self.dense[0, :lanes] = self.none
        values.bytes.take(self.text[:-lanes], out=self.dense[0, lanes:])
        if layout.matches is None:
            pairs = self.text[:-lanes] * 257 + self.text[lanes:]  # byte pairs, as FlatTrie.pairs
            if depth >= 2:
                self.dense[1, lanes : 2 * lanes] = self.none
                values.pairs.take(pairs[: self.size - 2 * lanes], out=self.dense[1, 2 * lanes :])
            walk: Iterable[Tuple[Depth, np.ndarray, np.ndarray]] = trie.walk(self.text, stride=lanes, pairs=pairs)
            skip = 2 if depth >= 2 else 0  # done by the look-up
        else:
            walk, skip = layout.matches, 0
        deep = []
        slots = values.slots
        for d, ends, nodes in walk:
            found = slots.take(nodes)
            if isinstance(d, np.ndarray):  # the walk's last item: runs of any length
                near = np.flatnonzero((d <= depth) & (d != skip))
                # One flat index, not a pair of index arrays: numpy's 2-D scatter costs more.
                self.dense.reshape(-1)[(d.take(near) - 1) * self.size + ends.take(near)] = found.take(near)
                hit = np.flatnonzero((d > depth) & (found != self.none))
                hit = hit.take(np.argsort(-d.take(hit), kind="stable"))  # longest first, as the rest
                ends, d = ends.take(hit), d.take(hit)
                deep.append((ends, ends + (self.pad - d * lanes), found.take(hit)))
            elif d == skip:
                continue
            elif d <= depth:
                self.dense[d - 1, ends] = found
            else:
                hit = np.flatnonzero(found != self.none)
                ends = ends.take(hit)
                deep.append((ends, ends + (self.pad - d * lanes), found.take(hit)))
        self._list_deep(deep)

    def _list_deep(self, deep: List[Tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """The deep matches (given shortest first) and the dummies, by end, longest first,
        in *groups* of equal end key: ``group_start`` (first entry), ``group_key``."""
        places = self.layout.places
        ends = np.concatenate([e for e, _, _ in reversed(deep)] + [self.layout.keys(places)])
        order = np.argsort(ends, kind="stable")
        self.deep_end = ends[order]
        self.deep_start = np.concatenate([s for _, s, _ in reversed(deep)] + [np.full(places.size, self.zero)])[order]
        self.deep_logp = np.concatenate([f for _, _, f in reversed(deep)] + [np.full(places.size, self.one)])[order]
        first = np.ones(ends.size, dtype=bool)
        first[1:] = self.deep_end[1:] != self.deep_end[:-1]
        self.group_start = np.flatnonzero(first)
        self.group_key = self.deep_end[self.group_start]

    def forward(self, choose: "_Choices") -> np.ndarray:
        """The recurrence over all lanes into ``self.values``: the max of the candidates
        (Viterbi) or their sum (sampling), as ``choose`` says. Returns each key's choice by
        ``choose``: 0 for a deep piece (which one: ``deep_pick``), else length
        ``depth + 1 - choice``.

        Steps go in blocks of ``depth + 1``: a deep piece is longer than that, so its start
        lies before the block, and the block's deep candidates are gathered at once and
        folded into one candidate per key (their max, or their sum). Each step is then one
        add and one reduction over ``depth + 1`` rows. The choices are made for a *pass* of
        whole blocks at once (``pass_steps``: up to ``PASS_BYTES`` of candidates, so tens of
        blocks of a document's narrow lanes, and one block of a big batch's 1024 lanes)."""
        lanes, depth, width = self.lanes, self.depth, self.width
        values = self.scratch.get("values", self.zero + 1)
        values[: self.pad] = self.none
        values[self.zero] = self.one
        rows = values[: self.zero].reshape(depth + width, lanes)
        near_logp = self.dense.reshape(depth, width, lanes)[::-1].transpose(1, 0, 2)
        span = count = depth + 1
        # The candidates of a pass of whole blocks, candidate-major, so that the pass's choices
        # are a few calls: made per block, they cost a document's narrow lanes about a quarter
        # of the forward when sampling (en, 32k model). The same draws, in the same order.
        steps = self.pass_steps
        block = np.empty((count, steps, lanes))
        flat = block.reshape(-1)
        # The operands of each step as views made once, taken in turn by ``zip``: slicing
        # five views per step cost a third as much as the step's two ufunc calls.
        row_stride, lane_stride = rows.strides
        windows = np.lib.stride_tricks.as_strided(  # windows[p] is rows[p : p + depth]; never written to
            rows, shape=(width, depth, lanes), strides=(row_stride, row_stride, lane_stride), writeable=False
        )
        step_rows, step_tails, step_outs = block.transpose(1, 0, 2), block[1:].transpose(1, 0, 2), rows[depth:]
        # Where each group's folded candidate goes in its block, and each block's groups.
        step, lane = np.divmod(self.group_key, lanes)
        slot = (step % steps) * lanes + lane
        bounds = np.searchsorted(step, np.arange(0, width + span, span)).tolist()
        entries = np.append(self.group_start, self.deep_end.size).tolist()
        self.deep_value = np.empty(self.deep_end.size)  # each deep candidate, for deep_pick
        self.deep_total = np.empty(self.group_key.size)  # their max or sum per group
        choice = self.scratch.get("choice", self.size, np.uint8).reshape(width, lanes)
        reduce = choose.reduce
        combine = np.multiply if self.linear else np.add
        for first, g, h in zip(range(0, width, span), bounds, bounds[1:]):
            last = min(width, first + span)
            start = first - first % steps  # the pass's first step
            if first == start:
                block[0, : min(steps, width - first)] = self.none
            if self.linear and first:
                # Rows only: the candidates of earlier blocks of the pass keep their scale,
                # and each step is drawn from its own candidates (their running sums).
                self._rescale(rows[max(0, first + depth - 1 - self.reach) : first + depth])
            if h > g:
                a, b = entries[g], entries[h]
                candidate = self.deep_value[a:b]
                values.take(self.deep_start[a:b], out=candidate)
                combine(candidate, self.deep_logp[a:b], out=candidate)
                choose.fold(candidate, self.group_start[g:h] - a, out=self.deep_total[g:h])
                flat[slot[g:h]] = self.deep_total[g:h]
            for window, near, row, tail, out in zip(
                windows[first:last], near_logp[first:last], step_rows[first - start :], step_tails[first - start :],
                step_outs[first:last],
            ):
                combine(window, near, out=tail)
                reduce(row, axis=0, out=out)
            if last == width or last - start == steps:
                choose(block[:, : last - start], rows[start + depth : last + depth], choice[start:last])
        self.values = values
        self.deep_pick = self.group_start + choose.pick(self.deep_value, self.deep_total, self.group_start)
        return choice.ravel()

    @staticmethod
    def _rescale(window: np.ndarray) -> None:
        """Divide the rows that later steps read by each lane's last value (weights only):
        ratios within a lane stay exact up to rounding, magnitudes stay near 1. Rows of an
        earlier chunk of the lane may take any scale; they are never read again."""
        last = window[-1]
        factor = np.divide(1.0, last, out=np.ones_like(last), where=last > 0.0)
        window *= factor

    def paths(self, trie: FlatTrie, choose: "_Choices") -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each stretch's path: all lanes walk back together along the choices. Returns
        the ids, their count per stretch, the keys on the paths and the choices."""
        lanes = self.lanes
        choice = self.forward(choose)
        jump = np.arange(self.depth + 1, 0, -1, dtype=np.int64).take(choice) * lanes
        chunk_start = self.dense[0] == self.none  # chunk starts and padding: no byte ends here
        deep = np.flatnonzero((choice == 0) & ~chunk_start)
        entry = self.deep_pick.take(np.searchsorted(self.group_key, deep))
        jump[deep] = deep + self.pad - self.deep_start.take(entry)
        jump[chunk_start] = lanes  # over the separator, no piece
        # Each lane is walked from the end of its last stretch, not from its last step: the
        # padding after it took a hop per step, and all lanes walk until the longest is done
        # (English: ~170 hops for lanes of ~190 steps; ~75 from the stretches' ends).
        lane, offset = np.divmod(self.layout.places, self.width)  # stretches are in lane-major order
        last = np.flatnonzero(np.append(lane[1:] != lane[:-1], True))  # each lane's last stretch
        ends = (offset.take(last) + self.layout.stretch_length.take(last)) * lanes + lane.take(last)
        on_path = _on_path(jump, lanes, ends)
        on_path &= ~chunk_start
        ids, counts = self._chunk_ids(trie, on_path, jump)
        return ids, counts, on_path, choice

    def unsure(self, on_path: np.ndarray, choice: np.ndarray, worst: float) -> np.ndarray:
        """The stretches whose Viterbi path may differ from the scalar decoder's.

        A stretch that resumes a chunk starts its sums from 0.0 where the scalar decoder
        has the chunk's score T so far. A free boundary makes every path pass there, so the
        best path is the same in exact arithmetic, but the rounding of each addition
        differs: a choice could flip where two candidates are within rounding of each
        other (pieces in another order have the same exact sum: "ab|a" and "a|ba"). Each
        value of the stretch is within ``bound`` of (scalar value - T): one rounding of at
        most ``ROUNDING`` times (|T| + the stretch's values) per piece, at most ``n + 1``
        pieces for ``n`` bytes, |T| <= ``worst`` per byte before the stretch, the stretch's
        values <= ``worst`` per byte (one bound for the slice, from its longest resumed
        stretch and the one furthest into its chunk). A choice on the path that beats every other candidate
        by more than twice that is the scalar decoder's choice too; a path made of such
        choices is its path. The others (ties) are decoded again by the caller."""
        layout, lanes, depth, width = self.layout, self.lanes, self.depth, self.width
        resumed = np.flatnonzero(layout.stretch_from > 0)
        if not resumed.size:
            return _NONE
        # The keys on the path inside the resumed stretches, after their first boundary.
        lengths = layout.stretch_length.take(resumed)
        firsts = np.cumsum(lengths) - lengths
        inside = np.zeros(self.size, dtype=bool)
        inside[np.repeat(layout.keys(layout.places.take(resumed)) - (firsts - 1) * lanes, lengths)
               + np.arange(int(firsts[-1] + lengths[-1])) * lanes] = True
        inside &= on_path
        key = np.flatnonzero(inside)
        values, chosen = self.values, choice.take(key)
        best = values.take(key + self.pad)
        # Row c: the candidate that choice c stands for (0: the deep group, below; then the
        # dense ones, lengths depth .. 1), but the chosen one.
        candidate = np.empty((depth + 1, key.size))
        candidate[0] = -np.inf
        length = np.arange(depth, 0, -1, dtype=np.int64)[:, None]
        values.take(key + (self.pad - length * lanes), out=candidate[1:])
        candidate[1:] += self.dense.reshape(-1).take(key + (length - 1) * self.size)
        candidate.reshape(-1)[chosen.astype(np.int64) * key.size + np.arange(key.size)] = -np.inf
        rival = np.maximum.reduce(candidate, axis=0)
        group = np.minimum(np.searchsorted(self.group_key, key), self.group_key.size - 1)
        has = np.flatnonzero(self.group_key.take(group) == key)
        if has.size:
            won = chosen.take(has) == 0
            dense_won = has.take(np.flatnonzero(~won))  # the deep group is a rival
            rival[dense_won] = np.maximum(rival.take(dense_won), self.deep_total.take(group.take(dense_won)))
            deep_won = has.take(np.flatnonzero(won))
            if deep_won.size:  # the other pieces of the group are rivals of the one chosen
                groups = group.take(deep_won)
                first = self.group_start.take(groups)
                sizes = np.append(self.group_start, self.deep_end.size).take(groups + 1) - first
                entry = np.repeat(first - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
                value = self.deep_value.take(entry)
                value[entry == np.repeat(self.deep_pick.take(groups), sizes)] = -np.inf
                rival[deep_won] = np.maximum(rival.take(deep_won), np.maximum.reduceat(value, np.cumsum(sizes) - sizes))
        # One bound for the slice: its longest resumed stretch, furthest into its chunk.
        n = float(lengths.max()) + 2.0
        bound = 1.01 * n * ROUNDING * worst * (float(layout.stretch_from.take(resumed).max()) + 2.0 * n)
        doubtful = key.take(np.flatnonzero(best - rival <= 4.0 * bound))
        if not doubtful.size:
            return _NONE
        step, lane = np.divmod(doubtful, lanes)
        stretch = np.searchsorted(layout.places, lane * width + step, side="right") - 1
        return np.flatnonzero(np.bincount(stretch))  # each once

    def _chunk_ids(self, trie: FlatTrie, on_path: np.ndarray, jump: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The ids of the pieces ending at the ``on_path`` keys (``jump`` keys long), in
        lane-major order (which is the slice's stretch order), and how many each stretch has."""
        lanes = self.lanes
        lane_major = np.flatnonzero(on_path.reshape(self.width, lanes).T)  # lane * width + offset
        key = self.layout.keys(lane_major)
        back = jump[key]
        ids = trie.piece_ids(self.text, key - back, back // lanes, stride=lanes)
        bounds = np.append(np.searchsorted(lane_major, self.layout.places), ids.size)
        return ids, np.diff(bounds)


class _Choices:
    """Viterbi's choice per key, a pass of steps at a time: ``count`` minus the largest
    weight (``count`` for the first candidate, down to 1) among the candidates equal to the
    maximum; much cheaper than ``np.argmax`` along the middle axis, which copies the block.
    Deep candidates are folded into one by their max; ``pick`` then finds the first of each
    group that reaches it (longest first, as the scalar decoder)."""

    # The reduction of each step (the inner loop): a ufunc's own method, not a Python
    # wrapper, which would add a call per byte position.
    reduce: Callable[..., Any] = np.maximum.reduce

    def __init__(self, count: int, steps: int, lanes: int) -> None:
        self.count = count
        self.found = np.empty((count, steps, lanes), dtype=bool)  # a pass of steps
        self.weight = np.arange(count, 0, -1, dtype=np.uint8)[:, None, None]

    def __call__(self, work: np.ndarray, best: np.ndarray, out: np.ndarray) -> None:
        equal = np.equal(work, best, out=self.found[:, : best.shape[0]])
        ranked = equal.view(np.uint8)
        ranked *= self.weight
        np.subtract(self.count, np.maximum.reduce(ranked, axis=0), out=out)

    @staticmethod
    def fold(candidate: np.ndarray, starts: np.ndarray, out: np.ndarray) -> None:
        np.maximum.reduceat(candidate, starts, out=out)

    def pick(self, value: np.ndarray, total: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Per group, the rank of the first candidate equal to the group's max."""
        return _first_min(-value, starts)


class _LinearDraws(_Choices):
    """Sampling on weights (p^alpha, rescaled by ``_Steps._rescale``): candidate k with
    probability weight_k / sum, by inverse CDF (the first whose running sum reaches u * sum,
    u in (0, 1]). No exp or log at all. Deep candidates are folded into their sum; ``pick``
    then draws one of each group in proportion to its weight (drawing the group, then the
    piece within it, is the same distribution)."""

    reduce: Callable[..., Any] = np.add.reduce

    def __init__(self, count: int, steps: int, lanes: int, rng: np.random.Generator) -> None:
        super().__init__(count, steps, lanes)
        self.rng = rng
        self.running = np.empty((count, steps, lanes))  # a pass's running sums

    def __call__(self, work: np.ndarray, total: np.ndarray, out: np.ndarray) -> None:
        self._inverse_cdf(_running_sums(work, self.running[:, : total.shape[0]]), out)

    def _inverse_cdf(self, running: np.ndarray, out: np.ndarray) -> None:
        """Per key, the number of ``running`` sums below u times the last one, u in (0, 1]."""
        u = 1.0 - self.rng.random(running.shape[1:])
        u *= running[-1]
        found = np.less(running, u, out=self.found[:, : running.shape[1]])
        np.add.reduce(found.view(np.uint8), axis=0, out=out)

    @staticmethod
    def fold(candidate: np.ndarray, starts: np.ndarray, out: np.ndarray) -> None:
        np.add.reduceat(candidate, starts, out=out)

    def pick(self, value: np.ndarray, total: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Per group, a rank drawn in proportion to the weights ``value``: an exponential
        race (each candidate's Exp(1) time divided by its weight; the first to finish wins
        with probability weight / sum), one vectorised pass whatever the groups' sizes."""
        with np.errstate(divide="ignore"):  # weight 0: never finishes
            return _first_min(self._exponential(value.size) / value, starts)

    def _exponential(self, size: int) -> np.ndarray:
        """``size`` independent Exp(1) draws, never 0 (so that 0 / 0 never happens): -log u
        for u in [0, 1), +inf for u = 0."""
        with np.errstate(divide="ignore"):
            return -np.log(self.rng.random(size))


class _Draws(_LinearDraws):
    """Sampling in log space (weights that would under- or overflow): candidate k with
    probability exp(candidate_k - total), by inverse CDF (the first whose running sum
    reaches u * sum, u in (0, 1]); deep candidates are folded by log-sum-exp."""

    def __init__(self, count: int, steps: int, lanes: int, rng: np.random.Generator) -> None:
        super().__init__(count, steps, lanes, rng)
        self.shifted = np.empty((count, lanes))
        self.sum = np.empty(lanes)

    def reduce(self, row: np.ndarray, axis: int, out: np.ndarray) -> None:
        """log-sum-exp over ``axis`` 0 as max + log(sum(exp(row - max))): a few more calls
        than ``np.logaddexp.reduce`` but one exp per candidate instead of an exp and a log
        per pair. Padding (all -inf) gives NaN, which no chunk ever reads."""
        np.maximum.reduce(row, axis=0, out=out)
        with np.errstate(invalid="ignore"):
            np.subtract(row, out, out=self.shifted)
        np.exp(self.shifted, out=self.shifted)
        np.log(np.add.reduce(self.shifted, axis=0, out=self.sum), out=self.sum)
        out += self.sum

    def __call__(self, work: np.ndarray, total: np.ndarray, out: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):  # padding: -inf - -inf, never on a path
            weight = np.subtract(work, total, out=self.running[:, : total.shape[0]])
        np.exp(weight, out=weight)
        self._inverse_cdf(_running_sums(weight, weight), out)

    @staticmethod
    def fold(candidate: np.ndarray, starts: np.ndarray, out: np.ndarray) -> None:
        top = np.maximum.reduceat(candidate, starts)
        sizes = np.diff(np.append(starts, candidate.size))
        np.log(np.add.reduceat(np.exp(candidate - np.repeat(top, sizes)), starts), out=out)
        out += top

    def pick(self, value: np.ndarray, total: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """As ``_LinearDraws.pick``, in log space: log(time) - log(weight)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _first_min(np.log(self._exponential(value.size)) - value, starts)


def _first_min(key: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group of ``key`` (given by their first entries), the rank of its first minimum."""
    sizes = np.diff(np.append(starts, key.size))
    hit = np.flatnonzero(key == np.repeat(np.minimum.reduceat(key, starts), sizes))
    group = np.searchsorted(starts, hit, side="right") - 1
    first = np.ones(hit.size, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return hit[first] - starts


def _running_sums(work: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.cumsum(work, axis=0)`` one candidate block at a time (``out`` may be ``work``):
    numpy accumulates element by element along an axis, 20x slower than these adds."""
    if out is not work:
        np.copyto(out[0], work[0])
    for k in range(1, work.shape[0]):
        np.add(out[k - 1], work[k], out=out[k])
    return out


def _on_path(back: np.ndarray, lanes: int, ends: np.ndarray) -> np.ndarray:
    """Keys visited by walking back from the keys ``ends`` (one per lane), ``back[key]`` keys
    at a time (all lanes together), until the first step."""
    keys = np.arange(back.size)
    previous = keys - back
    previous[:lanes] = keys[:lanes]  # stay put at the start of a lane
    if np.any(back[lanes:] <= 0) or np.any(previous < 0):  # the walk would never end: a bug, not a hang
        raise RuntimeError("internal error: a back-pointer of the batch lattice goes nowhere; please report it")
    on_path = np.zeros(back.size, dtype=bool)
    position = ends
    while position.max() >= lanes:
        visited = []
        for _ in range(16):
            visited.append(position)
            position = previous.take(position)
        on_path[np.concatenate(visited)] = True
    return on_path


