"""Quality: our trainer against vocabularies trained by the original BytePiece 0.6.3.

Same corpus (the shared sample, every *.txt file as one text) and settings as
../shared/golden/trained/README.md. Required: at least 98% of the original's pieces at
32k and at 8k, and bytes/token on the sample within 0.5% of the original's model (both
tokenized by our Tokenizer).
"""

from __future__ import annotations

from typing import Dict

import pytest

from bytepiece import Model, Tokenizer, Trainer, load_model

from conftest import CORPUS_SAMPLE, GOLDEN

SIZES = (32000, 8000)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Dict[int, Model]:
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
