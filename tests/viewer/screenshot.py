"""Make the viewer screenshot of the README: ``python tests/viewer/screenshot.py docs/viewer.png``.

It runs ``bytepiece show --html`` on a short text with the vendored BytePiece 0.6 model,
opens the page in headless Chromium (``chromium.py``), hovers one token so that its
tooltip shows, and saves the screenshot. Chinese needs a CJK font on the machine (Debian:
``fonts-wqy-microhei``); the tests do not, they read the text from the page.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from chromium import Page, find_chromium

REPO = Path(__file__).resolve().parents[2]
TEXT = (
    "新词发现 finds words without a dictionary.\n"
    "def encode(self, text): return self.tokenizer.encode(text)\n"
)


def main(out: str) -> None:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("needs Chromium (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        source, page_path = Path(tmp) / "example.txt", Path(tmp) / "example.html"
        source.write_text(TEXT, encoding="utf-8")
        model = REPO / "tests" / "data" / "models" / "bytepiece_80k.zip"
        subprocess.run(
            [sys.executable, "-m", "bytepiece", "show", "-m", str(model), "--alpha", "0.2", "--seed", "1",
             "--samples", "2", "--html", str(page_path), str(source)],
            check=True,
        )
        with Page(chromium, width=900, height=560) as page:
            page.open(page_path.as_uri())
            x, y = page.evaluate(
                "(() => { const r = document.querySelectorAll('.tokens > span.t')[4].getBoundingClientRect();"
                " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
            )
            page.hover(x, y)
            Path(out).write_bytes(page.screenshot())
            assert page.problems() == [], page.problems()
    try:  # a palette of 64 colours keeps the PNG small (a third of the size)
        from PIL import Image

        Image.open(out).convert("RGB").quantize(64).save(out, optimize=True)
    except ImportError:
        pass


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "viewer.png")
