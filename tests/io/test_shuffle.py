"""The global shuffle: uniform, a function of the seed alone, bounded memory; the
`bytepiece shuffle` command and `encode-corpus --shuffle`."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

from bytepiece import Tokenizer, TokenFile, save_model
from bytepiece.cli import main
from bytepiece.encoding.encode_corpus import encode_corpus
from bytepiece.io.corpus import iter_documents
from bytepiece.io.shuffle import shuffle_keys, shuffled
from bytepiece.training.trainer import Trainer

from conftest import DEMO_CORPUS
from reference import chi_square_critical


def records(n: int, rng: random.Random, longest: int = 300):
    return [f"{i}:".encode() + rng.randbytes(rng.randrange(longest)) for i in range(n)]


def test_positions_are_uniform_over_seeds():
    # Each of 6 records lands in each of 6 positions about equally often over 6,000 seeds:
    # chi-square of the 6x6 table of counts, (6-1)^2 degrees of freedom.
    n, seeds = 6, 6000
    items = [bytes([i]) for i in range(n)]
    table = np.zeros((n, n), dtype=np.int64)
    for seed in range(seeds):
        for position, record in enumerate(shuffled(items, seed=seed, memory_budget=1 << 20)):
            table[record[0], position] += 1
    expected = seeds / n
    statistic = float(((table - expected) ** 2 / expected).sum())
    assert statistic < chi_square_critical((n - 1) ** 2), table
    # and pairs: record 0 directly before record 1 in about 1/n of the orders
    before = sum(
        1 for seed in range(2000) if list(shuffled(items, seed=seed, memory_budget=1 << 20)).index(b"\x01")
        - list(shuffled(items, seed=seed, memory_budget=1 << 20)).index(b"\x00") == 1
    )
    assert abs(before - 2000 / n) < 4 * np.sqrt(2000 * (1 / n) * (1 - 1 / n))


def test_a_biased_shuffle_would_be_caught():
    # The statistic above can fail: keys from a poor mixer (the index itself, slightly
    # perturbed) leave records near their places.
    n, seeds = 6, 2000
    table = np.zeros((n, n), dtype=np.int64)
    rng = np.random.default_rng(0)
    for _ in range(seeds):
        order = np.argsort(np.arange(n) + rng.normal(0, 1.0, n))
        for position, record in enumerate(order):
            table[record, position] += 1
    expected = seeds / n
    assert float(((table - expected) ** 2 / expected).sum()) > chi_square_critical((n - 1) ** 2)


@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1])
def test_the_order_depends_on_the_seed_alone_not_the_budget(seed, tmp_path):
    items = records(3000, random.Random(seed % 97))
    in_memory = list(shuffled(items, seed=seed, memory_budget=1 << 30))
    assert sorted(in_memory) == sorted(items) and in_memory != items
    for budget in (1_000, 20_000, 200_000):  # 1 KB: buckets scattered again, a level deeper
        assert list(shuffled(iter(items), seed=seed, memory_budget=budget, spill_dir=str(tmp_path))) == in_memory
    assert list(tmp_path.iterdir()) == []  # temporary buckets are deleted
    assert list(shuffled(items, seed=seed + 1 if seed < 2**64 - 1 else 0, memory_budget=1 << 30)) != in_memory


def test_keys_are_counter_based():
    assert shuffle_keys(5, 100, 10).tolist() == shuffle_keys(5, 0, 110)[100:].tolist()
    with pytest.raises(ValueError, match="seed"):
        shuffle_keys(-1, 0, 1)


def test_memory_stays_within_the_budget_on_a_corpus_many_times_larger():
    budget = 1 << 20
    rng = random.Random(0)
    sizes = [rng.randrange(2000) for _ in range(16_000)]  # 16 MB of records, 16x the budget

    def generate():
        for i, size in enumerate(sizes):
            yield i.to_bytes(4, "big") + b"x" * size

    tracemalloc.start()
    try:
        count = total = 0
        for record in shuffled(generate(), seed=3, memory_budget=budget):
            count += 1
            total += len(record)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == len(sizes) and total == sum(sizes) + 4 * len(sizes)
    assert peak < 3 * budget + (4 << 20), peak  # the budget, a bucket read back, 256 file buffers


# ---------------------------------------------------------------- bytepiece shuffle
def test_cli_shuffles_lines_of_text_and_jsonl(tmp_path, capsys):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.jsonl"
    a.write_bytes(b"".join(b"line %d\n" % i for i in range(500)) + b"no newline at the end")
    b.write_bytes(b"".join(b'{"text": "record %d"}\n' % i for i in range(300)))
    out = tmp_path / "out.txt"
    assert main(["shuffle", str(a), str(b), "-o", str(out), "--seed", "7", "--memory-budget", "2K"]) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    expected = a.read_bytes().splitlines(keepends=True)[:500] + [b"no newline at the end\n"] + b.read_bytes().splitlines(keepends=True)
    assert sorted(lines) == sorted(expected) and lines != expected
    again = tmp_path / "again.txt"
    assert main(["shuffle", str(a), str(b), "-o", str(again), "--seed", "7", "--quiet"]) == 0  # default budget
    assert again.read_bytes() == out.read_bytes()
    assert "801 lines shuffled with seed 7" in capsys.readouterr().err
    # an existing output is refused (one line, exit 2), and kept
    assert main(["shuffle", str(a), "-o", str(out), "--seed", "8"]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == again.read_bytes()
    assert main(["shuffle", str(a), "-o", str(a), "--seed", "8", "--overwrite"]) == 2
    assert "both an input and the output" in capsys.readouterr().err
    assert main(["shuffle", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "x"), "--seed", "1"]) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


# ---------------------------------------------------------------- encode-corpus --shuffle
@pytest.fixture(scope="module")
def tok():
    text = (DEMO_CORPUS / "en" / "moby-dick.txt").read_text(encoding="utf-8")[:150_000]
    (model,) = Trainer(vocab_size=2000, min_count=3, progress=False).train([text]).values()
    return Tokenizer(model)


@pytest.fixture(scope="module")
def line_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("lines")
    (root / "a.txt").write_bytes((DEMO_CORPUS / "en" / "moby-dick.txt").read_bytes()[:120_000])
    (root / "b.txt").write_bytes((DEMO_CORPUS / "zh" / "classical-poetry.txt").read_bytes()[:40_000].rsplit(b"\n", 1)[0] + b"\n")
    return root


def test_encode_corpus_shuffle_is_a_permutation_the_same_for_any_workers_and_budget(tok, line_corpus, tmp_path):
    encode_corpus(tok, line_corpus, tmp_path / "plain", split="lines")
    plain = TokenFile(tmp_path / "plain")
    meta = encode_corpus(tok, line_corpus, tmp_path / "s1", split="lines", shuffle=11)
    assert meta["shuffle_seed"] == 11
    encode_corpus(tok, line_corpus, tmp_path / "s2", split="lines", shuffle=11, workers=2, memory_budget=4096)
    for name in ("tokens.bin", "offsets.npy"):
        assert (tmp_path / "s1" / name).read_bytes() == (tmp_path / "s2" / name).read_bytes()
    shuffled_docs = [d.tobytes() for d in TokenFile(tmp_path / "s1")]
    plain_docs = [d.tobytes() for d in plain]
    assert sorted(shuffled_docs) == sorted(plain_docs) and shuffled_docs != plain_docs
    assert len(plain_docs) == len(list(iter_documents(line_corpus, split="lines")))
    # the CLI: the same file
    model = tmp_path / "m.model"
    save_model(tok.model, model)
    assert main(["encode-corpus", str(line_corpus), "-m", str(model), "-o", str(tmp_path / "cli"), "--split", "lines",
                 "--shuffle", "11", "--memory-budget", "64K", "--quiet"]) == 0
    assert (tmp_path / "cli" / "tokens.bin").read_bytes() == (tmp_path / "s1" / "tokens.bin").read_bytes()
    assert main(["encode-corpus", str(line_corpus), "-m", str(model), "-o", str(tmp_path / "bad"), "--shuffle", "-1"]) == 2
