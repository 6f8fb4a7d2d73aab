"""Text -> normalized UTF-8 chunks: the first stage of both training and tokenizing.

Two things happen here and nowhere else:

* Unicode normalization (``"nfc"`` or ``"none"``). Models record which one they were
  trained with; BytePiece 0.6 models always use NFC.
* Chunking. Text is cut into "a line plus the run of newlines after it"; no token ever
  crosses a chunk boundary. Only ``\\n`` ends a line (``\\r`` and U+2028 stay inside), so
  ``"a\\r\\nb"`` is the chunks ``"a\\r\\n"`` and ``"b"``. Training additionally bounds chunk
  length and can isolate digits (see ``docs/algorithm.md``).

Deliberately left out: any language-specific pre-tokenization. The model sees raw bytes.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import Iterator, List, Literal

Normalization = Literal["nfc", "none"]
NORMALIZATIONS = ("nfc", "none")

# Inference chunks, on UTF-8 bytes. b"\n" never occurs inside a multi-byte UTF-8
# sequence, so cutting the encoded bytes gives exactly the chunks of the str.
_CHUNK_BYTES = re.compile(rb"[^\n]*\n+|[^\n]+")


def check_normalization(form: str) -> Normalization:
    """Return ``form`` lower-cased if it names a supported normalization, else raise."""
    lowered = str(form).lower()
    if lowered not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {form!r}; expected one of {NORMALIZATIONS}")
    return lowered  # type: ignore[return-value]


def normalize(text: str, form: Normalization) -> str:
    """Apply the model's normalization to ``text``.

    >>> normalize("e\\u0301", "nfc") == "\\u00e9"
    True
    >>> normalize("e\\u0301", "none") == "e\\u0301"
    True
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}; decode bytes to str first")
    if form == "nfc":
        # is_normalized is a fast scan; most real text is already NFC.
        if not unicodedata.is_normalized("NFC", text):
            return unicodedata.normalize("NFC", text)
        return text
    if form == "none":
        return text
    raise ValueError(f"unknown normalization {form!r}; expected one of {NORMALIZATIONS}")


def to_utf8(text: str) -> bytes:
    """Encode ``text`` as UTF-8, with an error that says where a lone surrogate is.

    >>> to_utf8("héllo")
    b'h\\xc3\\xa9llo'
    """
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise ValueError(
            f"text cannot be encoded as UTF-8: lone surrogate {char!r} (U+{ord(char):04X}) "
            f"at character {exc.start}. Such strings usually come from decoding bytes with "
            f"errors='surrogateescape' or from broken JSON; fix or drop them before tokenizing."
        ) from None


def check_errors(errors: str) -> str:
    """``errors`` if it names a codec error handler (``"strict"``, ``"replace"``,
    ``"ignore"``, ``"backslashreplace"``, ...), else ``ValueError``: ``bytes.decode``
    would only look it up at the first broken character, and then fail with a
    ``LookupError``.

    >>> check_errors("replace")
    'replace'
    """
    try:
        codecs.lookup_error(errors)
    except (LookupError, TypeError):
        raise ValueError(
            f"errors must name a codec error handler such as 'strict', 'replace', 'ignore' or "
            f"'backslashreplace', got {errors!r}"
        ) from None
    return errors


def split_chunks(data: bytes) -> List[bytes]:
    """Cut UTF-8 bytes into inference chunks: each line with its trailing newlines.

    >>> split_chunks(b"ab\\n\\ncd\\r\\nef")
    [b'ab\\n\\n', b'cd\\r\\n', b'ef']
    >>> split_chunks(b"")
    []
    """
    if b"\n" not in data:
        return [data] if data else []
    return _CHUNK_BYTES.findall(data)


def _training_pattern(max_chars: int, max_newlines: int, isolate_digits: bool) -> "re.Pattern[str]":
    body = r"[^\n\d]" if isolate_digits else r"[^\n]"
    digit = r"\d|" if isolate_digits else ""
    return re.compile(
        rf"{digit}{body}{{0,{max_chars}}}\n{{1,{max_newlines}}}|{body}{{1,{max_chars}}}"
    )


_TRAINING_PATTERNS: dict = {}


def training_chunks(
    text: str,
    *,
    isolate_digits: bool = False,
    max_chars: int = 10_000,
    max_newlines: int = 100,
) -> Iterator[str]:
    """Cut (already normalized) text into training chunks.

    Like inference chunks, but a chunk holds at most ``max_chars`` characters followed by
    at most ``max_newlines`` newlines (longer runs roll over into a new chunk), and with
    ``isolate_digits`` every Unicode digit is a chunk of its own, so no learned piece
    mixes digits with anything else.

    >>> list(training_chunks("ab12\\n", isolate_digits=True))
    ['ab', '1', '2', '\\n']
    >>> list(training_chunks("abcde", max_chars=2))
    ['ab', 'cd', 'e']
    """
    key = (max_chars, max_newlines, isolate_digits)
    pattern = _TRAINING_PATTERNS.get(key)
    if pattern is None:
        pattern = _TRAINING_PATTERNS[key] = _training_pattern(*key)
    for match in pattern.finditer(text):
        yield match.group()
