"""The Tokenizer: text <-> ids with a trained (or BytePiece 0.6) model.

A thin, typed front. Each method checks its arguments, applies the special-token policy
(``allowed_special``, ``add_bos`` / ``add_eos``) and hands the work to one
:class:`~bytepiece.encoding.engine.Engine`, which owns the automaton, the tables, the
random stream and the worker pool. Everything that needs more than the public methods
here (the batch path, analysis, healing, exporters) takes ``tok.engine``.

Randomness belongs to the instance or to the call (``seed=``), never to the process: see
:meth:`Tokenizer.reseed` for data-loader workers.
"""

from __future__ import annotations

import os
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np

from ..io.model_file import load_model, save_model
from ..model import BOS, EOS, PAD, Model, PathLike
from .added_vocabulary import add_pieces, add_special_tokens, find_disallowed
from .engine import AllowedSpecial, Engine
from .offsets import Span, spans_by_text, token_offsets
from .random_streams import Seed
from ..normalization import check_errors
from .sampling import check_alpha

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Segmentation
    from .healing import Healing
    from .streaming import StreamDecoder

Ids = List[int]
Offsets = List[Span]


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
        self._engine = Engine(model if isinstance(model, Model) else load_model(model), seed=seed)
        self._piece_to_id: Optional[Dict[bytes, int]] = None

    # ------------------------------------------------------------------ properties
    @property
    def engine(self) -> Engine:
        """The engine doing the work: tables, automaton, batch encoder, random stream."""
        return self._engine

    @property
    def model(self) -> Model:
        return self._engine.model

    @property
    def vocab_size(self) -> int:
        """Number of ids: pieces plus special tokens."""
        return self._engine.vocab_size

    @property
    def special_tokens(self) -> Dict[str, int]:
        return dict(self._engine.special_to_id)

    @property
    def pad_id(self) -> Optional[int]:
        return self._engine.special_to_id.get(PAD)

    @property
    def bos_id(self) -> Optional[int]:
        return self._engine.special_to_id.get(BOS)

    @property
    def eos_id(self) -> Optional[int]:
        return self._engine.special_to_id.get(EOS)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        model = self.model
        return f"Tokenizer(vocab_size={self.vocab_size}, normalization={model.normalization!r}, origin={model.origin!r})"

    # ------------------------------------------------------------------ randomness
    def reseed(self, seed: Seed = None, *, worker_id: Optional[int] = None) -> None:
        """Reset the instance's random stream.

        ``seed=None`` draws fresh OS entropy. With ``worker_id``, each worker gets an
        independent stream derived from the same seed (``SeedSequence`` spawn keys), which
        is what forked data-loader workers need: call ``tok.reseed(seed, worker_id=i)`` in
        the worker's init function, otherwise forked copies continue one identical stream.

        >>> tok.reseed(1234, worker_id=3)                    # doctest: +SKIP
        """
        self._engine.random.reseed(seed, worker_id=worker_id)

    # ------------------------------------------------------------------ encoding
    def tokenize(self, text: str, *, alpha: Optional[float] = None, seed: Seed = None) -> List[bytes]:
        """Split ``text`` into byte pieces (after the model's normalization).

        ``alpha=None`` gives the most probable segmentation; ``alpha >= 0`` draws one with
        probability ∝ p(segmentation)^alpha (see ``docs/sampling.md``).

        >>> tok.tokenize("hello world")                      # doctest: +SKIP
        [b'hello', b' world']
        """
        pieces = self._engine.pieces_by_id
        return [pieces[i] for i in self._encode_ordinary(text, alpha, seed)]

    def encode(
        self,
        text: str,
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        alpha: Optional[float] = None,
        seed: Seed = None,
        allowed_special: AllowedSpecial = (),
        disallowed_special: AllowedSpecial = (),
    ) -> Ids:
        """Encode ``text`` to ids.

        Special-token strings in ``text`` (e.g. ``"<eos>"``) are ordinary text by default.
        Those listed in ``allowed_special`` (or ``"all"``) become their ids; those listed in
        ``disallowed_special`` (``"all"``: every special token not allowed) raise
        ``DisallowedSpecialTokenError`` naming the token and its position, as tiktoken's
        default does. ``alpha``/``seed``: see :meth:`tokenize`.

        >>> tok.encode("hi<eos>", allowed_special={"<eos>"})   # doctest: +SKIP
        [..., 2]
        >>> tok.encode("hi<eos>", disallowed_special="all")    # doctest: +SKIP
        DisallowedSpecialTokenError: the text contains the special token '<eos>' at character 2. ...
        """
        self._check_disallowed([text], allowed_special, disallowed_special)
        if not (add_bos or add_eos or allowed_special):  # the usual case, without the parts
            return self._encode_ordinary(text, alpha, seed)
        parts: List[Ids] = list(self._parts(text, add_bos, add_eos, alpha, seed, allowed_special, arrays=False))  # type: ignore[arg-type]
        if not parts:
            return []
        # The longest part (each is a new list) becomes the result: a huge text's ids are
        # not copied into another list of the same size.
        longest = max(range(len(parts)), key=lambda k: len(parts[k]))
        ids = parts[longest]
        if longest:
            ids[0:0] = [i for part in parts[:longest] for i in part]
        for part in parts[longest + 1 :]:
            ids.extend(part)
        return ids

    def encode_array(
        self,
        text: str,
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        alpha: Optional[float] = None,
        seed: Seed = None,
        allowed_special: AllowedSpecial = (),
        disallowed_special: AllowedSpecial = (),
    ) -> np.ndarray:
        """:meth:`encode` as a numpy ``int32`` array (options as :meth:`encode`).

        4 bytes an id instead of a Python int each (36 bytes with its list slot): for one
        huge text, the ids of a long line come straight from the decoder without a list.

        >>> tok.encode_array("hello world")                  # doctest: +SKIP
        array([1626, 6585], dtype=int32)
        """
        self._check_disallowed([text], allowed_special, disallowed_special)
        parts = list(self._parts(text, add_bos, add_eos, alpha, seed, allowed_special, arrays=True))
        if len(parts) == 1:
            return parts[0]  # type: ignore[return-value]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def _parts(
        self, text: str, add_bos: bool, add_eos: bool, alpha: Optional[float], seed: Seed,
        allowed_special: AllowedSpecial, arrays: bool,
    ) -> Iterator[Union[Ids, np.ndarray]]:
        """The ids of ``text`` in parts: ``<bos>``, the ordinary text between special
        tokens (lists, or with ``arrays`` int32 arrays), the special tokens, ``<eos>``."""
        engine = self._engine
        one: Callable[[int], Union[Ids, np.ndarray]] = (lambda i: np.asarray([i], dtype=np.int32)) if arrays else (lambda i: [i])
        encode_ordinary: Callable[[str, Optional[float], Seed], Union[Ids, np.ndarray]]
        encode_ordinary = self._encode_ordinary_array if arrays else self._encode_ordinary
        if add_bos:
            yield one(engine.special_id(BOS))
        splitter = engine.special_splitter(allowed_special)
        if splitter is None:
            yield encode_ordinary(text, alpha, seed)
        else:
            rng = None if alpha is None else engine.random.generator(seed)
            for part in engine.split_special(text, splitter):
                yield one(part) if isinstance(part, int) else encode_ordinary(part, alpha, rng)
        if add_eos:
            yield one(engine.special_id(EOS))

    def encode_with_offsets(
        self,
        text: str,
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        alpha: Optional[float] = None,
        seed: Seed = None,
        allowed_special: AllowedSpecial = (),
        disallowed_special: AllowedSpecial = (),
    ) -> Tuple[Ids, Offsets]:
        """:meth:`encode` (same options, same ids), and for each token the ``(start, end)``
        characters of ``text`` it came from, in the caller's string before normalization.

        Pieces that split one character all get that character's span; under NFC a token
        from a composed character spans the characters that produced it; ``<bos>`` is
        ``(0, 0)`` and ``<eos>`` ``(len(text), len(text))``. See ``docs/recipes/offsets.md``.

        >>> tok.encode_with_offsets("naïve café")              # doctest: +SKIP
        ([113, 100, 2154, 1802, 28700], [(0, 1), (1, 2), (2, 3), (3, 5), (5, 10)])
        """
        ids = self.encode(
            text, add_bos=add_bos, add_eos=add_eos, alpha=alpha, seed=seed,
            allowed_special=allowed_special, disallowed_special=disallowed_special,
        )
        offsets = self._offsets([text], [ids], allowed_special, add_bos, add_eos)
        return ids, offsets[0]

    @overload
    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        add_bos: bool = ...,
        add_eos: bool = ...,
        alpha: Optional[float] = ...,
        seed: Seed = ...,
        allowed_special: AllowedSpecial = ...,
        disallowed_special: AllowedSpecial = ...,
        workers: int = ...,
        return_offsets: Literal[False] = ...,
    ) -> List[Ids]: ...

    @overload
    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        add_bos: bool = ...,
        add_eos: bool = ...,
        alpha: Optional[float] = ...,
        seed: Seed = ...,
        allowed_special: AllowedSpecial = ...,
        disallowed_special: AllowedSpecial = ...,
        workers: int = ...,
        return_offsets: Literal[True],
    ) -> List[Tuple[Ids, Offsets]]: ...

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        alpha: Optional[float] = None,
        seed: Seed = None,
        allowed_special: AllowedSpecial = (),
        disallowed_special: AllowedSpecial = (),
        workers: int = 1,
        return_offsets: bool = False,
    ) -> Union[List[Ids], List[Tuple[Ids, Offsets]]]:
        """Encode each text of ``texts`` (options as :meth:`encode`), vectorised.

        Viterbi ids are exactly those of :meth:`encode`; with ``alpha`` each text gets an
        exact sample, but not the one ``encode`` would draw from the same seed (the same
        ``seed`` gives the same samples for any ``workers``).

        ``workers=N`` spreads the batch over N processes (1: this process, 0: one per
        core), in jobs of at least 64K characters (sampling: about a million, so that a
        seed gives the same samples for any N). The pool is started on first use and kept
        for later calls; :meth:`close` (or deleting the tokenizer) stops it.
        See ``encoding/batch/encode.py`` and ``docs/performance.md``.

        ``return_offsets=True`` returns ``(ids, offsets)`` per text, the offsets as
        :meth:`encode_with_offsets` gives them, for the ids of this batch.

        >>> tok.encode_batch(["hello world", "新词发现"])          # doctest: +SKIP
        [[1626, 6585, 30241], [8587, 9544, 39351]]
        """
        from .batch.encode import encode_batch

        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list (or iterable) of texts, not one str: use encode(text)")
        if not isinstance(texts, Iterable):
            raise TypeError(f"encode_batch takes a list (or iterable) of texts, got {type(texts).__name__}")
        texts = list(texts)
        self._check_disallowed(texts, allowed_special, disallowed_special, batch=True)
        batch = encode_batch(
            self._engine,
            texts,
            add_bos=add_bos,
            add_eos=add_eos,
            alpha=alpha,
            seed=seed,
            allowed_special=allowed_special,
            workers=workers,
        )
        if not return_offsets:
            return batch
        return list(zip(batch, self._offsets(texts, batch, allowed_special, add_bos, add_eos)))

    def _check_disallowed(
        self, texts: Sequence[str], allowed: AllowedSpecial, disallowed: AllowedSpecial, *, batch: bool = False
    ) -> None:
        """The special-token policy: text of a disallowed special token is an error."""
        if isinstance(disallowed, str) and disallowed == "all":
            allowed_tokens = self.special_tokens if allowed == "all" else set(allowed)
            disallowed = [token for token in self.special_tokens if token not in allowed_tokens]
        pattern = self._engine.special_splitter(disallowed)  # checks the names
        if pattern is not None:
            find_disallowed(pattern, texts, batch=batch)

    def _offsets(
        self, texts: Sequence[str], batch: Sequence[Ids], allowed: AllowedSpecial, add_bos: bool, add_eos: bool
    ) -> List[Offsets]:
        engine = self._engine
        bounds = np.zeros(len(batch) + 1, dtype=np.int64)
        np.cumsum([len(ids) for ids in batch], out=bounds[1:])
        flat = np.fromiter(chain.from_iterable(batch), dtype=np.int64, count=int(bounds[-1]))
        splitter = engine.special_splitter(allowed)
        starts, ends = token_offsets(engine, texts, flat, bounds, splitter=splitter, head=int(add_bos), tail=int(add_eos))
        return spans_by_text(starts, ends, bounds)

    def close(self) -> None:
        """Stop the worker processes that ``encode_batch(workers=N)`` started, if any.
        The tokenizer stays usable (a later call with ``workers`` starts a new pool)."""
        self._engine.close()

    def tokenize_batch(
        self, texts: Iterable[str], *, alpha: Optional[float] = None, seed: Seed = None, workers: int = 1
    ) -> List[List[bytes]]:
        """Split each text into byte pieces (options as :meth:`encode_batch`)."""
        pieces = self._engine.pieces_by_id
        return [[pieces[i] for i in ids] for ids in self.encode_batch(texts, alpha=alpha, seed=seed, workers=workers)]

    def encode_iter(
        self,
        texts: Iterable[str],
        *,
        add_bos: bool = False,
        add_eos: bool = False,
        alpha: Optional[float] = None,
        seed: Seed = None,
        allowed_special: AllowedSpecial = (),
        disallowed_special: AllowedSpecial = (),
    ) -> Iterator[Ids]:
        """Lazily encode an iterable of texts (e.g. the lines of a big file), one
        :meth:`encode` each."""
        for text in texts:
            yield self.encode(
                text, add_bos=add_bos, add_eos=add_eos, alpha=alpha, seed=seed,
                allowed_special=allowed_special, disallowed_special=disallowed_special,
            )

    def tokenize_iter(self, texts: Iterable[str], *, alpha: Optional[float] = None, seed: Seed = None) -> Iterator[List[bytes]]:
        """Lazily tokenize an iterable of texts."""
        for text in texts:
            yield self.tokenize(text, alpha=alpha, seed=seed)

    def _encode_ordinary(self, text: str, alpha: Optional[float], seed: Seed) -> Ids:
        engine = self._engine
        data = engine.normalized_utf8(text)
        if alpha is None:
            return engine.encode_utf8(data)
        return engine.encode_utf8(data, check_alpha(alpha), engine.random.generator(seed))

    def _encode_ordinary_array(self, text: str, alpha: Optional[float], seed: Seed) -> np.ndarray:
        engine = self._engine
        data = engine.normalized_utf8(text)
        if alpha is None:
            return engine.encode_utf8_array(data)
        return engine.encode_utf8_array(data, check_alpha(alpha), engine.random.generator(seed))

    # ------------------------------------------------------------------ decoding
    def decode(self, ids: Iterable[int], *, errors: str = "replace", skip_special_tokens: bool = False) -> str:
        """Turn ids back into text.

        The pieces' bytes are concatenated and decoded as UTF-8 with ``errors`` (default
        ``"replace"``: ids from :meth:`encode` always decode exactly, and a truncated or
        generated sequence with a broken character decodes with U+FFFD instead of raising;
        pass ``errors="strict"`` to be told). Special tokens decode to their names unless
        ``skip_special_tokens``. Unknown ids raise ``ValueError``.

        >>> tok.decode(tok.encode("naïve café"))             # doctest: +SKIP
        'naïve café'
        """
        engine = self._engine
        check_errors(errors)
        ids = engine.check_ids(ids)
        specials = engine.id_to_special
        if skip_special_tokens or not specials:
            return engine.join_pieces(ids).decode("utf-8", errors)
        parts: List[str] = []
        run: List[int] = []
        for i in ids:
            if i in specials:
                parts.append(engine.join_pieces(run).decode("utf-8", errors))
                parts.append(specials[i])
                run = []
            else:
                run.append(i)
        parts.append(engine.join_pieces(run).decode("utf-8", errors))
        return "".join(parts)

    def decode_batch(
        self, batch: Iterable[Iterable[int]], *, errors: str = "replace", skip_special_tokens: bool = False
    ) -> List[str]:
        """Decode each id sequence of ``batch`` (options as :meth:`decode`)."""
        return [self.decode(ids, errors=errors, skip_special_tokens=skip_special_tokens) for ids in batch]

    def decode_bytes(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> bytes:
        """Concatenated bytes of the pieces; special tokens contribute nothing when skipped,
        their UTF-8 names otherwise."""
        return self._engine.decode_bytes(ids, skip_special_tokens=skip_special_tokens)

    # ------------------------------------------------------------------ vocabulary
    def id_to_piece(self, token_id: int) -> Union[bytes, str]:
        """The piece's bytes, or the special token's name (a ``str``)."""
        engine = self._engine
        token_id = engine.check_id(token_id)
        if token_id in engine.id_to_special:
            return engine.id_to_special[token_id]
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(engine.unknown_id_message(token_id))
        return engine.pieces_by_id[token_id]

    def piece_to_id(self, piece: Union[bytes, str]) -> int:
        """Id of a piece (bytes, or its text) or of a special token name."""
        if isinstance(piece, str):
            if piece in self._engine.special_to_id:
                return self._engine.special_to_id[piece]
            piece = piece.encode("utf-8")
        elif not isinstance(piece, bytes):
            raise TypeError(f"piece must be bytes or str, got {piece!r} ({type(piece).__name__})")
        if self._piece_to_id is None:
            self._piece_to_id = self.model.piece_to_id
        try:
            return self._piece_to_id[piece]
        except KeyError:
            raise KeyError(f"{piece!r} is not a piece of this vocabulary") from None

    def add_pieces(self, pieces: Iterable[Union[str, bytes]], *, count: Optional[int] = None) -> List[int]:
        """Add ordinary pieces (domain words, code identifiers); returns their ids.

        New ids are appended; every existing id keeps its piece. By default an added piece
        wins wherever it occurs as a whole (an existing piece given here keeps its id and
        starts winning), and the model records it (``model.added_pieces``). With ``count``
        the new pieces compete by likelihood, like any other piece with that count. Text
        without the new pieces keeps its ids. See ``docs/recipes/extend-vocabulary.md``.

        >>> tok.add_pieces(["def __init__(self", "torch.nn"])   # doctest: +SKIP
        [79896, 79897]
        """
        model, ids = add_pieces(self.model, pieces, count=count)
        self._use_model(model)
        return ids

    def add_special_tokens(self, tokens: Iterable[str]) -> List[int]:
        """Append control tokens (``"<|im_start|>"``) that ordinary text never produces;
        returns their ids (a token the model has keeps its id). Their text in the input
        becomes them only through ``allowed_special``.

        >>> tok.add_special_tokens(["<|im_start|>", "<|im_end|>"])   # doctest: +SKIP
        [79896, 79897]
        """
        model, ids = add_special_tokens(self.model, tokens)
        self._use_model(model)
        return ids

    def _use_model(self, model: Model) -> None:
        old = self._engine
        if model is old.model:
            return
        engine = Engine(model)
        engine.random = old.random  # the same random stream goes on
        old.close()
        self._engine = engine
        self._piece_to_id = None

    def save(self, path: PathLike) -> None:
        """Save the model in the current format (atomic write)."""
        save_model(self.model, path)

    # ------------------------------------------------------------------ lattice and generation
    # Thin entry points; the work is in analysis.py, streaming.py and healing.py.
    def nbest(self, text: str, n: int) -> "List[Segmentation]":
        """The ``n`` most probable segmentations, best first (``.ids``, ``.logp``).

        >>> [s.ids for s in tok.nbest("hello", 2)]          # doctest: +SKIP
        [[...], [...]]     # the first is tok.encode("hello")
        """
        from .analysis import nbest

        return nbest(self._engine, text, n)

    def score(self, text: str, pieces: Sequence[Union[int, bytes, str]]) -> float:
        """Log-probability of the segmentation ``pieces`` (ids or piece bytes/strings) of ``text``."""
        from .analysis import score

        return score(self._engine, text, pieces, id_to_piece=self.id_to_piece)

    def entropy(self, text: str, *, alpha: float = 1.0) -> float:
        """Entropy (nats) of the segmentation distribution p ∝ p(segmentation)^alpha."""
        from .analysis import entropy

        return entropy(self._engine, text, alpha)

    def stream_decoder(self, *, errors: str = "replace", skip_special_tokens: bool = False) -> "StreamDecoder":
        """An incremental decoder: ``feed(id)`` returns text once it is complete UTF-8."""
        from .streaming import StreamDecoder

        return StreamDecoder(self, errors=errors, skip_special_tokens=skip_special_tokens)

    def heal(self, prompt: Union[str, Sequence[int]], *, back_off: int = 1) -> "Healing":
        """Token healing: back off the prompt's last token(s); see ``healing.Healing``."""
        from .healing import heal

        return heal(self, prompt, back_off)

    def complete_prefix(self, prefix: Union[str, bytes]) -> np.ndarray:
        """Ids of all pieces whose bytes start with ``prefix`` (a prefix index, no scan)."""
        if not isinstance(prefix, (str, bytes, bytearray)):
            raise TypeError(f"prefix must be str or bytes, got {prefix!r} ({type(prefix).__name__})")
        raw = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
        return self._engine.prefix_index().starting_with(raw)

    # ------------------------------------------------------------------ export
    def to_huggingface(self, path: PathLike, *, add_bos: bool = False, add_eos: bool = False) -> "os.PathLike[str]":
        """Write a ``tokenizer.json`` (``path`` ending in .json) or a directory loadable by
        ``transformers.AutoTokenizer``; same ids. ``add_bos``/``add_eos``: what HF's
        ``add_special_tokens=True`` adds. Needs the ``hf`` extra."""
        from ..export.huggingface import to_huggingface

        return to_huggingface(self, path, add_bos=add_bos, add_eos=add_eos)

    def to_sentencepiece(self, path: PathLike) -> "os.PathLike[str]":
        """Write a SentencePiece ``.model``; see ``export/sentencepiece.py`` for the documented
        differences. Needs the ``sp`` extra to load it."""
        from ..export.sentencepiece import to_sentencepiece

        return to_sentencepiece(self, path)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> Dict[str, Any]:
        # The engine pickles as its compact model file and random stream; a copy rebuilds
        # the automaton on first use.
        return {"engine": self._engine}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._engine = state["engine"]
        self._piece_to_id = None
