"""The map side of training: tasks that turn a part of the corpus into count shards.

Tasks are plain functions ``task(config, part)`` run on a pool of the executor
(``parallel.py``: this process, worker processes, or a Dask cluster); the config
(settings, the corpus format, and in pass 2 the n-gram model) is the pool's state, which
reaches the workers once. A part (:class:`bytepiece.io.corpus.Part`) is a byte range of a
file, which the task reads itself, so no text passes through the driver; what the reading
counted (and skipped) comes back with the shard.

Pass 2 keeps its Viterbi steps few: the batched Viterbi takes one step per byte of the
longest chunk in a group, so chunks longer than ``LONG_CHUNK`` bytes are not segmented
with the short ones of their batch but sent back, collected across batches and segmented
together (``segment_chunks``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Tuple

import numpy as np

from ..io.corpus import CorpusStats, Part, batched, read_part
from .count_store import PackedLong, Shard, pack_long, split_long, split_partitions
from .ngram_counting import count_ngrams, merge_sorted_counts
from ..encoding.batch.lattice import Scratch
from .ngram_segmentation import token_starts
from ..normalization import normalize, training_chunks
from .piece_counting import count_pieces

LONG_CHUNK = 1024  # bytes; longer chunks are segmented in groups of their own
GROUP_BYTES = 1 << 20  # bytes counted together in pass 1 (about ten 8-byte arrays a byte)
# Bytes segmented together in pass 2: the Viterbi's arrays take about 2 * 8 * order bytes
# a byte (200 MB a worker at 1 MiB, with the temporaries). Half a MiB keeps a worker about
# 85 MB smaller and costs no time (docs/scaling.md, "Session 16").
SEGMENT_BYTES = 512 << 10

PieceShard = Tuple[Shard, PackedLong]  # packed pieces and long pieces (pickled), split in partitions
Config = Dict[str, Any]


def chunk_texts(texts: List[str], config: Dict[str, Any]) -> List[bytes]:
    """Normalized UTF-8 training chunks of the texts."""
    chunks: List[bytes] = []
    for text in texts:
        text = normalize(text, config["normalization"])
        chunks.extend(c.encode("utf-8", "surrogatepass") for c in training_chunks(text, isolate_digits=config["isolate_digits"]))
    return chunks


def part_texts(config: Config, part: Part) -> Tuple[List[str], CorpusStats]:
    """The texts of a part, and what reading it counted."""
    stats = CorpusStats()
    return list(read_part(part, config["format"], stats)), stats


def count_task(config: Config, part: Part) -> Tuple[Dict[int, Shard], int, CorpusStats, int]:
    """Pass 1 map: (n-gram counts by length, split in the store's partitions; bytes
    counted; reading statistics; chunks) of a part."""
    texts, stats = part_texts(config, part)
    chunks = chunk_texts(texts, config)
    del texts
    order = config["order"]
    # counting holds about ten 8-byte arrays per byte counted: a megabyte at a time
    parts = [count_ngrams(group, order) for group in batched(chunks, GROUP_BYTES)]
    shards = {}
    for n in range(1, order + 1):
        keys, counts = merge_sorted_counts([(p.keys[n], p.counts[n]) for p in parts])
        shards[n] = split_partitions(keys, counts, config["partitions"])
    return shards, sum(p.total for p in parts), stats, len(chunks)


def segment_task(config: Config, part: Part) -> Tuple[PieceShard, int, List[bytes], CorpusStats]:
    """Pass 2 map: (piece counts of the short chunks, their bytes, the long chunks, what
    reading counted: the driver checks it against pass 1)."""
    texts, stats = part_texts(config, part)
    chunks = chunk_texts(texts, config)
    del texts
    short = [c for c in chunks if len(c) <= LONG_CHUNK]
    long = [c for c in chunks if len(c) > LONG_CHUNK]
    return segment_chunks(config, short), sum(map(len, short)), long, stats


def segment_long_task(config: Config, chunks: List[bytes]) -> Tuple[PieceShard, int]:
    """Pass 2 map for long chunks collected from many batches: (piece counts, bytes)."""
    return segment_chunks(config, chunks), sum(map(len, chunks))


def segment_chunks(config: Config, chunks: List[bytes]) -> PieceShard:
    """Segment chunks with the model and count the pieces.

    A chunk that occurs several times is segmented once, and its pieces counted as often as
    it occurs: its segmentation does not depend on the other chunks. A third of the bytes
    of source code are such repeats (closing braces, ``return nil``, licence headers), and
    the n-gram Viterbi is most of a training's time.
    """
    occurrences = Counter(chunks)
    distinct = sorted(occurrences, key=len, reverse=True)  # similar lengths together: fewer steps
    repeated = len(distinct) < len(chunks)
    shards: List[Tuple[np.ndarray, np.ndarray]] = []
    long: Counter = Counter()
    scratch = Scratch()  # the Viterbi's largest arrays, reused by every group of the task
    for group in batched(distinct, SEGMENT_BYTES):
        buf, starts = token_starts(group, config["model"], config["ensure_unicode"], scratch)
        weights = None
        if repeated:  # each byte weighs as many as its chunk's occurrences
            lengths = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
            weights = np.repeat(np.fromiter((occurrences[c] for c in group), dtype=np.int64, count=len(group)), lengths)
        keys, counts, group_long = count_pieces(buf, starts, weights)
        shards.append((keys, counts))
        long.update(group_long)
    keys, counts = merge_sorted_counts(shards)
    return split_partitions(keys, counts, config["partitions"]), pack_long(split_long(dict(long), config["partitions"]))
