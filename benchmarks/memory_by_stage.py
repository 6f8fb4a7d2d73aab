"""Peak PSS per training stage, and the sizes of the tables that grow with the corpus.

Trains a slice with ``workers=1`` (every task in this process, so the figures are the
driver's and one worker's together), samples PSS per stage (``serial_fraction.Meter``),
and prints the entries of the n-gram model (``count >= min_count``), the distinct short
and long pieces of pass 2: run it on two slice sizes to see which stage and which table grow with the corpus.

    python benchmarks/memory_by_stage.py --corpus ../corpus-full --size-mb 20
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import temp_dir  # noqa: E402
from serial_fraction import Meter  # noqa: E402
from train_benchmark import make_slice  # noqa: E402

from bytepiece.training import trainer as trainer_module  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="the full corpus directory (sliced)")
    parser.add_argument("--size-mb", type=float, default=20)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--slices", type=Path, default=temp_dir("bytepiece-train-bench"))
    args = parser.parse_args()
    train_dir = make_slice(args.corpus, args.size_mb, args.slices)[0]
    meter = Meter()
    meter.install()  # after serial_fraction's wrappers: these see the same calls
    prune_packed = trainer_module.prune_packed
    stream_model = trainer_module.stream_model

    def counted_prune(pieces: Any, **options: Any) -> Any:
        print(f"pass 2: {len(pieces.keys)} distinct short pieces, {len(pieces.long)} long", flush=True)
        return prune_packed(pieces, **options)

    def counted_stream_model(*args: Any, **options: Any) -> Any:
        model = stream_model(*args, **options)
        print(f"n-gram model: {sum(model.sizes.values())} entries", flush=True)
        return model

    trainer_module.prune_packed = counted_prune  # type: ignore[assignment]
    trainer_module.stream_model = counted_stream_model  # type: ignore[assignment]
    stop = threading.Event()
    threading.Thread(target=meter.sample_memory, args=(stop,), daemon=True).start()
    started = time.perf_counter()
    trainer_module.Trainer(vocab_size=args.vocab_size, min_count=args.min_count, progress=False).train(train_dir, workers=1)
    stop.set()
    print(f"wall {time.perf_counter() - started:.1f} s")
    for stage, wall in meter.wall.items():
        print(f"{stage}: wall {wall:.1f} s, peak PSS {meter.peak_pss.get(stage, 0) / 1e9:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
