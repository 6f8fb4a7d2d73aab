"""Encoding a corpus into a token file: documents in blocks, through the batch path.

The corpus is planned as parts (``io/corpus.py``: files, or byte ranges of them cut at
line starts), and each part is a task that reads its documents itself
(:func:`bytepiece.io.corpus.part_documents`), here, in worker processes or on a Dask
cluster (``parallel.py``), so no text passes through the driver. A task encodes its
documents in blocks of about ``BLOCK_CHARS`` characters by ``encode_batch``'s vectorised
path and sends back the ids; the driver writes them in part order with
:func:`bytepiece.io.token_file.write_token_file`. The parts depend on the corpus alone and
blocks are seeded by (part, block), so the output does not depend on the number of
workers or the executor. With ``shuffle``, the encoded documents pass through
:func:`bytepiece.io.shuffle.shuffled` on their way to the file: one global random order,
under a memory budget.

Deliberately left out: the token file format (``io/token_file.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from ..io.corpus import CorpusFormat, CorpusStats, Part, Source, batched, document_reader, part_documents
from ..io.shuffle import check_seed, shuffled
from ..io.token_file import model_checksum, token_dtype, write_token_file
from ..model import PathLike
from ..parallel import Runner, executor_for
from .batch.encode import Options, encode_arrays
from .engine import Engine
from .sampling import check_alpha

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer


BLOCK_CHARS = 1 << 20  # documents are encoded in blocks of about this many characters
DEFAULT_SHUFFLE_BUDGET = 512 << 20  # bytes of encoded documents a shuffle holds in memory


@dataclass(frozen=True)
class PartTask:
    """What a worker needs to encode one part: where it is, how to read it, how to encode."""

    part: Part
    format: CorpusFormat
    split: str
    alpha: Optional[float]
    seed: int
    eos: bool


def encode_part(engine: Engine, task: PartTask) -> Tuple[np.ndarray, np.ndarray, CorpusStats]:
    """The task: a part's documents read and encoded, as all ids back to back in the
    file's dtype (which pickles as one buffer, far cheaper to send back than lists), each
    document's bounds in them, and what reading counted."""
    stats = CorpusStats()
    documents = list(part_documents(task.part, task.format, stats, split=task.split))
    dtype = token_dtype(engine.vocab_size)
    ids: List[np.ndarray] = []
    bounds: List[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    done = 0
    for block, texts in enumerate(batched(documents, BLOCK_CHARS)):
        # Seeded by (part, block): both depend on the corpus alone, not on the workers.
        rng = None if task.alpha is None else np.random.default_rng([task.seed, task.part.index, block])
        block_ids, block_bounds = encode_arrays(engine, texts, Options(False, task.eos, task.alpha, ()), rng)
        ids.append(block_ids.astype(dtype))
        bounds.append(block_bounds[1:].astype(np.int64) + done)
        done += len(block_ids)
    return (np.concatenate(ids) if ids else np.zeros(0, dtype)), np.concatenate(bounds), stats


def _documents(results: Iterable[Tuple[np.ndarray, np.ndarray, CorpusStats]], record: Callable[[CorpusStats], None]) -> Iterator[np.ndarray]:
    for ids, bounds, stats in results:
        record(stats)
        yield from np.split(ids, bounds[1:-1]) if len(bounds) > 1 else ()


def _counted(documents: Iterable[np.ndarray], stats: CorpusStats, meta: Dict[str, Any]) -> Iterator[np.ndarray]:
    """The documents; once they are all read, what was read and skipped goes in ``meta``
    (which ``write_token_file`` reads after the last document)."""
    yield from documents
    meta["corpus"] = {key: value for key, value in stats.as_dict().items() if key != "warnings"}


def encode_corpus(
    tok: "Tokenizer",
    source: Source,
    out: PathLike,
    *,
    split: str = "files",
    jsonl_field: str = "text",
    on_error: str = "skip",
    eos: bool = True,
    workers: Runner = 1,
    dask: Any = None,
    alpha: Optional[float] = None,
    seed: int = 0,
    shuffle: Optional[int] = None,
    memory_budget: int = DEFAULT_SHUFFLE_BUDGET,
    spill_dir: Optional[str] = None,
    overwrite: bool = False,
    progress: bool = False,
    warn: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Encode every document of ``source`` into a token file at ``out``; returns its meta.

    ``source``: a directory, a file, an fsspec URL, or several of them
    (:class:`~bytepiece.io.corpus.CorpusPaths`). Workers read their parts of the corpus
    themselves and encode them in blocks of about ``BLOCK_CHARS`` characters by the batch
    path (Viterbi ids are exactly those of ``tok.encode``). Deterministic: the same corpus,
    model and options give the same bytes for any ``workers`` and on a Dask cluster
    (``dask``: a ``distributed.Client``, a scheduler address or ``"local:N"``); with
    ``alpha``, block ``b`` of part ``p`` (parts are about 2 MB of the corpus) is sampled
    with seed ``(seed, p, b)``.

    ``shuffle``: a seed; the documents are written in one global random order that
    depends on this seed (and the corpus) alone, holding at most about ``memory_budget``
    bytes of encoded documents in memory (the rest waits in ``spill_dir``).

    >>> encode_corpus(tok, "corpus/", "corpus.tokens", shuffle=1)    # doctest: +SKIP
    """
    if eos and tok.eos_id is None:
        raise ValueError("this model has no <eos> token; pass eos=False (--no-eos) and rely on the index")
    if shuffle is not None:
        check_seed(shuffle)
    if alpha is not None:
        alpha = check_alpha(alpha)
    if Path(out).exists() and not overwrite:  # fail before doing the work
        raise FileExistsError(f"{out} exists; choose another output or pass --overwrite / overwrite=True")
    meta: Dict[str, Any] = {
        "eos_appended": bool(eos),
        "eos_id": tok.eos_id,
        "split": split,
        "alpha": alpha,
        "seed": seed if alpha is not None else None,
        "shuffle_seed": shuffle,
        "model_sha256": model_checksum(tok.model),
    }
    reader = document_reader(source, split=split, jsonl_field=jsonl_field, on_error=on_error, warn=warn)
    # the plan: part descriptions only (a file name and two offsets each), made as they go
    tasks = (PartTask(part, reader.format, split, alpha, seed, eos) for part in reader.parts(whole_txt=split == "files"))
    write = functools.partial(write_token_file, out, vocab_size=tok.vocab_size, meta=meta, overwrite=overwrite)
    with executor_for(workers, dask) as executor, executor.pool(tok.engine, purpose="encode_corpus(workers=N)") as pool:
        documents = _documents(pool.imap(encode_part, tasks), reader.record)
        encoded = _progress(_counted(documents, reader.stats, meta), progress)
        if shuffle is None:
            return write(encoded)
        dtype = token_dtype(tok.vocab_size)
        records = shuffled((d.tobytes() for d in encoded), seed=shuffle, memory_budget=memory_budget, spill_dir=spill_dir)
        return write(np.frombuffer(r, dtype=dtype) for r in records)


def _progress(items: Iterable[np.ndarray], enabled: bool) -> Iterable[np.ndarray]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit=" docs", desc="encoding")
