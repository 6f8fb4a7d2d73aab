"""Vectorised encoding of many chunks at once: Viterbi and exact sampling with numpy.

Explained in ``docs/performance.md``. A *slice* of chunks (about 1 MB) is laid out in
*lanes*: equal-width rows of one flat byte array, each holding a few whole chunks back to
back with a separator between them. Then

1. ``FlatTrie.walk`` finds every piece occurring in the slice, one trie level at a time
   over all positions together;
2. Viterbi (``_Steps``): pieces up to ``DENSE_DEPTH`` bytes go in dense rows, one per
   length, indexed by end position in *step-major* order (lane offset first, lane second),
   -inf where no piece ends; the rare longer ones are listed by end, longest first. Step
   ``p`` then reads contiguous blocks: the values of the previous ``DENSE_DEPTH`` steps
   and the rows' entries at ``p``. Sampling (``_Lattice``): single-byte pieces are dense,
   longer ones bucketed by end position in the same step-major order, longest first;
3. the recurrence advances all lanes one position per step: one add and one max over the
   dense candidates (Viterbi, the choice of each block of steps taken by one ``argmax``),
   or a gather, an add, a ``logaddexp.reduceat`` and a ``logaddexp`` with the single
   byte (sampling);
4. each chunk's path is walked back for all lanes together (sampling chooses its
   back-pointers first, for all positions at once).

Exactness. Viterbi does the scalar decoder's float operations (``score[start] + logp`` in
float64, from 0.0 at each chunk start, then a max), so scores are bit-identical; the
back-pointer is the *first* match in longest-first order (the single byte last) whose
candidate equals the best score, which is the one the scalar "replace only on strict
improvement" rule keeps. Sampling computes the forward sums F (log-sum-exp per position)
and then picks each position's back-pointer with probability exp(weight - F) by the
Gumbel-max trick (argmax of weight - log E, E ~ Exp(1)); walking back gives an exact
sample (forward filtering, backward sampling). It uses the random stream differently from
the scalar sampler, so the same seed gives a different (equally distributed) segmentation.

Cost. A step costs a few numpy calls whatever the number of lanes, so the slice is worth it
only when it has many lanes: chunks are sorted by length, and those too long to share a
slice with enough others go to the scalar decoders (``viterbi.py`` / ``sampling.py``),
which process long chunks in bounded windows.

Deliberately left out: normalisation, chunking, special tokens (``tokenizer.py``).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .flat_trie import SEPARATOR, FlatTrie
from .model_file import Model
from .normalization import normalize, split_chunks, to_utf8
from .sampling import sample_path
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
            counts = np.asarray(m.counts, dtype=np.float64)
            # The same arithmetic as tokenizer.build_automaton: bit-identical scores.
            logps = np.log(counts) - np.log(float(sum(m.counts)))
            logp = np.zeros(m.vocab_size, dtype=np.float64)
            logp[np.asarray(m.ids)] = logps
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
        return lattice.paths(trie, lattice.viterbi())

    def sample_slice(self, chunks: Sequence[bytes], alpha: float, rng: np.random.Generator) -> List[Ids]:
        """One exact sample (probability ∝ p(segmentation)^alpha) of each chunk."""
        lattice = self._lattice(chunks, alpha)
        total = lattice.forward(np.logaddexp)
        # Gumbel-max: the argmax of weight + G (G = -log E, E ~ Exp(1)) over a position's
        # matches is match k with probability exp(weight_k) / sum = exp(weight_k - total).
        race = total[lattice.start] + lattice.logp
        race -= np.log(rng.standard_exponential(race.size))
        fastest = np.maximum.reduceat(race, lattice.offsets[:-1])
        single = lattice.single_candidates(total)
        single -= np.log(rng.standard_exponential(single.size))
        multi_wins = np.repeat(fastest > single, lattice.counts)
        return lattice.walk_back((race == np.repeat(fastest, lattice.counts)) & multi_wins)

    def _lattice(self, chunks: Sequence[bytes], alpha: float = 1.0) -> "_Lattice":
        trie, logp = self._tables()
        return _Lattice(chunks, trie, logp if alpha == 1.0 else alpha * logp)


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
    for text in texts:
        parts: List[Any] = []
        pieces = [text] if splitter is None else splitter.split(text)
        for index, part in enumerate(pieces):
            if index % 2:
                parts.append(tok._special_to_id[part])
            elif part:
                data = to_utf8(normalize(part, tok.model.normalization))
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
        alpha = float(alpha)
        if not alpha >= 0.0:
            raise ValueError(f"alpha must be >= 0 (or None for Viterbi decoding), got {alpha}")
        scalar = lambda chunk: sample_path(automaton, chunk.decode("latin-1"), lengths, alpha, rng)  # noqa: E731
    return tok._get_batch_encoder().encode_chunks(chunks, scalar, alpha, rng)


def _assemble(window: List[Any], chunk_ids: List[Ids], head: Ids, tail: Ids) -> List[Ids]:
    out = []
    for parts in window:
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
    order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)
    remaining = sum(lengths) + len(lengths)
    plan: List[Any] = []
    current: List[int] = []
    size = 0
    scalar_until = 0
    for position, i in enumerate(order):
        width = lengths[i] + 1
        if not current and position >= scalar_until:  # a slice starts: is its head worth it?
            head = [lengths[j] for j in order[position : position + 64]]
            scalar_until = position + _long_head(head, STEP_BYTES)
        if not current and (
            width * MIN_LANES > min(remaining, slice_bytes) or remaining < min_slice or position < scalar_until
        ):
            plan.append(i)
        else:
            current.append(i)
            size += width
            if size >= slice_bytes:
                plan.append(current)
                current, size = [], 0
        remaining -= width
    if current:
        plan.append(current)
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
    """One slice for Viterbi, candidates stored densely by piece length.

    Same layout as ``_Lattice`` (``lanes`` rows of ``width`` bytes; key ``p * lanes + j``
    for boundary ``p`` of lane ``j``). Values carry ``depth`` rows of -inf in front (``pad``
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
        self, chunks: Sequence[bytes], trie: FlatTrie, slot_logp: np.ndarray, scratch: _Scratch, depth: int = DENSE_DEPTH
    ) -> None:
        lengths = [len(c) for c in chunks]
        width = max(max(lengths) + 1, -(-(sum(lengths) + len(lengths)) // LANE_COUNT))
        places = _pack(lengths, width)
        lanes = places[-1] // width + 1
        self.width, self.lanes, self.size, self.depth = width, lanes, width * lanes, depth
        self.places, self.lengths, self.scratch = places, lengths, scratch
        self.pad, self.zero = depth * lanes, (depth + width) * lanes
        self.text = _lay_out(chunks, places, width, lanes)
        self.dense = scratch.get("dense", depth * self.size).reshape(depth, self.size)
        self.dense[1:].fill(-np.inf)
        byte_logp = np.append(slot_logp[1:257], -np.inf)  # the root's children; SEPARATOR last
        self.dense[0, :lanes] = -np.inf
        byte_logp.take(self.text[:-lanes], out=self.dense[0, lanes:])
        deep = []
        for d, ends, nodes in trie.walk(self.text, stride=lanes):
            found = slot_logp.take(nodes)
            if d <= depth:
                self.dense[d - 1, ends] = found
            else:
                hit = np.flatnonzero(found > -np.inf)
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
        self.deep_logp = np.concatenate([f for _, _, f in reversed(deep)] + [np.zeros(len(self.places))])[order]
        index = np.arange(ends.size)
        first = np.ones(ends.size, dtype=bool)
        first[1:] = self.deep_end[1:] != self.deep_end[:-1]
        self.deep_rank = index - np.maximum.accumulate(np.where(first, index, 0))
        self.ranks = int(self.deep_rank.max()) + 1

    def _keys(self, places: Sequence[int]) -> np.ndarray:
        """Keys of lane-major positions (``lane * width + offset``)."""
        lane, offset = np.divmod(np.asarray(places, dtype=np.int64), self.width)
        return offset * self.lanes + lane

    def viterbi(self) -> np.ndarray:
        """Best scores into ``self.values``; returns each key's choice (index of the first
        maximal candidate: ``< ranks`` a deep rank, else length ``depth - (choice - ranks)``).

        Steps go in blocks of ``depth + 1``: a deep piece is longer than that, so its start
        lies before the block and the block's deep candidates are gathered at once; so are
        its choices. Each step is then one add and one max."""
        lanes, depth, width, ranks = self.lanes, self.depth, self.width, self.ranks
        values = self.scratch.get("values", self.zero + 1)
        values[: self.pad] = -np.inf
        values[self.zero] = 0.0
        rows = values[: self.zero].reshape(depth + width, lanes)
        near_logp = self.dense.reshape(depth, width, lanes)[::-1].transpose(1, 0, 2)
        span = depth + 1
        count = ranks + depth
        if count > 255:
            raise ValueError("too many candidates per position for uint8 choices")
        block = np.empty((span, count, lanes))
        flat = block.reshape(-1)
        found = np.empty((span, count, lanes), dtype=bool)
        weight = np.arange(count, 0, -1, dtype=np.uint8)[:, None]  # the first maximum wins
        # Where each deep candidate goes in its block, and where each block's run begins.
        step, lane = np.divmod(self.deep_end, lanes)
        slot = ((step % span) * (ranks + depth) + self.deep_rank) * lanes + lane
        bounds = np.searchsorted(step, np.arange(0, width + span, span)).tolist()
        choice = self.scratch.get("choice", self.size, np.uint8).reshape(width, lanes)
        maximum = np.maximum.reduce
        for first, a, b in zip(range(0, width, span), bounds, bounds[1:]):
            last = min(width, first + span)
            work = block[: last - first]
            work[:, :ranks] = -np.inf
            candidate = values.take(self.deep_start[a:b])
            candidate += self.deep_logp[a:b]
            flat[slot[a:b]] = candidate
            for p, row in zip(range(first, last), work):
                np.add(rows[p : p + depth], near_logp[p], out=row[ranks:])
                maximum(row, axis=0, out=rows[p + depth])
            # The choice: count - max(weight of the candidates equal to the maximum); much
            # cheaper than np.argmax along the middle axis, which copies the block.
            equal = np.equal(work, rows[first + depth : last + depth, None], out=found[: last - first])
            ranked = equal.view(np.uint8)
            ranked *= weight
            np.subtract(count, np.maximum.reduce(ranked, axis=1), out=choice[first:last])
        self.values = values
        return choice

    def paths(self, trie: FlatTrie, choice: np.ndarray) -> List[Ids]:
        """Each chunk's ids: all lanes walk back together along the choices."""
        lanes, width, ranks = self.lanes, self.width, self.ranks
        choice = choice.ravel()
        lengths = np.concatenate([np.zeros(ranks, dtype=np.int64), np.arange(self.depth, 0, -1) * lanes])
        jump = lengths.take(choice)
        chunk_start = self.dense[0] == -np.inf  # chunk starts and padding: no byte ends here
        deep = np.flatnonzero((choice < ranks) & ~chunk_start)
        entry = np.searchsorted(self.deep_end, deep) + choice[deep]
        jump[deep] = deep + self.pad - self.deep_start[entry]
        jump[chunk_start] = lanes  # over the separator, no piece
        on_path = _on_path(jump, lanes)
        on_path &= ~chunk_start
        lane_major = np.flatnonzero(on_path.reshape(width, lanes).T)  # lane * width + offset
        key = self._keys(lane_major)
        back = jump[key]
        ids = trie.piece_ids(self.text, key - back, back // lanes, stride=lanes).tolist()
        bounds = np.searchsorted(lane_major, self.places).tolist() + [len(ids)]
        return [ids[a:b] for a, b in zip(bounds, bounds[1:])]


class _Lattice:
    """All matches of one slice, bucketed by end position in step-major order.

    The slice is ``lanes`` rows of ``width`` bytes. Position (boundary) ``p`` of lane ``j``
    has the key ``p * lanes + j``, so the text is stored with the lanes interleaved and the
    byte after key ``k`` is at ``k + lanes``. Key ``size`` (one past the last) holds the
    constant 0.0 that chunk starts are computed from.

    Single-byte pieces (a third of all matches) are dense: ``single_logp[key]`` and
    ``single_id[key]`` for the byte ending at ``key`` (-inf / -1 at chunk starts and
    padding). Longer pieces are in buckets, one per end position: ``offsets[key] ..
    offsets[key + 1]``, longest first, with ``start`` (key of the match's start), ``logp``
    and ``ids``. A position with no longer piece gets one dummy match from ``size``: logp
    0.0 at chunk starts and padding (their value is then exactly 0.0), -inf elsewhere.
    """

    def __init__(self, chunks: Sequence[bytes], trie: FlatTrie, logp: np.ndarray) -> None:
        lengths = [len(c) for c in chunks]
        width = max(max(lengths) + 1, -(-(sum(lengths) + len(lengths)) // LANE_COUNT))
        places = _pack(lengths, width)
        lanes = places[-1] // width + 1
        self.width, self.lanes, self.size = width, lanes, width * lanes
        self.places, self.lengths = places, lengths
        text = _lay_out(chunks, places, width, lanes)

        found = trie.matches(text, stride=lanes)
        _, starts, ids = next(found)
        self.single_logp = np.full(self.size, -np.inf)
        self.single_logp[starts + lanes] = logp[ids]
        self.single_id = np.full(self.size, -1, dtype=np.int64)
        self.single_id[starts + lanes] = ids
        matches = [(s, s + d * lanes, i) for d, s, i in found]
        ends = [m[1] for m in matches] or [np.zeros(0, dtype=np.int64)]
        counts = np.bincount(np.concatenate(ends), minlength=self.size)
        dummies = np.flatnonzero(counts == 0)
        counts[dummies] = 1
        offsets = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        self.start = np.empty(offsets[-1], dtype=np.int64)
        self.ids = np.empty(offsets[-1], dtype=np.int64)
        fill = offsets[:-1].copy()
        for start, end, ids in reversed(matches):  # longest first
            slots = fill[end]
            fill[end] += 1  # one match per (end, length): no repeated ends here
            self.start[slots] = start
            self.ids[slots] = ids
        slots = offsets[dummies]
        self.start[slots] = self.size
        self.ids[slots] = -1
        self.logp = logp[self.ids]
        self.logp[slots] = np.where(self.single_logp[dummies] == -np.inf, 0.0, -np.inf)
        self.counts, self.offsets = counts, offsets

    def forward(self, combine: np.ufunc) -> np.ndarray:
        """Run the recurrence over all lanes, one offset per step: each position gets
        ``combine`` (``np.maximum``: Viterbi, ``np.logaddexp``: sampling) of its
        ``value[start] + logp`` over its matches. Returns the values by key."""
        lanes = self.lanes
        values = np.empty(self.size + 1, dtype=np.float64)
        values[self.size] = 0.0
        bounds = self.offsets[::lanes].tolist()
        relative = self.offsets[:-1].reshape(self.width, lanes) - self.offsets[:-1:lanes, None]
        rows = values[: self.size].reshape(self.width, lanes)
        singles = self.single_logp.reshape(self.width, lanes)
        start, logp, reduceat = self.start, self.logp, combine.reduceat
        candidate = values[start[: bounds[1]]] + logp[: bounds[1]]
        reduceat(candidate, relative[0], out=rows[0])  # offset 0: lane starts, no single byte
        steps = zip(bounds[1:], bounds[2:], relative[1:], rows[1:], rows[:-1], singles[1:])
        for a, b, groups, out, previous, single in steps:
            candidate = values[start[a:b]]
            candidate += logp[a:b]
            reduceat(candidate, groups, out=out)
            combine(out, previous + single, out=out)
        return values

    def single_candidates(self, values: np.ndarray) -> np.ndarray:
        """``values[key - lanes] + single_logp[key]`` for every key (-inf at offset 0)."""
        out = np.full(self.size, -np.inf)
        out[self.lanes :] = values[: self.size - self.lanes] + self.single_logp[self.lanes :]
        return out

    def walk_back(self, kept: np.ndarray) -> List[Ids]:
        """Each chunk's ids, following at every position the first kept match of its
        bucket, or the single byte if none is kept."""
        size, lanes = self.size, self.lanes
        hits = np.flatnonzero(kept)
        hits_before = np.zeros(kept.size + 1, dtype=np.int64)
        np.cumsum(kept, out=hits_before[1:])
        first = hits_before[self.offsets[:-1]]
        multi = np.flatnonzero(hits_before[self.offsets[1:]] > first)
        chosen = hits[first[multi]]  # ties: the first, longest, kept match
        ids = self.single_id.copy()
        ids[multi] = self.ids[chosen]
        # One piece back; one byte back for single bytes and over chunk starts and padding.
        back = np.full(size, lanes)
        back[multi] = multi - self.start[chosen]
        back[ids < 0] = lanes
        on_path = _on_path(back, lanes)
        on_path &= ids >= 0
        by_lane = (self.width, lanes)
        on_path = on_path.reshape(by_lane).T.ravel()
        tokens = ids.reshape(by_lane).T.ravel()[on_path].tolist()
        before = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(on_path, out=before[1:])
        starts = np.asarray(self.places)
        first_token = before[starts].tolist()
        last_token = before[starts + np.asarray(self.lengths) + 1].tolist()
        return [tokens[a:b] for a, b in zip(first_token, last_token)]


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
