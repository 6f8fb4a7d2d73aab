"""How a model is stored: our versioned text format, and the original's JSON.

``load_model`` reads our versioned text format (``docs/model-format.md``) and, for
compatibility, the JSON files of the original BytePiece 0.6 (optionally still inside their
``.zip``). ``save_model`` writes atomically. Loading never executes code from the file.

Deliberately left out: what a model is and how it is validated (``model.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..model import FORMAT_NAME, FORMAT_VERSION, Model, ModelFormatError, PathLike
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
def load_model(path: PathLike) -> Model:
    """Read a model file: our v1 format, or an original BytePiece 0.6 JSON (or its .zip).

    Raises ``ModelFormatError`` naming the file for anything truncated, corrupt,
    of an unknown version, or inconsistent; ``OSError`` if it cannot be read.
    """
    data = Path(path).read_bytes()
    return loads_model(data, path=path)


def loads_model(data: bytes, *, path: Optional[PathLike] = None) -> Model:
    """Parse model bytes (see :func:`load_model`); ``path`` is only used in messages."""
    try:
        if data[:4] == b"PK\x03\x04":
            data = _unzip_single_model(data)
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
            raise ModelFormatError(str(exc), path) from None
        raise


def _unzip_single_model(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise ModelFormatError(f"a model .zip must hold exactly one file, found {names[:5]}")
            return archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise ModelFormatError(f"corrupt zip archive ({exc})") from None


def _parse_v1(data: bytes) -> Model:
    first, sep, rest = data.partition(b"\n")
    try:
        version = int(first.split(b" ", 1)[1])
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
    try:
        header = json.loads(header_line)
    except ValueError as exc:
        raise ModelFormatError(f"corrupt header (line 2): {exc}") from None
    if not isinstance(header, dict):
        raise ModelFormatError("corrupt header (line 2): expected a JSON object")
    expected = header.get("sha256")
    if expected is not None and hashlib.sha256(body).hexdigest() != expected:
        lines = body.count(b"\n")
        raise ModelFormatError(
            f"checksum mismatch: the piece lines are truncated or corrupt ({lines} complete "
            f"lines, header says {header.get('pieces')} pieces). If you edited the file by hand, "
            "delete the \"sha256\" field from the header"
        )
    pieces, counts, ids = _parse_piece_lines(body)
    if header.get("pieces") is not None and header["pieces"] != len(pieces):
        raise ModelFormatError(f"truncated: header says {header['pieces']} pieces, found {len(pieces)}")
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
        raise ModelFormatError(f"header says vocab_size {header['vocab_size']}, file has {model.vocab_size}")
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
    pieces: List[bytes] = []
    counts: List[int] = []
    ids: List[int] = []
    if body and not body.endswith(b"\n"):
        raise ModelFormatError("truncated: the last piece line has no newline")
    for number, line in enumerate(body.decode("utf-8", errors="strict").split("\n")[:-1], start=3):
        try:
            id_text, count_text, piece_text = line.split("\t")
            ids.append(int(id_text))
            counts.append(int(count_text))
            pieces.append(unescape_piece(piece_text))
        except ValueError as exc:
            raise ModelFormatError(f"line {number}: expected 'id<TAB>count<TAB>piece', got {line[:80]!r} ({exc})") from None
    return pieces, counts, ids


def _parse_legacy_json(data: bytes) -> Model:
    def no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        result: Dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ModelFormatError(f"duplicate piece key {key!r}")
            result[key] = value
        return result

    try:
        raw = json.loads(data, object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"not UTF-8 JSON ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"corrupt or truncated JSON model: {exc}") from None
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
