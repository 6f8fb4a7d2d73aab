"""Batch encoding: many texts at once, vectorised with numpy where it pays.

Explained in ``docs/performance.md``. ``encode_batch`` cuts the texts into jobs of about
``JOB_CHARS`` characters; a job's texts are normalised, joined into one UTF-8 buffer, and
every chunk in it is found with a few numpy passes (``layout.chunk_bounds``).
``BatchEncoder.encode_chunks`` then sends the chunks through vectorised slices
(``lattice.py``) or, when a slice does not pay, through the scalar decoders
(``viterbi.py`` / ``sampling.py``), and gathers all ids into one array in chunk order;
each text's ids are one slice of that array's list. No Python object is made per chunk:
with tens of thousands of short texts per megabyte, that cost as much as the decoding.

Viterbi ids are exactly the scalar ``encode``'s (see ``lattice.py``); sampling draws from
the same exact distribution with a different use of the random stream.

Deliberately left out: the lattice (``lattice.py``) and the layout of slices
(``layout.py``).
"""

from __future__ import annotations

import threading
import unicodedata
from array import array
from concurrent.futures.process import BrokenProcessPool
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import numpy as np

from ...io.corpus import batched
from ...model import BOS, EOS
from ...normalization import Normalization, normalize, to_utf8
from ...parallel import available_workers, resolve_workers
from ..random_streams import Seed
from ..sampling import check_alpha
from .flat_trie import FlatTrie
from .lattice import Scratch, Table, linear_weights_fit, sample_slice, sample_weights, table, viterbi_slice
from .layout import Layout, chunk_bounds, lay_out, plan_slices

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import AllowedSpecial, Engine

Ids = List[int]
Scalar = Callable[[memoryview, float], Sequence[int]]  # the scalar decoder of a chunk, from a score
Arrays = Tuple[np.ndarray, np.ndarray]  # all ids back to back, and each text's bounds in them

JOB_CHARS = 1 << 20  # encode_batch works in jobs of about this many characters
MIN_JOB_CHARS = 64 << 10  # smaller jobs are not worth sending to a worker


class BatchEncoder:
    """Vectorised Viterbi / sampling over the chunks of a buffer, for one vocabulary:
    ``pieces`` with their ``ids``, and ``log_probs`` indexed by id. The flat trie is built
    on first use (or by :meth:`prepare`). ``on``: an encoder of the same pieces whose trie
    this one takes, and its working arrays and lock (see :meth:`rescored`)."""

    def __init__(
        self, pieces: Sequence[bytes], ids: Sequence[int], log_probs: np.ndarray, *, on: Optional["BatchEncoder"] = None
    ) -> None:
        self._pieces = pieces
        self._ids = ids
        self._logp = log_probs
        self._trie: Optional[FlatTrie] = None
        self._slot_logp = np.zeros(0)
        self._worst = 0.0
        self._logp_floats: Optional[List[float]] = None
        self._weights: Dict[Tuple[float, bool], Table] = {}
        self._viterbi: Optional[Table] = None
        # The arrays a slice works in, kept between slices, and the lock that lets one
        # slice at a time use them (threads share an encoder); shared with ``on``.
        self.scratch: Scratch = Scratch() if on is None else on.scratch
        self.lock: threading.Lock = threading.Lock() if on is None else on.lock
        if on is not None:
            self._score(on.prepare())

    def prepare(self) -> FlatTrie:
        """Build the trie now (before forking workers, say); returns it."""
        with self.lock:
            if self._trie is None:
                self._score(FlatTrie.build(self._pieces, self._ids))
            assert self._trie is not None
            return self._trie

    def rescored(self, log_probs: np.ndarray) -> "BatchEncoder":
        """An encoder of the same pieces scored by ``log_probs`` (by id; -inf: a piece
        never used), on this one's trie, built now if it was not, and its working arrays
        (so one slice at a time runs in either: they share the lock too): only the tables
        of scores are made again, a pass over the trie's slots.

        >>> pieces = [bytes([b]) for b in range(256)] + [b"ab"]
        >>> encoder = BatchEncoder(pieces, range(257), np.full(257, -6.0))
        >>> encoder.rescored(np.append(np.full(256, -5.5), -np.inf)).prepare() is encoder.prepare()
        True
        """
        return BatchEncoder(self._pieces, self._ids, log_probs, on=self)

    def _score(self, trie: FlatTrie) -> None:
        """Take ``trie`` and make the tables of this encoder's scores over its slots (with
        temporaries the size of the pieces, not of the slots: pruning rescores a trie of
        5.6 M slots while the last round's table is still held)."""
        slots = np.full(len(trie.term), -np.inf)
        ends = np.flatnonzero(trie.term >= 0)  # the slots where a piece ends
        scores = self._logp[trie.term[ends]]
        slots[ends] = scores
        self._slot_logp = slots
        self._worst = -float(scores[scores > -np.inf].min())  # of the pieces in use
        self._viterbi = table(trie, slots)
        self._trie = trie

    def encode_chunks(
        self,
        buffer: bytes,
        starts: np.ndarray,
        lengths: np.ndarray,
        scalar: Scalar,
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ids of the chunks ``buffer[starts[i] : starts[i] + lengths[i]]``, back to back
        in chunk order, and ``offsets`` (chunk ``i``'s ids are ``offsets[i] : offsets[i + 1]``).
        ``scalar(chunk, start_score)`` encodes the chunks not worth a slice (from 0.0), and
        the few stretches whose vectorised Viterbi path could not be proven exact
        (``lattice.viterbi_slice``), from the score of the chunk before them: a short
        stretch costs the scalar decoder less than a slice of its own."""
        trie = self.prepare()
        weights = None if alpha is None else self._sample_weights(trie, alpha)
        data = np.frombuffer(buffer, dtype=np.uint8)
        view = memoryview(buffer)  # slices without copies, for the scalar decoders
        parts: List[np.ndarray] = []  # ids, back to back in the order they were made
        units: List[Tuple[np.ndarray, ...]] = []  # (chunk, offset in it, where its ids are in parts, count)
        position = 0
        alone: List[int] = []  # chunks for the scalar decoder
        for group in plan_slices(lengths):
            if isinstance(group, int):
                alone.append(group)
                continue
            layout = lay_out(data, starts[group], lengths[group], trie)
            with self.lock:
                if alpha is None:
                    assert self._viterbi is not None
                    ids, counts, unsure = viterbi_slice(layout, trie, self._viterbi, self._worst, self.scratch)
                else:
                    assert rng is not None and weights is not None
                    ids, counts, unsure = sample_slice(layout, trie, weights, rng, self.scratch)
            found_at = np.cumsum(counts) - counts + position
            parts.append(ids)
            position += ids.size
            chunks = (view, starts[group], lengths[group])
            located = (found_at - (position - ids.size), counts.copy())
            for stretches, chunk_ids in self._resolve(layout, ids, located, unsure, chunks, scalar):
                counts[stretches] = 0  # replaced by the chunk's ids, decoded again
                chunk = group[layout.stretch_chunk[stretches[0]]]
                units.append((np.array([chunk]), np.array([0]), np.array([position]), np.array([chunk_ids.size])))
                parts.append(chunk_ids)
                position += chunk_ids.size
            units.append((group.take(layout.stretch_chunk), layout.stretch_from, found_at, counts))
        for chunk in alone:
            start = int(starts[chunk])
            ids = _as_array(scalar(view[start : start + int(lengths[chunk])], 0.0))
            units.append((np.array([chunk]), np.array([0]), np.array([position]), np.array([ids.size])))
            parts.append(ids)
            position += ids.size
        offsets = np.zeros(starts.size + 1, dtype=np.int64)
        if not parts:
            return np.zeros(0, dtype=np.int64), offsets
        chunk, offset, found, count = (np.concatenate(column) for column in zip(*units))
        np.cumsum(np.bincount(chunk, weights=count, minlength=starts.size).astype(np.int64), out=offsets[1:])
        if len(parts) == 1 and (np.diff(chunk * (int(offset.max()) + 1) + offset) > 0).all():
            return parts[0], offsets  # one slice, its stretches in chunk order (narrow lanes)
        order = np.lexsort((offset, chunk))  # each chunk's stretches in order
        found, count = found.take(order), count.take(order)
        placed = np.cumsum(count) - count  # where each stretch's ids go
        if np.array_equal(found, placed):  # already in chunk order (one long line, say): no copy
            return (parts[0] if len(parts) == 1 else np.concatenate(parts)), offsets
        gather = np.repeat(found - placed, count)
        gather += np.arange(int(offsets[-1]))
        return np.concatenate(parts).take(gather), offsets

    def _resolve(
        self,
        layout: Layout,
        ids: np.ndarray,
        found: Tuple[np.ndarray, np.ndarray],
        unsure: np.ndarray,
        chunks: Tuple[memoryview, np.ndarray, np.ndarray],
        scalar: Scalar,
    ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """For each slice chunk with unsure stretches: its stretches, and its ids with those
        stretches decoded again by the scalar decoder from the exact score of the chunk
        before them. That score is the sum of the log probabilities of the path so far,
        added in order as the scalar decoder adds them: a stretch starts at a free
        boundary, so the path passes there. ``found``: where each stretch's ids are in ``ids``
        and how many; ``chunks``: the buffer, and the slice chunks' starts and lengths in it."""
        if not unsure.size:
            return
        view, starts, _ = chunks
        found_at, counts = found
        logp = self._logp_list()
        owner, offsets, sizes = layout.stretch_chunk, layout.stretch_from, layout.stretch_length
        doubtful = set(unsure.tolist())
        mine = np.flatnonzero(np.isin(owner, owner.take(unsure)))
        mine = mine.take(np.lexsort((offsets.take(mine), owner.take(mine))))  # by chunk, then offset
        for stretches in np.split(mine, np.flatnonzero(np.diff(owner.take(mine))) + 1):
            start = int(starts[owner[stretches[0]]])
            score = 0.0
            out: Ids = []
            for stretch in stretches.tolist():
                if stretch in doubtful:
                    begin = start + int(offsets[stretch])
                    part = scalar(view[begin : begin + int(sizes[stretch])], score)
                else:
                    begin = int(found_at[stretch])
                    part = ids[begin : begin + int(counts[stretch])].tolist()
                for piece in part:
                    score += logp[piece]
                out.extend(part)
            yield stretches, np.asarray(out, dtype=np.int64)

    def _sample_weights(self, trie: FlatTrie, alpha: float) -> Table:
        """``lattice.sample_weights`` for ``alpha``, kept for the next calls (a pass over
        the trie's slots: as long as decoding a short document)."""
        linear = linear_weights_fit(alpha * self._worst, trie.max_length)
        weights = self._weights.get((alpha, linear))
        if weights is None:
            if len(self._weights) >= 8:
                self._weights.clear()
            weights = self._weights[alpha, linear] = table(trie, sample_weights(self._slot_logp, alpha, linear), linear)
        return weights

    def _logp_list(self) -> List[float]:
        if self._logp_floats is None:
            self._logp_floats = self._logp.tolist()
        return self._logp_floats


def _as_array(ids: Sequence[int]) -> np.ndarray:
    """A scalar decoder's ids as an array: a view of an ``array("i")`` (a long chunk's,
    which can hold an id per byte), a copy of a list."""
    return np.frombuffer(ids, dtype=np.intc) if isinstance(ids, array) else np.asarray(ids, dtype=np.int64)


def encode_batch(
    engine: "Engine",
    texts: Sequence[str],
    *,
    add_bos: bool = False,
    add_eos: bool = False,
    alpha: Optional[float] = None,
    seed: Seed = None,
    allowed_special: "AllowedSpecial" = (),
    workers: int = 1,
) -> List[Ids]:
    """``[tok.encode(t, ...) for t in texts]``, vectorised; see ``Tokenizer.encode_batch``.

    Texts go in jobs of about ``JOB_CHARS`` characters, encoded here or, with ``workers``,
    by the engine's process pool; with ``alpha`` each job draws from its own generator,
    seeded in job order from the engine's stream (or ``seed``), so the result does not
    depend on the number of workers."""
    workers = available_workers(resolve_workers(workers), "encode_batch(workers=N)")
    alpha = None if alpha is None else check_alpha(alpha)
    rng = None if alpha is None else engine.random.generator(seed)
    engine.special_splitter(allowed_special)  # unknown special tokens fail here, not in a worker
    options = Options(add_bos, add_eos, alpha, allowed_special)
    options.frame(engine)  # a missing <bos> / <eos> fails here too, not in a worker
    size = JOB_CHARS
    if alpha is None and workers > 1:  # smaller jobs: all workers busy
        size = min(size, max(MIN_JOB_CHARS, _chars(texts) // (2 * workers)))
    jobs = [(part, None if rng is None else int(rng.integers(2**63)), options) for part in batched(texts, size, size=_length)]
    if workers > 1 and len(jobs) > 1:
        results = engine.worker_pool(workers).imap(encode_job, jobs)
    else:
        results = (encode_job(engine, job) for job in jobs)
    out: List[Ids] = []
    try:
        for ids, bounds in results:
            out.extend(_as_lists(engine, ids, bounds))
    except (TypeError, ValueError):
        _name_bad_text(engine, texts)  # a job only knows its own texts: say which of the batch
        raise
    except BrokenProcessPool:
        engine.close()  # a worker died (killed, out of memory): the next call starts a new pool
        raise
    return out


class Options(NamedTuple):
    """The per-text options of a batch (picklable: jobs carry them to workers)."""

    add_bos: bool
    add_eos: bool
    alpha: Optional[float]
    allowed_special: "AllowedSpecial"

    def frame(self, engine: "Engine") -> Tuple[Ids, Ids]:
        """The ids before and after each text (``<bos>`` / ``<eos>`` when asked for)."""
        head = [engine.special_id(BOS)] if self.add_bos else []
        tail = [engine.special_id(EOS)] if self.add_eos else []
        return head, tail


def _name_bad_text(engine: "Engine", texts: Sequence[str]) -> None:
    """Raise the error of the first text that cannot be normalised and encoded, with its
    index in the batch (the error path only: every text is checked again)."""
    for index, text in enumerate(texts):
        try:
            engine.normalized_utf8(text)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"text {index} of the batch: {exc}") from None


def _as_lists(engine: "Engine", ids: np.ndarray, bounds: np.ndarray) -> List[Ids]:
    flat, cuts = engine.id_list(ids), bounds.tolist()  # one list: far cheaper than one per text
    return [flat[a:b] for a, b in zip(cuts, cuts[1:])]


Job = Tuple[Sequence[str], Optional[int], Options]


def encode_job(engine: "Engine", job: Job) -> Arrays:
    """One job of ``encode_batch`` (here or in a worker): all ids of its texts back to
    back (int32), and each text's bounds in them."""
    texts, seed, options = job
    rng = None if seed is None else np.random.default_rng(seed)
    ids, bounds = encode_arrays(engine, texts, options, rng)
    return ids.astype(np.int32), bounds


def encode_arrays(engine: "Engine", texts: Sequence[str], options: Options, rng: Optional[np.random.Generator]) -> Arrays:
    """As ``encode_texts``, with special tokens and ``<bos>`` / ``<eos>`` as ``encode``."""
    head, tail = options.frame(engine)
    splitter = engine.special_splitter(options.allowed_special)
    if splitter is None:
        ids, bounds = encode_texts(engine, texts, options.alpha, rng)
        return _frame(ids, bounds, head, tail) if head or tail else (ids, bounds)
    special = splitter  # for the closure (mypy: not None)
    parts, segments = split_parts(texts, lambda text: engine.split_special(text, special))
    ids, bounds = encode_texts(engine, segments, options.alpha, rng)
    return assemble(parts, ids, bounds, head, tail)


def assemble(
    parts: "List[List[Union[int, Tuple[int]]]]",
    ids: np.ndarray,
    bounds: np.ndarray,
    head: Sequence[int] = (),
    tail: Sequence[int] = (),
) -> Arrays:
    """The ids of each text from its parts (``split_parts``): ``(id,)`` as it is, a
    segment index as that segment's ids (``ids[bounds[i] : bounds[i + 1]]``); ``head``
    and ``tail`` around each text."""
    pieces: List[np.ndarray] = []
    sizes = []
    head_ids, tail_ids = np.asarray(head, dtype=np.int64), np.asarray(tail, dtype=np.int64)
    for text_parts in parts:
        size = len(head) + len(tail)
        pieces.append(head_ids)
        for part in text_parts:
            if isinstance(part, tuple):  # a special token's or an added piece's id
                piece = np.asarray(part, dtype=np.int64)
            else:  # the index of an ordinary segment
                piece = ids[bounds[part] : bounds[part + 1]]
            pieces.append(piece)
            size += piece.size
        pieces.append(tail_ids)
        sizes.append(size)
    out_bounds = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out_bounds[1:])
    return np.concatenate(pieces).astype(np.int64, copy=False) if pieces else np.zeros(0, dtype=np.int64), out_bounds


def _frame(ids: np.ndarray, bounds: np.ndarray, head: Ids, tail: Ids) -> Arrays:
    """``head + ids + tail`` for each text."""
    counts = np.diff(bounds)
    framed = np.zeros(bounds.size, dtype=np.int64)
    np.cumsum(counts + len(head) + len(tail), out=framed[1:])
    out = np.empty(int(framed[-1]), dtype=np.int64)
    out[np.repeat(framed[:-1] + len(head) - bounds[:-1], counts) + np.arange(ids.size)] = ids
    for k, token in enumerate(head):
        out[framed[:-1] + k] = token
    for k, token in enumerate(tail):
        out[framed[1:] - len(tail) + k] = token
    return out, framed


def encode_texts(
    engine: "Engine", texts: Sequence[str], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Arrays:
    """All ids of ``texts`` (ordinary text, no special tokens) back to back, and the bounds
    of each text's ids in them."""
    return encode_utf8(engine, _utf8(texts, engine.model.normalization), alpha, rng)


def encode_utf8(
    engine: "Engine", datas: Sequence[bytes], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Arrays:
    """As ``encode_texts``, for normalised UTF-8 texts. Added pieces
    (``added_vocabulary.py``) are cut out first."""
    added = engine.added_pieces()
    if added is None:
        return _encode_chunked(engine, datas, alpha, rng)
    parts, segments = split_parts(datas, added.split)
    ids, bounds = _encode_chunked(engine, segments, alpha, rng)
    return assemble(parts, ids, bounds)


def _encode_chunked(
    engine: "Engine", datas: Sequence[bytes], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Arrays:
    buffer = b"".join(datas)
    text_starts = np.zeros(len(datas) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, datas), dtype=np.int64, count=len(datas)), out=text_starts[1:])
    starts, chunk_lengths = chunk_bounds(np.frombuffer(buffer, dtype=np.uint8), text_starts)
    ids, offsets = engine.encode_chunks(buffer, starts, chunk_lengths, alpha, rng)
    return ids, offsets.take(np.searchsorted(starts, text_starts))


def _utf8(texts: Sequence[str], form: Normalization) -> List[bytes]:
    """Each text normalised and encoded. One check of all texts together when they are
    already NFC (the usual case; a joined text is NFC only if each part is)."""
    try:
        if form == "nfc" and not unicodedata.is_normalized("NFC", "".join(texts)):
            texts = [unicodedata.normalize("NFC", text) for text in texts]
        return list(map(str.encode, texts))
    except (TypeError, UnicodeEncodeError):  # say what is wrong, as encode() does
        return [to_utf8(normalize(text, form)) for text in texts]


def _length(text: Any) -> int:
    """A text's size for cutting jobs; a text that is not a ``str`` fails later, by index."""
    return len(text) if isinstance(text, str) else 0


def _chars(texts: Sequence[str]) -> int:
    return sum(map(_length, texts))


Segment = TypeVar("Segment", str, bytes)


def split_parts(
    texts: Sequence[Segment], split: Callable[[Segment], Iterable[Union[int, Segment]]]
) -> Tuple[List[List[Union[int, Tuple[int]]]], List[Segment]]:
    """Each text as a list of parts, as ``split`` cuts it (at special tokens, or at added
    pieces): ``(id,)`` for an id, else the index of an ordinary segment in the returned
    list of segments."""
    parts: List[List[Union[int, Tuple[int]]]] = []
    segments: List[Segment] = []
    for text in texts:
        text_parts: List[Union[int, Tuple[int]]] = []
        for part in split(text):
            if isinstance(part, int):
                text_parts.append((part,))
            else:
                text_parts.append(len(segments))
                segments.append(part)
        parts.append(text_parts)
    return parts, segments
