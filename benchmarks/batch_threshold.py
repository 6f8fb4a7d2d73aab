"""Where ``encode(document)`` should switch to the batch path: the documents of
``benchmarks/peers.py`` (1-20 KB) by size class, each encoded by the scalar decoders and
by the batch path (thresholds forced to never / always), best of 3, this process's CPU time.

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

model = sys.argv[1]
alpha = None if sys.argv[2] == "none" else float(sys.argv[2])
tok = Tokenizer(model, seed=0)
tok.encode_batch(["warm"] * 2)
tok.encode_batch(["warm"] * 2, alpha=0.1)
tok.engine.automaton()
tok.engine.batch_encoder().prepare()
for d in DOMAINS:
    docs = domain_documents(d, 1_000_000)
    for lo, hi in ((1000, 2500), (2500, 5000), (5000, 10000), (10000, 30000)):
        sel = [x for x in docs if lo <= len(x.encode()) < hi]
        nb = sum(len(x.encode()) for x in sel)
        res = {}
        for name, (b, s) in (("scalar", (1 << 40, 1 << 40)), ("batch", (0, 0))):
            eng.BATCH_MIN_BYTES, eng.SAMPLE_BATCH_MIN_BYTES = b, s
            best = 1e9
            for _ in range(3):
                t = time.process_time()
                [tok.encode(x, alpha=alpha) for x in sel]
                best = min(best, time.process_time() - t)
            res[name] = nb / best / 1e6
        print(d, lo, hi, len(sel), f"scalar {res['scalar']:.2f} MB/s batch {res['batch']:.2f} MB/s ratio {res['batch']/res['scalar']:.2f}", flush=True)
