"""The errors bad input raises: one type per family, each naming the file and the place.

* :class:`ModelFormatError`: a model file (or a ``Model`` being built) is invalid;
* :class:`CorpusError`: a corpus file or line is bad, under ``on_error="fail"`` (or a file
  changed between the two passes of training);
* :class:`TokenFileError`: a token file's index, metadata or contents are invalid.

Each is a ``ValueError``, so ``except ValueError`` keeps working, and carries ``path`` and,
where it is known, ``line`` (a line number, from 1) or ``offset`` (a byte or token
offset). The message starts with the place: ``"corpus/a.jsonl, line 17: malformed JSON"``.
The ``bytepiece`` command prints that one line and exits with status 2.

Arguments of the API that are not allowed raise ``TypeError`` or ``ValueError`` naming
the argument, its value and what is allowed (see ``docs/reliability.md``).

>>> str(CorpusError("malformed JSON", "corpus/a.jsonl", line=17))
'corpus/a.jsonl, line 17: malformed JSON'
>>> isinstance(TokenFileError("bad index", "out.tokens"), ValueError)
True
"""

from __future__ import annotations

import os
from typing import Any, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]


class BadInputError(ValueError):
    """Base of the three families: a message, and where in which file it applies."""

    def __init__(
        self,
        message: str,
        path: Optional[PathLike] = None,
        *,
        line: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.offset = offset
        self.reason = message
        super().__init__(f"{self.place()}: {message}" if self.path else message)

    def place(self) -> str:
        """``path``, ``path, line N`` or ``path, offset N``."""
        where = self.path or ""
        if self.line is not None:
            where += f", line {self.line}"
        if self.offset is not None:
            where += f", offset {self.offset}"
        return where

    def __reduce__(self) -> Tuple[Any, ...]:
        # Picklable with its keyword arguments (errors cross process boundaries in pools).
        return (_rebuild, (type(self), self.reason, self.path, self.line, self.offset))


def _rebuild(cls: type, message: str, path: Optional[str], line: Optional[int], offset: Optional[int]) -> "BadInputError":
    error: BadInputError = cls(message, path, line=line, offset=offset)
    return error


class ModelFormatError(BadInputError):
    """A model file (or a ``Model`` being built) is invalid. The message names the file."""


class CorpusError(BadInputError):
    """Bad corpus input under ``on_error="fail"``; the message names the file (and line)."""


class TokenFileError(BadInputError):
    """A token file is invalid (index, metadata, checksum or ids); the message names the
    file (and the document or offset)."""
