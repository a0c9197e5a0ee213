"""Compose stage: flow blocks and the region filler — the pagination contract.

A flowing block answers ``split(x, y, width, avail, at_top, ctx) -> (items, height, remainder)``:
``items`` placed at (x, y) within ``avail`` height (``None`` when nothing of it fits), the height used,
and what is left for the next region (``None`` when the block is done). Blocks are immutable; a
remainder is a new block, so the queue of blocks at the start of a page is a snapshot that can be laid
out again (used for the ``last`` page template). :func:`fill` fills one region from a queue.

Rules (after XSL-FO, as FOP applies them; decisions noted):
- Vertical space between two blocks is the larger of the first's ``space-after`` and the second's
  ``space-before`` (FO space resolution with equal precedence); space-before is discarded at the top
  of a region and space-after at its bottom.
- Paragraphs split between lines, honouring ``orphans`` (lines left at the bottom) and ``widows``
  (lines carried to the top), default 2 and 2; ``keep-together`` moves a paragraph whole. A
  paragraph continuing into a region of another width keeps its line breaks.
- ``keep-with-next``: when the next block cannot start on this page, the chain of keep-with-next
  blocks before it moves to the next page with it (unless the chain already starts the page).
- ``keep-with-previous``: when such a block cannot start on this page, the block before it gives up
  its end (its last table rows, its last lines, within its widows/orphans) to go over with it, or
  moves whole when it cannot split (with the keep-with-next chain before it: its heading) — a
  disclaimer or a signature never ends up alone on a last page.
- Anything that cannot fit an empty region (a line, a table row, an image taller than the body)
  raises :class:`~ccm_batch.errors.RecordError` naming the layout element and the page.
- A ``page-break`` at the top of a page is ignored (never an empty page). Empty paragraphs (every
  value empty) take no room.
"""
from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from .. import fonts
from ..fonts import shaping
from ..errors import RecordError
from ..pages import Text
from . import text as textmod

_tn = tuple.__new__          # page items without the NamedTuple __new__ (a Python-level function)

_vm_cache: dict = {}
_DATA_WS = re.compile(r"[ \t\r\n]+")       # data line breaks and tabs; a no-break space is kept


class GlyphWarning(str):
    """A warning about characters no font can draw: the composer rejects the record for it under
    the ``reject`` policy (the default) and only warns under ``substitute``."""


SUBSTITUTE = "?"


def describe_missing(chars: str, font_id: str) -> str:
    """'no font draws 'X' (U+0058), …' naming the font and its fallback chain."""
    refused = shaping.refusal()           # '' when complex scripts are shaped
    shaped = [ch for ch in chars if fonts.needs_shaping(ch)] if refused else []
    names = ", ".join(f"{ch!r} (U+{ord(ch):04X}{', needs shaping' if ch in shaped else ''})"
                      for ch in chars)
    chain = ", ".join(fonts.fallback_chain(font_id)) or "none"
    why = f"; shaping is {refused}" if shaped else ""
    return f"no font draws {names} (font {font_id}; fallbacks: {chain}){why}"


def glyph_check(text: str, font_id: str) -> tuple[str, "GlyphWarning | None"]:
    """``text`` with the characters no font of ``font_id``'s chain draws replaced by ``?``, and the
    warning naming them (None when every character prints)."""
    missing = fonts.uncovered(textmod._nfc(text), font_id)
    if not missing:
        return text, None
    text = textmod._nfc(text).translate({ord(ch): SUBSTITUTE for ch in missing})
    return text, GlyphWarning(describe_missing(missing, font_id) + f"; printed as {SUBSTITUTE!r}")


def data_text(text: str, font_id: str) -> tuple[str, str | None]:
    """A data value as printed and its warning: line breaks and tabs collapse to one space; the
    warning (a :class:`GlyphWarning`, None if none) names the characters that neither ``font_id``
    nor its fallback fonts can draw, which are printed as ``?``."""
    if "\n" in text or "\t" in text or "\r" in text:
        text = _DATA_WS.sub(" ", text)
    if fonts.get_font(font_id)._drawn.issuperset(text):
        return text, None
    return glyph_check(text, font_id)


def vmetrics(font_id: str, size: int) -> tuple[int, int]:
    """(ascent, descent) in page units of a font at a size (cached)."""
    key = (font_id, size)
    vm = _vm_cache.get(key)
    if vm is None:
        fm = fonts.get_font(font_id)
        vm = _vm_cache[key] = (fm.ascent(size), fm.descent(size))
    return vm


def _clear_caches() -> None:
    _line_cache.clear()


fonts.on_change(_clear_caches)


class SimpleLine(NamedTuple):
    """A one-span line that fits as is (the common case: table cells, labels): no line breaking needed.

    Same interface as :class:`ccm_batch.compose.text.Line` for placement.
    """
    text: str
    font: str
    size: int
    color: tuple
    width: int
    ascent: int
    descent: int
    kerns: tuple
    indent: int = 0

    def place(self, x: int, baseline_y: int, width: int, align: str = "start", last: bool = True) -> list:
        start = x + self.indent
        if align in ("end", "right"):
            start += width - self.indent - self.width
        elif align == "center":
            start += (width - self.indent - self.width) // 2
        return [_tn(Text, (start, baseline_y, self.font, self.size, self.text, self.color, 0, self.kerns))]


_line_cache: dict = {}
LINE_CACHE_SIZE = 8192      # then the cache starts again: half its keys are used once (bench/RESULTS.md)


def make_lines(spans: list, width: int, first_indent: int = 0, indent: int = 0, hyphenate=False) -> list:
    """Break ``spans`` (:class:`ccm_batch.compose.text.Span`) into lines of ``width`` units
    (``hyphenate``: False or a pyphen language, see :func:`ccm_batch.compose.typography.hyphenation`).

    Results are cached per process (spans and widths are immutable values; lines are immutable
    named tuples): table cells repeat the same labels and amounts over thousands of rows.
    """
    key = (tuple(spans), width, first_indent, indent, hyphenate)
    lines = _line_cache.get(key)
    if lines is None:
        lines = remember_lines(key, _make_lines(spans, width, first_indent, indent, hyphenate))
    return lines


def remember_lines(key, lines):
    """``lines`` kept in the line cache under ``key`` (the cache starts again when full); returns them."""
    if len(_line_cache) >= LINE_CACHE_SIZE:
        _line_cache.clear()
    _line_cache[key] = lines
    return lines


def make_lines_uncached(spans: list, width: int, first_indent: int = 0, indent: int = 0) -> list:
    """:func:`make_lines` without the cache (for callers that keep the result themselves)."""
    return _make_lines(spans, width, first_indent, indent)


def _make_lines(spans: list, width: int, first_indent: int = 0, indent: int = 0, hyphenate=False) -> list:
    if len(spans) == 1:
        sp = spans[0]
        t = sp.text
        fm = fonts.get_font(sp.font)
        if "\n" not in t and "\u00ad" not in t and "\u200b" not in t and fm._drawn.issuperset(t):
            if not t.isascii():
                t = unicodedata.normalize("NFC", t)
            kerns = fm.kerns(t, sp.size)
            w = fm.width(t, sp.size, False)
            for _, d in kerns:                  # = width(kern=True), one kerning pass instead of two
                w += d
            if w <= width - first_indent:
                asc, desc = vmetrics(sp.font, sp.size)
                return [_tn(SimpleLine, (t, sp.font, sp.size, sp.color, w, asc, desc, kerns, first_indent))]
    return textmod.break_lines(spans, width, first_indent=first_indent, indent=indent, hyphenate=hyphenate)


def place_lines(lines, x: int, y: int, width: int, leading: int, align: str) -> list:
    """Items of ``lines`` stacked from top ``y``, one ``leading`` each, baseline at half-leading."""
    items = []
    last = len(lines) - 1
    for i, line in enumerate(lines):
        baseline = y + (leading - line.ascent - line.descent) // 2 + line.ascent
        items.extend(line.place(x, baseline, width, align, i == last))
        y += leading
    return items


class ParaBlock:
    """A bound paragraph: spans in a style, broken into lines for the region width on first use."""

    __slots__ = ("spans", "style", "lines", "width", "name", "src", "keep_with_next", "keep_together",
                 "space_before", "space_after", "continued", "hyphenate")

    def __init__(self, spans, style, name, src, lines=None, width=None, continued=False, hyphenate=False):
        self.hyphenate = hyphenate
        self.spans = spans
        self.style = style
        self.lines = lines
        self.width = width
        self.name = name
        self.src = src
        self.keep_with_next = style.keep_with_next
        self.keep_together = style.keep_together
        self.space_before = 0 if continued else style.space_before
        self.space_after = style.space_after
        self.continued = continued

    def get_lines(self, width: int) -> list:
        if self.lines is None or self.width != width and not self.continued:
            st = self.style
            self.lines = make_lines(self.spans, width, st.first_indent, st.indent, self.hyphenate)
            self.width = width
        return self.lines

    def height(self, width: int) -> int:
        return len(self.get_lines(width)) * self.style.leading

    def split(self, x, y, width, avail, at_top, ctx):
        lines = self.get_lines(width)
        st = self.style
        lead = st.leading
        n = len(lines)
        if n * lead <= avail:
            return place_lines(lines, x, y, width, lead, st.align), n * lead, None
        fit = avail // lead if lead > 0 else n
        if self.keep_together and not at_top:
            return None, 0, None
        k = min(fit, n - st.widows)
        if k < st.orphans:
            k = 0
        if k < 1:
            if not at_top:
                return None, 0, None
            k = min(fit, n - 1)                 # an empty region: break anyway
            if k < 1:
                raise RecordError(f"a line of {self.name} ({self.src}) is taller than the page body",
                                  field=f"{self.name} ({self.src})", page=ctx.page)
        items = place_lines(lines[:k], x, y, width, lead, st.align)
        rest = ParaBlock(self.spans, st, self.name, self.src, lines[k:], self.width, continued=True,
                         hyphenate=self.hyphenate)
        return items, k * lead, rest


class SpaceBlock:
    """Vertical space: discarded at the top of a region, truncated at its bottom."""

    __slots__ = ("h", "name", "src")
    keep_with_next = False
    space_before = 0
    space_after = 0

    def __init__(self, h, name, src):
        self.h, self.name, self.src = h, name, src

    def split(self, x, y, width, avail, at_top, ctx):
        if at_top:
            return [], 0, None
        return [], min(self.h, max(avail, 0)), None


class BreakBlock:
    """A forced page break."""

    __slots__ = ("name", "src")
    keep_with_next = False
    space_before = 0
    space_after = 0

    def __init__(self, name, src):
        self.name, self.src = name, src


class GraphicBlock:
    """A fixed-size graphic (image, rule, bar code, chart) in a flow; ``draw(x, y, width)`` gives items."""

    __slots__ = ("w", "h", "draw", "align", "name", "src", "keep_with_next", "space_before", "space_after")

    def __init__(self, w, h, draw, align, name, src, keep_with_next=False, space_before=0, space_after=0):
        self.w, self.h, self.draw, self.align = w, h, draw, align
        self.name, self.src = name, src
        self.keep_with_next = keep_with_next
        self.space_before, self.space_after = space_before, space_after

    def split(self, x, y, width, avail, at_top, ctx):
        if self.h > avail:
            if at_top:
                raise RecordError(f"{self.name} ({self.src}) is taller than the page body",
                                  field=f"{self.name} ({self.src})", page=ctx.page)
            return None, 0, None
        dx = 0
        if self.align in ("end", "right"):
            dx = width - self.w
        elif self.align == "center":
            dx = (width - self.w) // 2
        return self.draw(x + dx, y, width), self.h, None


class GroupBlock:
    """A ``<block>``: children laid out together; ``keep-together`` moves the whole group."""

    __slots__ = ("children", "name", "src", "keep_with_next", "keep_together", "space_before", "space_after")

    def __init__(self, children, name, src, keep_with_next=False, keep_together=False, space_before=0,
                 space_after=0):
        self.children = children
        self.name, self.src = name, src
        self.keep_with_next, self.keep_together = keep_with_next, keep_together
        self.space_before, self.space_after = space_before, space_after

    def split(self, x, y, width, avail, at_top, ctx):
        if self.keep_together and not at_top:
            items, used, rest, _ = fill(self.children, x, y, width, 1 << 40, at_top, ctx)
            if used > avail or rest:
                return None, 0, None
            return items, used, None
        items, used, rest, forced = fill(self.children, x, y, width, avail, at_top, ctx)
        if not rest:
            return items, used, None
        if not items:
            return None, 0, None
        return items, used, GroupBlock(rest, self.name, self.src, self.keep_with_next, False, 0,
                                       self.space_after)


class SideBlock:
    """``<columns>``: flow content side by side on one band; the band never splits across pages.

    ``cols`` is ``[(width or None, valign, blocks)]``: a None width shares what the fixed widths and
    gaps leave; each column is filled like a region of unlimited height, the band is as tall as the
    tallest column and the others are aligned in it (top, middle, bottom).
    """

    __slots__ = ("cols", "gap", "name", "src", "keep_with_next", "space_before", "space_after")

    def __init__(self, cols, gap, name, src, keep_with_next=False, space_before=0, space_after=0):
        self.cols, self.gap = cols, gap
        self.name, self.src = name, src
        self.keep_with_next = keep_with_next
        self.space_before, self.space_after = space_before, space_after

    def widths(self, width: int) -> list:
        fixed = sum(w for w, _, _ in self.cols if w is not None)
        shared = [w for w, _, _ in self.cols if w is None]
        rest = width - fixed - self.gap * (len(self.cols) - 1)
        share = rest // len(shared) if shared else 0
        return [w if w is not None else share for w, _, _ in self.cols]

    def split(self, x, y, width, avail, at_top, ctx):
        widths = self.widths(width)
        if min(widths) <= 0:
            raise RecordError(f"{self.name} ({self.src}): the columns are wider than the region",
                              field=f"{self.name} ({self.src})", page=ctx.page)
        filled = []
        cx = x
        for (w, valign, blocks), cw in zip(self.cols, widths):
            res = fill(blocks, cx, y, cw, 1 << 40, True, ctx)
            if res.rest:
                raise RecordError(f"{self.name} ({self.src}): no page break inside <columns>",
                                  field=f"{self.name} ({self.src})", page=ctx.page)
            filled.append((cx, cw, valign, blocks, res))
            cx += cw + self.gap
        height = max(res.used for *_, res in filled)
        if height > avail:
            if at_top:
                raise RecordError(f"{self.name} ({self.src}) is taller than the page body",
                                  field=f"{self.name} ({self.src})", page=ctx.page)
            return None, 0, None
        items = []
        for cx, cw, valign, blocks, res in filled:
            dy = height - res.used
            if valign == "middle":
                dy //= 2
            if valign in ("middle", "bottom") and dy > 0:
                res = fill(blocks, cx, y + dy, cw, 1 << 40, True, ctx)
            items.extend(res.items)
        return items, height, None


def _give_up_tail(history, items, blocks, i, x, y0, y, width, ctx):
    """``keep-with-previous``: block ``i`` does not fit under the block placed before it, so that block
    gives up its end (table rows, paragraph lines) to go over with it — or moves whole when it cannot
    split and did not start the page. None when nothing can move (the block then goes alone)."""
    pb, n_items, y_b, pend_b, first_b = history[-1]
    gap_b = 0 if first_b else max(pend_b, pb.space_before)
    used_b = y - y_b - gap_b
    if used_b <= 0 or type(pb) in (SpaceBlock, BreakBlock):
        return None
    saved = items[n_items:]
    del items[n_items:]
    placed, h, rest = pb.split(x, y0 + y_b + gap_b, width, used_b - 1, first_b, ctx)
    if placed is not None and rest is not None:
        items.extend(placed)
        return Fill(items, y_b + gap_b + h, [rest] + list(blocks[i:]), False)
    if placed is None and not first_b:
        # it moves whole, and the keep-with-next chain before it (its heading) goes along, unless
        # that chain starts the page (moving it would leave the page empty)
        j = len(history) - 1
        while j > 0 and history[j - 1][0].keep_with_next:
            j -= 1
        if j < len(history) - 1 and not history[j][4]:
            del items[history[j][1]:]
            return Fill(items, history[j][2], [h_[0] for h_ in history[j:]] + list(blocks[i:]), False)
        return Fill(items, y_b, [pb] + list(blocks[i:]), False)
    items.extend(saved)
    return None


class Fill(NamedTuple):
    """What :func:`fill` placed: items, height used, the blocks left, and whether a page break forced the end."""
    items: list
    used: int
    rest: list
    forced: bool


def fill(blocks: list, x: int, y0: int, width: int, height: int, at_top: bool, ctx) -> Fill:
    """Fill the region (x, y0, width, height) from ``blocks`` in order; see the module rules."""
    items: list = []
    y = 0
    pending = 0
    first = at_top
    history: list = []          # (block, len(items) before, y before, pending before, first before)
    i = 0
    n = len(blocks)
    while i < n:
        b = blocks[i]
        if type(b) is BreakBlock:
            if first and at_top:
                i += 1
                continue
            return Fill(items, y, list(blocks[i + 1:]), True)
        gap = 0 if first else max(pending, b.space_before)
        avail = height - y - gap
        placed, h, rest = b.split(x, y0 + y + gap, width, avail, first, ctx)
        if placed is None and history and id(b) in getattr(ctx, "keep_with_previous", ()):
            moved = _give_up_tail(history, items, blocks, i, x, y0, y, width, ctx)
            if moved is not None:
                return moved
        if placed is None:
            # keep-with-next: move the chain of keepers before this block along with it
            j = len(history)
            while j > 0 and history[j - 1][0].keep_with_next:
                j -= 1
            if j < len(history) and not history[j][4]:
                _, n_items, y_before, _, _ = history[j]
                chain = [h_[0] for h_ in history[j:]]
                del items[n_items:]
                return Fill(items, y_before, chain + list(blocks[i:]), False)
            if first:
                raise RecordError(f"{b.name} ({b.src}) does not fit on an empty page",
                                  field=f"{b.name} ({b.src})", page=ctx.page)
            return Fill(items, y, list(blocks[i:]), False)
        history.append((b, len(items), y, pending, first))
        items.extend(placed)
        if h or placed:
            y += gap + h
            first = False
        if rest is not None:
            return Fill(items, y, [rest] + list(blocks[i + 1:]), False)
        pending = b.space_after
        i += 1
    return Fill(items, y, [], False)
