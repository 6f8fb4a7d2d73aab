"""The error families: where they come from, what they carry, and that they cross process
boundaries (errors raised in a worker are pickled back to its owner)."""

from __future__ import annotations

import pickle

import pytest

import bytepiece
from bytepiece.errors import BadInputError, CorpusError, ModelFormatError, TokenFileError


@pytest.mark.parametrize("family", [ModelFormatError, CorpusError, TokenFileError])
def test_each_family_names_its_place_and_survives_pickling(family):
    error = family("malformed JSON", "corpus/a.jsonl", line=17)
    assert str(error) == "corpus/a.jsonl, line 17: malformed JSON"
    assert isinstance(error, ValueError) and isinstance(error, BadInputError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is family and str(copy) == str(error)
    assert (copy.path, copy.line, copy.offset, copy.reason) == ("corpus/a.jsonl", 17, None, "malformed JSON")
    assert getattr(bytepiece, family.__name__) is family  # exported


def test_offsets_and_errors_without_a_file():
    assert str(TokenFileError("id 300 is too large", "t/tokens.bin", offset=2)) == "t/tokens.bin, offset 2: id 300 is too large"
    assert str(ModelFormatError("duplicate piece b'a'")) == "duplicate piece b'a'"


def test_the_old_import_paths_still_work():
    from bytepiece.io.corpus import CorpusError as from_corpus
    from bytepiece.model import ModelFormatError as from_model

    assert from_model is ModelFormatError and from_corpus is CorpusError
