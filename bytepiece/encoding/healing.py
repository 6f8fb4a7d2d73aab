"""Token healing: continue a prompt without being steered by where its last token ended.

With long pieces, a prompt ending inside a frequent phrase (``"import nump"``) is encoded
with a token the model rarely saw followed by anything (``" nump"``), while the natural
continuation is one long piece (``" numpy"``). Healing backs off the prompt's last
token(s) and constrains generation to reproduce the backed-off bytes first: the next token
must either start with them (``" numpy"``, ``" numpy as np"``) or be a proper prefix of
them (``" nu"``, after which the rest, ``"mp"``, constrains the token after it).

``PrefixIndex`` answers "which pieces start with these bytes" with two binary searches in
the byte-sorted vocabulary (O(log V) plus the size of the answer, no scan), and "which
pieces are prefixes of these bytes" with one dictionary look-up per length.

Deliberately left out: the sampling loop itself; ``Healing`` gives ids or a mask per step.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..model import Model
    from .tokenizer import Tokenizer


class PrefixIndex:
    """The vocabulary's pieces sorted by bytes, for prefix queries.

    >>> index = PrefixIndex([b"a", b"ab", b"abc", b"b"], [3, 4, 5, 6])
    >>> index.starting_with(b"ab").tolist(), index.prefixes_of(b"abd")
    ([4, 5], [3, 4])
    """

    def __init__(self, pieces: Sequence[bytes], ids: Sequence[int]) -> None:
        order = sorted(range(len(pieces)), key=pieces.__getitem__)
        self._sorted: List[bytes] = [pieces[i] for i in order]
        self._sorted_ids = np.asarray([ids[i] for i in order], dtype=np.int64)
        self._id_of: Dict[bytes, int] = dict(zip(pieces, ids))
        self._max_length = max((len(p) for p in pieces), default=0)

    @classmethod
    def from_model(cls, model: "Model") -> "PrefixIndex":
        return cls(model.pieces, model.ids)

    def starting_with(self, prefix: bytes) -> np.ndarray:
        """Ids of the pieces whose bytes start with ``prefix`` (``prefix`` itself included),
        in byte order of the pieces."""
        low = bisect_left(self._sorted, prefix)
        successor = _successor(prefix)
        high = len(self._sorted) if successor is None else bisect_left(self._sorted, successor, low)
        return self._sorted_ids[low:high].copy()

    def prefixes_of(self, data: bytes) -> List[int]:
        """Ids of the pieces that are proper prefixes of ``data``, shortest first."""
        found = []
        for length in range(1, min(len(data), self._max_length + 1)):
            piece_id = self._id_of.get(data[:length])
            if piece_id is not None:
                found.append(piece_id)
        return found

    def allowed_next(self, remaining: bytes) -> np.ndarray:
        """Ids a next token may have if the text must continue with ``remaining``: pieces
        that start with it, or that are a proper prefix of it. Sorted."""
        ids = np.concatenate([np.asarray(self.prefixes_of(remaining), dtype=np.int64), self.starting_with(remaining)])
        ids.sort()
        return ids


def _successor(prefix: bytes) -> Optional[bytes]:
    """The smallest byte string greater than every string starting with ``prefix``
    (None if there is none, e.g. for ``b""`` or ``b"\\xff\\xff"``)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


@dataclass
class Healing:
    """A healed prompt and the constraint on what is generated after it.

    ``ids`` go to the model as the prompt; ``prefix`` are the backed-off bytes, which the
    generated text must start with. Per step, ask :meth:`allowed_ids` (or
    :meth:`allowed_mask`), pick a token, and :meth:`advance` with it; once :attr:`done`,
    generation is unconstrained.

    >>> healing = tok.heal("import nump")              # doctest: +SKIP
    >>> healing.prefix                                  # doctest: +SKIP
    b'ump'
    >>> [tok.id_to_piece(i) for i in healing.allowed_ids()]   # doctest: +SKIP
    [b'u', b'um', b'ump']
    """

    ids: List[int]
    prefix: bytes
    vocab_size: int
    _index: PrefixIndex = field(repr=False)
    _tok: "Tokenizer" = field(repr=False)
    remaining: bytes = b""

    def __post_init__(self) -> None:
        self.remaining = self.prefix

    @property
    def done(self) -> bool:
        """True once the generated tokens have reproduced all of ``prefix``."""
        return not self.remaining

    def allowed_ids(self) -> Optional[np.ndarray]:
        """Sorted ids allowed for the next token; ``None`` when unconstrained (done)."""
        if self.done:
            return None
        return self._index.allowed_next(self.remaining)

    def allowed_mask(self) -> np.ndarray:
        """Boolean mask over the vocabulary (for logits: ``logits[~mask] = -inf``)."""
        mask = np.zeros(self.vocab_size, dtype=bool)
        allowed = self.allowed_ids()
        if allowed is None:
            mask[:] = True
        else:
            mask[allowed] = True
        return mask

    def advance(self, token_id: int) -> None:
        """Record the generated token; ``ValueError`` if it violates the constraint."""
        if self.done:
            return
        piece = self._tok.id_to_piece(token_id)
        if isinstance(piece, str):
            raise ValueError(f"special token {piece!r} cannot continue the healed prefix {self.remaining!r}")
        if piece.startswith(self.remaining):
            self.remaining = b""
        elif self.remaining.startswith(piece):
            self.remaining = self.remaining[len(piece):]
        else:
            raise ValueError(f"token {token_id} ({piece!r}) does not continue the healed prefix {self.remaining!r}")


def heal(tok: "Tokenizer", prompt: Union[str, Sequence[int]], back_off: int = 1) -> Healing:
    """Back off the last ``back_off`` tokens of ``prompt`` (text, encoded with Viterbi, or
    ids) and return the constraint for generating after the rest. Special tokens are never
    backed off: the back-off stops at one."""
    if isinstance(back_off, bool) or not isinstance(back_off, int) or back_off < 0:
        raise ValueError(f"back_off must be a non-negative integer, got {back_off!r}")
    ids = tok.encode(prompt) if isinstance(prompt, str) else tok.engine.check_ids(prompt)
    keep = len(ids)
    while keep > 0 and len(ids) - keep < back_off and not isinstance(tok.id_to_piece(ids[keep - 1]), str):
        keep -= 1
    prefix = tok.decode_bytes(ids[keep:])
    return Healing(ids[:keep], prefix, tok.vocab_size, tok.engine.prefix_index(), tok)
