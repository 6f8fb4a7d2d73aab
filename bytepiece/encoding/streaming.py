"""Incremental decoding: ids in one at a time, text out as soon as it is complete UTF-8.

A byte-level vocabulary splits characters across pieces (``"字"`` may be three single-byte
pieces, and the 0.6 ``bytepiece_80k`` model has pieces that end mid-character), so decoding
each id on its own would print broken characters. ``StreamDecoder`` keeps the bytes of an
unfinished character until the piece that completes it arrives, and ``flush`` turns any
leftover bytes into U+FFFD (or raises, with ``errors="strict"``) so nothing is lost.

Invariant, tested: ``"".join(d.feed(i) for i in ids) + d.flush() == tok.decode(ids)``
with the same ``errors`` and ``skip_special_tokens``, for any ids.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING, Iterable, Iterator, Union

from ..normalization import check_errors

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer


class StreamDecoder:
    """Decode ids incrementally.

    >>> decoder = tok.stream_decoder()                  # doctest: +SKIP
    >>> for token_id in generate():                      # doctest: +SKIP
    ...     print(decoder.feed(token_id), end="", flush=True)
    >>> print(decoder.flush())                           # doctest: +SKIP

    ``feed`` accepts one id or an iterable of ids and returns the text completed by them
    (possibly ``""``). A special token first ends any unfinished character (as
    ``Tokenizer.decode`` does), then yields its name; with ``skip_special_tokens`` it is
    ignored.
    """

    def __init__(self, tok: "Tokenizer", *, errors: str = "replace", skip_special_tokens: bool = False) -> None:
        check_errors(errors)  # fail now, not at the first broken character
        self._tok = tok
        self._errors = errors
        self._skip_special = skip_special_tokens
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors)

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet returned (the start of an unfinished character)."""
        return self._decoder.getstate()[0]

    def feed(self, ids: Union[int, Iterable[int]]) -> str:
        """Add one id (or several) and return the text that is now complete."""
        if isinstance(ids, Iterable):
            return "".join(self._feed_one(i) for i in ids)
        return self._feed_one(ids)

    def _feed_one(self, token_id: int) -> str:
        piece = self._tok.id_to_piece(token_id)  # raises ValueError for unknown ids
        if isinstance(piece, bytes):
            return self._decoder.decode(piece)
        if self._skip_special:
            # Skipped specials vanish entirely, as in ``Tokenizer.decode``: bytes on both
            # sides of one join up.
            return ""
        # A special token: an unfinished character before it can never complete.
        text = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        return text + piece

    def flush(self) -> str:
        """End of stream: return what is left (U+FFFD for an unfinished character with
        ``errors="replace"``) and reset the decoder for reuse."""
        text = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        return text

    def reset(self) -> None:
        """Drop pending bytes and start over."""
        self._decoder.reset()


def decode_stream(
    tok: "Tokenizer", ids: Iterable[int], *, errors: str = "replace", skip_special_tokens: bool = False
) -> Iterator[str]:
    """Yield the text of ``ids`` piece by piece as it completes; empty strings are skipped.

    >>> "".join(decode_stream(tok, tok.encode("naïve 字")))  # doctest: +SKIP
    'naïve 字'
    """
    decoder = StreamDecoder(tok, errors=errors, skip_special_tokens=skip_special_tokens)
    for token_id in ids:
        text = decoder.feed(token_id)
        if text:
            yield text
    tail = decoder.flush()
    if tail:
        yield tail
