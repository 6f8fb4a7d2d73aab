"""Batch encoding: many texts at once, vectorised with numpy where it pays.

Explained in ``docs/performance.md``. ``encode_batch`` normalises a window of texts (about
``WINDOW_CHARS`` characters), joins them into one UTF-8 buffer and finds every chunk in it
with a few numpy passes (``batch_layout.chunk_bounds``). ``BatchEncoder.encode_chunks``
then sends the chunks through vectorised slices (``batch_lattice.py``) or, when a slice
does not pay, through the scalar decoders (``viterbi.py`` / ``sampling.py``), and gathers
all ids into one array in chunk order; each text's ids are one slice of that array's list.
No Python object is made per chunk: with tens of thousands of short texts per megabyte,
that cost as much as the decoding.

Viterbi ids are exactly the scalar ``encode``'s (see ``batch_lattice.py``); sampling draws
from the same exact distribution with a different use of the random stream.

Deliberately left out: the lattice (``batch_lattice.py``) and the layout of slices
(``batch_layout.py``).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
import unicodedata
import warnings
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .batch_lattice import Scratch, sample_slice, viterbi_slice
from .batch_layout import chunk_bounds, lay_out, plan_slices
from .flat_trie import FlatTrie
from .model_file import Model, unigram_log_probs
from .normalization import Normalization, normalize, to_utf8
from .sampling import check_alpha, sample_path
from .viterbi import best_path

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer

Ids = List[int]

JOB_CHARS = 1 << 20  # encode_batch works in jobs of about this many characters
MIN_JOB_CHARS = 64 << 10  # smaller jobs are not worth sending to a worker


class BatchEncoder:
    """Vectorised Viterbi / sampling over the chunks of a buffer, for one model.

    Cheap to pickle (holds the model only); the trie is built on first use.
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        self._trie: Optional[FlatTrie] = None
        self._logp: Optional[np.ndarray] = None
        self._scratch = Scratch()
        self._lock = threading.Lock()  # one slice at a time: threads would share the scratch

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
        buffer: bytes,
        starts: np.ndarray,
        lengths: np.ndarray,
        scalar: Callable[[memoryview], Ids],
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ids of the chunks ``buffer[starts[i] : starts[i] + lengths[i]]``, back to back
        in chunk order, and ``offsets`` (chunk ``i``'s ids are ``offsets[i] : offsets[i + 1]``).
        ``scalar(chunk)`` encodes the chunks not worth a slice."""
        with self._lock:
            trie, logp = self._tables()
        data = np.frombuffer(buffer, dtype=np.uint8)
        view = memoryview(buffer)  # slices without copies, for the scalar decoders
        found_at = np.zeros(starts.size, dtype=np.int64)  # where each chunk's ids are in `parts`
        counts = np.zeros(starts.size, dtype=np.int64)
        parts: List[np.ndarray] = []
        position = 0
        for group in plan_slices(lengths):
            if isinstance(group, int):
                start = int(starts[group])
                ids = np.asarray(scalar(view[start : start + int(lengths[group])]), dtype=np.int64)
                found_at[group], counts[group] = position, ids.size
            else:
                layout = lay_out(data, starts[group], lengths[group])
                with self._lock:
                    if alpha is None:
                        ids, group_counts = viterbi_slice(layout, trie, self._slot_logp, self._scratch)
                    else:
                        assert rng is not None
                        ids, group_counts = sample_slice(layout, trie, logp, alpha, rng, self._scratch)
                counts[group] = group_counts
                found_at[group] = np.cumsum(group_counts) - group_counts + position
            parts.append(ids)
            position += ids.size
        offsets = np.zeros(starts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if not parts:
            return np.zeros(0, dtype=np.int64), offsets
        gather = np.repeat(found_at - offsets[:-1], counts)
        gather += np.arange(position)
        return np.concatenate(parts).take(gather), offsets


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
    """``[tok.encode(t, ...) for t in texts]``, vectorised; see ``Tokenizer.encode_batch``.

    Texts go in jobs of about ``JOB_CHARS`` characters, encoded here or, with ``workers``,
    by ``tok``'s process pool; with ``alpha`` each job draws from its own generator,
    seeded in job order from ``tok``'s stream (or ``seed``), so the result does not depend
    on the number of workers."""
    alpha = None if alpha is None else check_alpha(alpha)
    rng = None if alpha is None else tok._generator(seed)
    tok._special_splitter(allowed_special)  # unknown special tokens fail here, not in a worker
    for wanted, token in ((add_bos, "<bos>"), (add_eos, "<eos>")):
        if wanted:
            tok._required_special(token)
    options = dict(add_bos=add_bos, add_eos=add_eos, alpha=alpha, allowed_special=allowed_special)
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0 (0: one per core), got {workers}")
    if workers == 0:
        workers = os.cpu_count() or 1
    if workers is not None and workers > 1 and multiprocessing.current_process().daemon:
        _warn_daemon()
        workers = None
    size = JOB_CHARS
    if alpha is None and workers is not None and workers > 1:  # smaller jobs: all workers busy
        size = min(size, max(MIN_JOB_CHARS, _chars(texts) // (2 * workers)))
    jobs = [(part, None if rng is None else int(rng.integers(2**63)), options) for part in _jobs(texts, size)]
    if workers is not None and workers > 1 and len(jobs) > 1:
        from .batch_pool import worker_pool

        results: Iterable[Tuple[np.ndarray, np.ndarray]] = worker_pool(tok, workers).map(_job, jobs)
    else:
        results = (encode_job(tok, job) for job in jobs)
    out: List[Ids] = []
    try:
        for ids, bounds in results:
            out.extend(_as_lists(ids, bounds))
    except (TypeError, ValueError):
        _name_bad_text(tok, texts)  # a job only knows its own texts: say which of the batch
        raise
    except BrokenProcessPool:
        tok.close()  # a worker died (killed, out of memory): the next call starts a new pool
        raise
    return out


@functools.lru_cache(maxsize=None)
def _warn_daemon() -> None:
    warnings.warn(
        "encode_batch(workers=N) runs in this process instead: it is a daemonic process (e.g. a "
        "DataLoader worker), which may not start processes of its own",
        RuntimeWarning,
        stacklevel=4,
    )


def _name_bad_text(tok: "Tokenizer", texts: Sequence[str]) -> None:
    """Raise the error of the first text that cannot be normalised and encoded, with its
    index in the batch (the error path only: every text is checked again)."""
    for index, text in enumerate(texts):
        try:
            to_utf8(normalize(text, tok.model.normalization))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"text {index} of the batch: {exc}") from None


def _as_lists(ids: np.ndarray, bounds: np.ndarray) -> List[Ids]:
    flat, cuts = ids.tolist(), bounds.tolist()  # one tolist: far cheaper than one per text
    return [flat[a:b] for a, b in zip(cuts, cuts[1:])]


Job = Tuple[Sequence[str], Optional[int], Dict[str, Any]]


def encode_job(tok: "Tokenizer", job: Job) -> Tuple[np.ndarray, np.ndarray]:
    """One job of ``encode_batch``: all ids of its texts back to back (int32), and each
    text's bounds in them."""
    texts, seed, options = job
    rng = None if seed is None else np.random.default_rng(seed)
    ids, bounds = encode_arrays(tok, texts, rng=rng, **options)
    return ids.astype(np.int32), bounds


def _job(job: Job) -> Tuple[np.ndarray, np.ndarray]:
    from .batch_pool import worker_tokenizer

    return encode_job(worker_tokenizer(), job)


def encode_arrays(
    tok: "Tokenizer",
    texts: Sequence[str],
    *,
    alpha: Optional[float] = None,
    rng: Optional[np.random.Generator] = None,
    allowed_special: Any = (),
    add_bos: bool = False,
    add_eos: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """As ``encode_texts``, with special tokens and ``<bos>`` / ``<eos>`` as ``encode``."""
    head = [tok._required_special("<bos>")] if add_bos else []
    tail = [tok._required_special("<eos>")] if add_eos else []
    splitter = tok._special_splitter(allowed_special)
    if splitter is None:
        ids, bounds = encode_texts(tok, texts, alpha, rng)
        return _frame(ids, bounds, head, tail) if head or tail else (ids, bounds)
    parts, segments = _split_special(tok, splitter, texts)
    ids, bounds = encode_texts(tok, segments, alpha, rng)
    pieces: List[np.ndarray] = []
    sizes = []
    for text_parts in parts:
        size = len(head) + len(tail)
        pieces.append(np.asarray(head, dtype=np.int64))
        for part in text_parts:
            special = isinstance(part, tuple)
            piece = np.asarray(part, dtype=np.int64) if special else ids[bounds[part] : bounds[part + 1]]
            pieces.append(piece)
            size += piece.size
        pieces.append(np.asarray(tail, dtype=np.int64))
        sizes.append(size)
    out_bounds = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out_bounds[1:])
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64), out_bounds


def _frame(ids: np.ndarray, bounds: np.ndarray, head: Ids, tail: Ids) -> Tuple[np.ndarray, np.ndarray]:
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
    tok: "Tokenizer", texts: Sequence[str], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Tuple[np.ndarray, np.ndarray]:
    """All ids of ``texts`` (ordinary text, no special tokens) back to back, and the bounds
    of each text's ids in them."""
    return encode_utf8(tok, _utf8(texts, tok.model.normalization), alpha, rng)


def encode_utf8(
    tok: "Tokenizer", datas: Sequence[bytes], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Tuple[np.ndarray, np.ndarray]:
    """As ``encode_texts``, for normalised UTF-8 texts."""
    automaton = tok._get_automaton()
    lengths = tok._lengths
    if alpha is None:
        scalar = lambda chunk: best_path(automaton, str(chunk, "latin-1"), lengths)  # noqa: E731
    else:
        scalar = lambda chunk: sample_path(automaton, str(chunk, "latin-1"), lengths, alpha, rng)  # noqa: E731
    buffer = b"".join(datas)
    text_starts = np.zeros(len(datas) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, datas), dtype=np.int64, count=len(datas)), out=text_starts[1:])
    starts, chunk_lengths = chunk_bounds(np.frombuffer(buffer, dtype=np.uint8), text_starts)
    encoder = tok._get_batch_encoder()
    ids, offsets = encoder.encode_chunks(buffer, starts, chunk_lengths, scalar, alpha, rng)
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


def _chars(texts: Sequence[str]) -> int:
    return sum(len(text) for text in texts if isinstance(text, str))


def _jobs(texts: Sequence[str], chars: int) -> Iterator[Sequence[str]]:
    """Consecutive runs of texts of about ``chars`` characters (at least one text each)."""
    start, size = 0, 0
    for index, text in enumerate(texts):
        size += len(text) if isinstance(text, str) else 0
        if size >= chars:
            yield texts[start : index + 1]
            start, size = index + 1, 0
    if start < len(texts):
        yield texts[start:]


def _split_special(tok: "Tokenizer", splitter: Any, texts: Sequence[str]) -> Tuple[List[List[Any]], List[str]]:
    """Each text as a list of parts: ``(id,)`` for a special token, else the index of an
    ordinary segment in the returned list of segments."""
    parts: List[List[Any]] = []
    segments: List[str] = []
    for text in texts:
        text_parts: List[Any] = []
        for index, part in enumerate(splitter.split(text)):
            if index % 2:
                text_parts.append((tok._special_to_id[part],))
            elif part:
                text_parts.append(len(segments))
                segments.append(part)
        parts.append(text_parts)
    return parts, segments
