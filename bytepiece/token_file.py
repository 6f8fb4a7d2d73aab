"""Token files: a corpus encoded once, read many times as memory-mapped numpy arrays.

A token file is a directory (written by ``bytepiece encode-corpus`` or
:func:`encode_corpus`):

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

Deliberately left out: shuffling and windowing (the reader gives numpy views to build on).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .batch_pool import process_context
from .corpus import batched
from .model_file import PathLike, creation_mode, dumps_model
from .sampling import check_alpha

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer

FORMAT_NAME = "bytepiece-tokens"
FORMAT_VERSION = 1
SPLITS = ("files", "lines")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


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
        if model_checksum(tok) != self.meta["model_sha256"]:
            raise ValueError(f"{self.path} was encoded with another model (checksum {self.meta['model_sha256'][:12]}…)")


def model_checksum(tok: "Tokenizer") -> str:
    return hashlib.sha256(dumps_model(tok.model)).hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    """``uint16`` when every id fits, else ``uint32``."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def write_token_file(
    out: PathLike,
    documents: Iterable[Sequence[int]],
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


# ---------------------------------------------------------------- encoding a corpus
def iter_documents(
    source: PathLike,
    *,
    split: str = "files",
    jsonl_field: str = "text",
    on_error: str = "skip",
    warn: Optional[Callable[[str], None]] = None,
) -> Iterator[str]:
    """Documents of a corpus directory (or file), in sorted path order.

    A ``.txt`` file is one document with ``split="files"`` and one per line (with its
    newline) with ``split="lines"``; a ``.jsonl`` record is always one document.
    Compression and bad input are handled by ``bytepiece.corpus``: with ``on_error="skip"``
    bad files and lines are skipped with a warning, with ``"fail"`` they raise.
    """
    from .corpus import CorpusReader, file_kind, list_files

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(source)
    if not root.exists():
        raise FileNotFoundError(f"corpus path {root} does not exist")
    for path in list_files(root):
        kind = file_kind(path) or (".txt" if root.is_file() else None)
        if kind is None:
            continue
        texts = CorpusReader([path], jsonl_field=jsonl_field, on_error=on_error, warn=warn)
        if kind == ".jsonl":
            yield from texts
            continue
        # A .txt file arrives in blocks cut at line starts: joined, they are the file.
        text = "".join(texts)
        if split == "files":
            if text:
                yield text
        else:
            yield from _LINE.findall(text)


_worker_tok: Any = None
BLOCK_CHARS = 1 << 20  # documents are encoded in blocks of about this many characters


def _init_worker(tok: "Tokenizer") -> None:
    global _worker_tok
    _worker_tok = tok


Block = Tuple[int, List[str], Optional[float], int, bool]


def _encode_block(task: Block) -> Tuple[np.ndarray, np.ndarray]:
    """A block of documents, vectorised (``encode_batch``'s path): all ids back to back
    as the file's dtype (which pickles as one buffer, far cheaper to send back from a
    worker than lists) and each document's bounds in them."""
    from .batch import encode_arrays

    index, texts, alpha, seed, eos = task
    # Seeded per block, and blocks depend only on the documents: the output does not
    # depend on the number of workers.
    rng = None if alpha is None else np.random.default_rng([seed, index])
    ids, bounds = encode_arrays(_worker_tok, texts, alpha=alpha, rng=rng, add_eos=eos)
    return ids.astype(token_dtype(_worker_tok.vocab_size)), bounds


def _blocks(documents: Iterable[str], alpha: Optional[float], seed: int, eos: bool) -> Iterator[Block]:
    for index, texts in enumerate(batched(documents, BLOCK_CHARS)):
        yield index, texts, alpha, seed, eos


def _documents(blocks: Iterable[Tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
    for ids, bounds in blocks:
        yield from np.split(ids, bounds[1:-1])


def encode_corpus(
    tok: "Tokenizer",
    source: PathLike,
    out: PathLike,
    *,
    split: str = "files",
    jsonl_field: str = "text",
    on_error: str = "skip",
    eos: bool = True,
    workers: int = 1,
    alpha: Optional[float] = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    warn: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Encode every document of ``source`` into a token file at ``out``; returns its meta.

    Documents are encoded in blocks of about ``BLOCK_CHARS`` characters by the batch path
    (Viterbi ids are exactly those of ``tok.encode``). Deterministic: the same corpus,
    model and options give the same bytes for any ``workers``; with ``alpha`` block ``b``
    is sampled with seed ``(seed, b)``.
    """
    if eos and tok.eos_id is None:
        raise ValueError("this model has no <eos> token; pass eos=False (--no-eos) and rely on the index")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if alpha is not None:
        alpha = check_alpha(alpha)
    if Path(out).exists() and not overwrite:  # fail before doing the work
        raise FileExistsError(f"{out} exists; choose another output or pass --overwrite / overwrite=True")
    documents = iter_documents(source, split=split, jsonl_field=jsonl_field, on_error=on_error, warn=warn)
    blocks = _blocks(documents, alpha, seed, eos)
    meta = {
        "eos_appended": bool(eos),
        "eos_id": tok.eos_id,
        "split": split,
        "alpha": alpha,
        "seed": seed if alpha is not None else None,
        "model_sha256": model_checksum(tok),
    }
    write = functools.partial(write_token_file, out, vocab_size=tok.vocab_size, meta=meta, overwrite=overwrite)
    if workers == 1:
        _init_worker(tok)
        return write(_progress(_documents(map(_encode_block, blocks)), progress))
    with process_context().Pool(workers, initializer=_init_worker, initargs=(tok,)) as pool:
        encoded = _bounded_map(pool, _encode_block, blocks, in_flight=2 * workers)
        return write(_progress(_documents(encoded), progress))


def _bounded_map(pool: Any, function: Callable[[Any], Any], items: Iterable[Any], in_flight: int) -> Iterator[Any]:
    """``pool.imap`` in order, reading at most ``in_flight`` items ahead: imap's feeder
    thread reads its input as fast as it can, so a big corpus would end up in memory."""
    pending: Deque[Any] = collections.deque()
    for item in items:
        pending.append(pool.apply_async(function, (item,)))
        if len(pending) >= in_flight:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _progress(items: Iterable[np.ndarray], enabled: bool) -> Iterable[np.ndarray]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit=" docs", desc="encoding")
