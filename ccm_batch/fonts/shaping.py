"""Compose support: complex-script shaping (HarfBuzz, PyPI ``uharfbuzz``) and bidi levels (PyPI ``python-bidi``).

Arabic and Hebrew (and the other scripts :func:`ccm_batch.fonts.needs_shaping` names) cannot be
drawn one glyph per character from left to right: Arabic letters join (initial, medial, final and
isolated forms, the lam-alef ligature), marks sit on their base letter, and both scripts run right
to left inside left-to-right text. Composition therefore asks this module for

* :func:`shape` — the glyphs of a run in one font, in visual order, with HarfBuzz's advances and
  offsets (font units), cached per process; :func:`advance` — the shaped width used for line
  breaking and alignment;
* :func:`levels` — the Unicode bidirectional algorithm's embedding level of every character of a
  line (paragraph direction left to right: the documents are written in left-to-right languages;
  an Arabic or Hebrew name is a right-to-left run inside them).

Why these libraries: HarfBuzz is the shaping engine of every major browser, LibreOffice and
Android; ``uharfbuzz`` is its official Python binding (maintained by the HarfBuzz authors,
wheels with HarfBuzz built in, so no system library is needed). ``python-bidi`` (≥ 0.5) wraps
the Rust ``unicode-bidi`` crate of the Servo project, which passes the Unicode conformance tests
(BidiTest.txt, BidiCharacterTest.txt); its documented ``get_display(..., debug=True)`` gives the
resolved levels, read by :func:`levels` (one per UTF-8 byte, mapped back to characters).

**Switch** (:func:`set_complex_text`): composition shapes complex scripts only when both
libraries import and the run allows it; the run turns it off for AFP output (see the README:
AFP carries no shaped text yet), and the characters are then rejected with that reason.
"""
from __future__ import annotations

import re
import threading

from .fallback import COMPLEX_RANGES

COMPLEX_RE = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in COMPLEX_RANGES) + "]")
"""Characters of scripts that need shaping or right-to-left layout (the ranges of
:func:`ccm_batch.fonts.needs_shaping`)."""

_RTL_RE = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]")

_lock = threading.RLock()
_enabled: bool | None = None          # None: not decided yet (libraries not tried)
_reason = ""
_allowed = True
_refused = ""
_hb_fonts: dict = {}
_shapes: dict = {}
SHAPE_CACHE_SIZE = 20000


def _libraries() -> str:
    """'' when uharfbuzz and python-bidi import, else what is missing."""
    global _enabled, _reason
    if _enabled is None:
        missing = []
        try:
            import uharfbuzz  # noqa: F401
        except ImportError:
            missing.append("uharfbuzz")
        try:
            import bidi  # noqa: F401
            from bidi import get_display  # noqa: F401
        except ImportError:
            missing.append("python-bidi")
        _enabled = not missing
        _reason = ("unavailable: the Python packages " + " and ".join(missing)
                   + " are not installed") if missing else ""
    return _reason


def set_complex_text(allowed: bool, reason: str = "") -> None:
    """Allow (default) or refuse complex-script text; ``reason`` says why it is refused (it ends
    up in the rejects file next to the code point, e.g. "not supported in AFP output")."""
    global _allowed, _refused
    with _lock:
        _allowed, _refused = bool(allowed), reason
    from .fallback import _changed
    _changed()


def complex_text() -> bool:
    """True when complex-script text is shaped (libraries present and the run allows it)."""
    return _allowed and not _libraries()


def refusal() -> str:
    """Why complex-script characters are refused ('' when they are shaped): completes "shaping
    is …" in the reject reason."""
    missing = _libraries()
    if missing:
        return missing
    if not _allowed:
        return _refused or "turned off"
    return ""


def shapes(text: str) -> bool:
    """True if composition shapes ``text``: it holds complex-script text and :func:`complex_text`
    is on (the hook :mod:`ccm_batch.compose.text` tests; False at C speed for ASCII)."""
    return not text.isascii() and COMPLEX_RE.search(text) is not None and complex_text()


def is_complex(text: str) -> bool:
    """True if ``text`` holds a character that needs shaping or right-to-left layout."""
    return not text.isascii() and COMPLEX_RE.search(text) is not None


def is_rtl(text: str) -> bool:
    """True if ``text`` holds a right-to-left letter (Hebrew, Arabic, Syriac, Thaana, N'Ko…)."""
    return not text.isascii() and _RTL_RE.search(text) is not None


# -- shaping -----------------------------------------------------------------------------------

def _hb_font(font_id: str):
    font = _hb_fonts.get(font_id)
    if font is None:
        import uharfbuzz as hb
        from . import font_index, font_path
        with _lock:
            face = hb.Face(hb.Blob.from_file_path(font_path(font_id)), font_index(font_id))
            font = _hb_fonts[font_id] = hb.Font(face)     # scale = units per em: font units
    return font


def shape(text: str, font_id: str, rtl: bool) -> tuple:
    """The glyphs of ``text`` in ``font_id``: ``((glyph id, cluster, advance, x offset, y offset),
    ...)`` in visual order (left to right), font units; ``cluster`` is the index in ``text`` of the
    first character the glyph shows. ``rtl`` sets the run's direction (HarfBuzz then mirrors
    brackets and orders the glyphs right to left). Kerning, ligatures and mark positioning are the
    font's defaults for the script."""
    key = (text, font_id, rtl)
    got = _shapes.get(key)
    if got is not None:
        return got
    import uharfbuzz as hb
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    buf.direction = "rtl" if rtl else "ltr"
    hb.shape(_hb_font(font_id), buf, {})
    got = tuple((info.codepoint, info.cluster, pos.x_advance, pos.x_offset, pos.y_offset)
                for info, pos in zip(buf.glyph_infos, buf.glyph_positions))
    if len(_shapes) >= SHAPE_CACHE_SIZE:
        _shapes.clear()
    _shapes[key] = got
    return got


def advance(text: str, font_id: str) -> int:
    """Shaped advance of ``text`` in font units (the direction from its letters)."""
    return sum(g[2] for g in shape(text, font_id, is_rtl(text)))


def notdef(glyphs) -> bool:
    """True if a shaped run shows ``.notdef`` (glyph 0)."""
    return any(g[0] == 0 for g in glyphs)


# -- bidi --------------------------------------------------------------------------------------

_LEVELS = re.compile(r"levels:\s*\[(.*?)\]\s*,\s*paragraphs", re.S)
_LEVEL = re.compile(r"Level\(\s*(\d+)")
_level_cache: dict = {}


def levels(text: str) -> list[int]:
    """Resolved bidi embedding level of each character of the one-line ``text`` (paragraph level
    0, left to right): even = left to right, odd = right to left (rules W1–I2 of UAX #9)."""
    got = _level_cache.get(text)
    if got is not None:
        return got
    if not is_rtl(text):
        return [0] * len(text)
    from bidi import get_display
    info = get_display(text, base_dir="L", debug=True)
    m = _LEVELS.search(info if isinstance(info, str) else str(info))
    per_byte = [int(v) for v in _LEVEL.findall(m.group(1))] if m else []
    data = text.encode("utf-8")
    if len(per_byte) != len(data):
        raise RuntimeError(f"python-bidi gave {len(per_byte)} levels for {len(data)} bytes; "
                           f"unsupported python-bidi version?")
    out, at = [], 0
    for ch in text:
        out.append(per_byte[at])
        at += len(ch.encode("utf-8"))
    if len(_level_cache) > 20000:
        _level_cache.clear()
    _level_cache[text] = out
    return out
