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

import os
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

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

WINDOW_CHARS = 4 << 20  # encode_batch gathers this many characters (then slices them) at a time
WORKER_MIN_BYTES = 256 << 10  # smaller batches are not worth a process pool
JOB_CHARS = 8 << 20  # text per pool job


class BatchEncoder:
    """Vectorised Viterbi / sampling over the chunks of a buffer, for one model.

    Cheap to pickle (holds the model only); the trie is built on first use.
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        self._trie: Optional[FlatTrie] = None
        self._logp: Optional[np.ndarray] = None
        self._scratch = Scratch()

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
        scalar: Callable[[bytes], Ids],
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ids of the chunks ``buffer[starts[i] : starts[i] + lengths[i]]``, back to back
        in chunk order, and ``offsets`` (chunk ``i``'s ids are ``offsets[i] : offsets[i + 1]``).
        ``scalar(chunk)`` encodes the chunks not worth a slice."""
        trie, logp = self._tables()
        data = np.frombuffer(buffer, dtype=np.uint8)
        found_at = np.zeros(starts.size, dtype=np.int64)  # where each chunk's ids are in `parts`
        counts = np.zeros(starts.size, dtype=np.int64)
        parts: List[np.ndarray] = []
        position = 0
        for group in plan_slices(lengths):
            if isinstance(group, int):
                start = int(starts[group])
                ids = np.asarray(scalar(buffer[start : start + int(lengths[group])]), dtype=np.int64)
                found_at[group], counts[group] = position, ids.size
            else:
                layout = lay_out(data, starts[group], lengths[group])
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
    """``[tok.encode(t, ...) for t in texts]``, vectorised; see ``Tokenizer.encode_batch``."""
    rng = None if alpha is None else tok._generator(seed)
    if alpha is not None:
        alpha = check_alpha(alpha)
    if workers == 0:
        workers = os.cpu_count() or 1
    options = dict(add_bos=add_bos, add_eos=add_eos, alpha=alpha, allowed_special=allowed_special)
    if workers is not None and workers > 1 and _total_chars(texts) >= WORKER_MIN_BYTES:
        return _encode_in_pool(tok, texts, workers, rng, options)
    splitter = tok._special_splitter(allowed_special)
    head = [tok._required_special("<bos>")] if add_bos else []
    tail = [tok._required_special("<eos>")] if add_eos else []
    out: List[Ids] = []
    for window in _windows(texts):
        if splitter is None:
            ids, bounds = encode_texts(tok, window, alpha, rng)
            if head or tail:
                out.extend(head + ids[a:b] + tail for a, b in zip(bounds, bounds[1:]))
            else:
                out.extend(ids[a:b] for a, b in zip(bounds, bounds[1:]))
            continue
        parts, segments = _split_special(tok, splitter, window)
        ids, bounds = encode_texts(tok, segments, alpha, rng)
        for text_parts in parts:
            text_ids = list(head)
            for part in text_parts:
                if isinstance(part, tuple):
                    text_ids.append(part[0])  # a special token's id
                else:
                    text_ids.extend(ids[bounds[part] : bounds[part + 1]])
            text_ids.extend(tail)
            out.append(text_ids)
    return out


def encode_texts(
    tok: "Tokenizer", texts: Sequence[str], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Tuple[Ids, Ids]:
    """All ids of ``texts`` (ordinary text, no special tokens) back to back, and the bounds
    of each text's ids in that list."""
    return encode_utf8(tok, _utf8(texts, tok.model.normalization), alpha, rng)


def encode_utf8(
    tok: "Tokenizer", datas: Sequence[bytes], alpha: Optional[float], rng: Optional[np.random.Generator]
) -> Tuple[Ids, Ids]:
    """As ``encode_texts``, for normalised UTF-8 texts."""
    automaton = tok._get_automaton()
    lengths = tok._lengths
    if alpha is None:
        scalar = lambda chunk: best_path(automaton, chunk.decode("latin-1"), lengths)  # noqa: E731
    else:
        scalar = lambda chunk: sample_path(automaton, chunk.decode("latin-1"), lengths, alpha, rng)  # noqa: E731
    buffer = b"".join(datas)
    text_starts = np.zeros(len(datas) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, datas), dtype=np.int64, count=len(datas)), out=text_starts[1:])
    starts, chunk_lengths = chunk_bounds(np.frombuffer(buffer, dtype=np.uint8), text_starts)
    encoder = tok._get_batch_encoder()
    ids, offsets = encoder.encode_chunks(buffer, starts, chunk_lengths, scalar, alpha, rng)
    bounds = offsets.take(np.searchsorted(starts, text_starts))
    return ids.tolist(), bounds.tolist()


def _utf8(texts: Sequence[str], form: Normalization) -> List[bytes]:
    """Each text normalised and encoded. One check of all texts together when they are
    already NFC (the usual case; a joined text is NFC only if each part is)."""
    try:
        if form == "nfc" and not unicodedata.is_normalized("NFC", "".join(texts)):
            texts = [unicodedata.normalize("NFC", text) for text in texts]
        return list(map(str.encode, texts))
    except (TypeError, UnicodeEncodeError):
        pass
    out = []
    for index, text in enumerate(texts):  # the slow way, to say which text is wrong and why
        try:
            out.append(to_utf8(normalize(text, form)))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"text {index} of the batch: {exc}") from None
    return out


def _total_chars(texts: Sequence[str]) -> int:
    return sum(len(t) for t in texts if isinstance(t, str))


def _windows(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    """Consecutive runs of texts of about ``WINDOW_CHARS`` characters (at least one text)."""
    start, size = 0, 0
    for index, text in enumerate(texts):
        size += len(text) if isinstance(text, str) else 0
        if size >= WINDOW_CHARS:
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
    total = _total_chars(texts)
    target = min(-(-total // workers), JOB_CHARS)  # one job per worker, at most JOB_CHARS each
    jobs, start, size = [], 0, 0
    for end, text in enumerate(texts, 1):
        size += len(text) if isinstance(text, str) else 0
        if size >= target or end == len(texts):
            seed = None if rng is None else int(rng.integers(2**63))
            jobs.append((list(texts[start:end]), seed, options))
            start, size = end, 0
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(tok,)) as pool:
        return [ids for part in pool.map(_work, jobs) for ids in part]
