"""How a model is stored: our versioned text format, and the original's JSON.

``load_model`` reads our versioned text format (``docs/model-format.md``) and, for
compatibility, the JSON files of the original BytePiece 0.6 (optionally still inside their
``.zip``). ``save_model`` writes atomically. Loading never executes code from the file.

Deliberately left out: what a model is and how it is validated (``model.py``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import io
import json
import lzma
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Tuple

import numpy as np

from ..errors import ModelFormatError
from ..model import FORMAT_NAME, FORMAT_VERSION, Model, PathLike
from .files import atomic_write_bytes


# ---------------------------------------------------------------- piece escaping
# A piece is written as its UTF-8 text where that text is printable, and as \xHH per byte
# otherwise (invalid UTF-8, control characters, non-printing spaces); "\" is written "\\".
# So the file is readable, one piece per line, and round-trips every byte exactly.

_UNESCAPE = re.compile(rb"\\(\\|x([0-9a-fA-F]{2}))")
_BAD_ESCAPE = re.compile(rb"\\(?!\\|x[0-9a-fA-F]{2})")


def escape_piece(piece: bytes) -> str:
    """Display form of a piece, exact and reversible.

    >>> escape_piece("新词".encode()), escape_piece(b"a\\tb\\xff"), escape_piece(b"\\\\")
    ('新词', 'a\\\\x09b\\\\xff', '\\\\\\\\')
    """
    text = piece.decode("utf-8", errors="surrogateescape")
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            out.extend(f"\\x{b:02x}" for b in char.encode("utf-8", errors="surrogateescape"))
    return "".join(out)


def unescape_piece(text: str) -> bytes:
    """Inverse of :func:`escape_piece`; raises ``ValueError`` on a malformed escape."""
    raw = text.encode("utf-8")
    if b"\\" not in raw:
        return raw
    if _BAD_ESCAPE.search(_UNESCAPE.sub(b"", raw)):
        raise ValueError(f"malformed escape in piece {text!r}")
    return _UNESCAPE.sub(lambda m: b"\\" if m.group(2) is None else bytes([int(m.group(2), 16)]), raw)


# ---------------------------------------------------------------- saving
def dumps_model(model: Model) -> bytes:
    """Serialize ``model`` to the v1 text format (see ``docs/model-format.md``)."""
    order = sorted(range(len(model.pieces)), key=model.ids.__getitem__)
    body = "".join(
        f"{model.ids[i]}\t{model.counts[i]}\t{escape_piece(model.pieces[i])}\n" for i in order
    ).encode("utf-8")
    header = {
        "vocab_size": model.vocab_size,
        "pieces": len(model.pieces),
        "special_tokens": dict(sorted(model.special_tokens.items(), key=lambda kv: kv[1])),
        **model.settings(),
        "training": model.training,
        **_extension(model),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    head = f"{FORMAT_NAME} {FORMAT_VERSION}\n{json.dumps(header, ensure_ascii=False, sort_keys=False)}\n"
    return head.encode("utf-8") + body


def _extension(model: Model) -> Dict[str, Any]:
    """The header fields of an extended model (none for a model as trained)."""
    fields: Dict[str, Any] = {}
    if model.added_pieces:
        ids = model.piece_to_id
        fields["added_pieces"] = [ids[piece] for piece in model.added_pieces]
    if model.total_count is not None:
        fields["total_count"] = model.total_count
    return fields


def save_model(model: Model, path: PathLike) -> None:
    """Write ``model`` to ``path`` atomically: a crash leaves the old file or none."""
    atomic_write_bytes(path, dumps_model(model))


# ---------------------------------------------------------------- loading
MAX_MODEL_BYTES = 1 << 28  # 256 MiB unpacked: a 3-million-piece v1 file; pass max_bytes= for more
MAX_JSON_DEPTH = 32  # a header or a BytePiece 0.6 file nests 2-4 levels
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
# What a corrupt or hostile archive raises while being read.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError,
               OSError, ValueError, zlib.error, lzma.LZMAError)


def load_model(path: PathLike, *, max_bytes: int = MAX_MODEL_BYTES) -> Model:
    """Read a model file: our v1 format, or an original BytePiece 0.6 JSON (or its .zip).

    Raises ``ModelFormatError`` naming the file for anything truncated, corrupt,
    of an unknown version, or inconsistent, and before reading anything for a file (or a
    zip member, unpacked) larger than ``max_bytes`` or JSON nested deeper than
    ``MAX_JSON_DEPTH``; ``OSError`` if it cannot be read.

    >>> load_model("model.bpm").vocab_size                # doctest: +SKIP
    32000
    """
    size = os.stat(path).st_size
    if size > max_bytes:
        raise ModelFormatError(_too_big(size, max_bytes), path)
    data = Path(path).read_bytes()
    return loads_model(data, path=path, max_bytes=max_bytes)


def loads_model(data: bytes, *, path: Optional[PathLike] = None, max_bytes: int = MAX_MODEL_BYTES) -> Model:
    """Parse model bytes (see :func:`load_model`); ``path`` is only used in messages."""
    try:
        if len(data) > max_bytes:
            raise ModelFormatError(_too_big(len(data), max_bytes))
        if data[:4] == b"PK\x03\x04":
            data = _unzip_single_model(data, max_bytes)
        head = data.lstrip()[:1]
        if data.startswith(FORMAT_NAME.encode()):
            return _parse_v1(data)
        if head == b"{":
            return _parse_legacy_json(data)
        if not data.strip():
            raise ModelFormatError("the file is empty")
        raise ModelFormatError(
            f"not a bytepiece model: it should start with '{FORMAT_NAME} <version>' "
            "or be a BytePiece 0.6 JSON object"
        )
    except ModelFormatError as exc:
        if exc.path is None and path is not None:
            raise ModelFormatError(exc.reason, path, line=exc.line) from None
        raise


def _too_big(size: int, limit: int) -> str:
    return (f"{size:,} bytes (unpacked), more than the limit of {limit:,}; if this really is a "
            "model, load it with load_model(path, max_bytes=...)")


def _unzip_single_model(data: bytes, max_bytes: int) -> bytes:
    """The one file of a model .zip, checked before it is unpacked: not encrypted, a
    compression method the standard library reads, at most ``max_bytes`` unpacked (the
    size in the directory is checked first, then the bytes actually produced)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.filename.endswith("/")]
            if len(members) != 1:
                raise ModelFormatError(f"a model .zip must hold exactly one file, found {[m.filename for m in members][:5]}")
            (member,) = members
            if member.flag_bits & 0x1:
                raise ModelFormatError(f"{member.filename!r} in the .zip is encrypted; unpack it yourself")
            if member.compress_type not in _ZIP_METHODS:
                raise ModelFormatError(
                    f"{member.filename!r} in the .zip uses compression method {member.compress_type}; "
                    "only stored, deflate, bzip2 and lzma can be read"
                )
            if member.file_size > max_bytes:
                raise ModelFormatError(_too_big(member.file_size, max_bytes))
            with archive.open(member) as handle:
                content = handle.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise ModelFormatError(_too_big(len(content), max_bytes))
            return content
    except ModelFormatError:
        raise
    except _ZIP_ERRORS as exc:
        raise ModelFormatError(f"corrupt zip archive ({type(exc).__name__}: {exc})") from None


def json_depth(data: bytes) -> int:
    """How deep the arrays and objects of JSON text ``data`` nest, found without parsing
    it (brackets inside strings do not count), so that nesting is refused before
    ``json.loads`` would recurse into it.

    >>> json_depth(b'{"a": [1, "]]"], "b": {"c": []}}'), json_depth(b"[" * 5)
    (3, 5)
    """
    kind_of = _JSON_KIND[np.frombuffer(data, dtype=np.uint8)]
    where = np.flatnonzero(kind_of)
    kind = kind_of.take(where)
    quotes, slashes = where[kind == 3], where[kind == 4]
    if slashes.size and quotes.size:
        # A quote is escaped when a run of an odd number of backslashes ends just before it.
        run_start = slashes[np.flatnonzero(np.diff(slashes, prepend=-2) != 1)]
        before = quotes - 1
        after_slash = slashes.take(np.minimum(np.searchsorted(slashes, before), slashes.size - 1)) == before
        start = run_start.take(np.searchsorted(run_start, before, side="right") - 1)
        quotes = quotes[~(after_slash & ((before - start) % 2 == 0))]
    brackets = where[(kind == 1) | (kind == 2)]
    outside = brackets[np.searchsorted(quotes, brackets) % 2 == 0]  # an even number of quotes before
    steps = np.where(kind_of.take(outside) == 1, 1, -1)
    return int(np.cumsum(steps).max()) if steps.size else 0


_JSON_KIND = np.zeros(256, dtype=np.uint8)  # 1: opens, 2: closes, 3: quote, 4: backslash
_JSON_KIND[[ord("["), ord("{")]] = 1
_JSON_KIND[[ord("]"), ord("}")]] = 2
_JSON_KIND[ord('"')] = 3
_JSON_KIND[ord("\\")] = 4


def _load_json(data: bytes, what: str, **options: Any) -> Any:
    """``json.loads`` with the nesting checked first; every failure a ``ModelFormatError``."""
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ModelFormatError(f"{what}: JSON nested {depth} levels deep (at most {MAX_JSON_DEPTH} are read)")
    try:
        return json.loads(data, **options)
    except ModelFormatError:  # from an object hook
        raise
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except RecursionError:  # a lower recursion limit than json_depth assumes
        raise ModelFormatError(f"{what}: JSON nested too deeply") from None
    except ValueError as exc:  # malformed JSON, or an integer of more than 4300 digits
        raise ModelFormatError(f"{what}: {_one_line(str(exc))}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _parse_v1(data: bytes) -> Model:
    first, sep, rest = data.partition(b"\n")
    try:
        version = int(first.split(b" ", 1)[1][:20])
    except (IndexError, ValueError):
        raise ModelFormatError(f"malformed first line {first[:80]!r}") from None
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"model format version {version} is not supported by this bytepiece "
            f"(it reads version {FORMAT_VERSION}); upgrade bytepiece to load it"
        )
    header_line, sep, body = rest.partition(b"\n")
    if not sep:
        raise ModelFormatError("truncated: the header line is incomplete")
    header = _load_json(header_line, "corrupt header (line 2)")
    if not isinstance(header, dict):
        raise ModelFormatError("corrupt header (line 2): expected a JSON object")
    expected = header.get("sha256")
    if expected is not None and hashlib.sha256(body).hexdigest() != expected:
        lines = body.count(b"\n")
        raise ModelFormatError(
            f"checksum mismatch: the piece lines are truncated or corrupt ({lines} complete "
            f"lines, header says {str(header.get('pieces'))[:20]} pieces). If you edited the file by hand, "
            "delete the \"sha256\" field from the header"
        )
    pieces, counts, ids = _parse_piece_lines(body)
    if header.get("pieces") is not None and header["pieces"] != len(pieces):
        raise ModelFormatError(f"truncated: header says {str(header['pieces'])[:20]} pieces, found {len(pieces)}")
    try:
        model = Model(
            pieces=tuple(pieces),
            counts=tuple(counts),
            ids=tuple(ids),
            special_tokens=header.get("special_tokens", {}),
            normalization=header.get("normalization", "none"),
            isolate_digits=header.get("isolate_digits"),
            ensure_unicode=header.get("ensure_unicode"),
            training=header.get("training"),
            origin=f"{FORMAT_NAME} v{version}",
            added_pieces=_added_pieces(header.get("added_pieces"), ids, pieces),
            total_count=header.get("total_count"),
        )
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(str(exc)) from None
    if header.get("vocab_size") not in (None, model.vocab_size):
        raise ModelFormatError(f"header says vocab_size {str(header['vocab_size'])[:20]}, file has {model.vocab_size}")
    return model


def _added_pieces(added: Any, ids: List[int], pieces: List[bytes]) -> Tuple[bytes, ...]:
    """The header's ``added_pieces`` (ids) as pieces."""
    by_id = dict(zip(ids, pieces))
    if added is None:
        return ()
    if not isinstance(added, list) or any(not isinstance(i, int) or i not in by_id for i in added):
        raise ModelFormatError(f"header: added_pieces must be a list of ids of pieces, got {str(added)[:80]}")
    return tuple(by_id[i] for i in added)


def _parse_piece_lines(body: bytes) -> Tuple[List[bytes], List[int], List[int]]:
    """The piece lines' pieces, counts and ids, in file order.

    A big model's first use waits on this (160k lines), so well-formed lines are read a
    whole field column at a time; a file that fails any check is read again line by line
    (:func:`_piece_line_error`), which names the first bad line.
    """
    if body and not body.endswith(b"\n"):
        raise ModelFormatError("truncated: the last piece line has no newline")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"not valid UTF-8 ({exc.reason})", line=body.count(b"\n", 0, exc.start) + 3) from None
    raw = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    tabs = np.flatnonzero(raw == 9)
    if tabs.size != 2 * ends.size:
        _piece_line_error(body)
    starts = np.concatenate(([0], ends[:-1] + 1))
    first_tab, second_tab = tabs[0::2], tabs[1::2]
    # exactly two tabs on every line, and numbers of at most 20 characters (beyond int64;
    # int() of 5,000 digits is slow)
    if ends.size and not (
        (first_tab > starts - 1).all() and (second_tab < ends).all()
        and (first_tab - starts).max() <= 20 and (second_tab - first_tab - 1).max() <= 20
    ):
        _piece_line_error(body)
    fields = body.replace(b"\n", b"\t").split(b"\t")
    try:
        ids = list(map(int, fields[0:-1:3]))
        counts = list(map(int, fields[1:-1:3]))
        pieces = fields[2:-1:3]
    except ValueError:
        _piece_line_error(body)
    slashes = np.flatnonzero(raw == 92)
    if slashes.size:
        if _BAD_ESCAPE.search(_UNESCAPE.sub(b"", body)):
            _piece_line_error(body)
        # only "\\" and "\xHH" are left, which escape_decode reads as unescape_piece does
        for line in np.unique(np.searchsorted(ends, slashes)).tolist():
            pieces[line] = codecs.escape_decode(pieces[line])[0]
    return pieces, counts, ids


def _piece_line_error(body: bytes) -> NoReturn:
    """Raise the ``ModelFormatError`` for the first malformed piece line of ``body``."""
    for number, line in enumerate(body.decode("utf-8").split("\n")[:-1], start=3):
        try:
            id_text, count_text, piece_text = line.split("\t")
            if len(id_text) > 20 or len(count_text) > 20:
                raise ValueError("a number of more than 20 digits")
            int(id_text), int(count_text), unescape_piece(piece_text)
        except ValueError as exc:
            raise ModelFormatError(f"expected 'id<TAB>count<TAB>piece', got {line[:80]!r} ({exc})", line=number) from None
    raise ModelFormatError("malformed piece lines")  # not reached: the fast read found a fault


def _parse_legacy_json(data: bytes) -> Model:
    def no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        result: Dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ModelFormatError(f"duplicate piece key {key!r}")
            result[key] = value
        return result

    raw = _load_json(data, "corrupt or truncated JSON model", object_pairs_hook=no_duplicates)
    if not isinstance(raw, dict):
        raise ModelFormatError("a BytePiece 0.6 model is a JSON object of base64 piece -> [id, text, count]")
    pieces, counts, ids = [], [], []
    for key, value in raw.items():
        try:
            piece = base64.b64decode(key, validate=True)
            piece_id, _display, count = value
        except (binascii.Error, ValueError, TypeError):
            raise ModelFormatError(f"bad entry {key!r}: {str(value)[:60]}") from None
        if not isinstance(piece_id, int) or not isinstance(count, int):
            raise ModelFormatError(f"bad entry {key!r}: id and count must be integers")
        pieces.append(piece)
        counts.append(count)
        ids.append(piece_id)
    try:
        return Model(
            pieces=tuple(pieces),
            counts=tuple(counts),
            ids=tuple(ids),
            normalization="nfc",
            origin="bytepiece-0.6 json",
        )
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(str(exc)) from None
