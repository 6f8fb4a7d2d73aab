"""Quality: our trainer against vocabularies trained by the original BytePiece 0.6.3.

* In the repository: the original's vocabularies of ``demo-corpus/`` (8,000 and 2,000
  ids, tests/data/README.md). Ours must be identical: the same pieces, counts and ids,
  whether the corpus is given as texts or as the directory, with 1 or 2 workers.
* The larger tier: the shared corpus sample, with the settings of
  ../shared/golden/trained/README.md. Required: at least 98% of the original's pieces at
  32k and at 8k, and bytes/token on the sample within 0.5% of the original's model (both
  tokenized by our Tokenizer).
"""

from __future__ import annotations

from typing import Dict

import pytest

from bytepiece import Model, Tokenizer, Trainer, load_model

from conftest import CORPUS_SAMPLE, DATA, DEMO_CORPUS, GOLDEN, shared_path

SIZES = (32000, 8000)
DEMO_SIZES = (8000, 2000)
DEMO_SETTINGS = dict(order=6, min_count=4, max_piece_length=36, isolate_digits=False, ensure_unicode=True)


def demo_texts():
    """Every .txt file of the demo corpus, whole, sorted by relative path: how the original was fed."""
    files = sorted(DEMO_CORPUS.rglob("*.txt"), key=lambda p: p.relative_to(DEMO_CORPUS).as_posix())
    return [p.read_text(encoding="utf-8") for p in files]


@pytest.mark.parametrize("source, workers", [("texts", 1), ("directory", 2)])
def test_demo_corpus_vocabularies_are_the_originals(source, workers):
    trainer = Trainer(vocab_size=list(DEMO_SIZES), progress=False, **DEMO_SETTINGS)
    models = trainer.train(demo_texts() if source == "texts" else DEMO_CORPUS, workers=workers)
    for size in DEMO_SIZES:
        original = load_model(DATA / "golden" / f"demo-trained.model.{size}.zip")
        ours = models[size]
        assert ours.vocab_size == original.vocab_size == size
        assert dict(zip(ours.pieces, ours.counts)) == dict(zip(original.pieces, original.counts))
        assert dict(zip(ours.pieces, ours.ids)) == dict(zip(original.pieces, original.ids))
        assert ours.special_tokens == original.special_tokens


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Dict[int, Model]:
    shared_path(CORPUS_SAMPLE)
    trainer = Trainer(order=6, vocab_size=list(SIZES), min_count=4, max_piece_length=36,
                      isolate_digits=False, ensure_unicode=True, progress=False)
    return trainer.train(CORPUS_SAMPLE, tmp_path_factory.mktemp("quality") / "sample.model", workers=2)


def bytes_per_token(model: Model) -> float:
    tok = Tokenizer(model)
    size = tokens = 0
    for path in sorted(CORPUS_SAMPLE.rglob("*.txt")):
        text = path.read_text(encoding="utf-8")
        size += len(text.encode("utf-8"))
        tokens += len(tok.encode(text))
    return size / tokens


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_same_pieces_and_compression_as_the_original(trained, size):
    reference = load_model(GOLDEN / "trained" / f"ref-sample-mc4.model.{size}")
    ours = trained[size]
    shared = set(reference.pieces) & set(ours.pieces)
    overlap = len(shared) / len(reference.pieces)
    print(f"{size}: {len(ours.pieces)} pieces, {overlap:.2%} of the original's")
    assert overlap >= 0.98
    ours_bpt, reference_bpt = bytes_per_token(ours), bytes_per_token(reference)
    print(f"{size}: bytes/token ours {ours_bpt:.4f}, original {reference_bpt:.4f}")
    assert abs(ours_bpt / reference_bpt - 1) <= 0.005
