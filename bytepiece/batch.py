"""Vectorised encoding of many chunks at once: Viterbi and exact sampling with numpy.

Explained in ``docs/performance.md``. A *slice* of chunks (about 1 MB) is laid out in
*lanes*: equal-width rows of one flat byte array, each holding a few whole chunks back to
back with a separator between them. Then

1. ``FlatTrie.walk`` finds every piece occurring in the slice, one trie level at a time
   over all positions together;
2. pieces up to ``DENSE_DEPTH`` bytes go in dense rows, one per length, indexed by end
   position in *step-major* order (lane offset first, lane second), -inf where no piece
   ends; the rare longer ones are listed by end, longest first. Step ``p`` then reads
   contiguous blocks: the values of the previous ``DENSE_DEPTH`` steps and the rows'
   entries at ``p`` (no sorting or bucketing of matches by end position);
3. the recurrence advances all lanes one position per step: one add and one reduction over
   the candidates, ``maximum`` (Viterbi) or ``logaddexp`` (sampling); Viterbi takes the
   choices of a block of steps at once;
4. each chunk's path is walked back for all lanes together, and the ids of the pieces on
   it are read off the trie.

Exactness. Viterbi does the scalar decoder's float operations (``score[start] + logp`` in
float64, from 0.0 at each chunk start, then a max), so scores are bit-identical; the
back-pointer is the *first* candidate in longest-first order whose value equals the best
score, which is the one the scalar "replace only on strict improvement" rule keeps.
Sampling computes the forward sums F (log-sum-exp per position) and then, walking back
from each chunk's end, draws the piece into the current position with probability
exp(weight - F) (forward filtering, backward sampling): an exact sample. It uses the random
stream differently from the scalar sampler, so the same seed gives a different (equally
distributed) segmentation.

Cost. A step costs a few numpy calls whatever the number of lanes, so the slice is worth it
only when it has many lanes: chunks are sorted by length, and those too long to share a
slice with enough others, or much longer than the rest (``STEP_BYTES``), go to the scalar
decoders (``viterbi.py`` / ``sampling.py``), which process long chunks in bounded windows.
The largest working arrays (~80 bytes per byte of a slice) are kept by the encoder between
slices and calls (``_Scratch``): fresh ones cost as much in page faults as the work.

Deliberately left out: normalisation, chunking, special tokens (``tokenizer.py``).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .flat_trie import SEPARATOR, FlatTrie
from .model_file import Model, unigram_log_probs
from .normalization import normalize, split_chunks, to_utf8
from .sampling import check_alpha, sample_path
from .viterbi import best_path

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer

Ids = List[int]

WINDOW_BYTES = 8 << 20  # encode_batch gathers this much text (then slices it) at a time
WORKER_MIN_BYTES = 256 << 10  # smaller batches are not worth a process pool
JOB_CHARS = 8 << 20  # text per pool job
SLICE_BYTES = 1 << 20  # bytes of text per slice: bounds the working memory (~150 B/byte)
MIN_LANES = 24  # fewer lanes than this and the per-step cost beats the scalar decoder
MIN_SLICE_BYTES = 16 << 10  # below this, the scalar decoder is as fast
DENSE_DEPTH = 8  # pieces up to this long: dense candidate rows (longer ones: ranked rows)
STEP_BYTES = 16  # a step of a slice costs about as much as this many bytes of scalar decoding
LINEAR_RANGE = 600  # sampling on weights p^alpha while they stay within e^±LINEAR_RANGE
LANE_COUNT = 512  # preferred number of lanes; lanes are at least as wide as the longest chunk


class BatchEncoder:
    """Vectorised Viterbi / sampling over lists of chunks for one model.

    Cheap to pickle (holds the model only); the trie is built on first use.
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        self._trie: Optional[FlatTrie] = None
        self._logp: Optional[np.ndarray] = None
        self._scratch = _Scratch()

    def __getstate__(self) -> dict:
        return {"model": self._model}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"])  # type: ignore[misc]

    def _tables(self) -> Tuple[FlatTrie, np.ndarray]:
        if self._trie is None:
            m = self._model
            logp = np.zeros(m.vocab_size, dtype=np.float64)
            logp[np.asarray(m.ids)] = unigram_log_probs(m.counts)
            self._logp = logp
            self._trie = FlatTrie.build(m.pieces, m.ids)
            self._slot_logp = np.where(self._trie.term >= 0, logp[self._trie.term], -np.inf)
        assert self._logp is not None
        return self._trie, self._logp

    def encode_chunks(
        self,
        chunks: Sequence[bytes],
        scalar: Callable[[bytes], Ids],
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> List[Ids]:
        """Ids of each chunk. ``scalar(chunk)`` encodes the chunks not worth a slice."""
        out: List[Ids] = [[] for _ in chunks]
        for group in plan_slices([len(c) for c in chunks]):
            if isinstance(group, int):
                out[group] = scalar(chunks[group])
                continue
            selected = [chunks[i] for i in group]
            if alpha is None:
                results = self.viterbi_slice(selected)
            else:
                assert rng is not None
                results = self.sample_slice(selected, alpha, rng)
            for i, ids in zip(group, results):
                out[i] = ids
        return out

    def viterbi_slice(self, chunks: Sequence[bytes]) -> List[Ids]:
        """Best-path ids of each chunk, bit-identical to ``viterbi.best_path``."""
        trie, _ = self._tables()
        lattice = _Steps(chunks, trie, self._slot_logp, self._scratch)
        return lattice.paths(trie, _Choices(lattice.ranks + lattice.depth, lattice.lanes))

    def sample_slice(self, chunks: Sequence[bytes], alpha: float, rng: np.random.Generator) -> List[Ids]:
        """One exact sample (probability ∝ p(segmentation)^alpha) of each chunk."""
        trie, logp = self._tables()
        score = alpha * logp[trie.term]
        # Weights p^alpha when they cannot under- or overflow between rescalings (a value
        # read later lies at most reach + DENSE_DEPTH + 1 bytes back), log scores otherwise.
        linear = -score[trie.term >= 0].min() * (trie.max_length + DENSE_DEPTH + 1) < LINEAR_RANGE
        if linear:
            lattice = _Steps(chunks, trie, np.where(trie.term >= 0, np.exp(score), 0.0), self._scratch, linear=True)
            return lattice.paths(trie, _LinearDraws(lattice.ranks + lattice.depth, lattice.lanes, rng))
        lattice = _Steps(chunks, trie, np.where(trie.term >= 0, score, -np.inf), self._scratch)
        return lattice.paths(trie, _Draws(lattice.ranks + lattice.depth, lattice.lanes, rng))



def encode_batch(
    tok: "Tokenizer",
    texts: Sequence[str],
    *,
    add_bos: bool = False,
    add_eos: bool = False,
    alpha: Optional[float] = None,
    seed: Any = None,
    allowed_special: Any = (),
    workers: Optional[int] = None,
) -> List[Ids]:
    """``[tok.encode(t, ...) for t in texts]``, vectorised; see ``Tokenizer.encode_batch``."""
    rng = None if alpha is None else tok._generator(seed)
    if workers == 0:
        workers = os.cpu_count() or 1
    options = dict(add_bos=add_bos, add_eos=add_eos, alpha=alpha, allowed_special=allowed_special)
    if workers is not None and workers > 1 and sum(len(t) for t in texts) >= WORKER_MIN_BYTES:
        return _encode_in_pool(tok, texts, workers, rng, options)
    splitter = tok._special_splitter(allowed_special)
    head = [tok._required_special("<bos>")] if add_bos else []
    tail = [tok._required_special("<eos>")] if add_eos else []
    out: List[Ids] = []
    window: List[Any] = []  # per text: a list of parts, each a special id or a list of chunks
    chunks: List[bytes] = []
    gathered = 0
    form = tok.model.normalization
    for text in texts:
        parts: List[Any] = []
        pieces = [text] if splitter is None else splitter.split(text)
        for index, part in enumerate(pieces):
            if index % 2:
                parts.append(tok._special_to_id[part])
            elif part:
                data = to_utf8(normalize(part, form))
                part_chunks = split_chunks(data)
                parts.append((len(chunks), len(part_chunks)))
                chunks.extend(part_chunks)
                gathered += len(data)
        window.append(parts)
        if gathered >= WINDOW_BYTES:
            out.extend(_assemble(window, encode_chunks(tok, chunks, alpha, rng), head, tail))
            window, chunks, gathered = [], [], 0
    out.extend(_assemble(window, encode_chunks(tok, chunks, alpha, rng), head, tail))
    return out


def encode_chunks(
    tok: "Tokenizer", chunks: Sequence[bytes], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> List[Ids]:
    """Ids of each chunk with ``tok``'s model: slices where they pay off, scalar otherwise."""
    automaton = tok._get_automaton()
    lengths = tok._lengths
    if alpha is None:
        scalar = lambda chunk: best_path(automaton, chunk.decode("latin-1"), lengths)  # noqa: E731
    else:
        alpha = check_alpha(alpha)
        scalar = lambda chunk: sample_path(automaton, chunk.decode("latin-1"), lengths, alpha, rng)  # noqa: E731
    return tok._get_batch_encoder().encode_chunks(chunks, scalar, alpha, rng)


def _assemble(window: List[Any], chunk_ids: List[Ids], head: Ids, tail: Ids) -> List[Ids]:
    out = []
    plain = not head and not tail
    for parts in window:
        if plain and len(parts) == 1 and not isinstance(parts[0], int) and parts[0][1] == 1:
            out.append(chunk_ids[parts[0][0]])  # a text of one chunk: that chunk's own list
            continue
        ids = list(head)
        for part in parts:
            if isinstance(part, int):
                ids.append(part)
            else:
                first, count = part
                for chunk in chunk_ids[first : first + count]:
                    ids.extend(chunk)
        ids.extend(tail)
        out.append(ids)
    return out


_WORKER: Dict[str, Any] = {}


def _start_worker(tok: "Tokenizer") -> None:
    _WORKER["tok"] = tok


def _work(job: Tuple[List[str], Any, Dict[str, Any]]) -> List[Ids]:
    texts, seed, options = job
    return encode_batch(_WORKER["tok"], texts, seed=seed, **options)


def _encode_in_pool(
    tok: "Tokenizer", texts: Sequence[str], workers: int, rng: Optional[np.random.Generator], options: Dict[str, Any]
) -> List[Ids]:
    """Contiguous parts of about equal size, at least one per worker; results in order. Sampling
    seeds each part from ``rng``, so a seeded call is reproducible for a given ``workers``."""
    tok._get_batch_encoder()._tables()  # built once here; forked workers inherit it
    tok._get_automaton()
    total = sum(len(t) for t in texts)
    target = min(-(-total // workers), JOB_CHARS)  # one job per worker, at most JOB_CHARS each
    jobs, start, size = [], 0, 0
    for end, text in enumerate(texts, 1):
        size += len(text)
        if size >= target or end == len(texts):
            seed = None if rng is None else int(rng.integers(2**63))
            jobs.append((list(texts[start:end]), seed, options))
            start, size = end, 0
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(tok,)) as pool:
        return [ids for part in pool.map(_work, jobs) for ids in part]


def plan_slices(
    lengths: Sequence[int], slice_bytes: int = SLICE_BYTES, min_slice: int = MIN_SLICE_BYTES
) -> List[Any]:
    """Group chunk indices into slices (lists), longest chunks first; an ``int`` is a chunk
    for the scalar decoder: too long to get ``MIN_LANES`` lanes of its width, too little
    text left (under ``min_slice`` bytes) to pay for a slice's fixed cost, or so much longer
    than the next chunks that the steps it adds to a slice cost more (``_long_head``).

    >>> plan = plan_slices([5000] + [10] * 100, slice_bytes=600, min_slice=0)
    >>> [group if isinstance(group, int) else len(group) for group in plan]
    [0, 55, 45]
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    widths = np.asarray(lengths, dtype=np.int64)[order] + 1  # a chunk and its separator
    after = np.cumsum(widths)  # bytes up to and including each chunk
    order_list, head_lengths = order.tolist(), (widths - 1).tolist()
    plan: List[Any] = []
    position = 0
    while position < len(order_list):
        done = int(after[position - 1]) if position else 0
        remaining = int(after[-1]) - done
        long_ones = _long_head(head_lengths[position : position + 64], STEP_BYTES)
        if long_ones:
            plan.extend(order_list[position : position + long_ones])
            position += long_ones
        elif int(widths[position]) * MIN_LANES > min(remaining, slice_bytes) or remaining < min_slice:
            plan.append(order_list[position])
            position += 1
        else:  # a slice: up to and including the chunk that brings it to slice_bytes
            end = int(np.searchsorted(after, done + slice_bytes)) + 1
            plan.append(order_list[position:end])
            position = end
    return plan


def _long_head(lengths: Sequence[int], step_bytes: int) -> int:
    """How many of the longest chunks (``lengths``, descending) the scalar decoder should
    take so that the slice starting after them is cheapest: a slice pays ``step_bytes``
    per step, i.e. per byte of its longest chunk, and the scalar decoder one per byte."""
    best, count, spent = lengths[0] * step_bytes, 0, 0
    for k in range(1, len(lengths)):
        spent += lengths[k - 1]
        cost = lengths[k] * step_bytes + spent
        if cost < best:
            best, count = cost, k
    return count


class _Scratch:
    """Working arrays kept by a ``BatchEncoder`` between slices and calls: fresh arrays of
    tens of MB cost about as much in page faults as the work done in them."""

    def __init__(self) -> None:
        self._arrays: Dict[str, np.ndarray] = {}

    def get(self, name: str, size: int, dtype: Any = np.float64) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != dtype:
            array = self._arrays[name] = np.empty(size, dtype)
        return array[:size]


class _Steps:
    """One slice, candidates stored densely by piece length.

    The slice is ``lanes`` rows of ``width`` bytes; boundary ``p`` of lane ``j`` has the key
    ``p * lanes + j``, so the text is stored with the lanes interleaved and the byte after
    key ``k`` is at ``k + lanes``. Values carry ``depth`` rows of -inf in front (``pad``
    keys), so that "``d`` bytes back" is always a valid row, and the constant 0.0 last
    (index ``zero``).

    * ``dense[d - 1, key]``: logp of the piece of length ``d <= depth`` ending at ``key``,
      -inf when there is none. Step ``p``'s candidates for lengths ``depth .. 1`` are then
      ``rows[p - depth .. p - 1] + dense[::-1, p]``: contiguous blocks, no index arrays, no
      sorting of matches by end position.
    * Longer pieces (rare) are listed by end key, longest first: ``deep_end``,
      ``deep_start`` (value index of the start), ``deep_logp`` and ``deep_rank`` (0 for the
      longest at its end). Each chunk start has a dummy of rank 0 from the constant 0.0
      with logp 0.0, so each chunk's sums start from exactly 0.0.

    Candidates are ordered longest first (deep ranks, then lengths ``depth .. 1``), so the
    first index of the maximum is the scalar decoder's choice.
    """

    def __init__(
        self,
        chunks: Sequence[bytes],
        trie: FlatTrie,
        slot_logp: np.ndarray,
        scratch: _Scratch,
        linear: bool = False,
    ) -> None:
        depth = DENSE_DEPTH
        lengths = [len(c) for c in chunks]
        width = max(max(lengths) + 1, -(-(sum(lengths) + len(lengths)) // LANE_COUNT))
        places = _pack(lengths, width)
        lanes = places[-1] // width + 1
        self.width, self.lanes, self.size, self.depth = width, lanes, width * lanes, depth
        self.places, self.lengths, self.scratch = places, lengths, scratch
        self.pad, self.zero = depth * lanes, (depth + width) * lanes
        self.text = _lay_out(chunks, places, width, lanes)
        self.dense = scratch.get("dense", depth * self.size).reshape(depth, self.size)
        # Log scores, or (``linear``) weights: "no piece" is -inf or 0.0, "sure" 0.0 or 1.0.
        self.linear, self.none, self.one = linear, (0.0 if linear else -np.inf), (1.0 if linear else 0.0)
        self.reach = trie.max_length
        # Pieces of 1 and 2 bytes: a table look-up at every position; longer ones scattered.
        self.dense[min(depth, 2) :].fill(self.none)
        self.dense[: min(depth, 2), : 2 * lanes] = self.none
        byte_logp = np.append(slot_logp[1:257], self.none)  # the root's children; SEPARATOR last
        byte_logp.take(self.text[:-lanes], out=self.dense[0, lanes:])
        pairs = self.text[:-lanes] * 257 + self.text[lanes:]  # byte pairs, as FlatTrie.pairs
        if depth >= 2:
            pair_logp = np.where(trie.pairs >= 0, slot_logp.take(trie.pairs), self.none)
            pair_logp.take(pairs[: self.size - 2 * lanes], out=self.dense[1, 2 * lanes :])
        deep = []
        for d, ends, nodes in trie.walk(self.text, stride=lanes, pairs=pairs):
            if d == 2 and depth >= 2:
                continue
            found = slot_logp.take(nodes)
            if d <= depth:
                self.dense[d - 1, ends] = found
            else:
                hit = np.flatnonzero(found != self.none)
                ends = ends.take(hit)
                deep.append((ends, ends + (self.pad - d * lanes), found.take(hit)))
        self._list_deep(deep)

    def _list_deep(self, deep: List[Tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """The deep matches (given shortest first) and the dummies, by end, longest first."""
        chunk_starts = self._keys(self.places)
        ends = np.concatenate([e for e, _, _ in reversed(deep)] + [chunk_starts])
        order = np.argsort(ends, kind="stable")
        self.deep_end = ends[order]
        self.deep_start = np.concatenate([s for _, s, _ in reversed(deep)] + [np.full(len(self.places), self.zero)])[order]
        self.deep_logp = np.concatenate([f for _, _, f in reversed(deep)] + [np.full(len(self.places), self.one)])[order]
        index = np.arange(ends.size)
        first = np.ones(ends.size, dtype=bool)
        first[1:] = self.deep_end[1:] != self.deep_end[:-1]
        self.deep_rank = index - np.maximum.accumulate(np.where(first, index, 0))
        self.ranks = int(self.deep_rank.max()) + 1

    def _keys(self, places: Sequence[int]) -> np.ndarray:
        """Keys of lane-major positions (``lane * width + offset``)."""
        lane, offset = np.divmod(np.asarray(places, dtype=np.int64), self.width)
        return offset * self.lanes + lane

    def forward(self, choose: "_Choices") -> np.ndarray:
        """The recurrence over all lanes into ``self.values``: the max of the candidates
        (Viterbi) or their log-sum-exp (sampling), as ``choose.reduce`` says. Returns each
        key's choice by ``choose`` (an index into the candidates: ``< ranks`` a deep rank,
        else length ``depth - (choice - ranks)``).

        Steps go in blocks of ``depth + 1``: a deep piece is longer than that, so its start
        lies before the block and the block's deep candidates are gathered at once; so are
        its choices. Each step is then one add and one reduction."""
        lanes, depth, width, ranks = self.lanes, self.depth, self.width, self.ranks
        values = self.scratch.get("values", self.zero + 1)
        values[: self.pad] = self.none
        values[self.zero] = self.one
        rows = values[: self.zero].reshape(depth + width, lanes)
        near_logp = self.dense.reshape(depth, width, lanes)[::-1].transpose(1, 0, 2)
        span, count = depth + 1, ranks + depth
        block = np.empty((span, count, lanes))
        flat = block.reshape(-1)
        # Where each deep candidate goes in its block, and where each block's run begins.
        step, lane = np.divmod(self.deep_end, lanes)
        slot = ((step % span) * count + self.deep_rank) * lanes + lane
        bounds = np.searchsorted(step, np.arange(0, width + span, span)).tolist()
        choice = self.scratch.get("choice", self.size, np.uint8).reshape(width, lanes)
        reduce = choose.reduce
        combine = np.multiply if self.linear else np.add
        for first, a, b in zip(range(0, width, span), bounds, bounds[1:]):
            last = min(width, first + span)
            work = block[: last - first]
            if self.linear and first:
                self._rescale(rows[max(0, first + depth - 1 - self.reach) : first + depth])
            work[:, :ranks] = self.none
            candidate = values.take(self.deep_start[a:b])
            combine(candidate, self.deep_logp[a:b], out=candidate)
            flat[slot[a:b]] = candidate
            for p, row in zip(range(first, last), work):
                combine(rows[p : p + depth], near_logp[p], out=row[ranks:])
                reduce(row, axis=0, out=rows[p + depth])
            choose(work, rows[first + depth : last + depth], choice[first:last])
        self.values = values
        return choice.ravel()

    @staticmethod
    def _rescale(window: np.ndarray) -> None:
        """Divide the rows that later steps read by each lane's last value (weights only):
        ratios within a lane stay exact up to rounding, magnitudes stay near 1. Rows of an
        earlier chunk of the lane may take any scale; they are never read again."""
        last = window[-1]
        factor = np.divide(1.0, last, out=np.ones_like(last), where=last > 0.0)
        window *= factor

    def paths(self, trie: FlatTrie, choose: "_Choices") -> List[Ids]:
        """Each chunk's path: all lanes walk back together along the choices."""
        lanes, ranks = self.lanes, self.ranks
        choice = self.forward(choose)
        lengths = np.concatenate([np.zeros(ranks, dtype=np.int64), np.arange(self.depth, 0, -1) * lanes])
        jump = lengths.take(choice)
        chunk_start = self.dense[0] == self.none  # chunk starts and padding: no byte ends here
        deep = np.flatnonzero((choice < ranks) & ~chunk_start)
        entry = np.searchsorted(self.deep_end, deep) + choice[deep]
        jump[deep] = deep + self.pad - self.deep_start[entry]
        jump[chunk_start] = lanes  # over the separator, no piece
        on_path = _on_path(jump, lanes)
        on_path &= ~chunk_start
        return self._chunk_ids(trie, on_path, jump)

    def _chunk_ids(self, trie: FlatTrie, on_path: np.ndarray, jump: np.ndarray) -> List[Ids]:
        """The ids of the pieces ending at the ``on_path`` keys (``jump`` keys long), cut
        into chunks."""
        lanes = self.lanes
        lane_major = np.flatnonzero(on_path.reshape(self.width, lanes).T)  # lane * width + offset
        key = self._keys(lane_major)
        back = jump[key]
        ids = trie.piece_ids(self.text, key - back, back // lanes, stride=lanes)
        bounds = np.searchsorted(lane_major, self.places).tolist() + [len(ids)]
        return [ids[a:b].tolist() for a, b in zip(bounds, bounds[1:])]  # faster than slicing one list


class _Choices:
    """Viterbi's choice per key, a block of steps at a time: ``count`` minus the largest
    weight (``count`` for the first candidate, down to 1) among the candidates equal to the
    maximum; much cheaper than ``np.argmax`` along the middle axis, which copies the block."""

    reduce = np.maximum.reduce

    def __init__(self, count: int, lanes: int) -> None:
        if count > 255:
            raise ValueError("too many candidates per position for uint8 choices")
        self.count = count
        self.found = np.empty((1 + DENSE_DEPTH, count, lanes), dtype=bool)  # a block of steps
        self.weight = np.arange(count, 0, -1, dtype=np.uint8)[:, None]

    def __call__(self, work: np.ndarray, best: np.ndarray, out: np.ndarray) -> None:
        equal = np.equal(work, best[:, None], out=self.found[: len(work)])
        ranked = equal.view(np.uint8)
        ranked *= self.weight
        np.subtract(self.count, np.maximum.reduce(ranked, axis=1), out=out)


class _LinearDraws(_Choices):
    """Sampling on weights (p^alpha, rescaled by ``_Steps._rescale``): candidate k with
    probability weight_k / sum, by inverse CDF (the first whose running sum reaches u * sum,
    u in (0, 1]). No exp or log at all."""

    reduce = np.add.reduce

    def __init__(self, count: int, lanes: int, rng: np.random.Generator) -> None:
        super().__init__(count, lanes)
        self.rng = rng

    def __call__(self, work: np.ndarray, total: np.ndarray, out: np.ndarray) -> None:
        running = np.cumsum(work, axis=1)
        u = 1.0 - self.rng.random(total.shape)
        u *= running[:, -1]
        np.less(running, u[:, None], out=self.found[: len(work)])
        np.sum(self.found[: len(work)], axis=1, out=out, dtype=np.uint8)


class _Draws(_Choices):
    """Sampling's choice per key: candidate k with probability exp(candidate_k - total), by
    inverse CDF (the first whose running sum reaches u * sum, u in (0, 1])."""

    def __init__(self, count: int, lanes: int, rng: np.random.Generator) -> None:
        super().__init__(count, lanes)
        self.rng = rng
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
            weight = np.subtract(work, total[:, None])
        np.exp(weight, out=weight)
        np.cumsum(weight, axis=1, out=weight)
        u = 1.0 - self.rng.random(total.shape)
        u *= weight[:, -1]
        np.less(weight, u[:, None], out=self.found[: len(work)])
        np.sum(self.found[: len(work)], axis=1, out=out, dtype=np.uint8)


def _on_path(back: np.ndarray, lanes: int) -> np.ndarray:
    """Keys visited by walking back from the last step of every lane, ``back[key]`` keys at
    a time (all lanes together), until the first step."""
    keys = np.arange(back.size)
    previous = keys - back
    previous[:lanes] = keys[:lanes]  # stay put at the start of a lane
    on_path = np.zeros(back.size, dtype=bool)
    position = keys[back.size - lanes :]
    while position.max() >= lanes:
        for _ in range(16):
            on_path[position] = True
            position = previous.take(position)
    return on_path


def _pack(lengths: Sequence[int], width: int) -> List[int]:
    """Next-fit: the start position of each chunk; a chunk and its separator stay in one lane."""
    places = []
    lane_start, used = 0, 0
    for n in lengths:
        if used + n + 1 > width:
            lane_start += width
            used = 0
        places.append(lane_start + used)
        used += n + 1
    return places


def _lay_out(chunks: Sequence[bytes], places: Sequence[int], width: int, lanes: int) -> np.ndarray:
    """The slice as int64 byte values with the lanes interleaved (key order), and
    ``SEPARATOR`` everywhere outside the chunks."""
    size = width * lanes
    buffer = bytearray(size)
    edges = np.zeros(size + 1, dtype=np.int8)
    for chunk, place in zip(chunks, places):
        buffer[place : place + len(chunk)] = chunk
    starts = np.asarray(places)
    edges[starts] += 1
    edges[starts + np.asarray([len(c) for c in chunks])] -= 1
    text = np.frombuffer(buffer, dtype=np.uint8).astype(np.int64)
    text[np.cumsum(edges[:size]) == 0] = SEPARATOR
    return np.ascontiguousarray(text.reshape(lanes, width).T).ravel()
