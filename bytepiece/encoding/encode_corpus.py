"""Encoding a corpus into a token file: documents in blocks, through the batch path.

Documents come from :func:`bytepiece.io.corpus.iter_documents`, are grouped in blocks of
about ``BLOCK_CHARS`` characters, encoded by ``encode_batch``'s vectorised path (here or
in worker processes or on a Dask cluster, ``parallel.py``) and written by
:func:`bytepiece.io.token_file.write_token_file`. Blocks are seeded by their index, so the
output does not depend on the number of workers or the executor. With ``shuffle``, the
encoded documents pass through :func:`bytepiece.io.shuffle.shuffled` on their way to the
file: one global random order, under a memory budget.

Deliberately left out: the token file format (``io/token_file.py``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from ..io.corpus import CorpusStats, batched, iter_documents
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


Block = Tuple[int, List[str], Optional[float], int, bool]


def encode_block(engine: Engine, task: Block) -> Tuple[np.ndarray, np.ndarray]:
    """A block of documents, vectorised (``encode_batch``'s path): all ids back to back
    as the file's dtype (which pickles as one buffer, far cheaper to send back from a
    worker than lists) and each document's bounds in them."""
    index, texts, alpha, seed, eos = task
    # Seeded per block, and blocks depend only on the documents: the output does not
    # depend on the number of workers.
    rng = None if alpha is None else np.random.default_rng([seed, index])
    ids, bounds = encode_arrays(engine, texts, Options(False, eos, alpha, ()), rng)
    return ids.astype(token_dtype(engine.vocab_size)), bounds


def _blocks(documents: Iterable[str], alpha: Optional[float], seed: int, eos: bool) -> Iterator[Block]:
    for index, texts in enumerate(batched(documents, BLOCK_CHARS)):
        yield index, texts, alpha, seed, eos


def _counted(documents: Iterable[str], stats: CorpusStats, meta: Dict[str, Any]) -> Iterator[str]:
    """The documents; once they are all read, what was read and skipped goes in ``meta``
    (which ``write_token_file`` reads after the last document)."""
    yield from documents
    meta["corpus"] = {key: value for key, value in stats.as_dict().items() if key != "warnings"}


def _documents(blocks: Iterable[Tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
    for ids, bounds in blocks:
        yield from np.split(ids, bounds[1:-1])


def encode_corpus(
    tok: "Tokenizer",
    source: PathLike,
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

    Documents are encoded in blocks of about ``BLOCK_CHARS`` characters by the batch path
    (Viterbi ids are exactly those of ``tok.encode``). Deterministic: the same corpus,
    model and options give the same bytes for any ``workers`` and on a Dask cluster
    (``dask``: a ``distributed.Client``, a scheduler address or ``"local:N"``); with
    ``alpha`` block ``b`` is sampled with seed ``(seed, b)``.

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
    stats = CorpusStats()
    documents = iter_documents(source, split=split, jsonl_field=jsonl_field, on_error=on_error, warn=warn, stats=stats)
    blocks = _blocks(_counted(documents, stats, meta), alpha, seed, eos)
    write = functools.partial(write_token_file, out, vocab_size=tok.vocab_size, meta=meta, overwrite=overwrite)
    with executor_for(workers, dask) as executor, executor.pool(tok.engine, purpose="encode_corpus(workers=N)") as pool:
        encoded = _progress(_documents(pool.imap(encode_block, blocks)), progress)
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
