"""The engine: everything tokenization needs for one model, built once and shared.

``Tokenizer`` is a thin front that validates arguments; the work is here, behind public,
typed methods that the batch path, the worker pool, the analysis functions, healing, the
exporters and the trainer's pruning all use. The engine owns:

* the tables by id: piece bytes, lengths, log-probabilities, special tokens;
* the Aho-Corasick automaton (scalar decoding) and the batch encoder (vectorised
  decoding), each built on first use, so that loading and pickling stay cheap;
* special-token splitting (which strings in a text are special tokens);
* the random stream of sampled encodes (``random_streams.py``);
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
from typing import TYPE_CHECKING, Any, Collection, Dict, Iterator, List, Optional, Tuple, Union

import ahocorasick
import numpy as np

from ..io.model_file import dumps_model, loads_model
from ..model import Model, unigram_log_probs
from ..normalization import normalize, split_chunks, to_utf8
from ..parallel import WorkerPool
from .random_streams import RandomStream, Seed
from .sampling import sample_path
from .viterbi import best_path

if TYPE_CHECKING:  # pragma: no cover
    from .batch.encode import BatchEncoder
    from .healing import PrefixIndex

# encode() hands texts at least this long to the batch path (Viterbi, sampling): below, its
# fixed cost (~0.5 ms) is more than the scalar decoders take (benchmarks/peers.py, documents).
BATCH_MIN_BYTES, SAMPLE_BATCH_MIN_BYTES = 5 << 10, 5 << 9

Ids = List[int]
AllowedSpecial = Union[str, Collection[str]]


class Engine:
    """Tables, automaton, batch encoder, random stream and worker pool of one model.

    >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
    >>> engine.encode_utf8(b"abc"), engine.decode_bytes([engine.special_id("<bos>"), 259])
    ([259, 102], b'ab')
    """

    def __init__(self, model: Model, *, seed: Seed = None) -> None:
        self.model = model
        self.random = RandomStream(seed)
        self.pieces_by_id: List[bytes] = [b""] * model.vocab_size  # b"" for special tokens
        self.piece_lengths: List[int] = [0] * model.vocab_size
        for piece, piece_id in zip(model.pieces, model.ids):
            self.pieces_by_id[piece_id] = piece
            self.piece_lengths[piece_id] = len(piece)
        self.special_to_id: Dict[str, int] = dict(model.special_tokens)
        self.id_to_special: Dict[int, str] = {i: t for t, i in model.special_tokens.items()}
        self._automaton: Any = None
        self._log_probs: Optional[np.ndarray] = None
        self._batch_encoder: Optional["BatchEncoder"] = None
        self._prefix_index: Optional["PrefixIndex"] = None
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
                    for piece, logp, piece_id in zip(model.pieces, unigram_log_probs(model.counts).tolist(), model.ids):
                        automaton.add_word(piece.decode("latin-1"), (len(piece), logp, piece_id))
                    automaton.make_automaton()
                    self._automaton = automaton
        return self._automaton

    @property
    def automaton_built(self) -> bool:
        """Whether :meth:`automaton` has been built (the batch path does not need it)."""
        return self._automaton is not None

    def log_probs(self) -> np.ndarray:
        """``log p`` of each id (float64; special tokens, which are never segments: 0)."""
        if self._log_probs is None:
            logp = np.zeros(self.vocab_size, dtype=np.float64)
            logp[np.asarray(self.model.ids, dtype=np.int64)] = unigram_log_probs(self.model.counts)
            self._log_probs = logp
        return self._log_probs

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
        if allowed == "all":
            allowed = list(self.special_to_id)
        elif isinstance(allowed, str):
            raise TypeError("allowed_special must be 'all' or a collection of special tokens")
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
        ``alpha`` (checked by the caller) a random one drawn from ``rng``."""
        if len(data) >= (BATCH_MIN_BYTES if alpha is None else SAMPLE_BATCH_MIN_BYTES):  # the batch path decides
            from .batch.encode import encode_utf8

            batch_ids, _bounds = encode_utf8(self, [data], alpha, rng)
            return batch_ids.tolist()
        automaton = self.automaton()
        lengths = self.piece_lengths
        ids: Ids = []
        if alpha is None:
            for chunk in split_chunks(data):
                ids.extend(best_path(automaton, chunk.decode("latin-1"), lengths))
            return ids
        assert rng is not None
        for chunk in split_chunks(data):
            ids.extend(sample_path(automaton, chunk.decode("latin-1"), lengths, alpha, rng))
        return ids

    def encode_chunks(
        self,
        buffer: bytes,
        starts: np.ndarray,
        lengths: np.ndarray,
        alpha: Optional[float] = None,
        rng: Optional[np.random.Generator] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Segment each chunk ``buffer[starts[i] : starts[i] + lengths[i]]`` on its own
        (vectorised, or by the scalar decoders where a slice does not pay): all ids back to
        back in chunk order, and ``offsets`` (chunk ``i``'s ids are
        ``offsets[i] : offsets[i + 1]``). Chunks may hold any bytes, newlines included.

        >>> engine = Engine(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
        >>> ids, offsets = engine.encode_chunks(b"abcab", np.array([0, 3]), np.array([3, 2]))
        >>> ids.tolist(), offsets.tolist()
        ([259, 102, 259], [0, 2, 3])
        """
        automaton = self.automaton
        lengths_by_id = self.piece_lengths
        if alpha is None:

            def scalar(chunk: memoryview, start_score: float) -> Ids:
                return best_path(automaton(), str(chunk, "latin-1"), lengths_by_id, start_score)

        else:
            assert rng is not None
            sample_alpha, sample_rng = alpha, rng

            def scalar(chunk: memoryview, start_score: float) -> Ids:  # a sample needs no score
                return sample_path(automaton(), str(chunk, "latin-1"), lengths_by_id, sample_alpha, sample_rng)

        return self.batch_encoder().encode_chunks(buffer, starts, lengths, scalar, alpha, rng)

    # ------------------------------------------------------------------ decoding
    def decode_bytes(self, ids: Any, *, skip_special_tokens: bool = True) -> bytes:
        """Concatenated bytes of the pieces; special tokens contribute nothing when
        skipped, their UTF-8 names otherwise. Unknown ids raise ``ValueError``."""
        pieces = self.pieces_by_id
        specials = self.id_to_special
        out = []
        for i in ids:
            try:
                if i < 0:
                    raise IndexError
                piece = pieces[i]
            except (IndexError, TypeError):
                raise ValueError(self.unknown_id_message(i)) from None
            if not piece:  # only special tokens have no bytes
                if skip_special_tokens:
                    continue
                piece = specials[i].encode("utf-8")
            out.append(piece)
        return b"".join(out)

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
        return {"model": dumps_model(self.model), "random": self.random}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(loads_model(state["model"]))  # type: ignore[misc]
        self.random = state["random"]

