"""Files written safely: atomic replacement, and the modes new files get.

Every file bytepiece writes (models, token files, exports) goes through here, so a crash
or a signal leaves the old file or none, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ..model import PathLike


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write via a temporary file in the same directory, fsync, then rename over ``path``."""
    with atomic_writer(path) as handle:
        handle.write(data)


@contextmanager
def atomic_writer(path: PathLike) -> Iterator[BinaryIO]:
    """A binary file to stream into; it replaces ``path`` (fsynced) only if the block ends
    without an error, and is deleted otherwise."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would (or keep the
        # mode of the file it replaces), so saved models are readable as usual.
        os.chmod(tmp, creation_mode(target))
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def creation_mode(target: Path, base: int = 0o666) -> int:
    """The mode ``target`` should get: its current mode if it exists, else ``base`` less
    the umask (what ``open``/``mkdir`` would give; use ``base=0o777`` for directories)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return base & ~umask
