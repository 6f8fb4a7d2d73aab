"""One encode of one huge line holds a bounded amount of memory: a coarse bound of 20
bytes per input byte above the tokenizer at rest, on the worst text measured (one letter
repeated: one id per byte). benchmarks/huge_input_memory.py measures every kind of text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import legacy_zip

CHILD = r"""
import json, sys
from bytepiece import Tokenizer
from bytepiece.parallel import release_memory
tok = Tokenizer(sys.argv[1])
for warm in ("warm " * 20000, "a" * 100000):
    getattr(tok, sys.argv[4])(warm)
text = sys.argv[2] * int(sys.argv[3])
release_memory()

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

rest = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # the peak starts again from here
ids = getattr(tok, sys.argv[4])(text)
print(json.dumps({"ids": len(ids), "peak": status("VmHWM") - rest}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
@pytest.mark.parametrize("method, bound", [("encode", 20), ("encode_array", 12)])
def test_one_letter_repeated_4_mb(method, bound):
    size = 4_000_000
    out = subprocess.run([sys.executable, "-c", CHILD, str(legacy_zip("bytepiece_80k")), "a", str(size), method],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["ids"] == size
    assert result["peak"] < bound * size, f"{result['peak'] / size:.1f} bytes per input byte"
