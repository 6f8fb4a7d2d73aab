"""Where ``encode(document)`` should switch to the batch path: the documents of
``benchmarks/peers.py`` (1-20 KB) by size class, each encoded by the scalar decoders and
by the batch path (thresholds forced to never / always), the two alternating pass by pass,
best of 3, this process's CPU time.

    python benchmarks/batch_threshold.py MODEL none|ALPHA

A ratio above 1 means the batch path is faster for documents of that size;
``engine.BATCH_MIN_BYTES`` (Viterbi) and ``SAMPLE_BATCH_MIN_BYTES`` (sampling) are set
where it crosses 1.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import DOMAINS, domain_documents  # noqa: E402

import bytepiece.encoding.engine as eng  # noqa: E402
from bytepiece import Tokenizer  # noqa: E402
from _common import cold  # noqa: E402

CLASSES = [(1000, 2500), (2500, 4000), (4000, 5500), (5500, 7500), (7500, 10000), (10000, 14000), (14000, 21000)]

model = sys.argv[1]
alpha = None if sys.argv[2] == "none" else float(sys.argv[2])
tok = Tokenizer(model, seed=0)
tok.encode_batch(["warm"] * 2)
tok.encode_batch(["warm"] * 2, alpha=0.1)
tok.engine.automaton()
tok.engine.batch_encoder().prepare()
print(f"{Path(model).name}, alpha={alpha}: batch path speed / scalar decoders' speed, by document size (count)")
for d in DOMAINS:
    docs = domain_documents(d, 1_000_000)
    row = []
    for lo, hi in CLASSES:
        sel = [x for x in docs if lo <= len(x.encode()) < hi]
        best = {"scalar": 1e9, "batch": 1e9}
        for _ in range(3):  # alternating: both see the same load
            for name, (b, s) in (("scalar", (1 << 40, 1 << 40)), ("batch", (0, 0))):
                eng.BATCH_MIN_BYTES, eng.SAMPLE_BATCH_MIN_BYTES = b, s
                cold(tok)  # the same documents every pass: without this the scalar side would find them all cached
                t = time.process_time()
                [tok.encode(x, alpha=alpha) for x in sel]
                best[name] = min(best[name], time.process_time() - t)
        row.append(f"{lo / 1000:g}-{hi / 1000:g} KB ({len(sel)}): {best['scalar'] / best['batch']:.2f}")
    print(d, " | ".join(row), flush=True)
