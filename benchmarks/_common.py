"""What the benchmark scripts share: where ../shared is, and best-of-N timing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

SHARED = Path(os.environ.get("BYTEPIECE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def best_of(repeat: int, function: Callable[[], object]) -> float:
    """The fastest of ``repeat`` calls, in seconds: the least disturbed by a busy machine."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)
