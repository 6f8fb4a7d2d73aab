"""The viewer as one self-contained HTML page: no script, no network resource.

Each token is a coloured ``<span>`` whose text is the stretch of the input it came from,
so the spans of a segmentation spell the input exactly (carriage returns are written as
``&#13;``, which HTML keeps; NUL, which HTML drops, is shown as ``␀``; a newline gets a
``↵`` mark from CSS, which is not text). Hovering a token
shows its id, its piece (as the model file writes it, and its bytes in hex) and its
log-probability, from the ``data-tip`` attribute through CSS. A summary line gives
tokens, bytes per token and the pieces that split a character. With ``alpha``, sampled
segmentations are stacked under the best one, to show what subword regularisation does.

Deliberately left out: JavaScript (nothing on the page needs it) and fonts or styles from
the network (the page must open offline, as a file or an e-mail attachment).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, List, Optional

from ..encoding.random_streams import Seed
from .segments import Segmentation, segmentations

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer

_STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 1.5em auto; max-width: 64em; padding: 0 1.2em; background: #f6f8fa; }
h1 { font-size: 1.15em; margin: 0 0 .2em; }
.model { color: #57606a; font-size: .9em; margin: 0 0 1em; }
h2 { font-size: .95em; margin: 1.2em 0 .2em; }
.summary { color: #57606a; font-size: .85em; margin: 0 0 .4em; }
.tokens { font: 15px/2 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
          white-space: pre-wrap; overflow-wrap: anywhere; background: #fff;
          border: 1px solid #d0d7de; border-radius: 6px; padding: .5em .7em; }
.t { position: relative; border-radius: 3px; padding: .1em 0; }
.c0 { background: #cfe3ff; } .c1 { background: #ffe0bd; }
.c2 { background: #d2f4d0; } .c3 { background: #f8d3f0; }
.split { background: #ffb4b4; box-shadow: inset 0 -2px #cf222e; }
.added { box-shadow: inset 0 -2px #1a7f37; }
i.nl::before { content: "\\21B5"; color: #8c959f; font-style: normal; }
.t:hover { outline: 2px solid #1f2328; z-index: 2; }
.t:hover::after { content: attr(data-tip); position: absolute; left: 0; top: 2.1em; z-index: 3;
                  white-space: pre; font-size: 12px; line-height: 1.45; color: #fff;
                  background: #1f2328; padding: .35em .6em; border-radius: 5px; pointer-events: none; }
"""


def render_html(
    tok: "Tokenizer",
    text: str,
    *,
    alpha: Optional[float] = None,
    seed: Seed = None,
    samples: int = 3,
    title: str = "text",
) -> str:
    """One self-contained HTML page showing ``text``'s segmentation by ``tok`` (and, with
    ``alpha``, ``samples`` sampled ones under it).

    >>> from bytepiece.model import Model
    >>> from bytepiece.encoding.tokenizer import Tokenizer
    >>> tok = Tokenizer(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
    >>> page = render_html(tok, "abc")
    >>> page.count('class="t '), "http" in page
    (2, False)
    """
    model = tok.model
    sections = "".join(_section(view) for view in segmentations(tok, text, alpha=alpha, seed=seed, samples=samples))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>bytepiece · {escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>bytepiece · {escape(title)}</h1>\n"
        f"<p class=\"model\">vocabulary of {model.vocab_size} ids ({escape(model.origin)}), "
        f"normalization {model.normalization}. Hover a token for its id, piece and log-probability.</p>\n"
        f"{sections}</body>\n</html>\n"
    )


def _section(view: Segmentation) -> str:
    spans: List[str] = []
    for index, unit in enumerate(view.units):
        classes = ["t", f"c{index % 4}"]
        if any(t.split_character for t in unit.tokens):
            classes.append("split")
        if any(t.added for t in unit.tokens):
            classes.append("added")
        tip = "\n".join(t.describe() for t in unit.tokens)
        spans.append(f'<span class="{" ".join(classes)}" data-tip="{_attribute(tip)}">{_text(unit.text)}</span>')
    return (
        f"<section class=\"segmentation\">\n<h2>{escape(view.label)}</h2>\n"
        f"<p class=\"summary\">{escape(view.summary())}</p>\n"
        f"<div class=\"tokens\">{''.join(spans)}</div>\n</section>\n"
    )


def _text(text: str) -> str:
    # HTML turns a raw CR (and CR LF) into LF and drops NUL: keep the one, show the other.
    # Before each newline an empty <i> shows a mark (CSS content is not text of the page).
    escaped = escape(text, quote=False).replace("\r", "&#13;").replace("\x00", "\u2400")
    return escaped.replace("\n", '<i class="nl"></i>\n')


def _attribute(text: str) -> str:
    return escape(text, quote=True).replace("\n", "&#10;").replace("\r", "&#13;")
