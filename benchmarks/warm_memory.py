"""Use most of the machine's free memory once, before timing anything on a virtual machine.

Why: on the virtual machines these benchmarks run on, memory that no process has used
since the machine started is slow to use the first time. numpy asks for transparent huge
pages for arrays of 4 MB or more, and the kernel takes whole 2 MB pages from memory that
has not been used yet. Filling a fresh 200 MB array took 1.8-2.1 s in a new process, and
0.11 s without huge pages (``NUMPY_MADVISE_HUGEPAGE=0``). After this script had used
18 GiB once, the same fill took 0.07 s in a new process (``docs/scaling.md``, "Session
11"). A run that allocates more fresh memory paid more: two worker processes more than
one, the first runs of a session more than later ones. So ratios between runs depended
on what the runs before them had used.

The effect wears off: about an hour after 18 GiB had been used, the 200 MB fill took 1.6 s
again (the host seems to take unused memory back). Run it right before each series of
timings, and still alternate the runs compared:

    python benchmarks/warm_memory.py             # three quarters of MemAvailable
    python benchmarks/warm_memory.py --gib 18

Each GiB is written and kept until the end, so every GiB is memory not used before.
"""

from __future__ import annotations

import argparse
import time
from typing import List

import numpy as np


def available_gib() -> float:
    """MemAvailable of /proc/meminfo, in GiB."""
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / (1 << 20)
    raise SystemExit("warm_memory.py: no MemAvailable in /proc/meminfo (Linux only)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=int, default=None, help="GiB to use (default: three quarters of MemAvailable)")
    args = parser.parse_args()
    gib = args.gib if args.gib is not None else int(0.75 * available_gib())
    if gib < 1:
        raise SystemExit(f"warm_memory.py: --gib must be at least 1, got {gib}")
    held: List[np.ndarray] = []
    start = time.perf_counter()
    for i in range(gib):
        began = time.perf_counter()
        block = np.empty(1 << 30, dtype=np.uint8)
        block.fill(1)
        held.append(block)
        print(f"GiB {i + 1}/{gib}: {time.perf_counter() - began:.2f} s", flush=True)
    print(f"used {gib} GiB once in {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
