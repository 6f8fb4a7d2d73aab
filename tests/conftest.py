"""Shared fixtures: the real models, golden files and corpus sample in ../shared."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

from bytepiece import Model, Tokenizer, load_model

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BYTEPIECE_SHARED", REPO.parent / "shared"))
MODELS = SHARED / "models"
GOLDEN = SHARED / "golden"
CORPUS_SAMPLE = SHARED / "corpus" / "sample"
LEGACY_MODELS = ["bytepiece_80k", "bytepiece.zh.id.eu.80k"]


def legacy_zip(name: str) -> Path:
    return MODELS / f"{name}.zip"


@pytest.fixture(scope="session")
def legacy_json_files(tmp_path_factory) -> Dict[str, Path]:
    """The BytePiece 0.6 JSON model files, unzipped."""
    out = tmp_path_factory.mktemp("legacy")
    paths = {}
    for name in LEGACY_MODELS:
        with zipfile.ZipFile(legacy_zip(name)) as archive:
            (member,) = archive.namelist()
            archive.extract(member, out)
            paths[name] = out / member
    return paths


@pytest.fixture(scope="session")
def legacy_models() -> Dict[str, Model]:
    return {name: load_model(legacy_zip(name)) for name in LEGACY_MODELS}


@pytest.fixture(scope="session")
def legacy_tokenizers(legacy_models) -> Dict[str, Tokenizer]:
    return {name: Tokenizer(model) for name, model in legacy_models.items()}


@pytest.fixture(scope="session")
def tok80k(legacy_tokenizers) -> Tokenizer:
    return legacy_tokenizers["bytepiece_80k"]


@pytest.fixture(scope="session")
def raw_model(legacy_models) -> Model:
    """The 80k vocabulary with no normalization: every str must round-trip exactly."""
    m = legacy_models["bytepiece_80k"]
    return Model(pieces=m.pieces, counts=m.counts, ids=m.ids, special_tokens=m.special_tokens, normalization="none")


@pytest.fixture(scope="session")
def raw_tok(raw_model) -> Tokenizer:
    return Tokenizer(raw_model)


def golden_rows(name: str) -> List[dict]:
    with open(GOLDEN / f"{name}.sample.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def tiny_model(pieces: Dict[bytes, int], **settings) -> Model:
    """A model with the given multi-byte pieces and counts, plus every single byte."""
    counts = {bytes([b]): 1 for b in range(256)}
    counts.update(pieces)
    return Model.from_counts(counts, **settings)
