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
import stat
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from ..errors import CorpusError

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


# What reading a damaged file raises: OSError (gzip.BadGzipFile and bz2's "Invalid data
# stream" among them), EOFError (truncated), zlib.error (corrupt deflate data in a .gz),
# lzma.LZMAError (.xz).
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


@dataclass
class CorpusStats:
    """What was read. ``warnings`` keeps the first few messages; the counters are exact.

    ``changed_files`` counts files that were different when training read the corpus
    again (pass 2) than the first time (see :class:`CorpusReader`)."""

    files: int = 0
    documents: int = 0
    bytes: int = 0
    skipped_files: int = 0
    skipped_lines: int = 0
    ignored_files: int = 0
    changed_files: int = 0
    warnings: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data

    def summary(self) -> str:
        """One line for a user: what was read and what was skipped.

        >>> CorpusStats(files=2, documents=5, skipped_lines=1).summary()
        '2 files read (5 documents), 0 files and 1 lines skipped, 0 files ignored'
        """
        text = (f"{self.files} files read ({self.documents} documents), {self.skipped_files} files and "
                f"{self.skipped_lines} lines skipped, {self.ignored_files} files ignored")
        if self.changed_files:
            text += f", {self.changed_files} files changed between the passes"
        return text


class FileCounts(NamedTuple):
    """What reading one file gave: compared between the passes of training."""

    read: bool = False
    skipped: bool = False
    documents: int = 0
    bytes: int = 0
    skipped_lines: int = 0


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


def list_files(source: PathLike, *, on_error: Optional[Callable[[OSError], None]] = None) -> List[Path]:
    """The corpus files under a directory (recursive, sorted by relative path), or the file.

    A directory that cannot be listed is passed to ``on_error`` (an ``OSError`` naming it);
    without ``on_error`` it raises."""
    root = Path(source)
    if not root.exists():
        raise FileNotFoundError(f"corpus {root} does not exist")
    if not root.is_dir():
        return [root]

    def unreadable(exc: OSError) -> None:
        if on_error is None:
            raise exc
        on_error(exc)

    found: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames if not name.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class CorpusReader:
    """Re-iterable stream of texts from a corpus source, applying the error policy.

    ``source``: a directory or file path (``str`` or ``Path``); a list of ``Path`` objects
    (files or directories); or a re-iterable of ``str`` texts (e.g. a list). Statistics
    are collected on the first iteration (into ``stats``, or a new :class:`CorpusStats`).

    Later iterations (training's second pass) read the files the first one found, and
    check that each is unchanged: the same size and modification time before reading, the
    same documents, bytes and bad lines after. A file that changed is an error under
    ``on_error="fail"``; under ``"skip"`` it is reported and counted in
    ``stats.changed_files`` (if it changed before it was read, it is not read).

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
        stats: Optional[CorpusStats] = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.jsonl_field = jsonl_field
        self.on_error = on_error
        self.stats = CorpusStats() if stats is None else stats
        self._warn = warn
        self._passes = 0
        self._texts: Optional[Iterable[str]] = None
        self._roots: List[Path] = []
        # From the first pass, for the next ones: (path, kind, stat signature, counts).
        self._files: List[Tuple[str, str, Optional[Tuple[int, ...]], FileCounts]] = []
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
        for _path, _kind, texts in self.files():
            yield from texts

    def files(self) -> Iterator[Tuple[Path, str, Iterator[str]]]:
        """``(path, kind, texts)`` for each corpus file (for in-memory texts: one entry,
        path ``<texts>``); ``texts`` must be consumed before the next entry is asked for."""
        first = self._passes == 0
        self._passes += 1
        if self._texts is not None:
            yield Path("<texts>"), ".txt", self._iter_texts(self.stats if first else CorpusStats())
        elif first:
            yield from self._first_pass()
        else:
            yield from self._next_pass()

    def _first_pass(self) -> Iterator[Tuple[Path, str, Iterator[str]]]:
        stats = self.stats
        for root in self._roots:
            for path in list_files(root, on_error=self._unlistable):
                kind = file_kind(path) if root.is_dir() else (file_kind(path) or ".txt")
                if kind is None:
                    stats.ignored_files += 1
                    continue
                reader = _FileReader(self, path, kind, report=True)
                yield path, kind, reader.texts()
                counts = reader.counts()
                stats.files += counts.read
                stats.skipped_files += counts.skipped
                stats.documents += counts.documents
                stats.bytes += counts.bytes
                stats.skipped_lines += counts.skipped_lines
                self._files.append((str(path), kind, reader.signature, counts))

    def _next_pass(self) -> Iterator[Tuple[Path, str, Iterator[str]]]:
        for name, kind, signature, expected in self._files:
            path = Path(name)
            if _signature(path) != signature:
                self._changed(path, "changed since the first pass (size or modification time); not read again")
                continue
            reader = _FileReader(self, path, kind, report=False)
            yield path, kind, reader.texts()
            if reader.counts() != expected:
                found = reader.counts()
                self._changed(path, f"read differently than in the first pass ({found.documents} documents, "
                                    f"{found.bytes} bytes instead of {expected.documents}, {expected.bytes})")

    def _changed(self, path: Path, what: str) -> None:
        if self.on_error == "fail":
            raise CorpusError(f"{what}: training reads the corpus twice and needs the same files both times", path)
        self.stats.changed_files += 1
        self.note(f"{path}: {what}")

    def _unlistable(self, exc: OSError) -> None:
        where = exc.filename if exc.filename is not None else "a directory"
        self.problem(f"directory cannot be read ({exc.strerror or exc}); the files in it are not read", where, report=True)

    def _iter_texts(self, stats: CorpusStats) -> Iterator[str]:
        for number, text in enumerate(self._texts or (), start=1):
            if not isinstance(text, str):
                raise TypeError(f"text #{number} of the source is {type(text).__name__}, not str")
            stats.documents += 1
            stats.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text

    def problem(self, what: str, path: PathLike, *, line: Optional[int] = None, report: bool,
                counts: Optional[List[int]] = None, kept: str = "") -> None:
        """Handle one bad file or line: raise :class:`CorpusError` under ``fail``; under
        ``skip`` count it (in ``counts``, a file's ``[skipped, skipped lines]``, or in the
        statistics) and, when ``report``, warn (``kept`` says what is kept of a file)."""
        if self.on_error == "fail":
            raise CorpusError(f"{what} (use on_error='skip' / --on-error skip to skip it)", path, line=line)
        if counts is not None:
            counts[0 if line is None else 1] += 1
        elif line is None:
            self.stats.skipped_files += 1
        else:
            self.stats.skipped_lines += 1
        if report:
            where = f"{path}" if line is None else f"{path}, line {line}"
            self.note(f"{where}: {what}{kept}", prefix="skipped: ")

    def note(self, message: str, prefix: str = "") -> None:
        """Keep ``message`` among the first warnings and pass it to ``warn``."""
        stats = self.stats
        if len(stats.warnings) < _MAX_WARNINGS:
            stats.warnings.append(message)
            if self._warn is not None:
                self._warn(prefix + message)
        elif len(stats.warnings) == _MAX_WARNINGS:
            stats.warnings.append("... (further problems counted, not listed)")
            if self._warn is not None:
                self._warn("further problems are counted but not listed")


def _signature(path: Path) -> Optional[Tuple[int, ...]]:
    """What tells that a file changed between two passes (None: it is gone)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino)


class _FileReader:
    """Reads one file for :class:`CorpusReader`; one instance per file per pass."""

    def __init__(self, reader: CorpusReader, path: Path, kind: str, report: bool):
        self.reader, self.path, self.kind, self.report = reader, path, kind, report
        self.signature = _signature(path)
        self.read = False
        self.documents = self.bytes = 0
        self.skipped = [0, 0]  # the file (0 or 1), lines

    def counts(self) -> FileCounts:
        return FileCounts(self.read, bool(self.skipped[0]), self.documents, self.bytes, self.skipped[1])

    def bad(self, what: str, line: Optional[int] = None, kept: str = "") -> None:
        self.reader.problem(what, self.path, line=line, report=self.report, counts=self.skipped, kept=kept)

    def texts(self) -> Iterator[str]:
        opener = _OPENERS.get(self.path.suffix, open)
        try:
            if not stat.S_ISREG(os.stat(self.path).st_mode):  # a FIFO would block for ever, a device never end
                self.bad("not a regular file (a FIFO, socket or device)")
                return
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
                self.read = True
                body = self._txt(handle, head) if self.kind == ".txt" else self._jsonl(handle, head)
                for text in body:
                    produced = True
                    yield text
        except READ_ERRORS as exc:
            # Corrupt compressed data, or a read error midway. What was read is kept.
            kept = "; what was read before it is kept" if produced else ""
            self.bad(f"read error ({type(exc).__name__}: {_one_line(exc)})", kept=kept)

    def _txt(self, handle: IO[bytes], head: bytes) -> Iterator[str]:
        self.documents += 1
        pending, line = head, 1
        while True:
            block = handle.read(_BLOCK)
            data = pending + block
            cut = len(data) if not block else _line_start_cut(data)
            if cut:
                text = self._decode_lines(data[:cut], line)
                line += data.count(b"\n", 0, cut)
                if text:
                    self.bytes += len(text.encode("utf-8"))
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
            except RecursionError:
                self.bad("JSON nested too deeply", number)
                continue
            except ValueError as exc:
                self.bad(f"malformed JSON ({_one_line(exc)})", number)
                continue
            text = record.get(field_name) if isinstance(record, dict) else None
            if not isinstance(text, str):
                self.bad(f"no string field {field_name!r} (set jsonl_field / --jsonl-field)", number)
                continue
            self.documents += 1
            self.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


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
    stats: Optional[CorpusStats] = None,
) -> Iterator[str]:
    """Documents of a corpus directory (or file), in sorted path order.

    A ``.txt`` file is one document with ``split="files"`` and one per line (with its
    newline) with ``split="lines"``; a ``.jsonl`` record is always one document.
    Compression and bad input are handled by :class:`CorpusReader` (whose statistics go
    to ``stats`` if given): with ``on_error="skip"`` bad files and lines are skipped with
    a warning, with ``"fail"`` they raise :class:`CorpusError`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(source)
    if not root.exists():
        raise FileNotFoundError(f"corpus path {root} does not exist")
    reader = CorpusReader(root, jsonl_field=jsonl_field, on_error=on_error, warn=warn, stats=stats)
    for _path, kind, texts in reader.files():
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
