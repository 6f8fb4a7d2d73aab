#!/usr/bin/env bash
# A separate virtual environment with the original BytePiece 0.6.3, for benchmarks/peers.py.
#
# It cannot share our environment: same import name (bytepiece), and it needs pyahocorasick
# built in byte mode (bytes keys), which the PyPI wheel is not. Usage:
#   bash benchmarks/setup_original.sh [DIR]
#   python benchmarks/peers.py --original-python DIR/bin/python
# DIR defaults to bytepiece-0.6.3 in the temporary directory ($TMPDIR, else /tmp), which is
# also where peers.py looks when neither --original-python nor BYTEPIECE_ORIGINAL_PYTHON is given.
set -euo pipefail
VENV="${1:-${TMPDIR:-/tmp}/bytepiece-0.6.3}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip setuptools wheel
"$VENV/bin/pip" install -q Cython numpy tqdm
AHOCORASICK_BYTES=1 "$VENV/bin/pip" install -q --no-binary pyahocorasick --no-build-isolation pyahocorasick
"$VENV/bin/pip" install -q --no-build-isolation bytepiece==0.6.3
cd "${TMPDIR:-/tmp}" && "$VENV/bin/python" -c "import ahocorasick, bytepiece; assert not ahocorasick.unicode, 'pyahocorasick is not in byte mode'; print('ok:', bytepiece.__file__)"
