"""The shape of the package, checked: what a newcomer is promised in docs/architecture.md."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "bytepiece"


def test_importing_the_tokenizer_loads_no_training_module():
    code = (
        "import sys\n"
        "from bytepiece import Tokenizer\n"
        "import bytepiece.encoding.batch.encode, bytepiece.encoding.analysis, bytepiece.encoding.encode_corpus\n"
        "print(sorted(m for m in sys.modules if m.startswith('bytepiece.training')))\n"
        "from bytepiece import Trainer\n"
        "print('bytepiece.training.trainer' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.split("\n")[:2] == ["[]", "True"]


def private_reaches(root: Path) -> list:
    """``obj._name`` on anything but ``self``/``cls``, and ``from x import _name``."""
    hits = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    hits.append(f"{path.relative_to(REPO)}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("bytepiece")):
                hits += [
                    f"{path.relative_to(REPO)}:{node.lineno}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    return hits


def test_no_module_reaches_into_another_objects_private_names():
    assert private_reaches(PACKAGE) == []


def test_private_reaches_are_found(tmp_path, monkeypatch):
    # The check above must be able to fail: reaches written into a small package are reported.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text("tok._engine.automaton()\nfrom .x import _hidden\nself._fine = 1\nobj.__len__()\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert sorted(private_reaches(package)) == ["pkg/m.py:1: ._engine", "pkg/m.py:2: import _hidden"]


def test_at_most_twelve_modules_at_the_top_of_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


def test_the_pipeline_stages_are_found_by_path():
    for module in [
        "io/corpus.py", "io/model_file.py", "io/token_file.py",
        "training/ngram_counting.py", "training/ngram_segmentation.py", "training/piece_counting.py",
        "training/pruning.py", "training/packed_keys.py",
        "encoding/engine.py", "encoding/tokenizer.py", "encoding/viterbi.py", "encoding/sampling.py",
        "encoding/batch/encode.py", "encoding/batch/lattice.py",
        "model.py", "parallel.py", "py.typed",
    ]:
        assert (PACKAGE / module).is_file(), module


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def documents() -> list:
    return [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "tests" / "data").rglob("*.md"))]


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(document):
    broken = []
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)  # code blocks hold no links
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert broken == []


def test_docs_name_no_absolute_paths_of_a_machine():
    pattern = re.compile(r"(/work/|/home/|/root/|/tmp/bytepiece|/Users/)")
    found = []
    for path in documents() + sorted((REPO / "benchmarks").rglob("*")):
        if path.is_file() and path.suffix in (".md", ".py", ".sh", ".json"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:80]}")
    assert found == []


def test_mypy_is_clean():
    pytest.importorskip("mypy")  # the dev extra installs it
    # In a child process: without a cache (a fresh clone), mypy in this process left about
    # three million objects alive, and every later garbage collection of the test run
    # paid for them (a clean-clone CI run took twice as long after this test).
    command = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), "--no-error-summary", str(PACKAGE)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
