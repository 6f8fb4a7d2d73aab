"""The Tokenizer: text <-> ids with a trained (or BytePiece 0.6) model.

Pipeline: normalize (model setting) -> UTF-8 -> chunks (line + its newlines) -> per chunk,
an Aho-Corasick lattice of all vocabulary pieces -> best path (``viterbi.py``) or an exact
random path (``sampling.py``). ``decode`` concatenates piece bytes.

Randomness belongs to the instance (a numpy ``Generator``) or to the call (``seed=``),
never to the process: see ``reseed`` for data-loader workers.
"""

from __future__ import annotations

import os
import re
from typing import (
    TYPE_CHECKING,
    AbstractSet,
    Any,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Union,
)

import ahocorasick
import numpy as np

from .model_file import Model, PathLike, dumps_model, load_model, loads_model, save_model, unigram_log_probs
from .normalization import normalize, split_chunks, to_utf8
from .sampling import check_alpha, sample_path
from .viterbi import best_path

BATCH_MIN_BYTES = 32 << 10  # encode() hands texts at least this long to batch.py

if TYPE_CHECKING:  # pragma: no cover
    from .batch import BatchEncoder
    from .healing import Healing, PrefixIndex
    from .lattice import Segmentation
    from .streaming import StreamDecoder

Seed = Union[None, int, Sequence[int], np.random.SeedSequence, np.random.Generator]
Ids = List[int]


class Tokenizer:
    """Byte-level unigram tokenizer.

    >>> tok = Tokenizer("model.bpm")                      # doctest: +SKIP
    >>> ids = tok.encode("新词发现 new words")               # doctest: +SKIP
    >>> tok.decode(ids)                                      # doctest: +SKIP
    '新词发现 new words'
    >>> tok.encode("new words", alpha=0.1, seed=0)           # doctest: +SKIP
    [...]  # one random segmentation, the same for the same seed

    ``model`` is a ``Model`` or a path to a model file (ours, or a BytePiece 0.6 JSON /
    .zip). ``seed`` seeds the instance's random stream used by ``alpha=`` sampling.
    """

    def __init__(self, model: Union[Model, PathLike], *, seed: Seed = None) -> None:
        self._model = model if isinstance(model, Model) else load_model(model)
        m = self._model
        self._id_to_bytes: List[bytes] = [b""] * m.vocab_size
        self._lengths: List[int] = [0] * m.vocab_size
        for piece, piece_id in zip(m.pieces, m.ids):
            self._id_to_bytes[piece_id] = piece
            self._lengths[piece_id] = len(piece)
        self._special_to_id: Dict[str, int] = dict(m.special_tokens)
        self._id_to_special: Dict[int, str] = {i: t for t, i in m.special_tokens.items()}
        self._piece_to_id: Optional[Dict[bytes, int]] = None
        self._automaton: Any = None  # built on first use: cheap pickling, fast start-up
        self._pool: Any = None  # encode_batch's worker processes (batch_pool.py)
        self.reseed(seed)

    # ------------------------------------------------------------------ properties
    @property
    def model(self) -> Model:
        return self._model

    @property
    def vocab_size(self) -> int:
        """Number of ids: pieces plus special tokens."""
        return self._model.vocab_size

    @property
    def special_tokens(self) -> Dict[str, int]:
        return dict(self._special_to_id)

    @property
    def pad_id(self) -> Optional[int]:
        return self._special_to_id.get("<pad>")

    @property
    def bos_id(self) -> Optional[int]:
        return self._special_to_id.get("<bos>")

    @property
    def eos_id(self) -> Optional[int]:
        return self._special_to_id.get("<eos>")

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, normalization={self._model.normalization!r}, "
            f"origin={self._model.origin!r})"
        )

    # ------------------------------------------------------------------ randomness
    def reseed(self, seed: Seed = None, *, worker_id: Optional[int] = None) -> None:
        """Reset the instance's random stream.

        ``seed=None`` draws fresh OS entropy. With ``worker_id``, each worker gets an
        independent stream derived from the same seed (``SeedSequence`` spawn keys), which
        is what forked data-loader workers need: call ``tok.reseed(seed, worker_id=i)`` in
        the worker's init function, otherwise forked copies continue one identical stream.
        """
        if isinstance(seed, np.random.Generator):
            if worker_id is not None:
                raise ValueError("worker_id needs an integer seed, not a Generator")
            self._rng, self._rng_pid, self._rng_seeded = seed, os.getpid(), True
            return
        self._rng_seeded = seed is not None
        if worker_id is not None:
            base = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
            seed = np.random.SeedSequence(base.entropy, spawn_key=tuple(base.spawn_key) + (int(worker_id),))
        self._rng = np.random.default_rng(seed)
        self._rng_pid = os.getpid()  # a copy in another process must not reuse the stream

    def _generator(self, seed: Seed) -> np.random.Generator:
        if seed is None:
            if self._rng_pid != os.getpid():  # forked or unpickled, not reseeded: see workers.py
                if self._rng_seeded:  # the user asked for reproducibility: say it is lost
                    from .workers import inherited_stream

                    self._rng = inherited_stream(self._rng_pid)
                else:  # OS entropy before, OS entropy now: nothing to tell
                    self._rng = np.random.default_rng()
                self._rng_pid = os.getpid()
            return self._rng
        if isinstance(seed, np.random.Generator):
            return seed
        return np.random.default_rng(seed)

    # ------------------------------------------------------------------ encoding
    def tokenize(self, text: str, *, alpha: Optional[float] = None, seed: Seed = None) -> List[bytes]:
        """Split ``text`` into byte pieces (after the model's normalization).

        ``alpha=None`` gives the most probable segmentation; ``alpha >= 0`` draws one with
        probability ∝ p(segmentation)^alpha (see ``docs/sampling.md``).

        >>> tok.tokenize("hello world")                      # doctest: +SKIP
        [b'hello', b' world']
        """
        pieces = self._id_to_bytes
        return [pieces[i] for i in self._encode_ordinary(text, alpha, seed)]

    def encode(
        self,
        text: str,
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        alpha: Optional[float] = None,
        seed: Seed = None,
        allowed_special: Union[Literal["all"], AbstractSet[str], Collection[str]] = (),
    ) -> Ids:
        """Encode ``text`` to ids.

        Special-token strings in ``text`` (e.g. ``"<eos>"``) are ordinary text unless listed
        in ``allowed_special`` (or ``"all"``), in which case they become their ids.
        ``alpha``/``seed``: see :meth:`tokenize`.

        >>> tok.encode("hi<eos>", allowed_special={"<eos>"})   # doctest: +SKIP
        [..., 2]
        """
        ids: Ids = []
        if add_bos:
            ids.append(self._required_special("<bos>"))
        splitter = self._special_splitter(allowed_special)
        if splitter is None:
            ids.extend(self._encode_ordinary(text, alpha, seed))
        else:
            rng = None if alpha is None else self._generator(seed)
            for index, part in enumerate(splitter.split(text)):
                if index % 2:
                    ids.append(self._special_to_id[part])
                elif part:
                    ids.extend(self._encode_ordinary(part, alpha, rng))
        if add_eos:
            ids.append(self._required_special("<eos>"))
        return ids

    def encode_batch(self, texts: Iterable[str], *, workers: Optional[int] = None, **options: Any) -> List[Ids]:
        """Encode each text of ``texts`` (same options as :meth:`encode`), vectorised.

        Viterbi ids are exactly those of :meth:`encode`; with ``alpha`` each text gets an
        exact sample, but not the one ``encode`` would draw from the same seed (the same
        ``seed`` gives the same samples for any ``workers``).

        ``workers=N`` (0: one per core) spreads the batch over N processes, in jobs of at
        least 64K characters (sampling: about a million, so that a seed gives the same
        samples for any N). The pool is started on first use and kept for later calls;
        :meth:`close` (or deleting the tokenizer) stops it.
        See ``batch.py`` and ``docs/performance.md``.

        >>> tok.encode_batch(["hello world", "新词发现"])          # doctest: +SKIP
        [[1626, 6585, 30241], [8587, 9544, 39351]]
        """
        from .batch import encode_batch

        return encode_batch(self, list(texts), workers=workers, **options)

    def close(self) -> None:
        """Stop the worker processes that ``encode_batch(workers=N)`` started, if any.
        The tokenizer stays usable (a later call with ``workers`` starts a new pool)."""
        from .batch_pool import close_pool

        close_pool(self)

    def tokenize_batch(self, texts: Iterable[str], **options: Any) -> List[List[bytes]]:
        """Split each text into byte pieces (options as :meth:`encode_batch`)."""
        pieces = self._id_to_bytes
        return [[pieces[i] for i in ids] for ids in self.encode_batch(texts, **options)]

    def encode_iter(self, texts: Iterable[str], **options: Any) -> Iterator[Ids]:
        """Lazily encode an iterable of texts (e.g. the lines of a big file)."""
        for text in texts:
            yield self.encode(text, **options)

    def tokenize_iter(self, texts: Iterable[str], **options: Any) -> Iterator[List[bytes]]:
        """Lazily tokenize an iterable of texts."""
        for text in texts:
            yield self.tokenize(text, **options)

    def _encode_ordinary(self, text: str, alpha: Optional[float], seed: Seed) -> Ids:
        data = to_utf8(normalize(text, self._model.normalization))
        if len(data) >= BATCH_MIN_BYTES:  # many chunks or a long one: batch.py decides
            from .batch import encode_utf8

            rng = None if alpha is None else self._generator(seed)
            return encode_utf8(self, [data], None if alpha is None else check_alpha(alpha), rng)[0].tolist()
        automaton = self._get_automaton()
        lengths = self._lengths
        ids: Ids = []
        if alpha is None:
            for chunk in split_chunks(data):
                ids.extend(best_path(automaton, chunk.decode("latin-1"), lengths))
            return ids
        alpha = check_alpha(alpha)
        rng = self._generator(seed)
        for chunk in split_chunks(data):
            ids.extend(sample_path(automaton, chunk.decode("latin-1"), lengths, alpha, rng))
        return ids

    def _required_special(self, token: str) -> int:
        try:
            return self._special_to_id[token]
        except KeyError:
            raise ValueError(f"this model has no {token} special token") from None

    def _special_splitter(self, allowed: Union[str, Collection[str]]) -> Optional["re.Pattern[str]"]:
        if allowed == "all":
            allowed = list(self._special_to_id)
        elif isinstance(allowed, str):
            raise TypeError("allowed_special must be 'all' or a collection of special tokens")
        if not allowed:
            return None
        unknown = set(allowed) - set(self._special_to_id)
        if unknown:
            raise ValueError(f"not special tokens of this model: {sorted(unknown)}; it has {sorted(self._special_to_id)}")
        alternatives = "|".join(re.escape(t) for t in sorted(allowed, key=len, reverse=True))
        return re.compile(f"({alternatives})")

    def _get_automaton(self) -> Any:
        if self._automaton is None:
            self._automaton = build_automaton(self._model)
        return self._automaton

    def _get_batch_encoder(self) -> "BatchEncoder":
        if getattr(self, "_batch_encoder", None) is None:
            from .batch import BatchEncoder

            self._batch_encoder = BatchEncoder(self._model)
        return self._batch_encoder

    # ------------------------------------------------------------------ decoding
    def decode(
        self,
        ids: Iterable[int],
        *,
        errors: str = "replace",
        skip_special_tokens: bool = False,
    ) -> str:
        """Turn ids back into text.

        The pieces' bytes are concatenated and decoded as UTF-8 with ``errors`` (default
        ``"replace"``: ids from :meth:`encode` always decode exactly, and a truncated or
        generated sequence with a broken character decodes with U+FFFD instead of raising;
        pass ``errors="strict"`` to be told). Special tokens decode to their names unless
        ``skip_special_tokens``. Unknown ids raise ``ValueError``.

        >>> tok.decode(tok.encode("naïve café"))             # doctest: +SKIP
        'naïve café'
        """
        if skip_special_tokens or not self._id_to_special:
            return self.decode_bytes(ids, skip_special_tokens=skip_special_tokens).decode("utf-8", errors)
        parts: List[str] = []
        run: List[int] = []
        for i in ids:
            if i in self._id_to_special:
                parts.append(self.decode_bytes(run).decode("utf-8", errors))
                parts.append(self._id_to_special[i])
                run = []
            else:
                run.append(i)
        parts.append(self.decode_bytes(run).decode("utf-8", errors))
        return "".join(parts)

    def decode_batch(self, batch: Iterable[Iterable[int]], **options: Any) -> List[str]:
        """Decode each id sequence of ``batch`` (same options as :meth:`decode`)."""
        return [self.decode(ids, **options) for ids in batch]

    def decode_bytes(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> bytes:
        """Concatenated bytes of the pieces; special tokens contribute nothing when skipped,
        their UTF-8 names otherwise."""
        pieces = self._id_to_bytes
        specials = self._id_to_special
        out = []
        for i in ids:
            try:
                if i < 0:
                    raise IndexError
                piece = pieces[i]
            except (IndexError, TypeError):
                raise ValueError(self._unknown_id_message(i)) from None
            if not piece:  # only special tokens have no bytes
                if skip_special_tokens:
                    continue
                piece = specials[i].encode("utf-8")
            out.append(piece)
        return b"".join(out)

    def _unknown_id_message(self, i: object) -> str:
        return f"unknown token id {i!r}: ids of this model are integers 0..{self.vocab_size - 1}"

    # ------------------------------------------------------------------ vocabulary
    def id_to_piece(self, token_id: int) -> Union[bytes, str]:
        """The piece's bytes, or the special token's name (a ``str``)."""
        if token_id in self._id_to_special:
            return self._id_to_special[token_id]
        if not isinstance(token_id, (int, np.integer)) or not 0 <= token_id < self.vocab_size:
            raise ValueError(self._unknown_id_message(token_id))
        return self._id_to_bytes[token_id]

    def piece_to_id(self, piece: Union[bytes, str]) -> int:
        """Id of a piece (bytes, or its text) or of a special token name."""
        if isinstance(piece, str):
            if piece in self._special_to_id:
                return self._special_to_id[piece]
            piece = piece.encode("utf-8")
        if self._piece_to_id is None:
            self._piece_to_id = self._model.piece_to_id
        try:
            return self._piece_to_id[piece]
        except KeyError:
            raise KeyError(f"{piece!r} is not a piece of this vocabulary") from None

    def save(self, path: PathLike) -> None:
        """Save the model in the current format (atomic write)."""
        save_model(self._model, path)

    # ------------------------------------------------------------------ lattice and generation
    # Thin entry points; the work is in lattice.py, streaming.py and healing.py.
    def nbest(self, text: str, n: int) -> "List[Segmentation]":
        """The ``n`` most probable segmentations, best first (``.ids``, ``.logp``).

        >>> [s.ids for s in tok.nbest("hello", 2)]          # doctest: +SKIP
        [[...], [...]]     # the first is tok.encode("hello")
        """
        from .lattice import nbest

        return nbest(self, text, n)

    def score(self, text: str, pieces: Sequence[Union[int, bytes, str]]) -> float:
        """Log-probability of the segmentation ``pieces`` (ids or piece bytes/strings) of ``text``."""
        from .lattice import score

        return score(self, text, pieces)

    def entropy(self, text: str, *, alpha: float = 1.0) -> float:
        """Entropy (nats) of the segmentation distribution p ∝ p(segmentation)^alpha."""
        from .lattice import entropy

        return entropy(self, text, alpha)

    def stream_decoder(self, *, errors: str = "replace", skip_special_tokens: bool = False) -> "StreamDecoder":
        """An incremental decoder: ``feed(id)`` returns text once it is complete UTF-8."""
        from .streaming import StreamDecoder

        return StreamDecoder(self, errors=errors, skip_special_tokens=skip_special_tokens)

    def heal(self, prompt: Union[str, Sequence[int]], *, back_off: int = 1) -> "Healing":
        """Token healing: back off the prompt's last token(s); see ``healing.Healing``."""
        from .healing import heal

        return heal(self, self._get_prefix_index(), prompt, back_off)

    def complete_prefix(self, prefix: Union[str, bytes]) -> np.ndarray:
        """Ids of all pieces whose bytes start with ``prefix`` (a prefix index, no scan)."""
        raw = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
        return self._get_prefix_index().starting_with(raw)

    def _get_prefix_index(self) -> "PrefixIndex":
        if getattr(self, "_prefix_index", None) is None:
            from .healing import PrefixIndex

            self._prefix_index = PrefixIndex.from_model(self._model)
        return self._prefix_index

    # ------------------------------------------------------------------ export
    def to_huggingface(self, path: PathLike, *, add_bos: bool = False, add_eos: bool = False) -> "os.PathLike[str]":
        """Write a ``tokenizer.json`` (``path`` ending in .json) or a directory loadable by
        ``transformers.AutoTokenizer``; same ids. ``add_bos``/``add_eos``: what HF's
        ``add_special_tokens=True`` adds. Needs the ``hf`` extra."""
        from .export.huggingface import to_huggingface

        return to_huggingface(self, path, add_bos=add_bos, add_eos=add_eos)

    def to_sentencepiece(self, path: PathLike) -> "os.PathLike[str]":
        """Write a SentencePiece ``.model``; see ``export/sentencepiece.py`` for the documented
        differences. Needs the ``sp`` extra to load it."""
        from .export.sentencepiece import to_sentencepiece

        return to_sentencepiece(self, path)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> Dict[str, Any]:
        # Ship the compact model file, not the automaton; workers rebuild it on first use.
        return {
            "model": dumps_model(self._model),
            "rng": self._rng.bit_generator.state,
            "rng_pid": self._rng_pid,
            "rng_seeded": self._rng_seeded,
        }

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(loads_model(state["model"]))  # type: ignore[misc]
        self._rng.bit_generator.state = state["rng"]
        self._rng_pid = state.get("rng_pid", self._rng_pid)
        self._rng_seeded = state.get("rng_seeded", True)


def build_automaton(model: Model) -> Any:
    """An Aho-Corasick automaton over the pieces, valued ``(length, log p, id)``.

    pyahocorasick's PyPI build takes ``str`` keys; mapping bytes to code points 0-255
    (latin-1) keeps match positions identical to a byte automaton.
    """
    logps = unigram_log_probs(model.counts).tolist()
    automaton = ahocorasick.Automaton()
    for piece, logp, piece_id in zip(model.pieces, logps, model.ids):
        automaton.add_word(piece.decode("latin-1"), (len(piece), logp, piece_id))
    automaton.make_automaton()
    return automaton
