"""Token files: a corpus encoded once, read many times as memory-mapped numpy arrays.

A token file is a directory (written by ``bytepiece encode-corpus`` or
:func:`bytepiece.encoding.encode_corpus.encode_corpus`):

* ``tokens.bin``: all documents' ids back to back, little-endian ``uint16`` when the
  vocabulary has at most 65,536 ids, else ``uint32``; with ``eos`` (the default) every
  document ends with the ``<eos>`` id, so the flat stream can be cut into training windows
  directly;
* ``offsets.npy``: ``int64``, one more than the number of documents; document ``i`` is
  ``tokens[offsets[i]:offsets[i+1]]`` (its ``<eos>`` included);
* ``meta.json``: format name and version, dtype, counts, the model's vocabulary size and
  checksum, and the settings used. No timestamps: the same input gives the same bytes.

The directory is written under a temporary name beside ``OUT`` and renamed into place, so
a crash never leaves a half-written token file; an existing ``OUT`` is refused unless
``overwrite=True`` (then it is replaced, also atomically as seen by readers of ``OUT``).

Deliberately left out: encoding a corpus (``encoding/encode_corpus.py``), shuffling and
windowing (the reader gives numpy views to build on).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, Optional, Sequence

import numpy as np

from ..model import Model, PathLike
from .files import creation_mode
from .model_file import dumps_model

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer

FORMAT_NAME = "bytepiece-tokens"
FORMAT_VERSION = 1


class TokenFile:
    """Read a token file; documents come back as numpy views of the memory map.

    >>> tokens = TokenFile("corpus.tokens")                # doctest: +SKIP
    >>> len(tokens), tokens.num_tokens, tokens.dtype       # doctest: +SKIP
    (358, 2091238, dtype('uint32'))
    >>> tok.decode(tokens[0])                              # doctest: +SKIP
    'first document ...<eos>'
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        try:
            self.meta: Dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.path} is not a token file (no meta.json)") from None
        except ValueError as exc:
            raise ValueError(f"{meta_path}: corrupt ({exc})") from None
        if self.meta.get("format") != FORMAT_NAME or self.meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{meta_path}: not a {FORMAT_NAME} v{FORMAT_VERSION} file "
                f"(format={self.meta.get('format')!r}, version={self.meta.get('version')!r})"
            )
        self.dtype = np.dtype(self.meta["dtype"])
        self.offsets: np.ndarray = np.load(self.path / "offsets.npy", allow_pickle=False)
        size = (self.path / "tokens.bin").stat().st_size
        expected = int(self.offsets[-1]) * self.dtype.itemsize
        if size != expected or len(self.offsets) != self.meta["documents"] + 1:
            raise ValueError(f"{self.path}: truncated or inconsistent (tokens.bin has {size} bytes, index says {expected})")
        # np.memmap cannot map an empty file.
        self.tokens: np.ndarray = (
            np.memmap(self.path / "tokens.bin", dtype=self.dtype, mode="r") if size else np.zeros(0, self.dtype)
        )

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(f"document {index} out of range ({len(self)} documents)")
        index %= len(self)
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def check_tokenizer(self, tok: "Tokenizer") -> None:
        """Raise ``ValueError`` unless ``tok`` has the model this file was encoded with."""
        if model_checksum(tok.model) != self.meta["model_sha256"]:
            raise ValueError(f"{self.path} was encoded with another model (checksum {self.meta['model_sha256'][:12]}…)")


def model_checksum(model: Model) -> str:
    """The SHA-256 of the model's file, which a token file records."""
    return hashlib.sha256(dumps_model(model)).hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    """``uint16`` when every id fits, else ``uint32``."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def write_token_file(
    out: PathLike,
    documents: Iterable[Sequence[int] | np.ndarray],
    *,
    vocab_size: int,
    meta: Optional[Dict[str, Any]] = None,
    overwrite: bool = False,
) -> Dict[str, Any]:
    """Write already-encoded ``documents`` as a token file at ``out`` (atomically).

    Returns the ``meta.json`` contents. ``FileExistsError`` if ``out`` exists and not
    ``overwrite``.
    """
    target = Path(out)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another output or pass --overwrite / overwrite=True")
    target.parent.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(vocab_size)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(staging, creation_mode(target, 0o777))  # mkdtemp's 0700 is not what users expect
        offsets = [0]
        with open(staging / "tokens.bin", "wb") as handle:
            for ids in documents:
                array = np.asarray(ids, dtype=np.int64)
                if array.size and (array.min() < 0 or array.max() >= vocab_size):
                    raise ValueError(f"document {len(offsets) - 1} has ids outside 0..{vocab_size - 1}")
                handle.write(array.astype(dtype).tobytes())
                offsets.append(offsets[-1] + int(array.size))
            handle.flush()
            os.fsync(handle.fileno())
        np.save(staging / "offsets.npy", np.asarray(offsets, dtype=np.int64), allow_pickle=False)
        info = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "dtype": dtype.str,
            "documents": len(offsets) - 1,
            "tokens": offsets[-1],
            "vocab_size": vocab_size,
            **(meta or {}),
        }
        (staging / "meta.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _replace_directory(staging, target)
        return info
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(staging: Path, target: Path) -> None:
    # A directory cannot be renamed over a non-empty one: move the old one aside first.
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
