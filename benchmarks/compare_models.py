"""Bytes per token of two or more of our models on the same text, per domain.

For trying a change to training on one corpus (docs/scaling.md, "Session 14": the n-gram
model thinned to fit the memory budget): every model encodes the documents of each
domain folder (``zh``, ``en``, ``code``, ``multi``) of each text directory, cut as
``compression.py`` cuts its held-out text (a prose line without its newline, a code file
whole), and the table gives bytes of UTF-8 per token, with each model's change against
the first.

    python benchmarks/compare_models.py --models BASE.model OTHER.model \\
        --text ../shared/corpus/sample
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compression import DOMAINS, documents, encoder, measure  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, nargs="+", required=True, help="the first is the baseline")
    parser.add_argument("--text", type=Path, nargs="+", required=True, help="directories with domain folders of *.txt")
    args = parser.parse_args()
    held = {}
    for directory in args.text:
        for domain in DOMAINS:
            if (directory / domain).is_dir():
                held[f"{directory.name}/{domain}"] = documents(directory, domain)
    results = [measure(*encoder("bytepiece", path), held)["bytes_per_token"] for path in args.models]
    print("| text | " + " | ".join(path.name for path in args.models) + " |")
    print("|---|" + "---:|" * len(args.models))
    for key in [*held, "all"]:
        cells = [f"{results[0][key]:.4f}"]
        cells += [f"{r[key]:.4f} ({100 * (r[key] / results[0][key] - 1):+.2f}%)" for r in results[1:]]
        print(f"| {key} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
