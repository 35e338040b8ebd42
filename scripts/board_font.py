#!/usr/bin/env python3
"""Make the operator's board's CJK font subset (src/eduengine/ops/board_static/board-font.woff).

    apt-get install fonts-droid-fallback   # Droid Sans Fallback, Apache-2.0
    python3 scripts/board_font.py [path/to/DroidSansFallbackFull.ttf]

The subset holds the 3,755 common hanzi of GB 2312 level 1 (enumerated from the codec,
no list to keep), CJK and full-width punctuation, and every non-ASCII character of the
board's page (board.html), so its labels and most names of a Chinese school render
without a CJK font on the viewer's machine. Needs fontTools (the dev group pins it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "src" / "eduengine" / "ops" / "board_static"
SOURCE = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")


def level_one_hanzi() -> set[str]:
    """GB 2312 level 1: rows 0xB0 to 0xD7, cells 0xA1 to 0xFE (0xD7FA on are empty)."""
    found = set()
    for row in range(0xB0, 0xD8):
        for col in range(0xA1, 0xFF):
            try:
                found.add(bytes([row, col]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return found


def wanted() -> str:
    page = (STATIC / "board.html").read_text(encoding="utf-8")
    chars = level_one_hanzi() | {c for c in page if ord(c) > 0x7F}
    chars |= {chr(c) for c in range(0x3000, 0x3040)}  # CJK punctuation
    chars |= {chr(c) for c in range(0xFF01, 0xFF5F)}  # full-width forms
    return "".join(sorted(chars))


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    out = STATIC / "board-font.woff"
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = []
    options.hinting = False
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=wanted())
    subsetter.subset(font)
    subset.save_font(font, str(out), options)
    print(f"{out}: {out.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
