"""Compose stage, page fill: how much of each page's body holds content — the near-empty-page check.

A print customer rejects documents whose last page holds a two-line disclaimer or only a signature
(issue 15). :func:`page_fills` composes a record and measures, for every page whose template has a
body, the share of the body's height covered by content: the union of the vertical extents of the
page's items (text from ascent to descent, rules, boxes, images, bar codes — the template's shared
background form excluded), clipped to the body. A page under :data:`SPARSE_LIMIT` (15 %) is
*near-empty* unless its template says ``sparse="true"`` (a page that is meant to hold little: a
cover, a form page); pages without a body (terms on the back of sheet 1) and duplex filler backs
are not measured.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import fonts
from ..pages import Barcode, Box, Glyphs, Image, Marks, Rule, Text
from .document import Composer

SPARSE_LIMIT = 0.15


class PageFill(NamedTuple):
    """One measured page: number (1-based), template name, covered share of the body, intended sparse."""
    page: int
    template: str
    fill: float
    intended: bool

    @property
    def near_empty(self) -> bool:
        return self.fill < SPARSE_LIMIT and not self.intended


def _extent(item) -> tuple[int, int] | None:
    """Top and bottom (page units) of an item, or None for what is not content."""
    match item:
        case Text():
            fm = fonts.get_font(item.font)
            return item.y - fm.ascent(item.size), item.y + fm.descent(item.size)
        case Glyphs():
            runs = [(fonts.get_font(font), size) for font, size, *_ in item.runs] or [(None, 0)]
            top = max((fm.ascent(size) for fm, size in runs if fm is not None), default=0)
            bottom = max((fm.descent(size) for fm, size in runs if fm is not None), default=0)
            return item.y - top, item.y + bottom
        case Rule():
            if item.direction == "v":
                return item.y, item.y + item.length
            return item.y - item.thickness // 2, item.y + (item.thickness + 1) // 2
        case Box() | Image() | Barcode():
            return item.y, item.y + item.height
        case Marks():
            return None
    return None


def covered(items, top: int, bottom: int) -> int:
    """Page units of ``[top, bottom)`` covered by the union of the items' vertical extents."""
    spans = sorted(s for s in map(_extent, items) if s is not None)
    total, end = 0, top
    for a, b in spans:
        a, b = max(a, end), min(b, bottom)
        if b > a:
            total += b - a
            end = b
    return total


def measure(document, templates) -> list[PageFill]:
    """The fill of each page of ``document`` composed with ``templates`` (one per page, in order)."""
    out = []
    for number, (page, tmpl) in enumerate(zip(document.pages, templates), 1):
        body = tmpl.body
        if body is None or page.blank:
            continue
        share = covered(page.items, body.y, body.y + body.height) / body.height
        out.append(PageFill(number, tmpl.name, round(share, 4), bool(getattr(tmpl, "sparse", False))))
    return out


def page_fills(layout, record, job: str = "check", job_date: str = "2026-11-23") -> list[PageFill]:
    """Compose ``record`` with ``layout`` and measure every page (see the module docstring)."""
    composer = Composer(layout, record, job, job_date)
    document, _ = composer.run()
    return measure(document, composer.templates_used)
