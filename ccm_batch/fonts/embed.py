"""Render support: small TrueType font programs built from any registered font, for embedding.

Used where a renderer cannot copy the font's own tables: CFF-flavoured OpenType (Noto Sans CJK) in
PDF, and every font the AFP backend carries in its print-file resource group. :func:`truetype_subset`
draws the wanted glyphs through fontTools pens — cubic CFF curves converted to quadratic TrueType
curves (``cu2qu``, error ≤ 1 font unit), composite glyphs decomposed — into a new font whose glyph
order is ``.notdef`` then the glyphs in the order asked. Advance widths and side bearings are the
original ``hmtx`` values, so text measured by composition keeps its exact widths. Hinting is not
kept (print devices at 300–600 dpi render unhinted outlines well). With ``cmap=True`` the program
has a Unicode ``cmap`` (format 4, or 12 beyond the BMP): what an AFP device needs to print UTF-16
text with it. Deterministic: same font and glyphs, same bytes.
"""
from __future__ import annotations

import io
import threading
from functools import lru_cache

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

_lock = threading.Lock()


@lru_cache(maxsize=None)
def _source(font_id: str) -> TTFont:
    from . import font_index, font_path
    return TTFont(font_path(font_id), lazy=True, fontNumber=font_index(font_id))


def _glyph(font: TTFont, glyph_set, name: str, cff: bool):
    rec = DecomposingRecordingPen(glyph_set)
    glyph_set[name].draw(rec)
    pen = TTGlyphPen(None)
    rec.replay(Cu2QuPen(pen, 1.0, reverse_direction=True) if cff else pen)
    return pen.glyph()


def truetype_subset(font_id: str, gids, chars: dict | None = None) -> bytes:
    """A TrueType program holding ``.notdef`` and the glyphs ``gids`` (original glyph ids, in the
    order given; new id = position + 1). ``chars`` (code point -> original glyph id) adds a
    Unicode cmap for those characters."""
    with _lock:
        src = _source(font_id)
        order = src.getGlyphOrder()
        glyph_set = src.getGlyphSet()
        cff = "glyf" not in src
        names = [order[0]] + [order[g] for g in gids if 0 < g < len(order)]
        names = list(dict.fromkeys(names))
        hmtx = src["hmtx"]
        glyphs, metrics = {}, {}
        for name in names:
            glyph = _glyph(src, glyph_set, name, cff)
            glyphs[name] = glyph
            metrics[name] = hmtx[name]
        head, hhea = src["head"], src["hhea"]
        ps_name = (src["name"].getDebugName(6) or font_id).replace(" ", "")
        family = src["name"].getDebugName(1) or font_id
        style = src["name"].getDebugName(2) or "Regular"
        os2 = src["OS/2"] if "OS/2" in src else None
        post = src["post"]
    fb = FontBuilder(head.unitsPerEm, isTTF=True)
    fb.setupGlyphOrder(names)
    cmap = {}
    if chars:
        by_gid = {order[g]: g for g in gids if 0 < g < len(order)}
        cmap = {cp: order[g] for cp, g in chars.items() if order[g] in glyphs and order[g] in by_gid}
    fb.setupCharacterMap(cmap)
    fb.setupGlyf(glyphs)
    for name, glyph in glyphs.items():       # hmtx lsb must be the new outline's xMin
        adv, _ = metrics[name]
        metrics[name] = (adv, getattr(glyph, "xMin", 0) or 0)
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=hhea.ascent, descent=hhea.descent, lineGap=hhea.lineGap)
    fb.setupNameTable({"familyName": family, "styleName": style, "psName": ps_name})
    os2_fields = {}
    if os2 is not None:
        for key in ("usWeightClass", "usWidthClass", "fsType", "sTypoAscender", "sTypoDescender",
                    "sTypoLineGap", "usWinAscent", "usWinDescent", "sxHeight", "sCapHeight",
                    "fsSelection"):
            if hasattr(os2, key):
                os2_fields[key] = getattr(os2, key)
        os2_fields["fsType"] = 0            # embedding permitted: fonts shipped with the job
    fb.setupOS2(**os2_fields)
    fb.setupPost(italicAngle=post.italicAngle, underlinePosition=post.underlinePosition,
                 underlineThickness=post.underlineThickness, isFixedPitch=post.isFixedPitch)
    fb.font["head"].macStyle = head.macStyle
    fb.font["head"].created = fb.font["head"].modified = head.created    # no clock: deterministic
    out = io.BytesIO()
    fb.font.save(out)
    return out.getvalue()


def glyph_ids(font_id: str, chars) -> dict[int, int]:
    """Code point -> original glyph id for the ``chars`` the font has."""
    with _lock:
        src = _source(font_id)
        cmap = src.getBestCmap()
        order = {name: i for i, name in enumerate(src.getGlyphOrder())}
    return {ord(c): order[cmap[ord(c)]] for c in chars if ord(c) in cmap}
