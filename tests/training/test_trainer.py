"""The Trainer and `bytepiece train`: determinism, sources, nested sizes, statistics, CLI."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from bytepiece import Tokenizer, Trainer, load_model
from bytepiece.cli import main

from conftest import REPO

DEMO = REPO / "demo-corpus"


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """About 250 KB of the demo corpus: prose, Chinese and code."""
    root = tmp_path_factory.mktemp("corpus")
    for name in ["en/moby-dick.txt", "code/go-std"]:
        source = DEMO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(source.read_bytes())
    poetry = (DEMO / "zh/classical-poetry.txt").read_bytes()[:60_000]
    (root / "zh").mkdir()
    (root / "zh/poetry.txt").write_bytes(poetry[: poetry.rfind(b"\n") + 1])
    return root


def train(source, tmp_path, name="m", workers=1, **options):
    options.setdefault("vocab_size", [2000, 1000])
    trainer = Trainer(min_count=3, progress=False, **options)
    models = trainer.train(source, tmp_path / name, workers=workers)
    return models, {size: (tmp_path / f"{name}.{size}").read_bytes() for size in models}


@pytest.fixture(scope="module")
def baseline(small_corpus, tmp_path_factory):
    return train(small_corpus, tmp_path_factory.mktemp("base"))


def test_same_model_for_any_number_of_workers(small_corpus, baseline, tmp_path):
    _, files = baseline
    _, files2 = train(small_corpus, tmp_path, workers=2)
    assert files2 == files


def test_an_fsspec_url_trains_the_same_model(small_corpus, baseline, tmp_path, monkeypatch):
    pytest.importorskip("fsspec")
    from bytepiece.io import corpus

    monkeypatch.setattr(corpus, "PART_BYTES", 40_000)  # big files cut into byte ranges too
    _, files = baseline
    assert train(small_corpus.as_uri(), tmp_path, workers=2)[1] == files


def test_memory_budget_spills_without_changing_the_model(small_corpus, baseline, tmp_path, monkeypatch):
    from bytepiece.training import count_store

    spills = []
    original = count_store.CountStore.spill
    monkeypatch.setattr(count_store.CountStore, "spill", lambda self: (spills.append(self._spill_parent), original(self)))
    _, files = baseline
    (tmp_path / "spill").mkdir()
    _, spilled = train(small_corpus, tmp_path, memory_budget=200_000, spill_dir=tmp_path / "spill")
    assert spilled == files
    assert spills and set(spills) == {str(tmp_path / "spill")}
    assert list((tmp_path / "spill").iterdir()) == []  # runs are deleted at the end


def test_a_small_budget_bounds_every_table_on_a_corpus_many_times_larger(small_corpus, baseline, tmp_path, monkeypatch):
    # The count tables, the long-piece dict and pruning's dropped strings all stay within
    # a 40 KB budget while the corpus is 11 times that, and the model is the same.
    from bytepiece.training import count_store, pruning

    budget = 40_000
    corpus_bytes = sum(p.stat().st_size for p in small_corpus.rglob("*.txt"))
    assert corpus_bytes > 10 * budget
    held, long_runs, groups = [], [], []
    for name in ("add", "add_long"):
        original = getattr(count_store.CountStore, name)

        def recorded(self, *args, _original=original):
            _original(self, *args)
            held.append(self.held_bytes())

        monkeypatch.setattr(count_store.CountStore, name, recorded)
    original_result = count_store.CountStore.long_result
    monkeypatch.setattr(count_store.CountStore, "long_result",
                        lambda self, pool=None: (lambda r: (long_runs.append(len(r.runs)), r)[1])(original_result(self, pool)))
    original_task = pruning.segment_strings
    monkeypatch.setattr(pruning, "segment_strings", lambda engine, strings: (groups.append(len(strings.data)), original_task(engine, strings))[1])
    _, files = baseline
    assert train(small_corpus, tmp_path, memory_budget=budget)[1] == files
    assert held and max(held) <= budget
    assert long_runs and long_runs[0] > 1  # the long pieces went to disk, in several runs
    assert len(groups) > 3 and max(groups) <= pruning.GROUP_BYTES + 36  # dropped strings, a group at a time


def test_the_ngram_model_counts_toward_the_budget_while_pass_2_holds_it(small_corpus, baseline, tmp_path, monkeypatch):
    # The model (0.53 GB at 391 MB) is held beside pass 2's counts: a budget that left it
    # out let the trainer hold the model and a whole budget of counts besides.
    from bytepiece.training import count_store
    from bytepiece.training import trainer as trainer_module

    budget = 4_000_000
    models, held = [], []
    stream_model = trainer_module.stream_model
    monkeypatch.setattr(trainer_module, "stream_model", lambda *args, **options: (lambda m: (models.append(m), m)[1])(stream_model(*args, **options)))
    for name in ("add", "add_long"):
        original = getattr(count_store.CountStore, name)

        def recorded(self, *args, _original=original, _name=name):
            _original(self, *args)
            if _name == "add_long" or args[0] == "pieces":
                held.append(self.held_bytes())

        monkeypatch.setattr(count_store.CountStore, name, recorded)
    _, files = baseline
    assert train(small_corpus, tmp_path, memory_budget=budget)[1] == files
    (model,) = models
    assert budget - model.nbytes > budget // 8  # what is left of the budget, not the store's floor
    assert max(held) <= budget - model.nbytes


def test_a_model_thinned_as_its_partitions_come_is_the_one_thinned_at_once(tmp_path, monkeypatch):
    # Under a budget, the driver drops an n-gram length's entries below the threshold of
    # the partitions it has (ModelBudget.gather), so that what it holds does not grow with
    # the corpus: the model must be the one that deciding over every partition makes.
    import numpy as np

    from bytepiece.normalization import training_chunks
    from bytepiece.training import ngram_counting, trainer as trainer_module
    from bytepiece.training.ngram_counting import count_ngrams

    monkeypatch.setattr(trainer_module, "MIN_MODEL_BYTES", 0)
    text = b"".join((DEMO / name).read_bytes()[:300_000] for name in ("en/moby-dick.txt", "zh/classical-poetry.txt"))
    (tmp_path / "text.txt").write_bytes(text)
    budget = 3_000_000

    def trained():
        built, budgets = [], []
        stream_model = trainer_module.stream_model

        def recorded(*args, **options):
            budgets.append(args[3])
            built.append(stream_model(*args, **options))
            return built[-1]

        monkeypatch.setattr(trainer_module, "stream_model", recorded)
        Trainer(vocab_size=600, min_count=2, memory_budget=budget, progress=False).train(tmp_path / "text.txt")
        return built[0], budgets[0]

    dropped = {}  # by length: entries that went before the length's threshold was decided
    gather = ngram_counting.ModelBudget.gather

    def counted(self, n, runs):
        seen = []
        kept, counts = gather(self, n, ((arrays, c) for arrays, c in runs if not seen.append(len(c))))
        dropped[n] = sum(seen) - sum(map(len, counts))
        return kept, counts

    monkeypatch.setattr(ngram_counting.ModelBudget, "gather", counted)
    thinned, thinned_budget = trained()
    assert any(dropped.values()), dropped

    def keep_all(self, n, runs):
        kept, counts = [], []
        for arrays, run_counts in runs:
            kept.append(arrays)
            counts.append(run_counts)
        return kept, counts

    monkeypatch.setattr(ngram_counting.ModelBudget, "gather", keep_all)
    whole, whole_budget = trained()
    assert thinned_budget.thresholds == whole_budget.thresholds and whole_budget.thinned
    assert thinned.sizes == whole.sizes
    chunks = [c.encode() for line in text.decode().splitlines() for c in training_chunks(line)]
    counts = count_ngrams(chunks, 6)
    for n in range(3, 7):
        assert np.array_equal(thinned.lookup(n, counts.keys[n]), whole.lookup(n, counts.keys[n]))


def test_nested_vocabularies_with_recorded_settings_and_statistics(small_corpus, baseline):
    models, _ = baseline
    big, small = models[2000], models[1000]
    assert set(small.pieces) <= set(big.pieces)
    assert 1900 <= big.vocab_size <= 2000 and 950 <= small.vocab_size <= 1000
    training = big.training
    assert training["order"] == 6 and training["min_count"] == 3 and training["vocab_sizes"] == [2000, 1000]
    corpus = training["corpus"]
    files = [p for p in small_corpus.rglob("*.txt")]
    assert corpus["files"] == len(files) and corpus["documents"] == len(files)
    assert corpus["bytes"] == sum(p.stat().st_size for p in files)
    assert corpus["skipped_files"] == 0
    assert big.ensure_unicode is True and big.normalization == "nfc"


def test_texts_train_the_same_vocabulary_as_the_directory(small_corpus, baseline, tmp_path):
    models, _ = baseline
    texts = [p.read_text(encoding="utf-8") for p in sorted(small_corpus.rglob("*.txt"))]
    from_texts, _ = train(texts, tmp_path)
    for size in models:
        assert from_texts[size].pieces == models[size].pieces
        assert from_texts[size].counts == models[size].counts


def test_trained_model_tokenizes_losslessly(small_corpus, baseline):
    models, _ = baseline
    tok = Tokenizer(models[1000])
    text = (small_corpus / "en/moby-dick.txt").read_text(encoding="utf-8")[:5000] + " 新词 ünïcode\r\n"
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(text)) < len(text.encode()) / 2


def test_one_size_is_saved_at_the_given_path(tmp_path):
    models = Trainer(vocab_size=300, min_count=2, progress=False).train(["abc abc abc\n"] * 5, tmp_path / "one.model")
    assert list(models) == [300]
    assert load_model(tmp_path / "one.model").pieces == models[300].pieces


def test_isolate_digits_keeps_digits_out_of_pieces(tmp_path):
    texts = ["item 2024 costs 1999 yuan\n"] * 30
    models = Trainer(vocab_size=400, min_count=2, isolate_digits=True, progress=False).train(texts)
    multi = [p for p in models[400].pieces if len(p) > 1]
    assert multi and not any(ch.isdigit() for p in multi for ch in p.decode())
    assert models[400].isolate_digits is True


def test_an_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "notes.md").write_text("not a corpus file")
    with pytest.raises(ValueError, match=r"no text to train on: 0 files read \(0 documents\), 0 files and 0 lines skipped, 1 files ignored"):
        Trainer(vocab_size=300, progress=False).train(tmp_path)


def test_generators_are_rejected_with_a_clear_message():
    with pytest.raises(TypeError, match="re-iterable"):
        Trainer(vocab_size=300, progress=False).train(t for t in ["a"])


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="order"):
        Trainer(order=9)
    with pytest.raises(ValueError, match="vocab_size"):
        Trainer(vocab_size=100)


# ---------------------------------------------------------------- the command line
def test_cli_trains_and_reports(small_corpus, tmp_path, capsys):
    bad = tmp_path / "corpus"
    shutil.copytree(small_corpus, bad)
    (bad / "broken.txt").write_bytes(b"")
    (bad / "x.jsonl").write_bytes(b'{"text": "ok"}\nnot json\n')
    out = tmp_path / "cli.model"
    assert main(["train", str(bad), "-o", str(out), "--vocab-size", "800", "--min-count", "3"]) == 0
    err = capsys.readouterr().err
    assert "broken.txt: empty file" in err and "x.jsonl, line 2: malformed JSON" in err
    assert "1 files and 1 lines skipped" in err and "vocab size" in err
    corpus = load_model(out).training["corpus"]
    assert corpus["skipped_files"] == 1 and corpus["skipped_lines"] == 1
    assert main(["train", str(bad), "-o", str(out), "--on-error", "fail", "--quiet"]) == 2
    assert "broken.txt: empty file" in capsys.readouterr().err


def test_cli_trains_on_several_paths_and_urls(small_corpus, baseline, tmp_path):
    # `train A B C`: read in the order given, so the three parts of the corpus in its own
    # order (code, en, zh) give the model of the whole directory; one of them a URL.
    pytest.importorskip("fsspec")
    models, _ = baseline
    paths = [str(small_corpus / "code"), (small_corpus / "en" / "moby-dick.txt").as_uri(), str(small_corpus / "zh")]
    out = tmp_path / "several"
    assert main(["train", *paths, "-o", str(out), "--vocab-size", "2000,1000", "--min-count", "3", "--quiet"]) == 0
    for size, model in models.items():
        loaded = load_model(f"{out}.{size}")
        assert (loaded.pieces, loaded.counts) == (model.pieces, model.counts)


def test_cli_quiet_multi_size(small_corpus, tmp_path, capsys):
    out = tmp_path / "q.model"
    assert main(["train", str(small_corpus), "-o", str(out), "--vocab-size", "900,600", "--quiet", "--workers", "2"]) == 0
    assert capsys.readouterr().err == ""
    assert load_model(f"{out}.900").vocab_size <= 900 and load_model(f"{out}.600").vocab_size <= 600


def test_demo_corpus_is_small_and_attributed():
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 2_100_000
    readme = (DEMO / "README.md").read_text()
    for name in ["moby-dick", "state-of-the-union", "classical-poetry", "cpython", "go-std", "rust"]:
        assert name in readme


def test_jsonl_and_compressed_files_train_like_the_same_texts(tmp_path):
    import gzip
    import json
    import lzma

    texts = [line for line in (DEMO / "en/moby-dick.txt").read_text(encoding="utf-8").splitlines(keepends=True)][:150]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "a.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"body": t}) + "\n" for t in texts[:100])
    with lzma.open(corpus / "b.jsonl.xz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"body": t}) + "\n" for t in texts[100:])
    out = tmp_path / "j.model"
    assert main(["train", str(corpus), "-o", str(out), "--vocab-size", "600", "--jsonl-field", "body", "--quiet"]) == 0
    from_files = load_model(out)
    from_texts = Trainer(vocab_size=600, progress=False).train(texts)[600]
    assert from_files.pieces == from_texts.pieces and from_files.counts == from_texts.counts
    assert from_files.training["corpus"]["documents"] == 150 and from_files.training["jsonl_field"] == "body"


def test_peak_memory_does_not_grow_with_the_corpus(tmp_path, monkeypatch):
    # The same 36 KB of text 2 and 8 times over: the same distinct n-grams and pieces
    # (what is of model size stays the same) but four times the bytes, parts, shards,
    # long chunks and counts. With a small budget, the traced peak of the whole run
    # (numpy's arrays included; tasks run in this process) must stay flat, and the model
    # be the same. The sizes of a task's work (parts, groups) are scaled down with the
    # corpus, so that they are reached here (a task segments its long chunks a group at
    # a time, at about 150 bytes of Viterbi arrays a byte).
    import tracemalloc

    from bytepiece.io import corpus
    from bytepiece.training import tasks, trainer as trainer_module

    monkeypatch.setattr(corpus, "PART_BYTES", 10_000)
    monkeypatch.setattr(tasks, "GROUP_BYTES", 8_000)
    monkeypatch.setattr(tasks, "SEGMENT_BYTES", 8_000)
    monkeypatch.setattr(trainer_module, "SEGMENT_BYTES", 8_000)
    text = (DEMO / "en/moby-dick.txt").read_bytes()[:24_000] + (DEMO / "zh/classical-poetry.txt").read_bytes()[:12_000]
    text = text[: text.rfind(b"\n") + 1]
    peaks, models = {2: 0, 8: 0}, {}
    # 2 copies before and after 8: when the collector happens to run moves a peak by a
    # few percent; growth with the corpus (22.6 -> 63.4 MB once) is far beyond that.
    for copies in (2, 8, 2):
        root = tmp_path / f"x{copies}"
        if not root.exists():
            root.mkdir()
            for i in range(copies):
                (root / f"{i:02}.txt").write_bytes(text)
        gc.collect()
        tracemalloc.start()
        try:
            trainer = Trainer(vocab_size=600, min_count=2, memory_budget=60_000, progress=False)
            (models[copies],) = trainer.train(root).values()
            peaks[copies] = max(peaks[copies], tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert models[8].pieces == models[2].pieces
    assert peaks[8] <= 1.15 * peaks[2], peaks


def test_a_budget_bounds_the_model_and_pruning_however_much_new_text_comes(tmp_path, monkeypatch):
    # New text, unlike copies, brings new n-grams and pieces: the n-gram model and
    # pruning's candidates grow with it (8.9 -> 20.8 MB of traced peak for 4 times the
    # text without the bounds; 7.9 -> 6.3 MB with them). Under a budget, the n-gram model
    # keeps its most frequent n-grams in half of it, and pruning its most frequent
    # candidates: the peak stays flat, the raised thresholds are recorded in the model,
    # and the model is the same for any number of workers. The floors that keep real
    # budgets from thinning small models are lowered so that a test-sized budget binds.
    import itertools
    import tracemalloc

    from bytepiece.io import corpus
    from bytepiece.training import tasks, trainer as trainer_module

    monkeypatch.setattr(corpus, "PART_BYTES", 20_000)
    monkeypatch.setattr(tasks, "GROUP_BYTES", 8_000)
    monkeypatch.setattr(tasks, "SEGMENT_BYTES", 8_000)
    monkeypatch.setattr(trainer_module, "SEGMENT_BYTES", 8_000)
    monkeypatch.setattr(trainer_module, "MIN_MODEL_BYTES", 0)
    monkeypatch.setattr(trainer_module, "MIN_CANDIDATES", 0)
    budget = 3_000_000
    built = []
    stream_model = trainer_module.stream_model
    monkeypatch.setattr(trainer_module, "stream_model", lambda *args, **options: (lambda m: (built.append(m), m)[1])(stream_model(*args, **options)))
    code = b"".join(path.read_bytes() for path in sorted((DEMO / "code/go-std").rglob("*.txt")))
    sources = [(DEMO / name).read_bytes().splitlines(keepends=True) for name in ("en/moby-dick.txt", "zh/classical-poetry.txt")]
    sources.append(code.splitlines(keepends=True))
    lines = [line for group in itertools.zip_longest(*sources) for line in group if line]  # the same mix at every size
    peaks, models = {}, {}
    for size in (200_000, 800_000):
        root = tmp_path / f"s{size}"
        root.mkdir()
        ends = list(itertools.accumulate(map(len, lines)))
        (root / "text.txt").write_bytes(b"".join(lines[: sum(end <= size for end in ends)]))
        gc.collect()
        tracemalloc.start()
        try:
            trainer = Trainer(vocab_size=600, min_count=2, memory_budget=budget, progress=False)
            (models[size],) = trainer.train(root).values()
            peaks[size] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert built[-1].nbytes <= trainer_module.model_bytes(budget)
    assert peaks[800_000] <= 1.15 * peaks[200_000], peaks
    recorded = models[800_000].training["corpus"]
    assert recorded["piece_min_count"] > 2 and max(recorded["ngram_min_counts"].values()) > 2
    assert recorded["memory_budget"] == budget
    assert Trainer(vocab_size=600, min_count=2, memory_budget=budget, progress=False).train(tmp_path / "s800000", workers=2)[600].pieces == models[800_000].pieces
