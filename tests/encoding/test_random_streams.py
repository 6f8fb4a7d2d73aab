"""Tokenizers in worker processes: pickling, fork/spawn, per-worker random streams, and the
real torch DataLoader and datasets.map (both installed in CI)."""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
import time
import warnings

import pytest

from bytepiece import Tokenizer
from bytepiece.encoding.random_streams import find_tokenizers, reseed_all

from conftest import golden_rows, legacy_zip

# A long line has a huge number of segmentations: equal samples mean a shared stream.
TEXT = "subword regularization with exact sampling, 新词发现 and byte pieces " * 4
MODEL = "bytepiece.zh.id.eu.80k"


@pytest.fixture(scope="module")
def tok():
    return Tokenizer(legacy_zip(MODEL))


def test_pickle_is_small_and_fast(tok):
    tok.encode("build the automaton first: it must not be shipped")
    started = time.perf_counter()
    data = pickle.dumps(tok)
    dumped = time.perf_counter() - started
    started = time.perf_counter()
    clone = pickle.loads(data)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    clone.encode("x")
    first_encode = time.perf_counter() - started
    print(f"\n80k pickle: {len(data) / 1e6:.2f} MB, dumps {dumped:.3f} s, loads {loaded:.3f} s, "
          f"first encode (automaton build) {first_encode:.3f} s")
    assert len(data) < 3_000_000  # the model file, not the automaton or Python dicts


# ---------------------------------------------------------------- plain multiprocessing
def _encode_golden(args):
    tok, texts = args
    return [tok.encode(t) for t in texts]


def _sample(args):
    tok, seed, worker = args
    if seed is not None:
        tok.reseed(seed, worker_id=worker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = [tuple(tok.encode(TEXT, alpha=0.1)) for _ in range(3)]
    return samples, [str(w.message) for w in caught]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_fork_and_spawn(tok, method):
    rows = golden_rows(MODEL)[:200]
    texts = [r["text"] for r in rows]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(_encode_golden, [(tok, texts[:100]), (tok, texts[100:])])
        assert results[0] + results[1] == [r["ids"] for r in rows]

        # Seeded but not reseeded: each copy notices it left its seeding process, switches
        # to fresh entropy and warns that the requested reproducibility is lost.
        seeded = Tokenizer(legacy_zip(MODEL), seed=11)
        (a, warned_a), (b, warned_b) = pool.map(_sample, [(seeded, None, 0), (seeded, None, 1)], chunksize=1)
        assert a != b
        assert any("fork or pickling" in m for m in warned_a + warned_b)

        # Never seeded: fresh entropy in each copy, nothing to warn about.
        (a, warned_a), (b, warned_b) = pool.map(_sample, [(tok, None, 0), (tok, None, 1)], chunksize=1)
        assert a != b
        assert warned_a == warned_b == []

        # Reseeded per worker: distinct, reproducible, silent.
        first = pool.map(_sample, [(tok, 7, 0), (tok, 7, 1)], chunksize=1)
        again = pool.map(_sample, [(tok, 7, 0), (tok, 7, 1)], chunksize=1)
    assert first == again
    assert first[0][0] != first[1][0]
    assert first[0][1] == first[1][1] == []


def test_same_process_copies_are_not_flagged(tok):
    clone = pickle.loads(pickle.dumps(tok))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clone.encode(TEXT, alpha=0.1) == tok.encode(TEXT, alpha=0.1)  # a deliberate copy


def test_importing_bytepiece_loads_no_optional_package():
    code = "import sys, bytepiece; print(sorted({'torch', 'datasets', 'tokenizers', 'transformers', 'sentencepiece'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_find_and_reseed_tokenizers(tok):
    class Holder:
        def __init__(self):
            self.inner = {"a": [tok, 1, "x"], "b": (tok,)}

    assert list(find_tokenizers(Holder())) == [tok]
    assert reseed_all(Holder(), 3, worker_id=1) == 1
    assert reseed_all([1, "a"], 3) == 0


# ---------------------------------------------------------------- torch DataLoader
class SampledTexts:
    """A map-style dataset (DataLoader needs only __len__ and __getitem__)."""

    def __init__(self, tok, n=8):
        self.tok, self.n = tok, n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        import torch.utils.data

        info = torch.utils.data.get_worker_info()
        return info.id if info else -1, tuple(self.tok.encode(TEXT, alpha=0.1))


def _load(tok, method, init, seed=0):
    import torch.utils.data

    loader = torch.utils.data.DataLoader(
        SampledTexts(tok),
        batch_size=None,
        num_workers=2,
        multiprocessing_context=method,
        worker_init_fn=init,
        generator=torch.Generator().manual_seed(seed),
    )
    by_worker = {0: [], 1: []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for worker, ids in loader:
            by_worker[worker].append(ids)
    return by_worker


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_torch_dataloader_workers(tok, method):
    torch = pytest.importorskip("torch")  # CI installs torch==2.13.0 (CPU)
    from bytepiece.encoding.random_streams import seeded_worker_init_fn, worker_init_fn

    if method == "fork":  # spawned copies are unpickled: covered by the multiprocessing test
        plain = _load(tok, method, None)
        assert plain[0] != plain[1]  # never silently shared

    run = _load(tok, method, worker_init_fn, seed=0)
    assert run[0] != run[1]
    assert run == _load(tok, method, worker_init_fn, seed=0)  # reproducible
    assert all(tok.decode(ids) == TEXT for ids in run[0] + run[1])
    if method == "spawn":
        return  # each spawned loader costs seconds (torch is imported per worker)
    assert run != _load(tok, method, worker_init_fn, seed=1)  # a new epoch/seed, new samples
    fixed = _load(tok, method, seeded_worker_init_fn(5))
    assert fixed[0] != fixed[1] and fixed == _load(tok, method, seeded_worker_init_fn(5), seed=9)


def test_seeded_worker_init_fn_pickles():
    from bytepiece.encoding.random_streams import seeded_worker_init_fn

    assert pickle.loads(pickle.dumps(seeded_worker_init_fn(5))).args == (5,)


# ---------------------------------------------------------------- datasets.map
def _map_fn(batch, indices, tok):
    # Per-example seeds: the sample depends on the example, not on the worker.
    return {"ids": [tok.encode(t, alpha=0.1, seed=(1234, i)) for t, i in zip(batch["text"], indices)]}


def _map_rank_fn(batch, rank, tok):
    tok.reseed(99, worker_id=rank)
    return {"ids": [tok.encode(t, alpha=0.1) for t in batch["text"]]}


@pytest.mark.slow
def test_datasets_map_num_proc(tok):
    datasets = pytest.importorskip("datasets")
    data = datasets.Dataset.from_dict({"text": [TEXT] * 8})
    kwargs = dict(batched=True, batch_size=2, with_indices=True, fn_kwargs={"tok": tok}, load_from_cache_file=False)
    serial = data.map(_map_fn, **kwargs)["ids"]
    parallel = data.map(_map_fn, num_proc=2, **kwargs)["ids"]
    assert parallel == serial
    assert len({tuple(x) for x in parallel}) == 8

    ranked = data.map(
        _map_rank_fn, batched=True, batch_size=4, num_proc=2, with_rank=True,
        fn_kwargs={"tok": tok}, load_from_cache_file=False,
    )["ids"]
    assert ranked[:4] != ranked[4:]  # shard 0 and shard 1 draw from different streams
