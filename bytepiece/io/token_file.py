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

from ..errors import TokenFileError
from ..model import Model, PathLike
from .files import creation_mode, signals_deferred
from .model_file import dumps_model

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer

FORMAT_NAME = "bytepiece-tokens"
FORMAT_VERSION = 1
DTYPES = ("<u2", "<u4")


MAX_META_BYTES = 16 << 20  # meta.json is a few hundred bytes; anything near this is not one
_VERIFY_BLOCK = 1 << 24  # ids checked (and bytes hashed) at a time by TokenFile.verify


class TokenFile:
    """Read a token file; documents come back as numpy views of the memory map.

    Opening checks the index against the data, in time proportional to the number of
    documents: ``meta.json`` well formed, ``offsets.npy`` an integer array of
    ``documents + 1`` entries rising from 0 to ``tokens``, and ``tokens.bin`` exactly
    ``tokens`` ids long. :meth:`verify` reads every id: the checksums ``encode-corpus``
    recorded, and every id below the vocabulary size. Anything wrong raises
    :class:`~bytepiece.errors.TokenFileError` naming the file.

    >>> tokens = TokenFile("corpus.tokens")                # doctest: +SKIP
    >>> len(tokens), tokens.num_tokens, tokens.dtype       # doctest: +SKIP
    (358, 2091238, dtype('uint32'))
    >>> tok.decode(tokens[0])                              # doctest: +SKIP
    'first document ...<eos>'
    >>> tokens.verify()                                    # doctest: +SKIP
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"token file {self.path} does not exist")
        self.meta: Dict[str, Any] = _read_meta(self.path / "meta.json")
        meta = self.meta
        self.dtype = np.dtype(meta["dtype"])
        self.vocab_size: int = meta["vocab_size"]
        if self.vocab_size > np.iinfo(self.dtype).max + 1:
            raise TokenFileError(f"vocab_size {self.vocab_size} does not fit dtype {self.dtype}", self.path / "meta.json")
        self.offsets: np.ndarray = _read_offsets(self.path / "offsets.npy", meta["documents"], meta["tokens"])
        bin_path = self.path / "tokens.bin"
        try:
            size = bin_path.stat().st_size
        except FileNotFoundError:
            raise TokenFileError("missing: a token file needs tokens.bin, offsets.npy and meta.json", bin_path) from None
        expected = meta["tokens"] * self.dtype.itemsize
        if size != expected:
            raise TokenFileError(
                f"truncated or inconsistent: {size} bytes, but the index says {meta['tokens']} ids of "
                f"{self.dtype.itemsize} bytes ({expected} bytes)", bin_path)
        # np.memmap cannot map an empty file.
        self.tokens: np.ndarray = np.memmap(bin_path, dtype=self.dtype, mode="r") if size else np.zeros(0, self.dtype)

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a token file is indexed by document number (an int), got {index!r}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"document {index} out of range ({len(self)} documents)")
        index = int(index) % len(self)
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def verify(self) -> None:
        """Read the whole file and raise :class:`~bytepiece.errors.TokenFileError` if
        ``tokens.bin`` or ``offsets.npy`` differ from the checksums ``encode-corpus``
        recorded (flipped bits, a modified file), if an id is not below ``vocab_size``, or
        if a document does not end with ``<eos>`` when ``eos_appended``. Token files
        written before checksums were recorded are checked for ids and ``<eos>`` only.

        Reads about 1 GB/s; the index was already checked when the file was opened."""
        sums = self.meta.get("sha256") or {}
        digest = hashlib.sha256()
        vocab = self.vocab_size
        for start in range(0, self.num_tokens, _VERIFY_BLOCK):
            block = np.asarray(self.tokens[start : start + _VERIFY_BLOCK])
            digest.update(block.tobytes())
            if block.size and int(block.max()) >= vocab:
                where = start + int(np.flatnonzero(block >= vocab)[0])
                document = int(np.searchsorted(self.offsets, where, side="right")) - 1
                raise TokenFileError(
                    f"id {int(self.tokens[where])} (document {document}) is not below the vocabulary size {vocab}",
                    self.path / "tokens.bin", offset=where)
        for name, value in (("tokens.bin", digest.hexdigest()), ("offsets.npy", _file_sha256(self.path / "offsets.npy"))):
            if name in sums and sums[name] != value:
                raise TokenFileError(
                    "does not match the checksum in meta.json: the file is corrupt (flipped bits, a bad "
                    "disk or copy) or was modified; encode the corpus again", self.path / name)
        if self.meta.get("eos_appended") and len(self):
            ends = self.offsets[1:]
            if np.any(ends == self.offsets[:-1]):
                raise TokenFileError("a document is empty although every document should end with <eos>",
                                     self.path / "offsets.npy")
            wrong = np.flatnonzero(self.tokens[ends - 1] != self.meta.get("eos_id"))
            if wrong.size:
                raise TokenFileError(f"document {int(wrong[0])} does not end with <eos>", self.path / "tokens.bin",
                                     offset=int(ends[wrong[0]]) - 1)

    def check_tokenizer(self, tok: "Tokenizer") -> None:
        """Raise ``TokenFileError`` unless ``tok`` has the model this file was encoded with."""
        recorded = self.meta.get("model_sha256")
        if model_checksum(tok.model) != recorded:
            raise TokenFileError(f"encoded with another model (checksum {str(recorded)[:12]}…)", self.path)


def _read_meta(path: Path) -> Dict[str, Any]:
    """``meta.json``, checked field by field."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise TokenFileError("not a token file (no meta.json)", path.parent) from None
    if size > MAX_META_BYTES:
        raise TokenFileError(f"{size} bytes: not a token file's meta.json", path)
    try:
        meta = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise TokenFileError(f"corrupt ({' '.join(str(exc).split())[:200]})", path) from None
    if not isinstance(meta, dict):
        raise TokenFileError("corrupt: expected a JSON object", path)
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise TokenFileError(
            f"not a {FORMAT_NAME} v{FORMAT_VERSION} file "
            f"(format={str(meta.get('format'))[:40]!r}, version={str(meta.get('version'))[:20]!r})", path)
    if meta.get("dtype") not in DTYPES:
        raise TokenFileError(f"dtype must be one of {DTYPES}, got {str(meta.get('dtype'))[:40]!r}", path)
    for key in ("documents", "tokens", "vocab_size"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TokenFileError(f"{key} must be a non-negative integer, got {str(value)[:40]!r}", path)
    sums = meta.get("sha256")
    if sums is not None and not (isinstance(sums, dict) and all(isinstance(v, str) for v in sums.values())):
        raise TokenFileError("sha256 must map file names to hex digests", path)
    return meta


def _read_offsets(path: Path, documents: int, tokens: int) -> np.ndarray:
    """``offsets.npy``: ``documents + 1`` integers from 0 up to ``tokens``, never falling."""
    try:
        offsets = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TokenFileError("missing: a token file needs tokens.bin, offsets.npy and meta.json", path) from None
    except (ValueError, OSError, EOFError) as exc:  # not an .npy, truncated, or an object array
        raise TokenFileError(f"corrupt ({' '.join(str(exc).split())[:200]})", path) from None
    if not isinstance(offsets, np.ndarray) or offsets.ndim != 1 or offsets.dtype.kind not in "iu":
        raise TokenFileError(f"must be a 1-D integer array, got {getattr(offsets, 'dtype', '?')} of shape "
                             f"{getattr(offsets, 'shape', '?')}", path)
    if offsets.size != documents + 1:
        raise TokenFileError(f"{offsets.size} entries, but meta.json says {documents} documents "
                             f"({documents + 1} entries)", path)
    offsets = offsets.astype(np.int64, copy=False)
    if offsets[0] != 0 or offsets[-1] != tokens:
        raise TokenFileError(f"must run from 0 to {tokens} (the tokens in meta.json), runs from "
                             f"{int(offsets[0])} to {int(offsets[-1])}", path)
    falling = np.flatnonzero(np.diff(offsets) < 0)
    if falling.size:
        at = int(falling[0])
        raise TokenFileError(f"offsets must never fall: entry {at + 1} ({int(offsets[at + 1])}) is below entry "
                             f"{at} ({int(offsets[at])})", path)
    return offsets


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    Returns the ``meta.json`` contents, which include the SHA-256 of ``tokens.bin`` and
    ``offsets.npy`` (:meth:`TokenFile.verify` checks them); ``meta`` is read after the last
    document. ``FileExistsError`` if ``out`` exists and not ``overwrite``.
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
        digest = hashlib.sha256()
        with open(staging / "tokens.bin", "wb") as handle:
            for ids in documents:
                array = np.asarray(ids, dtype=np.int64)
                if array.size and (array.min() < 0 or array.max() >= vocab_size):
                    raise ValueError(f"document {len(offsets) - 1} has ids outside 0..{vocab_size - 1}")
                data = array.astype(dtype).tobytes()
                digest.update(data)
                handle.write(data)
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
            **(meta or {}),  # read now: it may hold counts gathered while the documents were made
            "sha256": {"tokens.bin": digest.hexdigest(), "offsets.npy": _file_sha256(staging / "offsets.npy")},
        }
        (staging / "meta.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _replace_directory(staging, target)
        return info
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_directory(staging: Path, target: Path) -> None:
    # A directory cannot be renamed over a non-empty one: move the old one aside first,
    # with signals deferred so that an interrupt never leaves neither in place.
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        with signals_deferred():
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
