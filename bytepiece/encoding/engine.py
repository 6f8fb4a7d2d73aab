"""The engine: everything tokenization needs for one model, built once and shared.

``Tokenizer`` is a thin front that validates arguments; the work is here, behind public,
typed methods that the batch path, the worker pool, the analysis functions, healing, the
exporters and the trainer's pruning all use. The engine owns:

* the tables by id: piece bytes, lengths, log-probabilities, special tokens;
* the Aho-Corasick automaton (scalar decoding) and the batch encoder (vectorised
  decoding), each built on first use, so that loading and pickling stay cheap; the batch
  path's few scalar stragglers (ties, lone chunks) use the batch encoder's trie, so
  ``encode_batch`` and the trainer's pruning never build the automaton;
* special-token splitting (which strings in a text are special tokens), and the added
  pieces of an extended model, cut out before the lattice (``added_vocabulary.py``);
* the random stream of sampled encodes (``random_streams.py``);
* the chunk cache (``chunk_cache.py``): the Viterbi ids of short chunks seen before, for
  ``encode()`` (never pickled: a copy starts empty);
* the worker processes of ``encode_batch(workers=N)`` (``parallel.py``).

The scalar path: normalize -> UTF-8 -> chunks (a line and its newlines) -> per chunk, the
lattice of the automaton's matches -> best path (``viterbi.py``) or an exact random path
(``sampling.py``). Long inputs go to the batch path, which gives the same Viterbi ids.

Deliberately left out: argument checking and the public API (``tokenizer.py``).
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING, Any, Collection, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import ahocorasick
import numpy as np

from ..io.model_file import dumps_model, loads_model
from ..model import Model
from ..normalization import normalize, split_chunks, to_utf8
from ..parallel import WorkerPool
from .chunk_cache import MAX_BYTES, ChunkCache
from .random_streams import RandomStream, Seed
from .sampling import sample_path
from .viterbi import best_path

if TYPE_CHECKING:  # pragma: no cover
    from .added_vocabulary import AddedPieces
    from .batch.encode import BatchEncoder
    from .batch.flat_trie import FlatTrie
    from .healing import PrefixIndex

# encode() hands texts at least this long to the batch path (Viterbi, sampling): below, its
# fixed cost (~0.5 ms) is more than the scalar decoders take (benchmarks/peers.py, documents).
BATCH_MIN_BYTES, SAMPLE_BATCH_MIN_BYTES = 5 << 10, 5 << 9

Ids = List[int]
AllowedSpecial = Union[str, Collection[str]]


def batch_min_bytes(alpha: Optional[float]) -> int:
    """The length from which ``encode()`` hands a text to the batch path (by Viterbi, or
    sampling with ``alpha``)."""
    return BATCH_MIN_BYTES if alpha is None else SAMPLE_BATCH_MIN_BYTES


class Engine:
    """Tables, automaton, batch encoder, random stream and worker pool of one model.

    >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
    >>> engine.encode_utf8(b"abc"), engine.decode_bytes([engine.special_id("<bos>"), 259])
    ([259, 102], b'ab')
    """

    def __init__(
        self,
        model: Model,
        *,
        seed: Seed = None,
        cache_bytes: int = MAX_BYTES,
        log_probs: Optional[np.ndarray] = None,
        like: Optional["Engine"] = None,
    ) -> None:
        """``log_probs``: each id's score instead of the model's counts' (see
        :meth:`rescored`); ``like``: an engine of the same model whose tables by id (never
        changed) this one shares, and with ``log_probs`` its batch trie."""
        self.model: Model = model
        if like is not None and like.model is not model:
            raise ValueError("like= must be an engine of the same model")
        self.random = RandomStream(seed)
        # Viterbi ids of short chunks seen before (``encode()`` only; 0 turns it off).
        self.chunk_cache = ChunkCache(max_bytes=cache_bytes)
        self.pieces_by_id: List[bytes]
        self.piece_lengths: List[int]
        if like is not None:
            self.pieces_by_id, self.piece_lengths = like.pieces_by_id, like.piece_lengths
        else:
            self.pieces_by_id = [b""] * model.vocab_size  # b"" for special tokens
            self.piece_lengths = [0] * model.vocab_size
            for piece, piece_id in zip(model.pieces, model.ids):
                self.pieces_by_id[piece_id] = piece
                self.piece_lengths[piece_id] = len(piece)
        self.special_to_id: Dict[str, int] = dict(model.special_tokens)
        self.id_to_special: Dict[int, str] = {i: t for t, i in model.special_tokens.items()}
        self._automaton: Any = None
        self._piece_length_table: Optional[np.ndarray] = None
        self._log_probs = None if log_probs is None else self._checked_scores(log_probs)
        self._rescored = log_probs is not None  # scores not from the model's counts
        self._batch_encoder: Optional["BatchEncoder"] = None
        if like is not None and self._log_probs is not None:
            self._batch_encoder = like.batch_encoder().rescored(self._log_probs)
        self._prefix_index: Optional["PrefixIndex"] = None
        self._added_pieces: Optional["AddedPieces"] = None
        self._id_objects: Optional[np.ndarray] = None  # int objects by id, for id_list
        self._pool: Optional[WorkerPool["Engine"]] = None
        self._build_lock = threading.Lock()

    @property
    def vocab_size(self) -> int:
        return self.model.vocab_size

    # ------------------------------------------------------------------ tables, built on first use
    def automaton(self) -> Any:
        """The Aho-Corasick automaton over the pieces, valued ``(length, log p, id)``.

        pyahocorasick's PyPI build takes ``str`` keys; mapping bytes to code points 0-255
        (latin-1) keeps match positions identical to a byte automaton.
        """
        if self._automaton is None:
            with self._build_lock:
                if self._automaton is None:
                    model = self.model
                    automaton = ahocorasick.Automaton()
                    logp = self.log_probs().tolist()
                    for piece, piece_id in zip(model.pieces, model.ids):
                        automaton.add_word(piece.decode("latin-1"), (len(piece), logp[piece_id], piece_id))
                    automaton.make_automaton()
                    self._automaton = automaton
        return self._automaton

    @property
    def automaton_built(self) -> bool:
        """Whether :meth:`automaton` has been built (the batch path does not need it)."""
        return self._automaton is not None

    def piece_length_table(self) -> np.ndarray:
        """``piece_lengths`` as an int64 array (0 for special tokens), for vectorised lookups."""
        if self._piece_length_table is None:
            self._piece_length_table = np.asarray(self.piece_lengths, dtype=np.int64)
        return self._piece_length_table

    def log_probs(self) -> np.ndarray:
        """``log p`` of each id (float64; special tokens, which are never segments: 0)."""
        if self._log_probs is None:
            logp = np.zeros(self.vocab_size, dtype=np.float64)
            logp[np.asarray(self.model.ids, dtype=np.int64)] = self.model.log_probs()
            self._log_probs = logp
        return self._log_probs

    def rescored(self, log_probs: np.ndarray) -> "Engine":
        """This engine with each piece scored by ``log_probs[id]`` (-inf: never used) in
        place of the model's counts, on the same tables and batch trie (built now if they
        were not), and a random stream of its own. Pruning's rounds are this: a vocabulary
        that only changes its counts and loses pieces (``training/pruning.py``), whose
        trie costs seconds to build and nothing to keep.

        >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
        >>> scores = engine.log_probs().copy()
        >>> scores[259] = -np.inf  # b"ab" is gone
        >>> engine.encode_utf8(b"ab"), engine.rescored(scores).encode_utf8(b"ab")
        ([259], [100, 101])
        """
        return Engine(self.model, cache_bytes=self.chunk_cache.max_bytes, log_probs=log_probs, like=self)

    def _checked_scores(self, log_probs: np.ndarray) -> np.ndarray:
        scores = np.asarray(log_probs, dtype=np.float64)
        if scores.shape != (self.vocab_size,):
            raise ValueError(f"log_probs must hold one score per id ({self.vocab_size}), got shape {scores.shape}")
        if not (scores[self.piece_length_table() == 1] > -np.inf).all():
            raise ValueError("every single byte must keep a finite score, so that any text can be segmented")
        return scores

    def batch_encoder(self) -> "BatchEncoder":
        """The vectorised Viterbi and sampler of ``batch/`` for this model."""
        if self._batch_encoder is None:
            from .batch.encode import BatchEncoder

            with self._build_lock:
                if self._batch_encoder is None:
                    self._batch_encoder = BatchEncoder(self.model.pieces, self.model.ids, self.log_probs())
        return self._batch_encoder

    def prefix_index(self) -> "PrefixIndex":
        """The index of pieces by prefix that token healing uses."""
        if self._prefix_index is None:
            from .healing import PrefixIndex

            self._prefix_index = PrefixIndex(self.model.pieces, self.model.ids)
        return self._prefix_index

    def added_pieces(self) -> Optional["AddedPieces"]:
        """Where the model's added pieces occur in a text, or ``None`` if it has none."""
        if self._added_pieces is None and self.model.added_pieces:
            from .added_vocabulary import AddedPieces

            ids = self.model.piece_to_id
            self._added_pieces = AddedPieces(self.model.added_pieces, [ids[p] for p in self.model.added_pieces])
        return self._added_pieces

    # ------------------------------------------------------------------ special tokens
    def special_id(self, token: str) -> int:
        """The id of special token ``token``; ``ValueError`` if the model has none."""
        try:
            return self.special_to_id[token]
        except KeyError:
            raise ValueError(f"this model has no {token} special token") from None

    def special_splitter(self, allowed: AllowedSpecial) -> Optional["re.Pattern[str]"]:
        """A pattern whose ``split`` cuts a text at the ``allowed`` special tokens (odd
        parts are the tokens), or ``None`` when none are allowed. Unknown tokens fail here."""
        if isinstance(allowed, tuple) and not allowed:  # the default, (): no special tokens
            return None
        if allowed == "all":
            allowed = list(self.special_to_id)
        elif isinstance(allowed, (str, bytes)) or not isinstance(allowed, Collection) or not all(
            isinstance(token, str) for token in allowed
        ):
            raise TypeError(f"allowed_special must be 'all' or a collection of special-token names (str), got {allowed!r}")
        if not allowed:
            return None
        unknown = set(allowed) - set(self.special_to_id)
        if unknown:
            raise ValueError(f"not special tokens of this model: {sorted(unknown)}; it has {sorted(self.special_to_id)}")
        alternatives = "|".join(re.escape(t) for t in sorted(allowed, key=len, reverse=True))
        return re.compile(f"({alternatives})")

    def split_special(self, text: str, splitter: "re.Pattern[str]") -> Iterator[Union[int, str]]:
        """The parts of ``text``: the id of each special token, and the (non-empty)
        ordinary text between them."""
        for index, part in enumerate(splitter.split(text)):
            if index % 2:
                yield self.special_to_id[part]
            elif part:
                yield part

    # ------------------------------------------------------------------ encoding
    def normalized_utf8(self, text: str) -> bytes:
        """``text`` under the model's normalization, as UTF-8 (errors name the problem)."""
        return to_utf8(normalize(text, self.model.normalization))

    def encode_utf8(self, data: bytes, alpha: Optional[float] = None, rng: Optional[np.random.Generator] = None) -> Ids:
        """Ids of normalized UTF-8 ``data``: the best segmentation of each chunk, or with
        ``alpha`` (checked by the caller) a random one drawn from ``rng``. Added pieces
        (``added_vocabulary.py``) are cut out first."""
        if len(data) >= batch_min_bytes(alpha):  # the batch path decides
            return self.id_list(self.encode_utf8_array(data, alpha, rng))
        added = self.added_pieces()
        longest = self.chunk_cache.max_chunk  # 0: the cache is off
        ids: Ids = []
        for part in [data] if added is None else added.split(data):
            if isinstance(part, int):
                ids.append(part)
                continue
            chunks = split_chunks(part)
            if alpha is None and longest:
                self._decode_cached(chunks, longest, ids)
                continue
            for chunk in chunks:
                ids.extend(self.decode_chunk(chunk, alpha, rng))
        return ids

    def _decode_cached(self, chunks: List[bytes], longest: int, ids: Ids) -> None:
        """Append the Viterbi ids of ``chunks`` to ``ids``, those of the short ones (at most
        ``longest`` bytes) from the chunk cache when it has them, keeping the others there.
        The cache is read and written once per document; a chunk that repeats within the
        document is found in ``fresh``, the chunks decoded so far."""
        cache = self.chunk_cache
        if len(chunks) == 1:  # a text of one line: no lists, no dict
            chunk = chunks[0]
            if len(chunk) > longest:
                ids.extend(self.decode_chunk(chunk))
                return
            cached = cache.get(chunk)
            if cached is None:
                cached = tuple(self.decode_chunk(chunk))
                cache.put(chunk, cached)
            ids.extend(cached)
            return
        found = iter(cache.get_many([chunk for chunk in chunks if len(chunk) <= longest]))
        fresh: Dict[bytes, Sequence[int]] = {}
        repeats = 0
        for chunk in chunks:
            if len(chunk) > longest:
                ids.extend(self.decode_chunk(chunk))
                continue
            cached = next(found)
            if cached is None:
                cached = fresh.get(chunk)
                if cached is None:
                    cached = fresh[chunk] = tuple(self.decode_chunk(chunk))
                else:
                    repeats += 1
            ids.extend(cached)
        cache.put_many(fresh)
        cache.count_hits(repeats)

    def decode_chunk(
        self,
        chunk: Union[bytes, memoryview],
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
        *,
        start_score: float = 0.0,
    ) -> Sequence[int]:
        """Ids of one chunk by the scalar decoders: the best path (``viterbi.py``), or with
        ``alpha`` an exact random one drawn from ``rng`` (``sampling.py``). ``start_score``:
        the Viterbi score the sums start from (``best_path``; a sample needs none)."""
        text = str(chunk, "latin-1")  # bytes as code points 0-255: the automaton's keys
        if alpha is None:
            return best_path(self.automaton(), text, self.piece_lengths, start_score)
        assert rng is not None
        return sample_path(self.automaton(), text, self.piece_lengths, alpha, rng)

    def encode_utf8_array(
        self, data: bytes, alpha: Optional[float] = None, rng: Optional[np.random.Generator] = None
    ) -> np.ndarray:
        """:meth:`encode_utf8` as an ``int32`` array: 4 bytes an id, where a list holds a
        pointer and an int object (36 bytes) for each."""
        if len(data) < batch_min_bytes(alpha):
            return np.asarray(self.encode_utf8(data, alpha, rng), dtype=np.int32)
        from .batch.encode import encode_utf8

        ids, _bounds = encode_utf8(self, [data], alpha, rng)
        return ids.astype(np.int32, copy=False)

    def id_list(self, ids: np.ndarray) -> Ids:
        """``ids.tolist()``, but each id is the one int object of that id: a list of a
        million ids holds 8 MB of pointers instead of 36 MB of pointers and new ints."""
        if self._id_objects is None:
            self._id_objects = np.array(list(range(self.vocab_size)), dtype=object)
        objects, block = self._id_objects, 1 << 16
        result: Ids = [0] * ids.size  # its final size at once: growing it would copy it
        for start in range(0, ids.size, block):  # a block at a time: no second full-size copy
            result[start : start + block] = objects.take(ids[start : start + block]).tolist()
        return result

    def encode_chunks(
        self,
        buffer: bytes,
        starts: np.ndarray,
        lengths: np.ndarray,
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Segment each chunk ``buffer[starts[i] : starts[i] + lengths[i]]`` on its own
        (vectorised, or by :meth:`decode_chunk` where a slice does not pay): all ids back
        to back in chunk order, and ``offsets`` (chunk ``i``'s ids are
        ``offsets[i] : offsets[i + 1]``). Chunks may hold any bytes, newlines included.

        >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
        >>> ids, offsets = engine.encode_chunks(b"abcab", np.array([0, 3]), np.array([3, 2]))
        >>> ids.tolist(), offsets.tolist()
        ([259, 102, 259], [0, 2, 3])
        """
        encoder = self.batch_encoder()

        def scalar(chunk: memoryview, start_score: float) -> Sequence[int]:
            if alpha is None and not self.automaton_built:
                # A straggler of the batch path (a tie, a chunk too long or too lone for a
                # slice): the best path over the batch trie's matches, which come in the
                # automaton's order, so the ids are the same. Building an automaton for a
                # few chunks would cost more than the batch itself (seconds and hundreds of
                # MB for a vocabulary of pruning's size, in every worker).
                return best_path(_TrieMatches(encoder.prepare(), self.log_probs()), str(chunk, "latin-1"), self.piece_lengths, start_score)
            return self.decode_chunk(chunk, alpha, rng, start_score=start_score)

        return encoder.encode_chunks(buffer, starts, lengths, scalar, alpha, rng)

    # ------------------------------------------------------------------ decoding
    def decode_bytes(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> bytes:
        """Concatenated bytes of the pieces; special tokens contribute nothing when
        skipped, their UTF-8 names otherwise. Ids are checked (:meth:`check_ids`)."""
        return self.join_pieces(self.check_ids(ids), skip_special_tokens=skip_special_tokens)

    def join_pieces(self, ids: List[int], *, skip_special_tokens: bool = True) -> bytes:
        """:meth:`decode_bytes` of ids that :meth:`check_ids` has already checked."""
        pieces = self.pieces_by_id
        if skip_special_tokens or not self.id_to_special:
            return b"".join([pieces[i] for i in ids])  # a special token's piece is b""
        specials = self.id_to_special
        return b"".join([pieces[i] or specials[i].encode("utf-8") for i in ids])

    def check_ids(self, ids: Iterable[int]) -> List[int]:
        """``ids`` as a list of ``int``: ``TypeError`` unless each is an integer (a
        ``bool``, a float or a list is not), ``ValueError`` for one outside
        ``0 .. vocab_size - 1``; both name the position and the value.

        >>> Engine(Model.from_counts({bytes([b]): 1 for b in range(256)})).check_ids([3, 258])
        [3, 258]
        """
        values: List[int]
        if type(ids) is list:  # the usual case: checked without a copy
            values = ids
        elif isinstance(ids, np.ndarray):
            if ids.ndim != 1 or ids.dtype.kind not in "iu":
                raise TypeError(f"ids must be a 1-D array of integers, got {ids.dtype} of shape {ids.shape}")
            values = ids.tolist()
        elif isinstance(ids, (str, bytes, bytearray)):
            raise TypeError(f"ids must be an iterable of integer ids, got {type(ids).__name__}")
        else:
            try:
                values = list(ids)
            except TypeError:
                raise TypeError(f"ids must be an iterable of integer ids, got {type(ids).__name__}") from None
        if not set(map(type, values)) <= {int}:  # a bool, a numpy integer, anything else
            values = [self.check_id(i, position) for position, i in enumerate(values)]
        size = len(self.pieces_by_id)
        if values and (min(values) < 0 or max(values) >= size):
            position, bad = next((p, i) for p, i in enumerate(values) if not 0 <= i < size)
            raise ValueError(f"ids[{position}]: {self.unknown_id_message(bad)}")
        return values

    def check_id(self, token_id: Any, position: Optional[int] = None) -> int:
        """One id as an ``int`` (see :meth:`check_ids`; the range is checked there)."""
        if isinstance(token_id, bool) or not isinstance(token_id, (int, np.integer)):
            where = "token id" if position is None else f"ids[{position}]"
            raise TypeError(f"{where} must be an integer, got {token_id!r} ({type(token_id).__name__})")
        return int(token_id)

    def unknown_id_message(self, token_id: object) -> str:
        return f"unknown token id {token_id!r}: ids of this model are integers 0..{self.vocab_size - 1}"

    # ------------------------------------------------------------------ worker processes
    @property
    def pool(self) -> Optional[WorkerPool["Engine"]]:
        """The pool that :meth:`worker_pool` started and keeps, if any."""
        return self._pool

    def worker_pool(self, workers: int) -> WorkerPool["Engine"]:
        """This engine's pool of ``workers`` processes (state: the engine), started on
        first use and kept for later calls; a forked copy of the engine starts its own."""
        pool = self._pool
        if pool is not None and pool.owner == os.getpid() and pool.workers == workers:
            return pool
        self.close()
        self.automaton()  # built once here: forked workers inherit the tables
        self.batch_encoder().prepare()
        self._pool = WorkerPool(workers, self, purpose="encode_batch(workers=N)")
        return self._pool

    def close(self) -> None:
        """Stop the worker processes, if this process started them."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> Dict[str, Any]:
        # Ship the compact model file, not the tables; a copy rebuilds them on first use.
        scores = self._log_probs if self._rescored else None
        return {"model": dumps_model(self.model), "random": self.random, "log_probs": scores}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(loads_model(state["model"]), log_probs=state.get("log_probs"))  # type: ignore[misc]
        self.random = state["random"]


class _TrieMatches:
    """The batch path's flat trie as a stand-in for the automaton in :func:`best_path`:
    ``iter(chunk)`` yields the same ``(end, (length, log p, id))`` matches in the same
    order (:meth:`FlatTrie.matches_by_end`), with the same float log-probabilities."""

    def __init__(self, trie: "FlatTrie", log_probs: np.ndarray) -> None:
        self.trie = trie
        self.log_probs = log_probs

    def iter(self, chunk: str) -> Iterator[Tuple[int, Tuple[int, float, int]]]:
        ends, lengths, ids = self.trie.matches_by_end(chunk.encode("latin-1"))
        return zip(ends.tolist(), zip(lengths.tolist(), self.log_probs.take(ids).tolist(), ids.tolist()))
