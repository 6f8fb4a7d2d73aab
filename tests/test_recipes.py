"""Every Python example in docs/recipes/ runs as written (with ../shared pointed at the
shared data), so the recipes cannot rot."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, SHARED

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
    monkeypatch.chdir(tmp_path)
    code = code.replace("../shared/", f"{SHARED.as_posix()}/")
    exec(compile(code, f"docs/recipes/{name}", "exec"), {"__name__": "__recipe__"})
