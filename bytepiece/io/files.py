"""Files written safely: atomic replacement, and the modes new files get.

Every file bytepiece writes (models, token files, exports) goes through here, so a crash
or a signal leaves the old file or none, never half of one.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, List

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


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then act as they would have: for
    steps that must not be cut in two (moving an old output aside and the new one in).
    Only the main thread runs signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []

    def record(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            signal.raise_signal(received[0])
