"""The Trainer: corpus -> n-gram counts -> segmentation -> piece counts -> vocabularies.

Orchestration only; each stage lives in its own module (``io/corpus.py``,
``ngram_counting.py``, ``ngram_segmentation.py``, ``piece_counting.py``, ``pruning.py``).
The two passes over the corpus are map/reduce: the corpus is cut into batches of texts,
each part (a byte range of a file, ``io/corpus.py``) is mapped to count shards by a task
that reads it itself, on the executor (this process, worker processes, or a Dask cluster:
``parallel.py``, ``cluster.py``), and the shards are added up in a
:class:`~bytepiece.training.count_store.CountStore`. Counts are integers and addition
commutes, so the model is byte-identical for any number of workers and any executor.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import CorpusError
from ..io.corpus import ON_ERROR, CorpusFormat, CorpusReader, Part, Source, batched
from .count_store import CountStore
from ..model import DEFAULT_SPECIAL_TOKENS, Model, PathLike
from ..io.model_file import save_model
from .ngram_counting import ModelBudget, NgramModel, check_order, stream_model
from ..normalization import check_normalization
from .piece_counting import PieceCounts
from .pruning import check_vocab_sizes, prune_packed
from . import refinement  # its settings are read at call time (benchmarks/refine_settings.py sets them)
from ..parallel import Executor, Pool, Runner, executor_for, release_memory
from .tasks import SEGMENT_BYTES, PieceShard, count_task, segment_long_task, segment_task

_SAMPLE_BATCH_CHARS = 2_000_000  # characters of text per task of the refinement's sampling
_LONG_BATCH_BYTES = 16 << 20  # long chunks waiting to be segmented together
DEFAULT_MEMORY_BUDGET = 512 << 20  # bytes of count tables held before spilling to disk
SHARD_BYTES_PER_BYTE = 20  # pass 1's count shards, in bytes per byte of text (measured: about 18)
MAX_PARTITIONS = 1024
_PARTITION_CAP = 256 << 20  # budgets above this do not make partitions bigger
PARTS_PER_WORKER = 8  # a small corpus is cut into at least this many parts per worker (balance)
MIN_MODEL_BYTES = 4 << 20  # the n-gram model's room under the smallest budgets
CANDIDATE_BYTES = 1 << 10  # what a candidate of pruning costs: the driver's dict, the workers' tries
MIN_CANDIDATES = 1 << 16  # pruning's candidates under the smallest budgets


class Trainer:
    """Train byte-level unigram vocabularies by n-gram new-word discovery.

    >>> from bytepiece import Trainer, Tokenizer
    >>> trainer = Trainer(vocab_size=[32000, 8000], min_count=4)          # doctest: +SKIP
    >>> models = trainer.train("demo-corpus", "demo.model", workers=2)    # doctest: +SKIP
    >>> Tokenizer("demo.model.8000").tokenize("hello world")              # doctest: +SKIP

    ``vocab_size`` is one size or a list; several sizes give nested vocabularies from one
    run (saved as ``MODEL.<size>``). Sizes count the special tokens. The other options are
    those of ``docs/algorithm.md``; ``memory_budget`` (bytes) bounds what the driver holds
    (default 512 MiB; ``None``: no limit): count tables beyond an eighth of it spill as
    sorted runs to a temporary directory (in ``spill_dir``, default the system's). It also
    bounds what grows with new text: the n-gram
    model keeps its most frequent n-grams in half of it, and pruning its most frequent
    candidates, one per ``CANDIDATE_BYTES`` (``docs/training.md``, "A model that fits its
    budget"); the thresholds they needed are in ``training["corpus"]``.

    ``refine=True`` (or ``"tokens"``, or ``"likelihood"``) goes beyond the original: its
    pruning stops at 1.5 times the largest size, then counts are re-estimated on a sample
    of the corpus and pieces pruned by the tokens (or log-likelihood) their removal costs
    (``training/refinement.py``, ``docs/algorithm.md``). It compresses better and trains
    slower; off (the default), the vocabularies are the original's.

    >>> Trainer(vocab_size=8000, refine=True).config()["refine"]
    'tokens'
    """

    def __init__(
        self,
        *,
        order: int = 6,
        vocab_size: Union[int, Sequence[int]] = 32000,
        min_count: int = 2,
        max_piece_length: int = 36,
        isolate_digits: bool = False,
        ensure_unicode: bool = True,
        normalization: str = "nfc",
        special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
        jsonl_field: str = "text",
        on_error: str = "skip",
        memory_budget: Optional[int] = DEFAULT_MEMORY_BUDGET,
        spill_dir: Optional[PathLike] = None,
        progress: bool = True,
        refine: Union[bool, str] = False,
    ) -> None:
        self.order = check_order(order)
        if isinstance(vocab_size, (str, bytes)) or not isinstance(vocab_size, (int, Sequence)):
            raise TypeError(f"vocab_size must be an integer or a list of them, got {vocab_size!r}")
        sizes = [vocab_size] if isinstance(vocab_size, int) else list(vocab_size)
        for name, value in [("vocab_size", s) for s in sizes] + [("min_count", min_count), ("max_piece_length", max_piece_length)]:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        self.vocab_sizes = check_vocab_sizes(sizes, len(special_tokens))
        if min_count < 1 or max_piece_length < 1:
            raise ValueError(f"min_count and max_piece_length must be positive, got {min_count} and {max_piece_length}")
        self.min_count = int(min_count)
        self.max_piece_length = int(max_piece_length)
        self.isolate_digits = bool(isolate_digits)
        self.ensure_unicode = bool(ensure_unicode)
        self.normalization = check_normalization(normalization)
        self.special_tokens = tuple(special_tokens)
        self.jsonl_field = jsonl_field
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.on_error = on_error
        self.memory_budget = memory_budget
        self.spill_dir = None if spill_dir is None else os.fspath(spill_dir)
        self.progress = progress
        self.refine: Union[bool, str] = refinement.check_loss(refine) if refine else False

    # ------------------------------------------------------------------ public
    def train(
        self, source: Source, output: Optional[PathLike] = None, *, workers: Runner = 1, dask: Any = None
    ) -> Dict[int, Model]:
        """Train on ``source`` (a directory, a file, a list of ``Path``, a re-iterable of
        ``str``, or an fsspec URL such as ``s3://bucket/corpus``) and return
        ``{vocab_size: Model}``; with ``output``, also save them (one size: ``output``;
        several: ``output.<size>``).

        ``workers``: processes on this machine (1: this one, 0: one per core). ``dask``: run
        on a Dask cluster instead, given as a ``distributed.Client``, a scheduler address
        (``"tcp://10.0.0.5:8786"``) or ``"local:N"`` (a local cluster of N worker
        processes). The model is the same whichever runs it.
        """
        reader = CorpusReader(source, jsonl_field=self.jsonl_field, on_error=self.on_error, warn=_warn)
        with executor_for(workers, dask) as executor:
            return self._train(reader, output, executor, source if isinstance(source, (str, os.PathLike)) else None)

    def _train(
        self, reader: CorpusReader, output: Optional[PathLike], workers: Executor, source: Optional[PathLike]
    ) -> Dict[int, Model]:
        # the plan: file names and byte ranges (texts: references), enough for every worker
        parts = list(reader.parts(min_parts=PARTS_PER_WORKER * workers.workers))
        partitions = count_partitions(sum(p.size for p in parts), self.memory_budget, workers.workers)
        with CountStore(self.memory_budget, self.spill_dir, partitions=partitions) as store:
            config = {**self._task_config(), "partitions": store.partitions}
            with workers.pool(config, purpose="training") as pool:
                total, chunk_count = self._count_ngrams(parts, reader, store, pool)
                if not total:
                    raise CorpusError(
                        f"no text to train on: {reader.stats.summary()} (only .txt and .jsonl files, maybe "
                        ".gz/.bz2/.xz, are read)",
                        source,
                    )
                release_memory()  # the merges of pass 1's shards leave the heap full of holes
                # Each length's counts are reduced on the workers and made a table at once.
                # The model is held in a list that _count_pieces empties: then only the
                # pass-2 pool holds it.
                # The longest n-grams (the largest table) are nobody's prefixes and only
                # hashed: they come as runs in hash order, never sorted nor gathered.
                budget = ModelBudget(self.min_count, order=self.order, max_bytes=model_bytes(self.memory_budget))
                longest = self._longest_runs(store, pool, budget) if self.order > 2 else None
                tables = self._ngram_tables(store, pool, budget, include_longest=longest is None)
                model = [stream_model(self.order, total, tables, budget, longest=longest)]
                del longest, tables
                if budget.thinned:
                    _warn(
                        f"the n-gram model was thinned to fit half of the memory budget ({_mib(budget.max_bytes)}): "
                        + ", ".join(f"{n}-grams need {t}+ occurrences" for n, t in budget.thinned.items())
                        + f" (min_count {self.min_count}); a larger --memory-budget keeps them all"
                    )
            release_memory()
            pieces = self._count_pieces(parts, reader, model, store, workers, total)
            release_memory()
            distinct = len(pieces)
            sizes = [refinement.overshoot(self.vocab_sizes)] if self.refine else self.vocab_sizes
            cut: List[int] = []
            candidates = max_candidates(self.memory_budget)
            with self._bar("pruning") as bar:  # in the store: long pieces may be in its spilled runs
                vocabularies = prune_packed(
                    pieces,
                    vocab_sizes=sizes,
                    min_count=self.min_count,
                    max_piece_length=self.max_piece_length,
                    reserved=len(self.special_tokens),
                    workers=workers,
                    progress=bar.update,
                    spill_dir=self.spill_dir,
                    max_candidates=candidates,
                    on_cut=cut.append,
                )
            if cut:
                _warn(
                    f"pruning kept the {candidates} most frequent pieces at most, "
                    f"to fit the memory budget ({_mib(self.memory_budget)}): pieces needed {cut[0]}+ occurrences "
                    f"(min_count {self.min_count}); a larger --memory-budget keeps them all"
                )
        if self.refine:
            vocabularies = self._refine(reader, vocabularies[sizes[0]], total, workers)
        corpus = {**reader.stats.as_dict(), "chunks": chunk_count, "distinct_pieces": distinct}
        if budget.thinned:  # the count each n-gram length needed, where it was above min_count
            corpus["ngram_min_counts"] = {str(n): t for n, t in budget.thinned.items()}
        if cut:  # the count pruning's candidates needed, where it was above min_count
            corpus["piece_min_count"] = cut[0]
        if budget.thinned or cut:  # the setting that raised them
            corpus["memory_budget"] = self.memory_budget
        models = {size: self._model(counts, corpus) for size, counts in vocabularies.items()}
        if output is not None:
            for size, trained in models.items():
                save_model(trained, output if len(models) == 1 else f"{os.fspath(output)}.{size}")
        return models

    def config(self) -> Dict[str, Any]:
        """The training settings, as recorded in the model file."""
        refined = {"refine": self.refine} if self.refine else {}  # the original's settings as they were
        return {
            "order": self.order,
            "vocab_sizes": self.vocab_sizes,
            "min_count": self.min_count,
            "max_piece_length": self.max_piece_length,
            "isolate_digits": self.isolate_digits,
            "ensure_unicode": self.ensure_unicode,
            "normalization": self.normalization,
            "jsonl_field": self.jsonl_field,
            "on_error": self.on_error,
            **refined,
        }

    # ------------------------------------------------------------------ passes
    def _count_ngrams(self, parts: List[Part], reader: CorpusReader, store: CountStore, pool: Pool[Any]) -> Tuple[int, int]:
        """Pass 1's map: every part's n-gram counts into ``store``; the bytes and chunks read."""
        total = chunks = 0
        with self._bar("counting n-grams") as bar:
            for part, (shards, size, stats, n_chunks) in zip(parts, pool.imap(count_task, parts)):
                reader.record(stats, part)  # kept per part, to check pass 2 against
                for n in range(1, self.order + 1):
                    store.add(str(n), *shards[n])
                total += size
                chunks += n_chunks
                bar.update(size)
        return total, chunks

    def _ngram_tables(
        self, store: CountStore, pool: Pool[Any], budget: ModelBudget, *, include_longest: bool
    ) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
        """Pass 1's reduce, one length at a time, on the same workers, up to the longest
        length (without ``include_longest``, one short of it: the longest is reduced
        apart, as runs in hash order). Each length is reduced once the one before is a
        table: the tasks drop what is below the threshold the budget has reached, and the
        driver what is below the one it finds among the partitions as they come
        (``ModelBudget.gather``; lengths 1 and 2 are never thinned)."""
        for n in range(1, self.order + 1 if include_longest else self.order):

            def gather(parts: Iterator[Tuple[np.ndarray, np.ndarray]], n: int = n) -> List[Tuple[np.ndarray, np.ndarray]]:
                # the keys as the entries, their counts beside: a drop filters each once
                kept, counts = budget.gather(n, (((keys,), run_counts) for keys, run_counts in parts))
                return [(entries[0], run_counts) for entries, run_counts in zip(kept, counts)]

            yield (n, *store.result(str(n), budget.floor() if n > 1 else 1, pool, gather=gather if n > 2 else None))

    def _longest_runs(self, store: CountStore, pool: Pool[Any], budget: ModelBudget) -> Iterator[Any]:
        """The longest length's reduce, as runs in hash order, started when the shorter
        lengths are tables (and their thresholds known)."""
        yield from store.result_runs(str(self.order), budget.floor(), pool)

    def _count_pieces(self, parts: List[Part], reader: CorpusReader, model: List[NgramModel], store: CountStore, workers: Executor, total: int) -> PieceCounts:
        parts = reader.unchanged(parts)  # a file that changed since pass 1 is an error, or skipped
        # The model is held through pass 2 beside the counts (shared with local workers),
        # within half of the budget; the counts within an eighth (CountStore.limit).
        # Only the pool holds it: one that hands it to its workers through a file
        # (``local:N``) lets it go here.
        config = {**self._task_config(), "partitions": store.partitions, "model": model.pop()}
        with self._bar("segmenting", total) as bar, workers.pool(config, purpose="training") as pool:
            del config

            def add(shard: PieceShard, size: int) -> None:
                store.add("pieces", *shard[0])
                store.add_long(shard[1])
                bar.update(size)

            def segment_long(chunks: List[bytes]) -> None:
                chunks.sort(key=len, reverse=True)  # one task per worker, similar lengths
                tasks = [chunks[i :: pool.workers] for i in range(pool.workers)]
                for shard, size in pool.imap(segment_long_task, [t for t in tasks if t]):
                    add(shard, size)

            waiting: List[bytes] = []
            waiting_bytes = 0
            # the long chunks wait in this process: a share of the budget, at least a group
            batch_bytes = _LONG_BATCH_BYTES if self.memory_budget is None else max(SEGMENT_BYTES, min(_LONG_BATCH_BYTES, self.memory_budget // 16))
            for part, (shard, size, long_chunks, stats) in zip(parts, pool.imap(segment_task, parts)):
                if not reader.verify(part, stats):  # read differently than in pass 1: skipped
                    bar.update(size)
                    continue
                add(shard, size)
                waiting.extend(long_chunks)
                waiting_bytes += sum(map(len, long_chunks))
                if waiting_bytes >= batch_bytes:
                    segment_long(waiting)
                    waiting, waiting_bytes = [], 0
            segment_long(waiting)
        # Adding the counts up needs no model: the segmenting workers go, and the model
        # with them, before the long pieces' totals come back (at 391 MB the model was a
        # quarter of the peak there, docs/scaling.md, "Session 16").
        store.settle()  # no spill is being written while the pool forks
        release_memory()
        with workers.pool({**self._task_config(), "partitions": store.partitions}, purpose="training") as pool:
            keys, counts = store.result("pieces", 1, pool)
            long = store.long_result(pool)
        return PieceCounts(keys, counts, long)

    def _refine(self, reader: CorpusReader, pruned: Dict[bytes, int], total: int, workers: Executor) -> Dict[int, Dict[bytes, int]]:
        """Re-estimation and pruning by loss (``refinement.py``) from the pruned overshoot."""
        with CountStore(self.memory_budget, self.spill_dir) as store, self._bar("sampling", total) as bar:
            sample, keys, counts = refinement.read_sample(
                self._batches(reader), self._task_config(), store,
                rate=min(1.0, refinement.SAMPLE_BYTES / max(total, 1)), min_count=self.min_count, workers=workers, progress=bar.update,
            )
        seeds = refinement.seed_vocabulary(pruned, keys, counts, extra=int(refinement.SEEDS * max(self.vocab_sizes)))
        del pruned, keys, counts
        with self._bar("refining") as bar:
            return refinement.refine(
                seeds, sample, vocab_sizes=self.vocab_sizes, reserved=len(self.special_tokens),
                loss=str(self.refine), workers=workers, progress=bar.update,
            )

    def _batches(self, reader: CorpusReader) -> Iterator[List[str]]:
        return batched(reader, _SAMPLE_BATCH_CHARS)

    def _task_config(self) -> Dict[str, Any]:
        """The part of :meth:`config` that the counting and segmenting workers need."""
        config = self.config()
        keys = ("order", "normalization", "isolate_digits", "ensure_unicode")
        return {**{key: config[key] for key in keys}, "format": CorpusFormat(self.jsonl_field, self.on_error)}

    def _model(self, counts: Dict[bytes, int], stats: Dict[str, Any]) -> Model:
        from .. import __version__  # not at the top: the package imports this module lazily

        training = {"trainer": f"bytepiece {__version__}", **self.config(), "corpus": stats}
        return Model.from_counts(
            counts,
            special_tokens=self.special_tokens,
            normalization=self.normalization,
            isolate_digits=self.isolate_digits,
            ensure_unicode=self.ensure_unicode,
            training=training,
        )

    # ------------------------------------------------------------------ progress
    def _bar(self, desc: str, total: Optional[int] = None) -> Any:
        from tqdm import tqdm

        return tqdm(desc=desc, total=total, unit="B", unit_scale=True, disable=not self.progress, file=sys.stderr)


def model_bytes(memory_budget: Optional[int]) -> Optional[int]:
    """What the n-gram model may take of the memory budget: half (the counts held beside
    it in pass 2 get the rest), and at least ``MIN_MODEL_BYTES``; no limit without a
    budget.

    >>> model_bytes(512 << 20) >> 20, model_bytes(None)
    (256, None)
    """
    return None if memory_budget is None else max(memory_budget // 2, MIN_MODEL_BYTES)


def max_candidates(memory_budget: Optional[int]) -> Optional[int]:
    """How many pieces (besides the single bytes) pruning may take as candidates:
    ``CANDIDATE_BYTES`` each out of the budget, and at least ``MIN_CANDIDATES``; no limit
    without a budget.

    >>> max_candidates(512 << 20), max_candidates(None)
    (524288, None)
    """
    return None if memory_budget is None else max(memory_budget // CANDIDATE_BYTES, MIN_CANDIDATES)


def _mib(nbytes: Optional[int]) -> str:
    return f"{(nbytes or 0) / (1 << 20):.0f} MiB"


def count_partitions(corpus_bytes: int, memory_budget: Optional[int], workers: int) -> int:
    """How many partitions the count tables are reduced in: a power of two, at least two
    per worker (all of them busy), and enough that one partition of the raw shards (about
    ``SHARD_BYTES_PER_BYTE`` bytes per corpus byte in pass 1) fits a quarter of the budget
    (at most 64 MiB), up to ``MAX_PARTITIONS``.

    >>> count_partitions(100 << 20, 512 << 20, 2), count_partitions(1000, None, 1)
    (32, 2)
    """
    share = min(memory_budget or _PARTITION_CAP, _PARTITION_CAP) // 4
    wanted = max(2 * workers, -(-SHARD_BYTES_PER_BYTE * corpus_bytes // max(1, share)))
    return min(MAX_PARTITIONS, 1 << max(0, int(wanted - 1).bit_length()))


def _warn(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"bytepiece train: {message}", file=sys.stderr)


