"""Dask: the same models and token files on a real local cluster as in one process, and a
worker killed mid-run costs time, not the result.

The cluster is a ``distributed.LocalCluster`` of two single-threaded worker processes on
127.0.0.1, started once for the module (about 4 s).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time

import pytest

from bytepiece import Tokenizer, TokenFile, Trainer, encode_corpus
from bytepiece.cli import main
from bytepiece.cluster import LOCAL_CLUSTER_CONFIG, DaskExecutor
from bytepiece.io import corpus

from conftest import REPO

distributed = pytest.importorskip("distributed")

DEMO = REPO / "demo-corpus"


@pytest.fixture(scope="module")
def client():
    # Dask's defaults, the Active Memory Manager included, as a cluster you start has them
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """About 600 KB of the demo corpus (prose, poetry, code)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "en").mkdir()
    (root / "en/moby.txt").write_bytes((DEMO / "en/moby-dick.txt").read_bytes()[:300_000])
    poetry = (DEMO / "zh/classical-poetry.txt").read_bytes()[:200_000]
    (root / "zh.txt").write_bytes(poetry[: poetry.rfind(b"\n") + 1])
    code = b"".join(p.read_bytes() for p in sorted((DEMO / "code/go-std").rglob("*.txt")))[:100_000]
    (root / "code.txt").write_bytes(code)
    return root


def trainer() -> Trainer:
    return Trainer(vocab_size=[2000, 800], min_count=3, progress=False)


def pieces_and_counts(models):
    return {size: (m.pieces, m.counts, m.ids) for size, m in models.items()}


@pytest.fixture(scope="module")
def local_models(corpus_dir):
    return pieces_and_counts(trainer().train(corpus_dir, workers=1))


# ``local``: the executor of ``local:N``, whose workers map the state from a file and
# whose items and results go through files too, Dask carrying only their paths.
LOCAL = pytest.mark.parametrize("local", [False, True], ids=["any-cluster", "workers-on-this-machine"])


@LOCAL
def test_a_dask_cluster_trains_the_same_model(client, corpus_dir, local_models, monkeypatch, local, tmp_path):
    monkeypatch.setattr(corpus, "PART_BYTES", 30_000)  # many parts: files cut into byte ranges
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this run's pool files, not other runs'
    assert len(list(corpus.CorpusReader(corpus_dir).parts())) > 10
    executor = DaskExecutor(client, local=local)
    assert pieces_and_counts(trainer().train(corpus_dir, dask=executor)) == local_models
    # the workers have let go of the states they mapped, and the files are gone
    assert set(client.run(_pool_files_mapped).values()) == {0}
    assert list(tmp_path.glob("bytepiece-pool-*")) == []


def test_a_model_thinned_to_its_budget_is_the_same_on_a_cluster(client, corpus_dir, monkeypatch):
    # The thresholds a budget raises are functions of the added-up counts: the driver
    # decides them the same way whoever counted (floors lowered so that 3 MB binds here).
    from bytepiece.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "MIN_MODEL_BYTES", 0)
    monkeypatch.setattr(trainer_module, "MIN_CANDIDATES", 0)
    bounded = Trainer(vocab_size=[2000, 800], min_count=3, memory_budget=3_000_000, progress=False)
    local = bounded.train(corpus_dir, workers=1)
    assert local[2000].training["corpus"]["ngram_min_counts"] and local[2000].training["corpus"]["piece_min_count"] > 3
    assert pieces_and_counts(bounded.train(corpus_dir, dask=DaskExecutor(client, local=True))) == pieces_and_counts(local)


@LOCAL
def test_a_worker_killed_mid_run_costs_time_not_the_result(client, corpus_dir, local_models, monkeypatch, local):
    # A restarted worker maps the state again; a task lost with its worker runs again,
    # whether Dask carries its item and result or their files do.
    monkeypatch.setattr(corpus, "PART_BYTES", 20_000)
    pids = client.run(os.getpid)  # {worker address: pid}
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def kill_when_busy():
        # Wait until the cluster has finished some tasks of the run, then kill one worker.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed.is_set():
            if client.run_on_scheduler(_training_tasks_done) >= 3:
                os.kill(victim, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_when_busy, daemon=True)
    thread.start()
    models = trainer().train(corpus_dir, dask=DaskExecutor(client, local=local))
    thread.join()
    assert killed.is_set(), "the run ended before a worker could be killed"
    assert pieces_and_counts(models) == local_models
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def _pool_files_mapped() -> int:
    """Mappings of a pool's files in this worker (runs on the workers)."""
    with open("/proc/self/maps") as maps:
        return sum("bytepiece-pool-" in line for line in maps)


def _training_tasks_done(dask_scheduler=None) -> int:
    """Tasks of the run on the workers or finished (runs on the scheduler). Finished ones
    alone are a poor signal: a pool gathers each result and lets its task go at once, so
    they seldom add up to a few at a time, and a run on files (``local:N``) once ended
    before three were seen together."""
    return sum(1 for key, ts in dask_scheduler.tasks.items() if "run_task" in str(key) and ts.state in ("processing", "memory"))


def test_encode_corpus_on_dask_gives_the_same_token_file(client, corpus_dir, local_models, tmp_path, monkeypatch):
    model = trainer().train(corpus_dir, workers=1)[800]
    tok = Tokenizer(model)
    encode_corpus(tok, corpus_dir, tmp_path / "local", split="lines")
    monkeypatch.setattr(corpus, "PART_BYTES", 30_000)  # many parts, each read by a worker
    encode_corpus(tok, corpus_dir, tmp_path / "local-shuffled", split="lines", shuffle=3)
    for local in (False, True):  # any cluster, and workers on this machine (local:N)
        target = tmp_path / f"dask-shuffled-{local}"
        encode_corpus(tok, corpus_dir, target, split="lines", shuffle=3, dask=DaskExecutor(client, local=local))
        for name in ("tokens.bin", "offsets.npy"):
            assert (target / name).read_bytes() == (tmp_path / "local-shuffled" / name).read_bytes()
    address = client.scheduler.address  # the CLI path: a scheduler address
    model_path = tmp_path / "m.model"
    from bytepiece import save_model

    save_model(model, model_path)
    assert main(["encode-corpus", str(corpus_dir), "-m", str(model_path), "-o", str(tmp_path / "dask"),
                 "--split", "lines", "--dask", address, "--quiet"]) == 0
    for name in ("tokens.bin", "offsets.npy"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert len(TokenFile(tmp_path / "dask")) > 1000


def test_cli_trains_on_a_local_cluster(corpus_dir, local_models, tmp_path):
    out = tmp_path / "m"
    assert main(["train", str(corpus_dir), "-o", str(out), "--vocab-size", "2000,800", "--min-count", "3",
                 "--dask", "local:2", "--quiet"]) == 0
    from bytepiece import load_model

    loaded = {size: load_model(f"{out}.{size}") for size in (2000, 800)}
    assert pieces_and_counts(loaded) == local_models


def test_bad_dask_addresses_are_clear_errors(corpus_dir, capsys):
    assert main(["train", str(corpus_dir), "-o", "x", "--dask", "local:0", "--quiet"]) == 2
    assert "local:N needs N >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not both"):
        trainer().train(corpus_dir, workers=2, dask="local:1")


def _worker_settings() -> dict:
    import dask

    return {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG}


def test_a_local_cluster_runs_without_the_bookkeeping_that_competes_for_its_cores():
    # local:N shares the driver's machine: its workers run without the statistical
    # profiler, and with slower monitors; the caller's own Dask config is left as it was.
    before = _worker_settings()
    with DaskExecutor.connect("local:1") as executor:
        (settings,) = executor.client.run(_worker_settings).values()
        assert settings == LOCAL_CLUSTER_CONFIG
    assert _worker_settings() == before


def test_a_cluster_you_start_keeps_the_state_on_every_worker_whatever_its_memory_manager_does(client):
    # Dask's Active Memory Manager (on by default, every 2 s) drops the copies of
    # scattered data from workers with no task waiting for it, which then fetched the
    # n-gram model again from a peer. The state is a worker plugin instead: held by every
    # worker, outside Dask's data, through the manager's rounds, until the pool closes.
    import numpy as np

    def plugins(dask_worker):
        return sorted(name for name in dask_worker.plugins if name.startswith("bytepiece-"))

    def fetched(dask_worker):
        return len(dask_worker.transfer_incoming_log)

    assert client.amm.running()  # Dask's default
    before = client.run(fetched)
    with DaskExecutor(client).pool(np.arange(100_000)) as pool:
        time.sleep(2.5)
        held = client.run(plugins)
        assert len(set(map(tuple, held.values()))) == 1 and len(next(iter(held.values()))) == 1
        assert set(client.run(lambda dask_worker: len(dask_worker.data)).values()) == {0}
        assert list(pool.imap(_element, range(0, 100_000, 4_000))) == list(range(0, 100_000, 4_000))
    assert client.run(fetched) == before  # no worker fetched anything from a peer
    assert set(map(tuple, client.run(plugins).values())) == {()}  # let go at close


def test_a_pool_on_this_machine_leaves_its_state_to_the_workers(client):
    # local:N writes the state (pass 2: the n-gram model, 0.53 GB at 391 MB) to a file
    # that the workers map, so the driver need not hold a copy of its own beside them.
    import gc
    import weakref

    import numpy as np

    state = np.arange(1000)
    held = weakref.ref(state)
    with DaskExecutor(client, local=True).pool(state) as pool:
        del state
        gc.collect()
        assert held() is None
        assert list(pool.imap(_element, [3, 999])) == [3, 999]


def _element(state, i: int) -> int:
    return int(state[i])


@pytest.mark.skipif("NUMPY_MADVISE_HUGEPAGE" in os.environ, reason="the user's own choice is left alone")
def test_tasks_on_a_cluster_allocate_without_huge_page_advice(client):
    # numpy advises huge pages in a Dask worker as anywhere; a huge page took 10 ms a MiB
    # to fault in on the benchmark machine (bytepiece.parallel.advise_huge_pages)
    client.run(_advise_huge_pages, True)  # as numpy starts (earlier tasks turned it off)
    with DaskExecutor(client).pool(None) as pool:
        assert set(pool.imap(_huge_pages_advised, range(4))) == {False}


def _advise_huge_pages(enabled):
    from bytepiece.parallel import advise_huge_pages

    return advise_huge_pages(enabled)


def _huge_pages_advised(state=None, item=None):
    previous = _advise_huge_pages(True)
    _advise_huge_pages(bool(previous))
    return previous
