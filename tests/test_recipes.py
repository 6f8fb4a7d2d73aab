"""Every Python example in docs/recipes/ runs as written, from the repository root, so the
recipes cannot rot. Examples that use the larger tier in ../shared run when it is there."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, SHARED, shared_path

RECIPES = sorted((REPO / "docs" / "recipes").glob("*.md"))
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
SLOW = {"data-loaders.md", "export.md", "encode-corpus.md", "extend-vocabulary.md"}


def blocks():
    for recipe in RECIPES:
        for number, code in enumerate(_BLOCK.findall(recipe.read_text(encoding="utf-8")), start=1):
            marks = [pytest.mark.slow] if recipe.name in SLOW else []
            yield pytest.param(recipe.name, code, id=f"{recipe.name}#{number}", marks=marks)


def test_every_recipe_has_an_example():
    assert RECIPES and all(_BLOCK.search(r.read_text(encoding="utf-8")) for r in RECIPES)


@pytest.mark.parametrize("name, code", list(blocks()))
def test_recipe_example_runs(name, code, tmp_path, monkeypatch):
    for path in re.findall(r"\.\./shared/[^\"'\s)]+", code):
        shared_path(SHARED / path[len("../shared/") :])  # skips the example when absent
    monkeypatch.chdir(tmp_path)  # what the example writes goes here; what it reads is the repository's
    code = code.replace("../shared/", f"{SHARED.as_posix()}/")
    for folder in ("tests/data/", "demo-corpus/"):
        code = code.replace(f'"{folder}', f'"{(REPO / folder).as_posix()}/')
    exec(compile(code, f"docs/recipes/{name}", "exec"), {"__name__": "__recipe__"})
