"""Shared fixtures, in two tiers.

* **In the repository** (always there): ``tests/data/`` holds one BytePiece 0.6 model
  (``bytepiece_80k``), a few hundred golden tokenizations made by the original, and the
  vocabularies the original trains on ``demo-corpus/``; see ``tests/data/README.md``.
* **The larger tier** in ``../shared`` beside the repository (or ``BYTEPIECE_SHARED``):
  the second original model, the full golden files and the corpus sample. Tests that need
  it skip with a reason naming the path when it is absent; CI has it.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

from bytepiece import Model, Tokenizer, load_model

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
DEMO_CORPUS = REPO / "demo-corpus"
SHARED = Path(os.environ.get("BYTEPIECE_SHARED", REPO.parent / "shared"))
MODELS = SHARED / "models"
GOLDEN = SHARED / "golden"
CORPUS_SAMPLE = SHARED / "corpus" / "sample"

IN_REPO_MODEL = "bytepiece_80k"  # the original's model that tests/data vendors
LEGACY_MODELS = [IN_REPO_MODEL, "bytepiece.zh.id.eu.80k"]


def shared_path(path: Path) -> Path:
    """``path`` (inside ../shared), or skip the calling test with a reason naming it."""
    if not path.exists():
        pytest.skip(f"needs {path} (the larger tier: ../shared beside the repository, or set BYTEPIECE_SHARED)")
    return path


def needs_shared(path: Path) -> pytest.MarkDecorator:
    """Mark a test (or a parameter) that needs ``path`` in ../shared."""
    return pytest.mark.skipif(not path.exists(), reason=f"needs {path} (the larger tier: ../shared beside the repository)")


def legacy_zip(name: str) -> Path:
    """The original's model ``name`` as its .zip: from tests/data when vendored, else ../shared."""
    if name == IN_REPO_MODEL:
        return DATA / "models" / f"{name}.zip"
    return shared_path(MODELS / f"{name}.zip")


def corpus_sample() -> Path:
    """The shared corpus sample (zh, en, code, multi), or skip."""
    return shared_path(CORPUS_SAMPLE)


def golden_rows(name: str) -> List[dict]:
    """Texts and the ids the original gave them: for ``bytepiece_80k`` the rows in
    tests/data (a few hundred, edge cases included), for other models the shared file."""
    path = DATA / "golden" / f"{name}.sample.jsonl" if name == IN_REPO_MODEL else shared_path(GOLDEN / f"{name}.sample.jsonl")
    return read_rows(path)


def shared_golden_rows(name: str) -> List[dict]:
    """All golden rows of ``name`` in ../shared (about 1 MB of text), or skip."""
    return read_rows(shared_path(GOLDEN / f"{name}.sample.jsonl"))


def read_rows(path: Path) -> List[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


class LazyModels:
    """``{name: value}`` built on first access; a model not on this machine skips the test."""

    def __init__(self, build) -> None:
        self._build = build
        self._cache: Dict[str, object] = {}

    def __getitem__(self, name: str):
        if name not in self._cache:
            self._cache[name] = self._build(name)
        return self._cache[name]


@pytest.fixture(scope="session")
def legacy_json_files(tmp_path_factory) -> LazyModels:
    """The BytePiece 0.6 JSON model files, unzipped."""
    out = tmp_path_factory.mktemp("legacy")

    def unzip(name: str) -> Path:
        with zipfile.ZipFile(legacy_zip(name)) as archive:
            (member,) = archive.namelist()
            archive.extract(member, out)
            return out / member

    return LazyModels(unzip)


@pytest.fixture(scope="session")
def legacy_models() -> LazyModels:
    return LazyModels(lambda name: load_model(legacy_zip(name)))


@pytest.fixture(scope="session")
def legacy_tokenizers(legacy_models) -> LazyModels:
    return LazyModels(lambda name: Tokenizer(legacy_models[name]))


@pytest.fixture(scope="session")
def tok80k(legacy_tokenizers) -> Tokenizer:
    return legacy_tokenizers[IN_REPO_MODEL]


@pytest.fixture(scope="session")
def raw_model(legacy_models) -> Model:
    """The 80k vocabulary with no normalization: every str must round-trip exactly."""
    m = legacy_models[IN_REPO_MODEL]
    return Model(pieces=m.pieces, counts=m.counts, ids=m.ids, special_tokens=m.special_tokens, normalization="none")


@pytest.fixture(scope="session")
def raw_tok(raw_model) -> Tokenizer:
    return Tokenizer(raw_model)


@pytest.fixture(scope="session")
def demo_trained() -> LazyModels:
    """4000-piece models trained by us on 600 KB of the demo corpus (zh and en), by name:
    ``"default"`` or ``"refined"`` (``refine=True``)."""
    from bytepiece import Trainer

    texts = [p.read_text(encoding="utf-8")[:150_000] for p in sorted(DEMO_CORPUS.glob("zh/*.txt"))[:2]]
    texts += [p.read_text(encoding="utf-8")[:150_000] for p in sorted(DEMO_CORPUS.glob("en/*.txt"))[:2]]

    def train(name: str) -> Tokenizer:
        trainer = Trainer(vocab_size=4000, min_count=3, progress=False, refine=name == "refined")
        (model,) = trainer.train(texts).values()
        return Tokenizer(model)

    return LazyModels(train)


def tiny_model(pieces: Dict[bytes, int], **settings) -> Model:
    """A model with the given multi-byte pieces and counts, plus every single byte."""
    counts = {bytes([b]): 1 for b in range(256)}
    counts.update(pieces)
    return Model.from_counts(counts, **settings)
