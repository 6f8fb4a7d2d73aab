"""The model: a validated vocabulary, its settings, and its unigram log-probabilities.

``Model`` is what inference needs: byte pieces with counts and ids, the special tokens and
the settings the text must be normalised with. It is immutable and checked when built, so
every other module can rely on its invariants (every byte is a piece; ids are
``0 .. vocab_size-1``, each used once). How a model is stored on disk is ``io/model_file.py``.

Deliberately left out: reading and writing files (``io/``), tokenization (``encoding/``)
and training (``training/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import ModelFormatError
from .normalization import Normalization, check_normalization

PathLike = Union[str, "os.PathLike[str]"]

FORMAT_NAME = "bytepiece-model"
MAX_COUNT = (1 << 63) - 1  # counts become float64 log-probabilities: beyond this, sums lose meaning
FORMAT_VERSION = 1

# The roles of the conventional special tokens, named once. A model may have other special
# tokens (or none); these three are the ones encode(add_bos=..., add_eos=...) and padding use.
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
DEFAULT_SPECIAL_TOKENS: Tuple[str, ...] = (PAD, BOS, EOS)


@dataclass(frozen=True)
class Model:
    """A validated vocabulary: byte pieces with counts and ids, special tokens, settings.

    Ids ``0 .. vocab_size-1`` are each used exactly once, by a special token or a piece.
    Every single byte is a piece, so any text can be tokenized.

    >>> model = Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 5})
    >>> model.vocab_size, model.piece_to_id[b"ab"]
    (260, 259)
    """

    pieces: Tuple[bytes, ...]
    counts: Tuple[int, ...]
    ids: Tuple[int, ...]
    special_tokens: Mapping[str, int] = field(
        default_factory=lambda: {t: i for i, t in enumerate(DEFAULT_SPECIAL_TOKENS)}
    )
    normalization: Normalization = "nfc"
    isolate_digits: Optional[bool] = None
    ensure_unicode: Optional[bool] = None
    training: Optional[Dict[str, Any]] = None
    origin: str = f"{FORMAT_NAME} v{FORMAT_VERSION}"
    # Set by extending a model (encoding/added_vocabulary.py): the pieces that win wherever
    # they occur as a whole, and the count total that log-probabilities are relative to
    # (None: the sum of the counts), which extending keeps, so old pieces keep their scores.
    added_pieces: Tuple[bytes, ...] = ()
    total_count: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "added_pieces", tuple(self.added_pieces))
        object.__setattr__(self, "pieces", tuple(self.pieces))
        object.__setattr__(self, "counts", integers(self.counts, "piece counts"))
        object.__setattr__(self, "ids", integers(self.ids, "piece ids"))
        if not isinstance(self.special_tokens, Mapping):
            raise ModelFormatError(f"special_tokens must map names to ids, got {type(self.special_tokens).__name__}")
        specials = dict(zip(self.special_tokens, integers(self.special_tokens.values(), "special-token ids")))
        object.__setattr__(self, "special_tokens", specials)
        try:
            object.__setattr__(self, "normalization", check_normalization(self.normalization))
        except ValueError as exc:
            raise ModelFormatError(str(exc)) from None
        for name in ("isolate_digits", "ensure_unicode"):
            if not (getattr(self, name) is None or isinstance(getattr(self, name), bool)):
                raise ModelFormatError(f"{name} must be true, false or null, got {getattr(self, name)!r}")
        if self.training is not None and not isinstance(self.training, dict):
            raise ModelFormatError(f"training must be a JSON object or null, got {type(self.training).__name__}")
        _validate(self)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[bytes, int],
        *,
        special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
        **settings: Any,
    ) -> "Model":
        """Build a model with the conventional ids: special tokens first, then the pieces
        in :meth:`piece_order`, so ids of single bytes are contiguous."""
        pieces = cls.piece_order(counts)
        first = len(special_tokens)
        return cls(
            pieces=tuple(pieces),
            counts=tuple(map(counts.__getitem__, pieces)),  # in C: pruning builds one a round
            ids=tuple(range(first, first + len(pieces))),
            special_tokens={t: i for i, t in enumerate(special_tokens)},
            **settings,
        )

    @staticmethod
    def piece_order(pieces: Iterable[bytes]) -> List[bytes]:
        """The pieces in the order of their ids: by (byte length, bytes).

        >>> Model.piece_order([b"ab", b"b", b"a"])
        [b'a', b'b', b'ab']
        """
        # two sorts in C (bytes, then a stable sort by length) instead of a key tuple per
        # piece: 2.3 times faster, and pruning orders every round's vocabulary
        return sorted(sorted(pieces), key=len)

    @property
    def vocab_size(self) -> int:
        return len(self.pieces) + len(self.special_tokens)

    @property
    def piece_to_id(self) -> Dict[bytes, int]:
        return dict(zip(self.pieces, self.ids))

    def __repr__(self) -> str:
        # The dataclass default would print every piece; this is what fits on a screen.
        return (
            f"Model(vocab_size={self.vocab_size}, special_tokens={self.special_tokens}, "
            f"normalization={self.normalization!r}, isolate_digits={self.isolate_digits}, "
            f"ensure_unicode={self.ensure_unicode}, origin={self.origin!r})"
        )

    def log_probs(self) -> "np.ndarray":
        """``log p`` of each piece, in the order of ``pieces`` (see :func:`unigram_log_probs`)."""
        return unigram_log_probs(self.counts, self.total_count)

    def settings(self) -> Dict[str, Any]:
        """The inference settings, as stored in the file header."""
        return {
            "normalization": self.normalization,
            "isolate_digits": self.isolate_digits,
            "ensure_unicode": self.ensure_unicode,
        }


def _validate(model: Model) -> None:
    n = len(model.pieces)
    if len(model.counts) != n or len(model.ids) != n:
        raise ModelFormatError(
            f"{n} pieces but {len(model.counts)} counts and {len(model.ids)} ids"
        )
    # Each check is a C-level pass first (a 160k model is loaded by every data-loader
    # worker); only when it fails does a Python loop find the culprit to name.
    if not set(map(type, model.pieces)) <= {bytes} or b"" in model.pieces:
        for piece in model.pieces:
            if not isinstance(piece, bytes) or not piece:
                raise ModelFormatError(f"every piece must be non-empty bytes, got {piece!r}")
    piece_set = set(model.pieces)
    if len(piece_set) != n:
        seen: set = set()
        dup = next(p for p in model.pieces if p in seen or seen.add(p))  # type: ignore[func-returns-value]
        raise ModelFormatError(f"duplicate piece {dup!r}")
    bad = None
    if n and not 0 < min(model.counts) <= max(model.counts) <= MAX_COUNT:
        bad = next(c for c in model.counts if not 0 < c <= MAX_COUNT)
    if bad is not None:
        raise ModelFormatError(f"piece counts must be integers from 1 to 2**63 - 1, found {_short(bad)}")
    for token in model.special_tokens:
        if not isinstance(token, str) or not token:
            raise ModelFormatError(f"special tokens must be non-empty strings, got {token!r}")
    all_ids = list(model.ids) + list(model.special_tokens.values())
    if sorted(all_ids) != list(range(len(all_ids))):
        seen_ids: set = set()
        dups = sorted({i for i in all_ids if i in seen_ids or seen_ids.add(i)})  # type: ignore[func-returns-value]
        detail = f"duplicate ids {dups[:5]}" if dups else "ids are not contiguous from 0"
        raise ModelFormatError(f"ids must be 0..{len(all_ids) - 1}, each used once: {detail}")
    if model.total_count is not None and (
        not isinstance(model.total_count, int) or n and not max(model.counts) <= model.total_count
    ):
        raise ModelFormatError(f"total_count must be an integer at least every count, got {model.total_count!r}")
    unknown = set(model.added_pieces) - piece_set
    if unknown:
        raise ModelFormatError(f"added pieces that are not pieces: {sorted(unknown)[:5]}")
    singles = piece_set & _SINGLE_BYTES
    if len(singles) != 256:
        missing = sorted(set(range(256)) - {p[0] for p in singles})
        raise ModelFormatError(
            f"{len(missing)} single-byte pieces are missing (e.g. {bytes(missing[:4])!r}); "
            "every byte must be a piece so that any text can be tokenized"
        )


_SINGLE_BYTES = frozenset(bytes([b]) for b in range(256))


def integers(values: Iterable[Any], what: str) -> Tuple[int, ...]:
    """``values`` as a tuple of ``int``; ``ModelFormatError`` naming ``what`` for anything
    that is not an integer (a float, a bool, a string), so that ``1.0`` or ``True`` never
    passes for an id."""
    values = tuple(values)
    if set(map(type, values)) <= {int}:  # the usual case, checked fast (C-level)
        return values
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ModelFormatError(f"{what} must be integers, found {_short(value)} ({type(value).__name__})")
    return tuple(int(v) for v in values)


def _short(value: Any) -> str:
    """A value for a message: a huge integer as its size, not its 5,000 digits."""
    if isinstance(value, int) and value.bit_length() > 100:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)[:80]


def unigram_log_probs(counts: Union[Sequence[int], "np.ndarray"], total: Optional[int] = None) -> "np.ndarray":
    """``log(count) - log(total)`` per piece, in float64; ``total`` is the sum of the counts
    unless given (an extended model keeps the total it had before, ``Model.total_count``).

    The one place scores are computed: the scalar and batch decoders and the trainer's
    re-segmentation must agree to the last bit, and this is BytePiece 0.6's arithmetic,
    so ties and near-ties resolve as the original's do.

    >>> unigram_log_probs([1, 3]).round(4).tolist()
    [-1.3863, -0.2877]
    """
    values = np.asarray(counts, dtype=np.float64)
    return np.log(values) - np.log(float(sum(counts) if total is None else total))
