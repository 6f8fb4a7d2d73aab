"""Refinement (``--refine``): each step against brute force, and what a user of refined
models relies on: the same model for any number of workers, nested sizes, counts that are
the tokenizer's own segmentation, lossless round trips, save and load, better compression."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bytepiece import Tokenizer, Trainer, load_model
from bytepiece.cli import main
from bytepiece.encoding.engine import Engine
from bytepiece.training.count_store import CountStore
from bytepiece.training.packed_keys import pack_pieces, unpack_pieces
from bytepiece.training.pruning import Strings
from bytepiece.training.refinement import (
    alternatives,
    count_substrings,
    read_sample,
    reestimate,
    refine,
    removal_losses,
    sample_task,
    seed_vocabulary,
)

import reference
from conftest import REPO, tiny_model

DEMO = REPO / "demo-corpus"
CONFIG = {"normalization": "nfc", "isolate_digits": False}
ALPHABET = "ab cé中文😀\n"


def random_texts(seed: int, count: int, length: int = 40):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, length))) for _ in range(count)]


# ---------------------------------------------------------------- the steps
def test_substring_counts_are_every_run_of_whole_characters_up_to_seven_bytes():
    chunks = [t.encode() for t in random_texts(1, 300)]
    expected: Counter = Counter()
    for chunk in chunks:
        text = chunk.decode()
        for i in range(len(text)):
            for j in range(i + 1, len(text) + 1):
                if len(text[i:j].encode()) <= 7:
                    expected[text[i:j].encode()] += 1
    keys, counts = count_substrings(chunks)
    assert dict(zip(unpack_pieces(keys), counts.tolist())) == expected
    assert keys.tolist() == sorted(keys.tolist())


def test_the_sample_takes_evenly_spaced_chunks_the_same_way_every_time():
    texts = [f"line {i}\n" for i in range(400)]
    everything, _, _, size = sample_task({**CONFIG, "rate": 1.0}, (0, texts))
    assert everything == [t.encode() for t in texts] and size == sum(map(len, everything))
    quarter, _, _, _ = sample_task({**CONFIG, "rate": 0.25}, (3, texts))
    assert len(quarter) == 100 and quarter == sample_task({**CONFIG, "rate": 0.25}, (3, texts))[0]
    positions = [everything.index(chunk) for chunk in quarter]
    assert set(b - a for a, b in zip(positions, positions[1:])) == {4}
    assert quarter != sample_task({**CONFIG, "rate": 0.25}, (4, texts))[0]  # another phase


def test_read_sample_merges_identical_chunks_and_keeps_frequent_substrings():
    texts = ["ab\nab\nxyz\n", "ab\n"]
    with CountStore() as store:
        sample, keys, counts = read_sample([texts], CONFIG, store, rate=1.0, min_count=2)
    assert dict(zip(bytes(sample.data).split(b"\n")[:-1], sample.weights.tolist())) == {b"xyz": 1, b"ab": 3}
    assert dict(zip(unpack_pieces(keys), counts.tolist())) == {b"a": 3, b"b": 3, b"ab": 3, b"\n": 4, b"b\n": 3, b"ab\n": 3}


def test_seeds_add_every_character_and_the_substrings_that_save_most():
    pruned = {b"the": 5}
    substrings = {b"t": 50, "中".encode(): 2, b"th": 30, b"he": 20, b"the": 9, b" the": 4, b"ab": 1}
    keys = pack_pieces(list(substrings))
    order = np.argsort(keys)
    seeds = seed_vocabulary(pruned, keys[order], np.array(list(substrings.values()))[order], extra=2)
    assert seeds == {b"the": 5, b"t": 50, "中".encode(): 2, b"th": 30, b"he": 20}


def test_alternatives_are_the_best_segmentation_without_the_piece():
    model = tiny_model({b"ab": 40, b"bc": 30, b"abc": 20, b"c": 50, b"abcab": 3, b"cab": 9})
    engine = Engine(model)
    logp = reference.log_probs(model)
    for piece_id, spelling in alternatives(engine):
        piece = engine.pieces_by_id[piece_id]
        others = {p: s for p, s in logp.items() if p != piece}
        best = max(sum(others[p] for p in seg) for seg in reference.segmentations(piece, others))
        assert b"".join(engine.pieces_by_id[i] for i in spelling) == piece and piece_id not in spelling
        assert sum(logp[engine.pieces_by_id[i]] for i in spelling) == pytest.approx(best, abs=1e-12)


def test_removal_losses_count_the_tokens_each_piece_saves():
    counts = {**{bytes([b]): 1 for b in range(256)}, b"ab": 40, b"bc": 30, b"abc": 20, b"c": 50, b"abcab": 3}
    losses = removal_losses(counts)
    assert [piece for _, _, piece in losses] == [b"abcab", b"abc", b"bc", b"ab"]  # cheapest first
    by_piece = {piece: (tokens, likelihood) for tokens, likelihood, piece in losses}
    assert by_piece[b"abc"][0] == 20 * (2 - 1) and by_piece[b"abcab"][0] == 3 * (2 - 1)
    assert by_piece[b"ab"][0] == 40 * (2 - 1)
    assert all(likelihood > 0 for _, likelihood in by_piece.values())  # a removal never helps
    by_likelihood = removal_losses(counts, "likelihood")
    assert sorted(by_likelihood) == by_likelihood and {p for *_, p in by_likelihood} == set(by_piece)


def test_reestimated_counts_are_the_tokenizers_segmentation():
    chunks = Counter(t.encode() for t in random_texts(2, 200, 12))
    vocabulary = {**{bytes([b]): 1 for b in range(256)}, **{p.encode(): 5 for p in ["ab", "b c", "中文", "é中", "zz"]}}
    counts = reestimate(vocabulary, Strings.from_items(list(chunks.items())), workers=1)
    tok = Tokenizer(tiny_model({p: c for p, c in vocabulary.items() if len(p) > 1}, normalization="none"))
    expected: Counter = Counter()
    for chunk, weight in chunks.items():
        for piece in tok.tokenize(chunk.decode()):
            expected[piece] += weight
    assert {p: c for p, c in counts.items() if c > 1 or len(p) > 1} == {p: c for p, c in expected.items() if c > 1 or len(p) > 1}
    assert b"zz" not in counts and all(bytes([b]) in counts for b in range(256))


def test_refine_prunes_to_nested_sizes_largest_first():
    texts = random_texts(3, 400)
    sample = Strings.from_items(list(Counter(t.encode() for t in texts).items()))
    with CountStore() as store:
        _, keys, counts = read_sample([texts], CONFIG, store, rate=1.0, min_count=2)
    seeds = seed_vocabulary({bytes([b]): 1 for b in range(256)}, keys, counts, extra=200)
    result = refine(seeds, sample, vocab_sizes=[300, 400], reserved=3)
    assert list(result) == [400, 300]
    assert len(result[400]) <= 397 and len(result[300]) <= 297
    assert set(result[300]) <= set(result[400])
    assert all(count > 0 for counts in result.values() for count in counts.values())


# ---------------------------------------------------------------- trained models
@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """About 200 KB of the demo corpus: English prose, Chinese poetry and Go."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(DEMO / "code/go-std", root / "code")
    for name, size in [("en/moby-dick.txt", 80_000), ("zh/classical-poetry.txt", 60_000)]:
        data = (DEMO / name).read_bytes()[:size]
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data[: data.rfind(b"\n") + 1])
    return root


def train(source, out: Path, workers: int = 1, **options):
    options.setdefault("vocab_size", [2000, 1000])
    options.setdefault("refine", True)
    models = Trainer(min_count=3, progress=False, **options).train(source, out, workers=workers)
    return models, {size: Path(f"{out}.{size}" if len(models) > 1 else out).read_bytes() for size in models}


@pytest.fixture(scope="module")
def refined(small_corpus, tmp_path_factory):
    return train(small_corpus, tmp_path_factory.mktemp("refined") / "m")


def test_refined_models_are_the_same_for_any_number_of_workers(small_corpus, refined, tmp_path):
    _, files = refined
    assert train(small_corpus, tmp_path / "m", workers=2)[1] == files


def test_a_sampled_corpus_gives_the_same_model_for_any_number_of_workers(small_corpus, tmp_path, monkeypatch):
    from bytepiece.training import refinement

    monkeypatch.setattr(refinement, "SAMPLE_BYTES", 60_000)  # a third of the corpus is segmented
    one = train(small_corpus, tmp_path / "one", vocab_size=[800])[1]
    assert train(small_corpus, tmp_path / "two", workers=2, vocab_size=[800])[1] == one


def test_memory_budget_spills_without_changing_the_refined_model(small_corpus, refined, tmp_path, monkeypatch):
    from bytepiece.training import count_store

    spills = []
    original = count_store.CountStore.spill
    monkeypatch.setattr(count_store.CountStore, "spill", lambda self: (spills.append(1), original(self)))
    assert train(small_corpus, tmp_path / "m", memory_budget=200_000)[1] == refined[1]
    assert spills


def test_refined_models_are_nested_and_record_the_setting(refined):
    models, _ = refined
    big, small = models[2000], models[1000]
    assert set(small.pieces) <= set(big.pieces)
    assert 1900 <= big.vocab_size <= 2000 and 950 <= small.vocab_size <= 1000
    assert big.training["refine"] == "tokens" and small.training["vocab_sizes"] == [2000, 1000]


def test_the_default_records_no_refine_setting(small_corpus, tmp_path):
    models, _ = train(small_corpus, tmp_path / "d", refine=False, vocab_size=[1000])
    assert "refine" not in models[1000].training


def test_refined_models_save_load_and_tokenize_losslessly(small_corpus, refined, tmp_path):
    models, files = refined
    text = (small_corpus / "en/moby-dick.txt").read_text(encoding="utf-8")[:4000] + " 新词 ünïcode\r\n"
    for size, model in models.items():
        (tmp_path / "saved").write_bytes(files[size])
        loaded = load_model(tmp_path / "saved")
        assert (loaded.pieces, loaded.counts, loaded.ids) == (model.pieces, model.counts, model.ids)
        tok, again = Tokenizer(model), Tokenizer(loaded)
        assert tok.encode(text) == again.encode(text) and tok.decode(tok.encode(text)) == text


def test_refined_counts_are_how_the_model_segments_its_corpus(small_corpus, refined):
    models, _ = refined
    for model in models.values():
        tok = Tokenizer(model)
        texts = [p.read_text(encoding="utf-8") for p in sorted(small_corpus.rglob("*.txt"))]
        used = Counter(i for ids in tok.encode_batch(texts) for i in ids)
        longer = [i for i in model.ids if len(tok.engine.pieces_by_id[i]) > 1]
        counts = dict(zip(model.ids, model.counts))
        # The counts are those of the segmentation by the final vocabulary with the
        # previous round's probabilities: the final model's own segmentation of its
        # corpus differs by a few per cent.
        moved = sum(abs(counts[i] - used[i]) for i in longer) / sum(counts[i] for i in longer)
        print(f"vocab {model.vocab_size}: counts differ from the final segmentation by {moved:.2%}")
        assert moved < 0.03


def test_refine_compresses_held_out_text_better_than_the_default(small_corpus, refined, tmp_path):
    models, _ = refined
    default, _ = train(small_corpus, tmp_path / "d", refine=False)
    held_out = (DEMO / "en/state-of-the-union.txt").read_text(encoding="utf-8")[:60_000]
    held_out += (DEMO / "zh/classical-poetry.txt").read_text(encoding="utf-8")[100_000:130_000]
    for size in (2000, 1000):
        ours, theirs = len(Tokenizer(models[size]).encode(held_out)), len(Tokenizer(default[size]).encode(held_out))
        print(f"vocab {size}: {ours} tokens refined, {theirs} by default")
        assert ours < 0.97 * theirs, (size, ours, theirs)


def test_cli_refine(small_corpus, tmp_path, capsys):
    corpus, out = str(small_corpus / "en"), tmp_path / "r.model"
    assert main(["train", corpus, "-o", str(out), "--vocab-size", "600", "--refine", "--quiet"]) == 0
    assert load_model(out).training["refine"] == "tokens"
    assert main(["train", corpus, "-o", str(out), "--vocab-size", "600", "--refine", "likelihood", "--quiet"]) == 0
    assert load_model(out).training["refine"] == "likelihood"
    with pytest.raises(SystemExit) as exit:
        main(["train", corpus, "-o", str(out), "--refine", "fewer"])
    assert exit.value.code == 2 and "invalid choice: 'fewer'" in capsys.readouterr().err


def test_bad_refine_values_are_rejected():
    with pytest.raises(ValueError, match="refine must be True, False or one of"):
        Trainer(refine="fewer")
