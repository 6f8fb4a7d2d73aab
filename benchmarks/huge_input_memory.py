"""Memory of one ``encode`` of one huge single-line text, in bytes per input byte.

Each case runs in a fresh process: the tokenizer is loaded and warmed up (automaton, batch
tables, one encode of each kind), the text is built, and then the peak resident memory of
the one call is measured above the memory at rest (Linux: ``/proc/self/clear_refs``
resets the peak, ``VmHWM`` reads it). The target (issue 13) is at most 20 bytes per input
byte for ``encode`` on any text; ``encode_array`` returns int32 ids instead of a list.

    python benchmarks/huge_input_memory.py [--mb 10] [--model PATH] [--cases a,ab,...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, command_line  # noqa: E402

CASES = {
    # name: (description, how the text is made, method, alpha)
    "en": ("English prose (demo-corpus/en), lines joined by spaces", "en", "encode", None),
    "zh": ("classical Chinese (demo-corpus/zh), lines joined", "zh", "encode", None),
    "a": ("one letter repeated: one id per byte", "a", "encode", None),
    "ab": ("'ab' repeated: periodic, no meeting point", "ab", "encode", None),
    "abc": ("'abc' repeated", "abc", "encode", None),
    "digits": ("the integers written one after another", "digits", "encode", None),
    "a-sampled": ("one letter, sampled with alpha=0.1", "a", "encode", 0.1),
    "en-sampled": ("English prose, sampled with alpha=0.1", "en", "encode", 0.1),
    "a-array": ("one letter, encode_array", "a", "encode_array", None),
    "en-array": ("English prose, encode_array", "en", "encode_array", None),
}

CHILD = r"""
import json, sys, time
from pathlib import Path
from bytepiece import Tokenizer
from bytepiece.parallel import release_memory

model, kind, size, method, alpha = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
repo = Path(sys.argv[6])
tok = Tokenizer(model)
for warm in ("warm " * 20000, "a" * 100000, "ab" * 50000):  # tables, automaton, scratch arrays
    tok.encode(warm), tok.encode_array(warm), tok.encode(warm, alpha=0.1, seed=0)

def source(name):
    files = sorted((repo / "demo-corpus" / name).rglob("*.txt"))
    return " ".join(" ".join(p.read_text(encoding="utf-8").split("\n")) for p in files)

if kind in ("en", "zh"):
    unit = source(kind)
elif kind == "digits":
    unit = "".join(str(i) for i in range(200000))
else:
    unit = kind
text = unit * (size // len(unit.encode()) + 1)
text = text.encode()[:size].decode("utf-8", "ignore")
data_bytes = len(text.encode())
release_memory()  # freed heap handed back to the OS: "at rest" is what is really held

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

rest = status("VmRSS")
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak (VmHWM) to the current resident size
started = time.perf_counter()
ids = getattr(tok, method)(text, alpha=alpha, seed=0) if alpha is not None else getattr(tok, method)(text)
seconds = time.perf_counter() - started
peak = status("VmHWM")
print(json.dumps({"bytes": data_bytes, "ids": len(ids), "peak_above_rest": peak - rest, "seconds": seconds}))
"""


def run_case(model: str, name: str, size: int) -> dict:
    _description, kind, method, alpha = CASES[name]
    args = [model, kind, str(size), method, json.dumps(alpha), str(REPO)]
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of the text in MB (default 10)")
    parser.add_argument("--model", default=str(REPO / "tests" / "data" / "models" / "bytepiece_80k.zip"))
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    print(f"command: {command_line()}")
    print("| case | text | ids | peak above rest | bytes per input byte | seconds |")
    print("|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        result = run_case(args.model, name, size)
        per_byte = result["peak_above_rest"] / result["bytes"]
        print(f"| {name} | {CASES[name][0]}, {result['bytes'] / 1e6:.1f} MB | {result['ids']:,} | "
              f"{result['peak_above_rest'] / 1e6:.0f} MB | {per_byte:.1f} | {result['seconds']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
