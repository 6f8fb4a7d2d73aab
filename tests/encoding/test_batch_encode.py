"""The batch path (encoding/batch/: encode.py, flat_trie.py) against the scalar decoders and the golden ids.

Slices are forced even for small inputs (``min_slice=0``-style settings via monkeypatch),
so these tests exercise the vectorised code, not the scalar fallback; ``narrow_lanes``
cuts lines into many lanes, so that most lanes resume a chunk at a free boundary.
"""

from __future__ import annotations

import collections
import math
import multiprocessing
import os
import pickle
import re
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import Tokenizer
from bytepiece.encoding.engine import Engine
from bytepiece.model import Model
from bytepiece.encoding.batch import encode as batch_module
from bytepiece.encoding.batch import lattice as batch_lattice
from bytepiece.encoding.batch import layout as batch_layout
from bytepiece.encoding.batch.flat_trie import SEPARATOR, FlatTrie
from bytepiece.normalization import split_chunks

from conftest import LEGACY_MODELS, golden_rows, legacy_zip, tiny_model
from reference import chi_square, chi_square_critical, pieces_of, segmentation_distribution


@pytest.fixture
def always_slice(monkeypatch):
    """Send every chunk through a slice, however small the batch. The scalar decoder may
    only decode again the part of a chunk after a free boundary (from the score so far,
    never 0.0), where the vectorised path could not prove its choice (ties); the calls
    are counted in the returned list."""
    monkeypatch.setattr(batch_layout, "MIN_SLICE_BYTES", 0)
    redone: list = []
    encode_chunks = batch_module.BatchEncoder.encode_chunks

    def slices_only(self, buffer, starts, lengths, scalar, alpha=None, rng=None):
        def resume_only(chunk, start_score):
            if start_score == 0.0:
                raise AssertionError("a whole chunk went to the scalar decoder")
            redone.append(bytes(chunk))
            return scalar(chunk, start_score)

        return encode_chunks(self, buffer, starts, lengths, resume_only, alpha, rng)

    monkeypatch.setattr(batch_module.BatchEncoder, "encode_chunks", slices_only)
    return redone


@pytest.fixture
def narrow_lanes(monkeypatch, always_slice):
    """Lanes as short as the free boundaries allow: most lanes resume a chunk."""
    monkeypatch.setattr(batch_layout, "MIN_WIDTH", 1)
    monkeypatch.setattr(batch_layout, "LANE_COUNT", 1 << 30)
    return always_slice


def test_flat_trie_finds_exactly_the_automaton_matches(tok80k):
    text = "新词发现 new words\n\tcode(x) == 42; é\n".encode("utf-8")
    trie = FlatTrie.build(tok80k.model.pieces, tok80k.model.ids)
    array = np.array(list(text) + [SEPARATOR], dtype=np.int64)
    mine = {(int(s), d, int(i)) for d, starts, ids in trie.matches(array) for s, i in zip(starts, ids)}
    expected = set()
    for end, (length, _, piece_id) in tok80k.engine.automaton().iter(text.decode("latin-1")):
        expected.add((end - length + 1, length, piece_id))
    assert mine == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["新词", "发现", " new", " words", "\n", "\t", "code(x)", " == ", "42", "é", "ab", "--", "\x01"]), max_size=40))
def test_flat_trie_reports_matches_in_the_automatons_order(tok80k, parts):
    # the scalar Viterbi of the batch path's stragglers runs on these instead of the automaton
    text = "".join(parts).encode("utf-8")
    trie = tok80k.engine.batch_encoder().prepare()
    ends, lengths, ids = trie.matches_by_end(text)
    logp = tok80k.engine.log_probs()
    mine = list(zip(ends.tolist(), zip(lengths.tolist(), logp.take(ids).tolist(), ids.tolist())))
    assert mine == list(tok80k.engine.automaton().iter(text.decode("latin-1")))


def test_stragglers_of_the_batch_path_need_no_automaton(narrow_lanes):
    # ties decoded again, from the score so far, on the batch trie: the same ids as the
    # scalar path, and the automaton (seconds and hundreds of MB for a big vocabulary) is
    # never built by encode_batch
    texts = ["Dear Sir, " * 60 + "\x01" + tie + " end " + tie[::-1] for tie in TIES]
    fresh = Tokenizer(legacy_zip("bytepiece_80k"))
    got = fresh.encode_batch(texts)
    assert narrow_lanes and not fresh.engine.automaton_built
    assert got == [fresh.encode(t) for t in texts]


@pytest.mark.parametrize("name", LEGACY_MODELS)
def test_encode_batch_equals_the_golden_ids(name, legacy_tokenizers):
    rows = golden_rows(name)
    got = legacy_tokenizers[name].encode_batch([row["text"] for row in rows])
    assert [g == row["ids"] for g, row in zip(got, rows)] == [True] * len(rows)


@pytest.mark.parametrize("name", LEGACY_MODELS)
def test_lanes_resuming_chunks_give_the_golden_ids(name, legacy_tokenizers, narrow_lanes):
    rows = golden_rows(name)
    got = legacy_tokenizers[name].encode_batch([row["text"] for row in rows])
    assert [g == row["ids"] for g, row in zip(got, rows)] == [True] * len(rows)


TIES = ["-" * 300, "_" * 90 + "x", "=" * 500, "> " * 200, "ab" * 300, "/\\" * 100, "0" * 64, "  " * 90 + "}"]


@pytest.mark.parametrize("prefix", ["Dear Sir, ", "自然语言 ", "x = [1, 2, 3]; "])
def test_ties_in_a_resumed_stretch_are_decoded_again_exactly(prefix, tok80k, narrow_lanes):
    # Pieces in another order have the same exact sum ("----" + "--" and "--" + "----"):
    # the scalar choice then depends on the rounding of the sum so far, which a stretch
    # resuming a chunk does not have; such stretches must be detected and decoded again
    # from that sum. A control character, in no piece of two bytes, makes the boundaries
    # around it free: each run of ties starts a stretch that resumes its line.
    texts = [prefix * 60 + "\x01" + tie + " end " + tie[::-1] + "\n" + prefix * 60 + "\x01" + tie for tie in TIES]
    assert tok80k.encode_batch(texts) == [tok80k.encode(t) for t in texts]
    assert narrow_lanes, "no tie was decoded again: the test lost its point"


@pytest.mark.parametrize("dense_depth", [1, 2, 5])
def test_encode_batch_with_any_dense_depth_equals_scalar(dense_depth, tok80k, always_slice, monkeypatch):
    # Small depths send most pieces through the deep list (ranks, ties among long pieces).
    monkeypatch.setattr(batch_lattice, "DENSE_DEPTH", dense_depth)
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:300]]
    assert tok80k.encode_batch(texts) == [tok80k.encode(t) for t in texts]


@pytest.mark.parametrize(
    "text",
    ["", "a", "\n", "\n\n\n", "é", "🙂🙂", "a\nb", "a\r\nb\n\n", "x" * 3000, "ab" * 700 + "\n" + "中文" * 100],
)
def test_edge_cases_equal_scalar_encode(text, tok80k, always_slice):
    assert tok80k.encode_batch([text, text[::-1]]) == [tok80k.encode(text), tok80k.encode(text[::-1])]


def test_ties_go_to_the_longer_piece(always_slice):
    # "aa" and "a"+"a" score the same: the scalar rule keeps the longer piece.
    model = tiny_model({b"aa": 1, b"aaa": 1})
    tok = Tokenizer(model)
    texts = ["a" * n for n in range(1, 12)] + ["baaab", "aaa\naa"]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_special_tokens_bos_eos_and_workers(tok80k, always_slice):
    texts = ["hello<eos>world", "<bos>", "plain text\nsecond line"] * 3
    options = dict(add_bos=True, add_eos=True, allowed_special={"<eos>", "<bos>"})
    expected = [tok80k.encode(t, **options) for t in texts]
    assert tok80k.encode_batch(texts, **options) == expected
    assert tok80k.tokenize_batch(["hello world"]) == [tok80k.tokenize("hello world")]


def test_workers_give_the_same_ids_and_keep_their_pool(monkeypatch):
    monkeypatch.setattr(batch_module, "JOB_CHARS", 5000)  # many jobs
    tok = Tokenizer(legacy_zip("bytepiece_80k"))
    rows = golden_rows("bytepiece_80k")[:400]
    texts = [row["text"] for row in rows]
    try:
        assert tok.encode_batch(texts, workers=2) == [row["ids"] for row in rows]
        pool = tok.engine.pool
        options = dict(add_bos=True, add_eos=True, allowed_special="all")
        special = ["a<eos>b", "", "<bos>"] * 50
        assert tok.encode_batch(special, workers=2, **options) == [tok.encode(t, **options) for t in special]
        assert tok.engine.pool is pool  # reused, not restarted
    finally:
        tok.close()
    assert tok.engine.pool is None
    assert tok.encode_batch(texts[:3], workers=2) == [row["ids"] for row in rows[:3]]  # one job: no pool
    assert tok.engine.pool is None


def test_sampling_is_the_same_for_any_number_of_workers(monkeypatch):
    monkeypatch.setattr(batch_module, "JOB_CHARS", 5000)
    tok = Tokenizer(legacy_zip("bytepiece_80k"))
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:300]]
    try:
        alone = tok.encode_batch(texts, alpha=0.1, seed=3)
        assert tok.encode_batch(texts, alpha=0.1, seed=3, workers=2) == alone
        assert tok.encode_batch(texts, alpha=0.1, seed=4, workers=2) != alone
    finally:
        tok.close()


def test_long_encode_goes_through_the_batch_path_exactly(tok80k):
    text = "".join(row["text"] for row in golden_rows("bytepiece_80k")[:3000])
    assert len(text.encode()) > 64 << 10
    scalar = []
    for chunk in split_chunks(text.encode("utf-8")):
        scalar.extend(tok80k.encode(chunk.decode("utf-8")))
    assert tok80k.encode(text) == scalar


def test_plan_sends_only_chunks_longer_than_a_slice_to_the_scalar_decoder():
    plan = batch_layout.plan_slices(np.array([5, 2 * batch_layout.SLICE_BYTES] + [50] * 10_000 + [0, 7]))
    assert plan[:2] == [0, 1]  # too little text before the long chunk, and the long chunk: scalar
    sliced = [i for group in plan if not isinstance(group, int) for i in group.tolist()]
    assert sliced == list(range(2, 10_002)) + [10_003]  # in order; the empty chunk has no ids


# ---------------------------------------------------------------- sampling
SAMPLING_MODEL = {b"ab": 6, b"bc": 4, b"abc": 2, b"ca": 3, b"cab": 1, b"a": 5, b"b": 5, b"c": 5}


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("dense_depth, linear_range", [(8, 600), (1, 600), (1, 0)])
def test_batched_sampling_draws_the_exact_distribution(alpha, dense_depth, linear_range, always_slice, monkeypatch):
    # dense_depth 1: longer pieces go through the deep list; linear_range 0: log scores.
    monkeypatch.setattr(batch_lattice, "DENSE_DEPTH", dense_depth)
    monkeypatch.setattr(batch_lattice, "LINEAR_RANGE", linear_range)
    model = tiny_model(SAMPLING_MODEL)
    tok = Tokenizer(model, seed=1234)
    text = "abcab"
    expected = segmentation_distribution(text.encode(), model, alpha)
    n = 6000
    samples = tok.encode_batch([text] * n, alpha=alpha)
    observed = collections.Counter(pieces_of(ids, model) for ids in samples)
    stat, dof = chi_square(observed, expected, n)
    assert stat < chi_square_critical(dof), (stat, dof)
    total_variation = 0.5 * sum(abs(observed.get(k, 0) / n - p) for k, p in expected.items())
    assert total_variation < 0.03


@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_sampling_over_resumed_lanes_draws_the_exact_distribution(alpha, narrow_lanes):
    # "x" is in no longer piece: the boundaries around it are free, and with narrow lanes
    # each part is sampled in a lane of its own; the joint draw must still be exact.
    model = tiny_model(SAMPLING_MODEL)
    tok = Tokenizer(model, seed=4321)
    text = "abcabxcabcx"
    expected = segmentation_distribution(text.encode(), model, alpha)
    n = 6000
    observed = collections.Counter(pieces_of(ids, model) for ids in tok.encode_batch([text] * n, alpha=alpha))
    stat, dof = chi_square(observed, expected, n)
    assert stat < chi_square_critical(dof), (stat, dof)


def test_batched_sampling_is_seeded_and_lossless(tok80k, always_slice):
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:200]]
    first = tok80k.encode_batch(texts, alpha=0.1, seed=7)
    assert first == tok80k.encode_batch(texts, alpha=0.1, seed=7)
    assert [tok80k.decode(ids) for ids in first] == texts
    assert first != tok80k.encode_batch(texts, alpha=0.1, seed=8)


@pytest.mark.parametrize("alpha", [None, 0.1, 1.0])  # 1.0 on the 80k model: sampling in log space
def test_choices_by_passes_of_any_size_give_the_same_ids_and_samples(alpha, tok80k, monkeypatch):
    # The forward makes its choices (draws) for a pass of whole blocks: one block a pass
    # must give what tens of blocks a pass give, draw for draw (documents of many blocks).
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:240]]
    documents = ["".join(texts[k : k + 60]) for k in range(0, len(texts), 60)]
    results = []
    for pass_bytes in (1, batch_lattice.PASS_BYTES):
        monkeypatch.setattr(batch_lattice, "PASS_BYTES", pass_bytes)
        results.append([tok80k.encode(d, alpha=alpha, seed=7) for d in documents] + [tok80k.encode_batch(texts, alpha=alpha, seed=7)])
    assert results[0] == results[1]


def test_large_alpha_sampling_is_viterbi(tok80k, always_slice):
    texts = [row["text"] for row in golden_rows("bytepiece_80k")[:100]]
    assert tok80k.encode_batch(texts, alpha=1e6, seed=0) == tok80k.encode_batch(texts)


def test_alpha_must_be_non_negative(tok80k):
    with pytest.raises(ValueError, match="alpha"):
        tok80k.encode_batch(["x" * 100_000], alpha=-1.0)


def test_exact_distribution_helper_sums_to_one():
    model = tiny_model(SAMPLING_MODEL)
    assert math.isclose(sum(segmentation_distribution(b"abcab", model, 0.5).values()), 1.0)


def test_empty_batches_and_iterables(tok80k):
    assert tok80k.encode_batch([]) == []
    assert tok80k.encode_batch(["", "a"]) == [[], tok80k.encode("a")]
    assert tok80k.encode_batch(t for t in ["ab", "c"]) == [tok80k.encode("ab"), tok80k.encode("c")]


def test_each_text_is_normalised_on_its_own(tok80k, always_slice):
    # Joined, "e" + U+0301 would compose to "é"; as separate texts they must not.
    texts = ["e", "\u0301x", "cafe\u0301", "\u1100", "\u1161"]
    assert tok80k.encode_batch(texts) == [tok80k.encode(t) for t in texts]


@pytest.mark.parametrize("bad, error", [(b"bytes", TypeError), ("lone \ud800 surrogate", ValueError)])
def test_a_bad_text_is_named_by_its_index(tok80k, bad, error):
    with pytest.raises(error, match="text 1 of the batch"):
        tok80k.encode_batch(["fine", bad, "fine"])


def _child_encode(tok, texts, queue):
    ids = tok.encode_batch(texts, workers=2)
    queue.put((ids, tok.engine.pool is not None and tok.engine.pool.owner == os.getpid()))
    tok.close()


def test_a_forked_copy_starts_its_own_pool(monkeypatch):
    monkeypatch.setattr(batch_module, "JOB_CHARS", 5000)
    tok = Tokenizer(legacy_zip("bytepiece_80k"))
    rows = golden_rows("bytepiece_80k")[:200]
    texts = [row["text"] for row in rows]
    context = multiprocessing.get_context("fork")
    try:
        tok.encode_batch(texts, workers=2)
        queue = context.Queue()
        child = context.Process(target=_child_encode, args=(tok, texts, queue))
        child.start()
        ids, own_pool = queue.get(timeout=120)
        child.join(timeout=60)
        assert own_pool and ids == [row["ids"] for row in rows]
        assert tok.encode_batch(texts, workers=2) == ids  # the parent's pool still works
    finally:
        tok.close()


MARKS = ["a", "e", "\u0301", "\u0300", "\u0328", "\u1100", "\u1161", "\u11a8", "\u212b", "\u00e9", "\u0344",
         "\u0b47", "\u0b3e", "\u0f73", "\u05b0", "\u0591", "\u3099", "\u304b", "\U0001d15e", "\u0345", "\n"]


@given(st.lists(st.text(alphabet=MARKS, max_size=5), max_size=6))
@settings(max_examples=400, deadline=None)
def test_batch_normalisation_is_per_text(texts):
    # One NFC check of the joined texts decides whether each must be normalised: this
    # relies on "joined is NFC => each part is NFC".
    assert batch_module._utf8(texts, "nfc") == [unicodedata.normalize("NFC", t).encode() for t in texts]
    assert batch_module._utf8(texts, "none") == [t.encode() for t in texts]


def test_a_bad_text_in_a_later_job_is_named_by_its_batch_index(tok80k, monkeypatch):
    monkeypatch.setattr(batch_module, "JOB_CHARS", 10)
    texts = ["some text " * 3] * 5 + ["lone \udc80 surrogate"]
    with pytest.raises(ValueError, match="text 5 of the batch: .*surrogate"):
        tok80k.encode_batch(texts)


def test_a_killed_worker_breaks_one_call_not_the_tokenizer(monkeypatch):
    import signal
    from concurrent.futures.process import BrokenProcessPool

    monkeypatch.setattr(batch_module, "JOB_CHARS", 5000)
    tok = Tokenizer(legacy_zip("bytepiece_80k"))
    rows = golden_rows("bytepiece_80k")[:200]
    texts = [row["text"] for row in rows]
    try:
        tok.encode_batch(texts, workers=2)
        for process in multiprocessing.active_children():  # the pool's workers
            os.kill(process.pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            tok.encode_batch(texts, workers=2)
        assert tok.encode_batch(texts, workers=2) == [row["ids"] for row in rows]  # a new pool
    finally:
        tok.close()


def test_threads_sharing_a_tokenizer_get_the_right_ids(tok80k):
    from concurrent.futures import ThreadPoolExecutor

    rows = golden_rows("bytepiece_80k")
    batches = [[row["text"] for row in rows[k::4]] for k in range(4)]
    expected = [tok80k.encode_batch(batch) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(tok80k.encode_batch, batches * 2)) == expected * 2


def test_negative_workers_is_an_error(tok80k):
    with pytest.raises(ValueError, match="workers"):
        tok80k.encode_batch(["text"], workers=-2)


def _encode_in_daemon(texts, queue):
    import warnings

    tok = Tokenizer(legacy_zip("bytepiece_80k"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = tok.encode_batch(texts, workers=2)
    queue.put((ids, [str(w.message) for w in caught]))


def test_workers_inside_a_daemonic_process_run_in_process(monkeypatch):
    # DataLoader workers are daemonic and may not start processes: no crash, a warning.
    monkeypatch.setattr(batch_module, "JOB_CHARS", 5000)
    rows = golden_rows("bytepiece_80k")[:100]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_encode_in_daemon, args=([row["text"] for row in rows], queue), daemon=True)
    child.start()
    ids, messages = queue.get(timeout=120)
    child.join(timeout=60)
    assert ids == [row["ids"] for row in rows]
    assert any("daemonic" in m for m in messages)


@pytest.mark.parametrize("dropped", [0.0, 0.3, 0.9])
def test_a_rescored_engine_segments_as_a_fresh_engine_of_what_is_left(dropped, tok80k):
    # Pruning's rounds (training/pruning.py) keep one trie and change only the scores: a
    # piece scored -inf is never on a path, and the others must be chosen exactly as by an
    # engine built afresh from the smaller vocabulary, on both the batch path and the
    # scalar decoder (ids differ between the two engines: compare the pieces).
    model = tok80k.engine.model
    rng = np.random.default_rng(7)
    counts = np.array(model.counts) * rng.integers(1, 4, len(model.counts))  # new counts...
    lengths = np.array([len(p) for p in model.pieces])
    counts[(lengths > 1) & (rng.random(len(counts)) < dropped)] = 0  # ...and pieces gone
    left = {p: int(c) for p, c in zip(model.pieces, counts) if c}
    fresh = Engine(Model.from_counts(left))
    base = Engine(Model.from_counts(dict(zip(model.pieces, model.counts))))
    scores = np.full(base.vocab_size, -np.inf)
    fresh_ids, fresh_scores = fresh.model.piece_to_id, fresh.log_probs()
    scores[list(base.model.ids)] = [fresh_scores[fresh_ids[p]] if p in left else -np.inf for p in base.model.pieces]
    rescored = base.rescored(scores)
    data = "\n".join(row["text"] for row in golden_rows("bytepiece_80k")[:200]).encode("utf-8")
    ends = np.array([m.end() for m in re.finditer(rb"\n|$", data)])
    starts = np.concatenate(([0], ends[:-1] + 1))
    keep = ends > starts
    starts, lengths_ = starts[keep], ends[keep] - starts[keep]

    def pieces(engine, ids):
        return [engine.pieces_by_id[i] for i in ids]

    want, _ = fresh.encode_chunks(data, starts, lengths_)
    got, _ = rescored.encode_chunks(data, starts, lengths_)
    assert pieces(rescored, got.tolist()) == pieces(fresh, want.tolist())
    lines = data.split(b"\n")[:40]
    assert [pieces(rescored, rescored.decode_chunk(line)) for line in lines] == [pieces(fresh, fresh.decode_chunk(line)) for line in lines]
    copy = pickle.loads(pickle.dumps(rescored))  # the scores travel with it
    assert np.array_equal(copy.log_probs(), rescored.log_probs())
    assert base.batch_encoder().prepare() is rescored.batch_encoder().prepare()  # one trie


def test_a_rescored_engine_keeps_every_single_byte(tok80k):
    scores = tok80k.engine.log_probs().copy()
    scores[tok80k.engine.model.piece_to_id[b"a"]] = -np.inf
    with pytest.raises(ValueError, match="single byte"):
        tok80k.engine.rescored(scores)
    with pytest.raises(ValueError, match="one score per id"):
        tok80k.engine.rescored(scores[:-1])
