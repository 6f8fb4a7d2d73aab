"""Corpus reading for training: directories, files and in-memory texts, streamed.

A corpus is read twice (once per training pass) and never held in memory: files are
streamed in blocks, and a ``.txt`` block is cut only where a line starts, which is exactly
where a training chunk starts, so streaming gives the same chunks as reading whole files.

Supported files: ``.txt`` (the whole file is one document), ``.jsonl`` (one JSON object
per line, the text in field ``text`` by default), and either of those compressed as
``.gz``, ``.bz2`` or ``.xz``. Directories are walked recursively in sorted order of
relative path; files of other types inside a directory are ignored (and counted).

Bad input follows ``on_error`` (see ``docs/training.md``):

* ``"skip"`` (default): the bad file or line is left out, a warning names it (and the
  line), and it is counted in :class:`CorpusStats` and in the model's statistics;
* ``"fail"``: the first problem raises :class:`CorpusError` naming the file and line.

What counts as bad: an unreadable file, an empty file, a binary file (a NUL byte in its
first 8 KiB), corrupt compressed data, a line that is not valid UTF-8, a JSON line that
does not parse or has no string field.

Deliberately left out: normalization and chunking (``normalization.py``).
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import lzma
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]
Source = Union[PathLike, Sequence["os.PathLike[str]"], Iterable[str]]

ON_ERROR = ("skip", "fail")
_OPENERS: Dict[str, Callable[..., Any]] = {
    ".gz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
}
_KINDS = (".txt", ".jsonl")
_BLOCK = 4 << 20  # bytes read at a time from a .txt file
_SNIFF = 8192  # a NUL byte in this many leading bytes marks a file as binary
_MAX_WARNINGS = 20
_LINES = re.compile(rb"[^\n]*\n|[^\n]+")


class CorpusError(ValueError):
    """Bad corpus input under ``on_error="fail"``. The message names the file (and line)."""


@dataclass
class CorpusStats:
    """What was read. ``warnings`` keeps the first few messages; the counters are exact."""

    files: int = 0
    documents: int = 0
    bytes: int = 0
    skipped_files: int = 0
    skipped_lines: int = 0
    ignored_files: int = 0
    warnings: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


def file_kind(path: PathLike) -> Optional[str]:
    """``".txt"`` or ``".jsonl"`` for a supported (maybe compressed) name, else None.

    >>> file_kind("a/b.jsonl.gz"), file_kind("x.txt"), file_kind("MANIFEST.tsv")
    ('.jsonl', '.txt', None)
    """
    suffixes = Path(path).suffixes[-2:]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _KINDS:
        return suffixes[-1]
    return None


def list_files(source: PathLike) -> List[Path]:
    """The corpus files under a directory (recursive, sorted by relative path), or the file."""
    root = Path(source)
    if not root.exists():
        raise FileNotFoundError(f"corpus {root} does not exist")
    if not root.is_dir():
        return [root]
    found: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames if not name.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class CorpusReader:
    """Re-iterable stream of texts from a corpus source, applying the error policy.

    ``source``: a directory or file path (``str`` or ``Path``); a list of ``Path`` objects
    (files or directories); or a re-iterable of ``str`` texts (e.g. a list). Each
    iteration re-reads the source; statistics are collected on the first one.

    >>> reader = CorpusReader(["one text", "another"])
    >>> list(reader), reader.stats.documents, reader.stats.bytes
    (['one text', 'another'], 2, 15)
    """

    def __init__(
        self,
        source: Source,
        *,
        jsonl_field: str = "text",
        on_error: str = "skip",
        warn: Optional[Callable[[str], None]] = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.jsonl_field = jsonl_field
        self.on_error = on_error
        self.stats = CorpusStats()
        self._warn = warn
        self._passes = 0
        self._texts: Optional[Iterable[str]] = None
        self._roots: List[Path] = []
        if isinstance(source, (str, os.PathLike)):
            self._roots = [Path(source)]
        elif isinstance(source, (list, tuple)) and source and all(isinstance(s, os.PathLike) for s in source):
            self._roots = [Path(s) for s in source]
        else:
            if iter(source) is source:
                raise TypeError(
                    "training reads the corpus twice, so source must be re-iterable: pass a "
                    "list of texts, a directory, or a list of Path objects, not a generator"
                )
            self._texts = source  # type: ignore[assignment]
        for root in self._roots:
            if not root.exists():
                raise FileNotFoundError(f"corpus path {root} does not exist")

    def __iter__(self) -> Iterator[str]:
        first = self._passes == 0
        self._passes += 1
        stats = self.stats if first else CorpusStats()
        if self._texts is not None:
            yield from self._iter_texts(stats)
            return
        for root in self._roots:
            for path in list_files(root):
                kind = file_kind(path) if root.is_dir() else (file_kind(path) or ".txt")
                if kind is None:
                    stats.ignored_files += 1
                    continue
                yield from _FileReader(self, path, kind, stats, first).texts()

    def _iter_texts(self, stats: CorpusStats) -> Iterator[str]:
        for number, text in enumerate(self._texts or (), start=1):
            if not isinstance(text, str):
                raise TypeError(f"text #{number} of the source is {type(text).__name__}, not str")
            stats.documents += 1
            stats.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text

    def problem(self, stats: CorpusStats, message: str, report: bool, *, line: bool = False) -> None:
        """Handle one bad file or line: raise under ``fail``, else count and warn."""
        if self.on_error == "fail":
            raise CorpusError(f"{message} (use on_error='skip' / --on-error skip to skip it)")
        if line:
            stats.skipped_lines += 1
        else:
            stats.skipped_files += 1
        if not report:
            return
        if len(stats.warnings) < _MAX_WARNINGS:
            stats.warnings.append(message)
            if self._warn is not None:
                self._warn(f"skipped: {message}")
        elif len(stats.warnings) == _MAX_WARNINGS:
            stats.warnings.append("... (further problems counted, not listed)")
            if self._warn is not None:
                self._warn("further problems are counted but not listed")


class _FileReader:
    """Reads one file for :class:`CorpusReader`; one instance per file per pass."""

    def __init__(self, reader: CorpusReader, path: Path, kind: str, stats: CorpusStats, report: bool):
        self.reader, self.path, self.kind, self.stats, self.report = reader, path, kind, stats, report

    def bad(self, what: str, line: Optional[int] = None) -> None:
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        self.reader.problem(self.stats, f"{where}: {what}", self.report, line=line is not None)

    def texts(self) -> Iterator[str]:
        opener = _OPENERS.get(self.path.suffix, open)
        try:
            handle = opener(self.path, "rb")
        except OSError as exc:
            self.bad(f"cannot be read ({exc.strerror or exc})")
            return
        produced = False
        try:
            with handle:
                head = handle.read(_SNIFF)
                if not head:
                    self.bad("empty file")
                    return
                if b"\0" in head:
                    self.bad("binary file (contains NUL bytes)")
                    return
                self.stats.files += 1
                body = self._txt(handle, head) if self.kind == ".txt" else self._jsonl(handle, head)
                for text in body:
                    produced = True
                    yield text
        except (OSError, EOFError, lzma.LZMAError) as exc:
            # Corrupt compressed data, or a read error midway. What was read is kept.
            state = "the rest of it is" if produced else "it is"
            self.bad(f"read error ({exc}); {state} skipped")

    def _txt(self, handle: IO[bytes], head: bytes) -> Iterator[str]:
        self.stats.documents += 1
        pending, line = head, 1
        while True:
            block = handle.read(_BLOCK)
            data = pending + block
            cut = len(data) if not block else _line_start_cut(data)
            if cut:
                text = self._decode_lines(data[:cut], line)
                line += data.count(b"\n", 0, cut)
                if text:
                    self.stats.bytes += len(text.encode("utf-8"))
                    yield text
            pending = data[cut:]
            if not block:
                return

    def _decode_lines(self, data: bytes, first_line: int) -> str:
        """Decode a block; if it is not valid UTF-8, keep its valid lines only."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        kept = []
        for offset, raw in enumerate(data.split(b"\n")):
            try:
                kept.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                self.bad(f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)", first_line + offset)
                kept.append("")  # the line's newline stays, so later lines keep their chunks
        return "\n".join(kept)

    def _jsonl(self, handle: IO[bytes], head: bytes) -> Iterator[str]:
        field_name = self.reader.jsonl_field
        # head ends mid-line; completing it makes the first lines whole.
        first = _LINES.findall(head + handle.readline())
        for number, raw in enumerate(itertools.chain(first, handle), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                self.bad(f"not valid UTF-8 ({exc.reason})", number)
                continue
            except ValueError as exc:
                self.bad(f"malformed JSON ({exc})", number)
                continue
            text = record.get(field_name) if isinstance(record, dict) else None
            if not isinstance(text, str):
                self.bad(f"no string field {field_name!r} (set jsonl_field / --jsonl-field)", number)
                continue
            self.stats.documents += 1
            self.stats.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text


def _line_start_cut(data: bytes) -> int:
    """Largest cut ``p`` where ``data[p-1]`` is a newline and ``data[p]`` is not (0 if none).

    Cutting there never splits a newline run or a line, so chunking each part gives the
    chunks of the whole.

    >>> _line_start_cut(b"ab\\n\\ncd\\n\\n"), _line_start_cut(b"abc")
    (4, 0)
    """
    body = data.rstrip(b"\n")
    return body.rfind(b"\n") + 1


def batched(items: Iterable[Any], limit: int, *, size: Callable[[Any], int] = len) -> Iterator[List[Any]]:
    """Consecutive items in lists whose total ``size`` just reaches ``limit``.

    The one way texts are grouped by size: training's batches, ``encode_batch``'s jobs,
    ``encode-corpus``'s blocks and the CLI's lines.

    >>> list(batched(["ab", "c", "de", "f"], 3))
    [['ab', 'c'], ['de', 'f']]
    """
    batch: List[Any] = []
    total = 0
    for item in items:
        batch.append(item)
        total += size(item)
        if total >= limit:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


SPLITS = ("files", "lines")  # how encode-corpus cuts .txt files into documents
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


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
    Compression and bad input are handled by :class:`CorpusReader`: with ``on_error="skip"``
    bad files and lines are skipped with a warning, with ``"fail"`` they raise.
    """
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
