"""The segmentation viewer: a text's tokens shown in a terminal or on one HTML page.

``segments.py`` turns a text into what is shown (the best segmentation and, with
``alpha``, sampled ones; the tokens with their spans, ids, pieces and log-probabilities);
``terminal.py`` and ``page.py`` draw it. ``bytepiece show`` is the command line.
See ``docs/recipes/viewer.md``.
"""

from .page import render_html
from .terminal import render_terminal

__all__ = ["render_html", "render_terminal"]
