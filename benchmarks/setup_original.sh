#!/usr/bin/env bash
# A separate virtual environment with the original BytePiece 0.6.3, for benchmarks/peers.py.
#
# It cannot share our environment: same import name (bytepiece), and it needs pyahocorasick
# built in byte mode (bytes keys), which the PyPI wheel is not. Usage:
#   bash benchmarks/setup_original.sh [/tmp/bytepiece-0.6.3]
#   python benchmarks/peers.py --original-python /tmp/bytepiece-0.6.3/bin/python
set -euo pipefail
VENV="${1:-/tmp/bytepiece-0.6.3}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip setuptools wheel
"$VENV/bin/pip" install -q Cython numpy tqdm
AHOCORASICK_BYTES=1 "$VENV/bin/pip" install -q --no-binary pyahocorasick --no-build-isolation pyahocorasick
"$VENV/bin/pip" install -q --no-build-isolation bytepiece==0.6.3
cd /tmp && "$VENV/bin/python" -c "import ahocorasick, bytepiece; assert not ahocorasick.unicode, 'pyahocorasick is not in byte mode'; print('ok:', bytepiece.__file__)"
