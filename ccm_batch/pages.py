"""Page model: the device-independent pages that compose produces and every renderer consumes.

Coordinates are integers in **units of 1/1440 inch** (MO:DCA "L-units" at 1440/in; 1 pt = 20 units),
origin at the top-left corner of the page, +x right, +y down. Text is positioned at the start of its
baseline. Colours are ``(r, g, b)`` tuples of 0–255. Items are immutable named tuples: cheap to build,
compare and spool (pickle). Renderers walk ``Page.items`` with a ``match`` on the item type.
"""
from __future__ import annotations

from typing import NamedTuple

UNITS_PER_INCH = 1440
UNITS_PER_PT = 20
BLACK = (0, 0, 0)


def mm(value: float) -> int:
    """Millimetres to page units (rounded)."""
    return round(value * UNITS_PER_INCH / 25.4)


def pt(value: float) -> int:
    """Points to page units (rounded)."""
    return round(value * UNITS_PER_PT)


def to_pt(units: int) -> float:
    """Page units to points."""
    return units / UNITS_PER_PT


class Text(NamedTuple):
    """A run of text in one font, size and colour, starting at baseline point (x, y).

    ``font`` is a font id from :mod:`ccm_batch.fonts` (e.g. ``"LiberationSans-Bold"``), ``size`` the
    font size in units (10 pt = 200). ``word_space`` is extra space added to every U+0020 (justified
    lines). ``kerns`` lists ``(index, delta)`` pairs: ``delta`` units added after character ``index``.
    """
    x: int
    y: int
    font: str
    size: int
    text: str
    color: tuple = BLACK
    word_space: int = 0
    kerns: tuple = ()


class Glyphs(NamedTuple):
    """Shaped text (issue 12: complex scripts, right-to-left runs) on baseline ``y`` from ``x``.

    ``runs`` are glyph runs in **visual order** (left to right), each
    ``(font, size, color, width, glyphs)``: ``glyphs`` is a tuple of ``(glyph id, advance,
    x offset, y offset)`` in the font's units (HarfBuzz's output, y offsets upward) and ``width``
    the run's advance in page units, ``round(sum(advances) * size / units_per_em)``; a run starts
    at ``x`` plus the widths of the runs before it, and ``width`` is their sum. ``text`` is the
    **logical** text the glyphs show (reading order, as in the extract). ``actual`` is what PDF
    writes as ``/ActualText`` for text extraction: extractors read a line left to right and turn
    its right-to-left runs around themselves (poppler's ``pdftotext``: letters of right-to-left
    scripts reversed, Latin letters, digits and number separators kept in place), so ``actual``
    holds ``text`` with each run of right-to-left letters pre-reversed
    (:func:`ccm_batch.compose.bidi.extraction_text`) and the extracted text is the logical one.
    Made by :mod:`ccm_batch.compose.bidi`; renderers draw the glyph ids, never map the text.
    """
    x: int
    y: int
    text: str
    runs: tuple
    width: int
    actual: str = ""


class Rule(NamedTuple):
    """An axis-aligned line from (x, y): ``length`` along ``direction`` ('h' right or 'v' down).

    ``thickness`` is centred on the line's axis.
    """
    x: int
    y: int
    length: int
    thickness: int
    direction: str = "h"
    color: tuple = BLACK


class Box(NamedTuple):
    """A rectangle with top-left (x, y); ``fill`` and/or ``stroke`` colour (None = none)."""
    x: int
    y: int
    width: int
    height: int
    fill: tuple | None = None
    stroke: tuple | None = BLACK
    stroke_width: int = 20


class Image(NamedTuple):
    """A raster image (PNG/JPEG) scaled into the box at top-left (x, y).

    ``resource`` is the absolute path of the image file: renderers load and declare it once per
    print file and refer to it from every page that shows it.
    """
    x: int
    y: int
    width: int
    height: int
    resource: str


class Barcode(NamedTuple):
    """A bar code symbol at top-left (x, y), ``module`` units per module (narrow bar / cell).

    ``symbology`` is one of ``qr``, ``datamatrix``, ``code128``, ``imb``. ``width``/``height`` give
    the symbol's bounding box as composed (quiet zones excluded). ``options`` is a tuple of
    ``(key, value)`` pairs (e.g. ``(("ecc", "M"),)``). :mod:`ccm_batch.barcodes` turns a Barcode into
    rectangles, so every backend draws the same modules.
    """
    x: int
    y: int
    width: int
    height: int
    symbology: str
    data: str
    module: int
    options: tuple = ()


class Marks(NamedTuple):
    """An OMR ladder: one horizontal mark per set bit, top mark at (x, y), marks ``pitch`` apart.

    ``bits`` is a tuple of booleans, top to bottom; ``meaning`` names each position (benchmark,
    parity, ...) for listings. Added to pages by :mod:`ccm_batch.mail`, never by composition.
    """
    x: int
    y: int
    length: int
    thickness: int
    pitch: int
    bits: tuple
    meaning: tuple = ()

    def rules(self) -> list[Rule]:
        """The ladder as rules, for backends that draw it as lines."""
        return [Rule(self.x, self.y + i * self.pitch, self.length, self.thickness)
                for i, bit in enumerate(self.bits) if bit]


Item = Text | Glyphs | Rule | Box | Image | Barcode | Marks


class Form(NamedTuple):
    """A named group of items drawn on many pages (a template background, an overlay).

    Renderers define it once per print file (PDF form XObject, AFP overlay or repeated items) and
    place it at the page origin on every page that names it.
    """
    name: str
    items: tuple


class Page(NamedTuple):
    """One side of a sheet. ``side`` is 'front' or 'back'; ``blank`` marks a filler back page.

    ``paper`` names the medium the sheet is printed on (a name of the job's ``[media]`` table, from
    the page template's ``paper`` attribute; ``""`` = the printer's default stock). A sheet has one
    medium: a back page carries its front page's. AFP selects it with an IMM (one medium map per
    medium); the media ticket beside each print file lists it for PDF printers.
    """
    width: int
    height: int
    items: tuple
    side: str = "front"
    background: Form | None = None
    blank: bool = False
    paper: str = ""

    def __repr__(self) -> str:
        # without ``paper`` when it is the default, as before the field existed: the composition
        # equivalence digests hash this repr
        text = (f"Page(width={self.width!r}, height={self.height!r}, items={self.items!r}, side={self.side!r}, "
                f"background={self.background!r}, blank={self.blank!r}")
        return text + (f", paper={self.paper!r})" if self.paper else ")")

    def with_items(self, extra) -> "Page":
        """A copy of this page with ``extra`` items drawn on top."""
        return self._replace(items=self.items + tuple(extra))


class DocumentMeta(NamedTuple):
    """What the plan, the archive indexes and the report know about a document.

    ``address`` holds the recipient's address lines as printed; ``index`` the layout's declared
    index fields as ``(name, value)`` pairs, in declaration order.
    """
    doc_id: str
    customer_id: str
    doc_type: str
    date: str
    address: tuple = ()
    postcode: str = ""
    country: str = "FR"
    language: str = "fr"
    index: tuple = ()
    duplex: bool = False
    record_number: int = 0
    carrier: str = ""
    product: str = ""
    sender: str = ""
    confidentiality: str = ""
    mail_separately: bool = False
    inserts: tuple = ()
    recipient_name: str = ""


class Document(NamedTuple):
    """One composed communication: its pages (fronts and backs, in order) and its metadata."""
    meta: DocumentMeta
    pages: tuple

    @property
    def page_count(self) -> int:
        return len(self.pages)

    @property
    def sheet_count(self) -> int:
        """Physical sheets: pages per sheet is 2 in duplex, 1 in simplex."""
        if self.meta.duplex:
            return (len(self.pages) + 1) // 2
        return len(self.pages)
