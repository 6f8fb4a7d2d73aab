"""The segmentation viewer: the terminal drawing, and the HTML page in a real browser."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from bytepiece import Tokenizer
from bytepiece.io.model_file import escape_piece
from bytepiece.viewer import render_html, render_terminal
from bytepiece.viewer.terminal import CONTROL_PICTURES

from chromium import Page, find_chromium
from conftest import legacy_zip

MODEL = str(legacy_zip("bytepiece_80k"))
TEXT = (
    "新词发现 new-word discovery\r\n\n"
    "def tokenize(text):  # BytePiece, cafe\u0301 🙂\n"
    "\treturn [piece for piece in text.split()]\n"
    "<eos> & <b>not markup</b> \"quoted\" 'x' \u00a0\x1b end"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


PICTURES = {picture: code for code, picture in CONTROL_PICTURES.items()}


def body_of(drawn: str) -> str:
    """The drawing of the first segmentation, with control pictures turned back."""
    return drawn.split("\n", 1)[1].rsplit("\n── ", 1)[0].translate(PICTURES)


def test_terminal_without_colour_marks_every_boundary(tok80k):
    drawn = render_terminal(tok80k, TEXT, color=False)
    label, body, summary = drawn.split("\n", 1)[0], body_of(drawn), drawn.rsplit("── ", 1)[1]
    assert label == "── best segmentation (Viterbi)"
    assert "\x1b" not in drawn and "\r" not in drawn  # shown as ␛ and ␍: nothing rewrites the terminal
    # Remove the separators and newline marks: the text comes back.
    ids, spans = tok80k.encode_with_offsets(TEXT)
    units = []  # tokens whose spans overlap (pieces of one character) are one unit
    for start, end in spans:
        if units and start < units[-1][1]:
            units[-1] = (units[-1][0], max(end, units[-1][1]))
        else:
            units.append((start, end))
    units = [TEXT[start:end] for start, end in units]
    expected = "".join(unit if unit.endswith("\n") else unit + "│" for unit in units)
    assert body.replace("↵\n", "\n") == expected
    assert summary.startswith(f"{len(ids)} tokens · ")


def test_terminal_with_colour_alternates_backgrounds(tok80k):
    drawn = render_terminal(tok80k, TEXT, color=True)
    backgrounds = re.findall(r"\x1b\[38;5;16;48;5;(\d+)m", drawn)
    assert len(set(backgrounds[:4])) == 4 and all(a != b for a, b in zip(backgrounds, backgrounds[1:]) if "210" not in (a, b))
    assert ANSI.sub("", body_of(drawn)).replace("↵\n", "\n") == TEXT
    assert "210" in backgrounds  # the emoji's bytes: pieces that split a character


@pytest.mark.parametrize("show", ["ids", "pieces"])
def test_terminal_ids_and_pieces(tok80k, show):
    text = "hello world\nsecond line\n"
    drawn = render_terminal(tok80k, text, show=show, color=False)
    lines = drawn.split("\n")[1:3]
    ids = tok80k.encode(text)
    if show == "ids":
        assert [int(i) for line in lines for i in line.split("│") if i] == ids
    else:
        pieces = [escape_piece(p) for p in tok80k.tokenize(text)]
        assert [p for line in lines for p in line.split("│") if p] == pieces
        assert lines[0].endswith("\\x0a")  # a token ending a line of the text ends the output line


def test_sampled_segmentations_follow_the_best_one(tok80k):
    drawn = render_terminal(tok80k, "subword regularisation", color=False, alpha=0.5, seed=3, samples=2)
    labels = [line for line in drawn.splitlines() if line.startswith("── ") and "tokens" not in line]
    assert labels == ["── best segmentation (Viterbi)", "── sample 1 (alpha=0.5, seed=(3, 0))", "── sample 2 (alpha=0.5, seed=(3, 1))"]
    assert drawn == render_terminal(tok80k, "subword regularisation", color=False, alpha=0.5, seed=3, samples=2)
    sample = drawn.splitlines()[4]
    assert sample.replace("│", "") == "subword regularisation"
    assert sample.split("│")[:-1] == [
        tok80k.decode([i]) for i in tok80k.encode("subword regularisation", alpha=0.5, seed=(3, 0))
    ]


def test_page_is_self_contained_and_escapes_the_text(tok80k):
    page = render_html(tok80k, TEXT, alpha=0.2, seed=1, samples=2, title="<demo>")
    assert not re.search(r"(src|href)=|https?:|@import|<script", page)
    assert "<b>" not in page and "</b>" not in page and ">&lt;</span>" in page
    assert page.count('<section class="segmentation">') == 3
    assert "&#13;" in page and "<title>bytepiece · &lt;demo&gt;</title>" in page


def cli(*args: str, stdin: bytes = b"", env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bytepiece", *args], input=stdin, capture_output=True, env=env)


def test_show_in_a_pipe_and_with_no_color():
    # stdout is a pipe here: no colour unless asked; NO_COLOR beats --color auto only.
    plain = cli("show", "-m", MODEL, stdin=b"hello world\n")
    assert plain.returncode == 0, plain.stderr
    assert b"\x1b[" not in plain.stdout and "│ world│↵\n".encode() in plain.stdout
    forced = cli("show", "-m", MODEL, "--color", "always", stdin=b"hello world\n")
    assert b"\x1b[38;5;16;48;5;" in forced.stdout
    from bytepiece.commands.show import use_color

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_color("auto", Terminal()) is (not os.environ.get("NO_COLOR"))
    os.environ["NO_COLOR"] = "1"
    try:
        assert use_color("auto", Terminal()) is False and use_color("always", Terminal()) is True
    finally:
        del os.environ["NO_COLOR"]


def test_show_bad_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    out = cli("show", "-m", MODEL, str(bad))
    assert out.returncode == 2 and b"not valid UTF-8" in out.stderr and b"Traceback" not in out.stderr
    out = cli("show", "-m", MODEL, "--alpha", "-1", stdin=b"x")
    assert out.returncode == 2 and b"alpha must be" in out.stderr


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("BYTEPIECE_REQUIRE_CHROMIUM"):
            pytest.fail("BYTEPIECE_REQUIRE_CHROMIUM is set (CI) but no Chromium is installed")
        pytest.skip("needs Chromium (Debian: apt-get install chromium; .ci/run installs it)")
    return path


def test_page_in_a_headless_browser(chromium, tmp_path):
    source = tmp_path / "input.txt"
    source.write_bytes(TEXT.encode("utf-8"))
    page_path = tmp_path / "page.html"
    made = cli("show", "-m", MODEL, "--alpha", "0.3", "--seed", "1", "--samples", "2", "--html", str(page_path), str(source))
    assert made.returncode == 0, made.stderr
    tok = Tokenizer(MODEL)
    with Page(chromium, width=1000, height=760) as page:
        page.open(page_path.as_uri())
        sections = page.evaluate(
            "[...document.querySelectorAll('section.segmentation')].map(s => ({"
            " label: s.querySelector('h2').textContent,"
            " summary: s.querySelector('.summary').textContent,"
            " spans: [...s.querySelectorAll('.tokens > span.t')].map(t => t.textContent)}))"
        )
        # Hover a token: its tooltip (CSS ::after from data-tip) names id, piece and log p.
        box = page.evaluate(
            "(() => { const t = document.querySelectorAll('.tokens > span.t')[3];"
            " const r = t.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        page.hover(*box)
        tip = page.evaluate("getComputedStyle(document.querySelectorAll('.tokens > span.t')[3], '::after').content")
        shot = page.screenshot()
        problems, requested = page.problems(), page.requested_urls()
    assert problems == []
    assert requested == [page_path.as_uri()]  # nothing from the network
    assert [s["label"] for s in sections] == [
        "best segmentation (Viterbi)", "sample 1 (alpha=0.3, seed=(1, 0))", "sample 2 (alpha=0.3, seed=(1, 1))"
    ]
    for section in sections:
        assert "".join(section["spans"]) == TEXT  # the spans' text is the input, exactly
    best_ids, best_spans = tok.encode_with_offsets(TEXT)
    assert sections[0]["summary"].startswith(f"{len(best_ids)} tokens")
    assert sections[0]["spans"][3] == TEXT[best_spans[3][0] : best_spans[3][1]]
    assert f"id {best_ids[3]} · " in tip and "log p -" in tip
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "screenshot.png").write_bytes(shot)
    image = pytest.importorskip("PIL.Image").open(tmp_path / "screenshot.png").convert("RGB")
    assert image.size == (1000, 760)
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert {(0xCF, 0xE3, 0xFF), (0xFF, 0xE0, 0xBD), (0x1F, 0x23, 0x28)} <= colours  # two token colours, the tooltip
