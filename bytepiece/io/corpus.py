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
import json
import lzma
import os
import re
import stat
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import CorpusError

PathLike = Union[str, "os.PathLike[str]"]


class CorpusPaths(Tuple[str, ...]):
    """Several corpus paths or fsspec URLs, read in the order given (each directory in
    sorted order): what ``bytepiece train A B C`` passes. A plain list of ``str`` is taken
    for texts, so paths given as strings need this wrapper (or ``Path`` objects).

    >>> CorpusPaths(["corpus/a", "s3://bucket/b"])
    CorpusPaths(['corpus/a', 's3://bucket/b'])
    """

    def __new__(cls, paths: Iterable[PathLike]) -> "CorpusPaths":
        return super().__new__(cls, [os.fspath(p) for p in paths])

    def __repr__(self) -> str:
        return f"CorpusPaths({list(self)!r})"


Source = Union[PathLike, CorpusPaths, Sequence["os.PathLike[str]"], Iterable[str]]

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
_MORE = "... (further problems counted, not listed)"
PART_BYTES = 2 << 20  # bytes of an uncompressed file (or characters of texts) one task reads
MIN_PART_BYTES = 256 << 10  # and at least, when a small corpus is cut finer (``parts(min_parts=)``)
_LINES = re.compile(rb"[^\n]*\n|[^\n]+")


# What reading a damaged file raises: OSError (gzip.BadGzipFile and bz2's "Invalid data
# stream" among them), EOFError (truncated), zlib.error (corrupt deflate data in a .gz),
# lzma.LZMAError (.xz).
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


@dataclass
class CorpusStats:
    """What was read. ``warnings`` keeps the first few messages; the counters are exact."""

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

    def note(self, message: str) -> None:
        """Keep a problem's message (the first few; later ones are only counted)."""
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(message)
        elif len(self.warnings) == _MAX_WARNINGS:
            self.warnings.append(_MORE)

    def merge(self, other: "CorpusStats", warn: Optional[Callable[[str], None]] = None) -> None:
        """Add ``other``'s counts and messages; ``warn`` is told each message kept."""
        for name in ("files", "documents", "bytes", "skipped_files", "skipped_lines", "ignored_files", "changed_files"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for message in other.warnings:
            if message == _MORE or len(self.warnings) > _MAX_WARNINGS:
                continue
            self.note(message)
            if warn is not None:
                warn(f"skipped: {message}" if self.warnings[-1] != _MORE else "further problems are counted but not listed")
        if _MORE in other.warnings and len(self.warnings) == _MAX_WARNINGS:
            self.note(_MORE)
            if warn is not None:
                warn("further problems are counted but not listed")


def file_kind(path: PathLike) -> Optional[str]:
    """``".txt"`` or ``".jsonl"`` for a supported (maybe compressed) name, else None.

    >>> file_kind("a/b.jsonl.gz"), file_kind("x.txt"), file_kind("MANIFEST.tsv")
    ('.jsonl', '.txt', None)
    """
    stem, suffix = os.path.splitext(os.path.basename(os.fspath(path)))
    if suffix in _OPENERS:
        suffix = os.path.splitext(stem)[1]
    return suffix if suffix in _KINDS else None


def list_files(source: PathLike, *, on_error: Optional[Callable[[OSError], None]] = None) -> List[Path]:
    """The corpus files under a directory (recursive, sorted by relative path), or the file.

    A directory that cannot be listed is passed to ``on_error`` (an ``OSError`` naming it);
    without ``on_error`` it raises."""
    return [Path(path) for path, _ in _local_files(os.fspath(source), on_error)]


def _local_files(root: str, on_error: Optional[Callable[[OSError], None]]) -> List[Tuple[str, Optional[os.stat_result]]]:
    """``(path, stat or None)`` of the files :func:`list_files` names. One ``scandir`` per
    directory and one ``stat`` per file, all on strings: a corpus of a million small files
    is listed by the driver alone, so the 30 us a file that ``os.walk`` and ``pathlib``
    cost would be 30 s of a run that no worker can share."""
    if not os.path.exists(root):
        raise FileNotFoundError(f"corpus {root} does not exist")
    if not os.path.isdir(root):
        return [(root, _stat(root))]
    found: List[Tuple[str, str, Optional[os.stat_result]]] = []  # relative path, path, stat
    waiting = [(root, "")]
    while waiting:
        directory, relative = waiting.pop()
        try:
            with os.scandir(directory) as entries:
                # (a link to a directory is not followed, as os.walk does not: no cycles)
                listed = [(e.name, e.path, e.is_dir(), e.is_symlink()) for e in entries if not e.name.startswith(".")]
        except OSError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        for name, path, is_directory, is_link in listed:
            if is_directory:
                if not is_link:
                    waiting.append((path, f"{relative}{name}/"))
            else:
                found.append((f"{relative}{name}", path, _stat(path)))
    found.sort()
    return [(path, info) for _, path, info in found]


def _stat(path: str) -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except OSError:
        return None


def is_url(path: object) -> bool:
    """Whether a corpus path is an fsspec URL (``s3://``, ``gs://``, ``hf://``, ``file://``...).

    >>> is_url("s3://bucket/corpus"), is_url("corpus/a.txt")
    (True, False)
    """
    return isinstance(path, str) and "://" in path


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise ImportError(
            "corpus URLs need fsspec: pip install fsspec (plus s3fs, gcsfs or huggingface_hub "
            "for s3://, gs:// or hf://)"
        ) from None
    return fsspec


def open_binary(path: str) -> IO[bytes]:
    """A local path or an fsspec URL, opened for reading bytes (seekable)."""
    if is_url(path):
        return _fsspec().open(path, "rb").open()
    return open(path, "rb")


def open_input(path: str) -> IO[bytes]:
    """A corpus file for reading bytes, decompressed by its suffix (.gz, .bz2, .xz)."""
    opener = _OPENERS.get(Path(path).suffix)
    return opener(path, "rb") if opener is not None else open_binary(path)


def corpus_files(root: str, *, on_error: Optional[Callable[[OSError], None]] = None) -> List[Tuple[str, int]]:
    """``(path, size)`` of the files under ``root`` (recursive, sorted by relative path,
    hidden files left out), or of ``root`` itself; ``size`` is -1 when it cannot be read.
    ``root`` may be an fsspec URL; the paths given back are then URLs too. A local
    directory that cannot be listed goes to ``on_error`` (see :func:`list_files`)."""
    return [(path, size) for path, size, _ in _listing(root, on_error)]


def _listing(root: str, on_error: Optional[Callable[[OSError], None]]) -> List[Tuple[str, int, Optional[Tuple[int, int]]]]:
    """:func:`corpus_files` with each local file's signature (see :func:`_signature`)."""
    if not is_url(root):
        return [(path, -1, None) if info is None else (path, info.st_size, (info.st_size, info.st_mtime_ns)) for path, info in _local_files(root, on_error)]
    fs, base = _fsspec().core.url_to_fs(root)
    if not fs.exists(base):
        raise FileNotFoundError(f"corpus {root} does not exist")
    if not fs.isdir(base):
        return [(root, int(fs.size(base)), None)]
    entries = fs.find(base, detail=True)
    prefix = base.rstrip("/") + "/"
    listed = []
    for name, info in entries.items():
        relative = name[len(prefix) :] if name.startswith(prefix) else name
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        listed.append((relative, fs.unstrip_protocol(name), int(info.get("size") or 0)))
    return [(url, size, None) for _, url, size in sorted(listed)]


@dataclass(frozen=True)
class CorpusFormat:
    """How files are read: the JSONL field and the error policy (what a task needs)."""

    jsonl_field: str = "text"
    on_error: str = "skip"


@dataclass(frozen=True)
class Part:
    """A piece of a corpus that one task reads by itself, so no text passes through the
    process that plans the work.

    A file's byte range ``[start, end)``: the reader moves both ends forward to the next
    line start (for ``.txt``, past a run of newlines too), so neighbouring parts tile the
    file exactly, line by line, and a line is read by the part its start falls in.
    Compressed files are one part (``end`` None). Small files are grouped: a part with
    ``members`` is those parts, read one after the other (a corpus of many small files
    would otherwise be a task per file). Texts given in memory travel in ``texts``,
    numbered from ``start``.
    """

    index: int
    path: str = ""
    kind: str = ".txt"
    start: int = 0
    end: Optional[int] = None
    texts: Optional[Tuple[str, ...]] = None
    total: int = 0  # the file's size (-1: unknown)
    members: Tuple["Part", ...] = ()

    @property
    def size(self) -> int:
        """About how many bytes (characters for texts) the part holds."""
        if self.texts is not None:
            return sum(map(len, self.texts))
        if self.members:
            return sum(member.size for member in self.members)
        return max(0, (self.end if self.end is not None else self.total) - self.start)

    @property
    def first(self) -> bool:
        """Whether this part starts its file (it reports whole-file problems)."""
        return self.start == 0


class CorpusReader:
    """Re-iterable stream of texts from a corpus source, applying the error policy.

    ``source``: a directory or file path (``str`` or ``Path``, or an fsspec URL such as
    ``s3://bucket/corpus``); a list of ``Path`` objects (files or directories); or a
    re-iterable of ``str`` texts (e.g. a list). Each iteration re-reads the source;
    statistics are collected on the first one.

    The work can also be split: :meth:`parts` plans the corpus as :class:`Part` objects,
    :func:`read_part` reads one anywhere (in a worker), and :meth:`record` adds what a
    part's reading counted to :attr:`stats` (reporting its problems).

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
        self.format = CorpusFormat(jsonl_field, on_error)
        self.jsonl_field = jsonl_field
        self.on_error = on_error
        self.stats = CorpusStats()
        self._warn = warn
        self._passes = 0
        self._first_plan: Optional[Dict[str, Any]] = None  # the first plan's options (None: not planned yet)
        # From the first plan and pass, to check the later passes against: each local
        # file's (size, modification time), and what each part read.
        self._signatures: Dict[str, Optional[Tuple[int, int]]] = {}
        self._part_counts: Dict[int, Tuple[int, int, int, int]] = {}
        self._changed_paths: set = set()
        self._texts: Optional[Iterable[str]] = None
        self._roots: List[str] = []
        if isinstance(source, (str, os.PathLike)):
            self._roots = [os.fspath(source)]
        elif isinstance(source, CorpusPaths):
            self._roots = list(source)
        elif isinstance(source, (list, tuple)) and source and all(isinstance(s, os.PathLike) for s in source):
            self._roots = [os.fspath(s) for s in source]
        else:
            if iter(source) is source:
                raise TypeError(
                    "training reads the corpus twice, so source must be re-iterable: pass a "
                    "list of texts, a directory, or a list of Path objects, not a generator"
                )
            self._texts = source  # type: ignore[assignment]
        for root in self._roots:
            if not is_url(root) and not Path(root).exists():
                raise FileNotFoundError(f"corpus path {root} does not exist")

    def parts(self, part_bytes: Optional[int] = None, *, whole_txt: bool = False, min_parts: int = 1) -> Iterator[Part]:
        """The corpus as parts of about ``part_bytes`` bytes (characters for texts; default
        ``PART_BYTES``), in order. The first plan counts the ignored files in :attr:`stats`.
        ``whole_txt``: a ``.txt`` file is never cut (it is one document to
        ``encode-corpus --split files``). ``min_parts``: files are cut smaller (down to
        ``MIN_PART_BYTES``) so that the corpus makes at least this many parts: the workers
        of a small corpus share it evenly (4 parts of 1.2-2.3 MB left one of two workers
        idle for a quarter of each pass)."""
        count_ignored = self._first_plan is None
        if count_ignored:  # kept for the later passes, which must cut the corpus alike
            self._first_plan = {"part_bytes": part_bytes, "whole_txt": whole_txt, "min_parts": min_parts}
        part_bytes = part_bytes or PART_BYTES
        listings = [(root, _listing(root, on_error=self.report_unlistable)) for root in self._roots]
        if min_parts > 1 and listings:
            total = sum(max(size, 0) for _, listing in listings for _, size, _ in listing)
            part_bytes = min(part_bytes, max(MIN_PART_BYTES, -(-total // min_parts)))
        index = 0
        if self._texts is not None:
            number = 1
            for texts in batched(self._texts, part_bytes, size=_text_size):
                yield Part(index, start=number, texts=tuple(texts))
                index, number = index + 1, number + len(texts)
            return
        group: List[Part] = []  # small files waiting to make up a part
        grouped = 0  # their bytes
        for root, listing in listings:
            in_directory = is_url(root) or os.path.isdir(root)
            for path, size, signature in listing:
                kind = file_kind(path) if in_directory else (file_kind(path) or ".txt")
                if kind is None:
                    if count_ignored:
                        self.stats.ignored_files += 1
                    continue
                if count_ignored and not is_url(path):
                    self._signatures[path] = signature
                if size <= part_bytes or os.path.splitext(path)[1] in _OPENERS or (whole_txt and kind == ".txt"):
                    group.append(Part(0, path, kind, total=size))
                    grouped += max(size, 0)
                    if grouped >= part_bytes:
                        yield _grouped(index, group)
                        index, group, grouped = index + 1, [], 0
                    continue
                for start in range(0, size, part_bytes):
                    yield Part(index, path, kind, start, start + part_bytes, total=size)
                    index += 1
        if group:
            yield _grouped(index, group)

    def report_unlistable(self, exc: OSError) -> None:
        """A directory of the corpus that cannot be listed: an error under ``fail``,
        reported and counted as a skipped file under ``skip``."""
        where = exc.filename if exc.filename is not None else "a directory"
        if self.on_error == "fail":
            raise CorpusError(f"directory cannot be read ({exc.strerror or exc}); the files in it are not read", where)
        self.stats.skipped_files += 1
        self.stats.note(f"{where}: directory cannot be read ({exc.strerror or exc}); the files in it are not read")
        if self._warn is not None:
            self._warn(f"skipped: {where}: directory cannot be read ({exc.strerror or exc})")

    def record(self, stats: "CorpusStats", part: Optional[Part] = None) -> None:
        """Add a part's statistics (of the first pass) to :attr:`stats`, reporting its
        problems (the first ``_MAX_WARNINGS`` in all); with ``part``, keep what it read
        for :meth:`verify`. Reading the reader after this is a later pass (checked, not
        counted again)."""
        self._passes = max(self._passes, 1)
        self.stats.merge(stats, self._warn)
        if part is not None:
            self._part_counts[part.index] = _read_counts(stats)

    # ---------------------------------------------------------------- later passes
    # Training reads the corpus twice. A file that changes in between would make the
    # second pass count text the first never saw: an error under "fail", reported and
    # counted (``changed_files``) under "skip".
    def unchanged(self, parts: Iterable[Part]) -> List[Part]:
        """``parts`` without the files whose size or modification time changed since the
        first plan (those are reported, and not read again)."""
        kept = []
        for part in parts:
            members = part.members or (part,)
            fine = tuple(m for m in members if self._same_file(m.path))
            if len(fine) == len(members):
                kept.append(part)
            elif fine:
                # what the first pass read was counted for the whole group: not comparable
                self._part_counts.pop(part.index, None)
                kept.append(Part(part.index, members=fine))
        return kept

    def verify(self, part: Part, stats: "CorpusStats") -> bool:
        """Whether a later pass read ``part`` as the first pass did (files, documents,
        bytes and skipped lines). If not: :class:`CorpusError` under ``fail``; under
        ``skip`` the part is reported and counted as changed, and the caller leaves out
        what it read."""
        expected = self._part_counts.get(part.index)
        found = _read_counts(stats)
        if expected is None or found == expected:
            return True
        path = part.path or _members_named(part)
        self._changed(path, f"read differently than in the first pass ({found[1]} documents, {found[2]} bytes, "
                            f"{found[3]} lines skipped instead of {expected[1]}, {expected[2]}, {expected[3]}); "
                            "what this pass read of it is left out")
        return False

    def _same_file(self, path: str) -> bool:
        if path not in self._signatures or path in self._changed_paths:
            return path not in self._changed_paths
        if _signature(path) == self._signatures[path]:
            return True
        self._changed(path, "changed since the first pass (size or modification time); not read again")
        return False

    def _changed(self, path: str, what: str) -> None:
        if self.on_error == "fail":
            raise CorpusError(f"{what}: training reads the corpus twice and needs the same files both times", path)
        if path not in self._changed_paths:
            self._changed_paths.add(path)
            self.stats.changed_files += 1
        self.stats.note(f"{path}: {what}")
        if self._warn is not None:
            self._warn(f"{path}: {what}")

    def __iter__(self) -> Iterator[str]:
        first = self._passes == 0
        self._passes += 1
        # A later pass is checked part by part against the first (verify), so it cuts the
        # corpus as the first plan did: the trainer's passes plan parts for its workers,
        # and its refinement pass reads the corpus through this.
        plan = list(self.parts()) if first else self.unchanged(self.parts(**(self._first_plan or {})))
        for part in plan:
            stats = CorpusStats()
            yield from read_part(part, self.format, stats)
            if first:
                self.record(stats, part)
            else:
                self.verify(part, stats)


def _members_named(part: Part) -> str:
    """A group of small files read as one part, by name: which of them changed is not
    known, so all of them are named (the first few, and how many more)."""
    names = [m.path for m in part.members if m.path]
    if not names:
        return "the corpus"
    shown = ", ".join(names[:3])
    return shown if len(names) <= 3 else f"{shown} and {len(names) - 3} more files read with them"


def _signature(path: str) -> Optional[Tuple[int, int]]:
    """A file's (size, modification time in ns), or None if it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _read_counts(stats: "CorpusStats") -> Tuple[int, int, int, int]:
    return stats.files, stats.documents, stats.bytes, stats.skipped_lines


def _grouped(index: int, parts: List[Part]) -> Part:
    return Part(index, members=tuple(parts)) if len(parts) > 1 else Part(index, parts[0].path, parts[0].kind, total=parts[0].total)


def _text_size(text: object) -> int:
    return len(text) if isinstance(text, str) else 1


def read_part(part: Part, fmt: CorpusFormat, stats: "CorpusStats") -> Iterator[str]:
    """The texts of one part, counting what was read (and skipped) in ``stats``.

    Under ``on_error="fail"`` the first problem raises :class:`CorpusError`.
    """
    for member in part.members:
        yield from read_part(member, fmt, stats)
    if part.members:
        return
    if part.texts is not None:
        for number, text in enumerate(part.texts, start=part.start):
            if not isinstance(text, str):
                raise TypeError(f"text #{number} of the source is {type(text).__name__}, not str")
            stats.documents += 1
            stats.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text
        return
    yield from _FileReader(part, fmt, stats).texts()


def _problem(fmt: CorpusFormat, stats: "CorpusStats", what: str, path: str, line: Optional[int] = None) -> None:
    """One bad file or line: raise :class:`CorpusError` (naming the file and line) under
    ``fail``, else count it and keep its message."""
    if fmt.on_error == "fail":
        raise CorpusError(f"{what} (use on_error='skip' / --on-error skip to skip it)", path, line=line)
    if line is not None:
        stats.skipped_lines += 1
    else:
        stats.skipped_files += 1
    stats.note(f"{path}: {what}" if line is None else f"{path}, line {line}: {what}")


class _FileReader:
    """Reads one part of a file for :func:`read_part`."""

    def __init__(self, part: Part, fmt: CorpusFormat, stats: CorpusStats):
        self.part, self.fmt, self.stats = part, fmt, stats
        self.path, self.kind = part.path, part.kind
        self.begin = 0  # where this part's text starts in the file (bytes)

    def bad(self, what: str, line: Optional[int] = None) -> None:
        if line is not None and self.begin:
            line += self._lines_before(self.begin)
        _problem(self.fmt, self.stats, what, self.path, line)

    def _lines_before(self, offset: int) -> int:
        """Lines that end before byte ``offset``: read only when a problem is reported."""
        count = 0
        with open_binary(self.path) as handle:
            while offset > 0:
                block = handle.read(min(_BLOCK, offset))
                if not block:
                    break
                count += block.count(b"\n")
                offset -= len(block)
        return count

    def texts(self) -> Iterator[str]:
        first = self.part.first
        opener = _OPENERS.get(Path(self.path).suffix)
        try:
            if not is_url(self.path) and not stat.S_ISREG(os.stat(self.path).st_mode):
                if first:  # a FIFO would block for ever, a device never end
                    self.bad("not a regular file (a FIFO, socket or device)")
                return
            raw = open_binary(self.path)
        except OSError as exc:
            self.bad(f"cannot be read ({exc.strerror or exc})")
            return
        produced = False
        try:
            with raw:
                handle = raw if opener is None else opener(raw, "rb")
                head = handle.read(_SNIFF)
                if not head or b"\0" in head:
                    if first:  # the file's first part speaks for the whole file
                        self.bad("empty file" if not head else "binary file (contains NUL bytes)")
                    return
                if first:
                    self.stats.files += 1
                if opener is None and (self.part.start or self.part.end is not None):
                    self.begin = _next_line_start(raw, self.part.start, self.kind)
                    end = None if self.part.end is None else _next_line_start(raw, self.part.end, self.kind)
                    raw.seek(self.begin)
                    handle, head = _Range(raw, None if end is None else end - self.begin), b""
                body = self._txt(handle, head) if self.kind == ".txt" else self._jsonl(handle, head)
                for text in body:
                    produced = True
                    yield text
        except READ_ERRORS as exc:
            # Corrupt compressed data, or a read error midway. What was read is kept.
            kept = "; what was read before it is kept" if produced else ""
            self.bad(f"read error ({type(exc).__name__}: {_one_line(exc)}){kept}")

    def _txt(self, handle: IO[bytes], head: bytes) -> Iterator[str]:
        if self.part.first:
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
        field_name = self.fmt.jsonl_field
        for number, raw in enumerate(_raw_lines(handle, head), start=1):
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
            self.stats.documents += 1
            self.stats.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


class _Range:
    """At most ``length`` bytes of a handle (all of it when ``length`` is None)."""

    def __init__(self, handle: IO[bytes], length: Optional[int]) -> None:
        self.handle, self.left = handle, length

    def read(self, size: int = -1) -> bytes:
        if self.left is None:
            return self.handle.read(size)
        if size < 0 or size > self.left:
            size = self.left
        data = self.handle.read(size)
        self.left -= len(data)
        return data


def _raw_lines(handle: Any, head: bytes) -> Iterator[bytes]:
    """The lines (with their newlines) of ``head`` followed by the rest of ``handle``."""
    pending = head
    while True:
        block = handle.read(_BLOCK)
        data = pending + block
        cut = data.rfind(b"\n") + 1 if block else len(data)
        yield from _LINES.findall(data[:cut])
        pending = data[cut:]
        if not block:
            return


def _next_line_start(handle: IO[bytes], position: int, kind: str) -> int:
    """The first cut at or after ``position`` where a part may start: 0, the end of the
    file, or a byte after a newline (for ``.txt``, one that is not itself a newline, so a
    run of newlines, which belongs to the line before it, is never split)."""
    if position <= 0:
        return 0
    handle.seek(position - 1)
    base, carry = position - 1, b""
    pattern = _TXT_CUT if kind == ".txt" else _JSONL_CUT
    while True:
        block = handle.read(1 << 16)
        data = carry + block
        found = pattern.search(data)
        if found:
            return base + found.start() + 1
        if not block:
            return base + len(data)
        # a newline at the very end may be followed by the cut: look again with it
        keep = 1 if data.endswith(b"\n") else 0
        base, carry = base + len(data) - keep, data[len(data) - keep :]


_TXT_CUT = re.compile(rb"\n[^\n]")
_JSONL_CUT = re.compile(rb"\n")


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


def part_documents(part: Part, fmt: CorpusFormat, stats: "CorpusStats", *, split: str = "files") -> Iterator[str]:
    """The documents of one part (see :func:`iter_documents`), counting what was read in
    ``stats``. With ``split="files"`` a ``.txt`` part must hold whole files
    (``CorpusReader.parts(whole_txt=True)``)."""
    for member in part.members:
        yield from part_documents(member, fmt, stats, split=split)
    if part.members:
        return
    if part.texts is not None or part.kind == ".jsonl":
        yield from read_part(part, fmt, stats)
        return
    # A .txt part arrives in blocks cut at line starts: joined, they are the part, and its
    # lines are those of the whole file (parts start at line starts).
    text = "".join(read_part(part, fmt, stats))
    if split == "files":
        if text:
            yield text
    else:
        yield from _LINE.findall(text)


def iter_documents(
    source: Source,
    *,
    split: str = "files",
    jsonl_field: str = "text",
    on_error: str = "skip",
    warn: Optional[Callable[[str], None]] = None,
    stats: Optional[CorpusStats] = None,
) -> Iterator[str]:
    """Documents of a corpus directory (or file, or :class:`CorpusPaths`), in sorted path
    order.

    A ``.txt`` file is one document with ``split="files"`` and one per line (with its
    newline) with ``split="lines"``; a ``.jsonl`` record is always one document.
    Compression and bad input are handled by :class:`CorpusReader` (whose statistics are
    added to ``stats`` if given): with ``on_error="skip"`` bad files and lines are skipped
    with a warning, with ``"fail"`` they raise :class:`CorpusError`. ``encode-corpus``
    reads the same documents part by part, in its workers (:func:`part_documents`).
    """
    reader = document_reader(source, split=split, jsonl_field=jsonl_field, on_error=on_error, warn=warn)
    for part in reader.parts(whole_txt=split == "files"):
        read = CorpusStats()
        yield from part_documents(part, reader.format, read, split=split)
        reader.record(read)
    if stats is not None:
        stats.merge(reader.stats)


def document_reader(
    source: Source, *, split: str = "files", jsonl_field: str = "text", on_error: str = "skip",
    warn: Optional[Callable[[str], None]] = None,
) -> CorpusReader:
    """The reader of a corpus read as documents (checking ``split``); plan it with
    ``parts(whole_txt=split == "files")``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not isinstance(source, (str, os.PathLike, CorpusPaths)) and not (
        isinstance(source, (list, tuple)) and all(isinstance(item, os.PathLike) for item in source)
    ):
        # The trainer reads a plain list of str as texts; here it would silently encode the
        # path names themselves.
        raise TypeError(
            f"source must be a path, an fsspec URL, CorpusPaths([...]) or a list of Path objects, got "
            f"{type(source).__name__}; for several paths given as strings use CorpusPaths(paths)"
        )
    if isinstance(source, (str, os.PathLike)) and not is_url(source) and not Path(source).exists():
        raise FileNotFoundError(f"corpus path {os.fspath(source)} does not exist")
    return CorpusReader(source, jsonl_field=jsonl_field, on_error=on_error, warn=warn)
