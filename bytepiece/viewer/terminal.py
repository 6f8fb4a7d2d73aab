"""The viewer in a terminal: each token on an alternating background colour.

Without colour (``NO_COLOR``, or output that is not a terminal) token boundaries are a
visible separator, ``│``, so the output stays readable in a pipe or a log. Newlines are
shown as ``↵`` before the line break, so tokens made of newlines are visible too, and
other control characters as their pictures (``␍``, ``␛``). What a token shows is its
text (default), its id, or its piece as the model file writes it.

Deliberately left out: choosing colour (``commands/show.py`` decides from ``NO_COLOR``
and the terminal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from ..encoding.random_streams import Seed
from .segments import Segmentation, Unit, segmentations

if TYPE_CHECKING:  # pragma: no cover
    from ..encoding.tokenizer import Tokenizer

SEPARATOR = "│"
NEWLINE = "↵"
# Control characters of the text are shown as their pictures (U+2400...): printed raw,
# an ESC or CR would rewrite the terminal. Tabs and newlines stay.
CONTROL_PICTURES = {code: 0x2400 + code for code in range(0x20) if code not in (0x09, 0x0A)} | {0x7F: 0x2421}
# Pale 256-colour backgrounds under black text; the last marks pieces that split a character.
_BACKGROUNDS = (153, 223, 194, 225)
_SPLIT = 210
_RESET = "\x1b[0m"
SHOW = ("text", "ids", "pieces")


def render_terminal(
    tok: "Tokenizer",
    text: str,
    *,
    show: str = "text",
    color: bool = True,
    alpha: Optional[float] = None,
    seed: Seed = None,
    samples: int = 3,
) -> str:
    """``text``'s tokens for a terminal: each segmentation under a label, then its summary.

    ``show`` is ``"text"``, ``"ids"`` or ``"pieces"``; with ``alpha``, ``samples`` sampled
    segmentations follow the best one (see ``segments.segmentations``).

    >>> from bytepiece.model import Model
    >>> from bytepiece.encoding.tokenizer import Tokenizer
    >>> tok = Tokenizer(Model.from_counts({bytes([b]): 1 for b in range(256)} | {b"ab": 9}))
    >>> print(render_terminal(tok, "abc\\n", color=False).splitlines()[1])
    ab│c│↵
    """
    if show not in SHOW:
        raise ValueError(f"show must be one of {SHOW}, got {show!r}")
    out: List[str] = []
    for view in segmentations(tok, text, alpha=alpha, seed=seed, samples=samples):
        out.append(f"── {view.label}")
        out.append(_draw(view, show, color))
        out.append(f"── {view.summary()}")
    return "\n".join(out) + "\n"


def _draw(view: Segmentation, show: str, color: bool) -> str:
    """One segmentation. Units are painted (or, without colour, followed by the
    separator); in ``ids`` / ``pieces`` a unit ending a line also ends the output line."""
    parts: List[str] = []
    for index, unit in enumerate(view.units):
        if show == "text":
            body = unit.text.translate(CONTROL_PICTURES).replace("\n", NEWLINE + "\n")
        else:
            body = " ".join(str(t.id) if show == "ids" else t.shown for t in unit.tokens)
        if color:
            split = any(t.split_character for t in unit.tokens)
            start = f"\x1b[38;5;16;48;5;{_SPLIT if split else _BACKGROUNDS[index % len(_BACKGROUNDS)]}m"
            # Painted line by line, so the colour does not run to the edge of the terminal.
            parts.append("\n".join(start + line + _RESET if line else "" for line in body.split("\n")))
        else:
            parts.append(body)
        if body.endswith("\n"):
            continue
        if unit.text.endswith("\n"):
            parts.append("\n")
        elif not color:
            parts.append(SEPARATOR)
        elif show != "text":
            parts.append(" ")
    drawn = "".join(parts)
    return drawn[:-1] if drawn.endswith("\n") else drawn
