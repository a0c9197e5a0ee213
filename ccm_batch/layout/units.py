"""Layout stage: units, colours, page sizes and envelope-window presets of the layout language.

Lengths are ``<number><unit>`` with unit mm, cm, in, pt or u (page units, 1/1440 in); a bare number
is points. Colours are ``#rrggbb``, ``#rgb`` or black/white/grey/none.

Envelope windows (``<address window=…>``): the position of the address block on the page (top-left
of the block, width, height) for a sheet folded into the envelope. ``fr-dl-right`` — DL 110×220 mm,
window 45×100 mm on the right: block at 100 mm, 45 mm, 95×40 mm, the classic French layout (and the
benchmark's); ``fr-dl-left`` — 20 mm, 45 mm; ``fr-c5-right`` / ``fr-c5-left`` — C5 162×229 mm with
the sheet folded in two: 105 or 20 mm, 50 mm, 90×35 mm; ``us-10`` — US #10 envelope (4⅛×9½ in)
with a Letter sheet tri-folded: block at 1 in, 2⅛ in, 4×1⅛ in. These are defaults to check
against the envelope supplier's drawing; explicit ``x``/``y``/``width``/``height`` override them.
"""
from __future__ import annotations

import re

_UNITS = {"mm": 1440 / 25.4, "cm": 14400 / 25.4, "in": 1440.0, "pt": 20.0, "u": 1.0, "": 20.0}
_LENGTH = re.compile(r"\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(mm|cm|in|pt|u)?\s*$")
_NAMED_COLORS = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128),
                 "gray": (128, 128, 128), "none": None}
PAGE_SIZES = {"A3": (297, 420), "A4": (210, 297), "A5": (148, 210), "B5": (176, 250),
              "LETTER": (215.9, 279.4), "LEGAL": (215.9, 355.6)}
WINDOWS = {   # name: (x, y, width, height) in mm
    "fr-dl-right": (100, 45, 95, 40),
    "fr-dl-left": (20, 45, 95, 40),
    "fr-c5-right": (105, 50, 90, 35),
    "fr-c5-left": (20, 50, 90, 35),
    "us-10": (25.4, 53.975, 101.6, 28.575),
}


def parse_length(text: str) -> int:
    """``"12.5mm"`` → page units; ValueError when malformed."""
    m = _LENGTH.match(text or "")
    if not m:
        raise ValueError(f"bad length {text!r} (expected e.g. 12mm, 9pt, 1in)")
    return round(float(m.group(1)) * _UNITS[m.group(2) or ""])


def parse_color(text: str):
    """``#1f4e79`` → ``(31, 78, 121)``; ``none`` → None."""
    t = text.strip().lower()
    if t in _NAMED_COLORS:
        return _NAMED_COLORS[t]
    if len(t) == 4:
        t = "#" + "".join(c * 2 for c in t[1:])
    return (int(t[1:3], 16), int(t[3:5], 16), int(t[5:7], 16))
