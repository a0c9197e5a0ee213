"""Layout stage: the compiled layout — what :func:`ccm_batch.layout.load_layout` builds and compose walks.

A layout file is parsed, validated and compiled once into these objects: lengths are page units
(1/1440 in, :mod:`ccm_batch.pages`), colours ``(r, g, b)`` tuples, styles resolved to font ids, every
expression a precompiled :class:`~ccm_batch.layout.expr.Expr` or :class:`~ccm_batch.layout.expr.Template`.
Compose never looks at layout XML again; per record it only evaluates expressions and places items.

Every content node carries ``src`` (``file:line``, for messages), ``cond`` (the ``if`` attribute, an
Expr in boolean mode, or None), ``lang`` (the ``lang`` attribute: the node is used only for documents in
that language) and ``name`` (the ``id`` attribute, or the element name: what a reject names).
"""
from __future__ import annotations

import os

from typing import NamedTuple


class TextStyle(NamedTuple):
    """A resolved text style. ``leading`` is the line distance (default 1.2 × size, as XSL-FO "normal")."""
    family: str
    bold: bool
    italic: bool
    size: int
    leading: int
    color: tuple
    align: str
    indent: int
    first_indent: int
    space_before: int
    space_after: int
    keep_with_next: bool
    keep_together: bool
    widows: int
    orphans: int
    font_id: str
    hyphenate: str = "auto"      # auto (on for justified text), true, false
    typographic: bool = False    # straight quotes and apostrophes drawn as the language's typographic ones
    keep_with_previous: bool = False   # stay on the page where the previous block ends (not inherited)


class Run(NamedTuple):
    """A run of inline text in one font: ``template`` is rendered per record (``None`` = a line break)."""
    template: object
    font_id: str
    size: int
    color: tuple
    cond: object = None
    lang: str | None = None
    nobreak: bool = False        # <nobreak>: spaces and hyphens of this run never break a line


class Node:
    """Base of compiled content nodes (see the module docstring for the common fields)."""
    __slots__ = ("src", "cond", "lang", "name")
    kind = "node"

    def __init__(self, src: str, cond=None, lang=None, name: str = ""):
        self.src = src
        self.cond = cond
        self.lang = lang
        self.name = name or self.kind

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} {self.src}>"


# -- flow content -----------------------------------------------------------------------------

class Para(Node):
    """A paragraph: inline runs in a style."""
    __slots__ = ("runs", "style")
    kind = "p"


class PageBreak(Node):
    """Force a new page."""
    __slots__ = ()
    kind = "page-break"


class Space(Node):
    """Vertical space (discarded at the top of a page)."""
    __slots__ = ("height",)
    kind = "space"


class Block(Node):
    """A group of flow items with keep/space properties (``keep-together`` keeps it on one page)."""
    __slots__ = ("children", "style")
    kind = "block"


class Columns(Node):
    """Side-by-side blocks in the flow: ``cols`` is a list of :class:`SideColumn`; the group never
    splits across pages; ``gap`` between columns."""
    __slots__ = ("cols", "gap", "style")
    kind = "columns"


class SideColumn(NamedTuple):
    """One column of a :class:`Columns`: ``width`` in units (None: a share of the rest), ``valign``
    (top, middle, bottom) and its flow ``children``."""
    width: int | None
    valign: str
    children: list


class If(Node):
    """Children used when ``test`` is true."""
    __slots__ = ("test", "children")
    kind = "if"


class Choose(Node):
    """The children of the first ``when`` whose test is true, else of ``otherwise``."""
    __slots__ = ("branches", "otherwise")
    kind = "choose"


class Repeat(Node):
    """Children once per node of ``select`` (context node = the item; ``$index``, ``$count`` set)."""
    __slots__ = ("select", "sort", "descending", "children")
    kind = "repeat"


# -- graphics (fixed with x/y, or blocks in a flow) ---------------------------------------------

class Graphic(Node):
    """Common placement of graphics: ``x``/``y`` (fixed) or ``align`` and spaces (in a flow)."""
    __slots__ = ("x", "y", "align", "space_before", "space_after", "keep_with_next", "keep_with_previous")


class ImageNode(Graphic):
    """A PNG/JPEG image; ``src`` template relative to the layout file; size from the file if unset."""
    __slots__ = ("source", "base", "width", "height", "static_path", "static_size")
    kind = "image"


class RuleNode(Graphic):
    """A horizontal or vertical line."""
    __slots__ = ("length", "thickness", "direction", "color", "dash")
    kind = "rule"
    # dash: (on, off) lengths of a dashed line, or None (solid)


class BoxNode(Graphic):
    """A rectangle, filled and/or stroked."""
    __slots__ = ("width", "height", "fill", "stroke", "stroke_width")
    kind = "box"


class BarcodeNode(Graphic):
    """A bar code symbol (qr, datamatrix, code128, imb) of the rendered ``data`` template."""
    __slots__ = ("symbology", "data", "module", "height", "ecc", "human_readable", "text_font")
    kind = "barcode"


class EpcQrNode(Graphic):
    """An EPC (SEPA credit transfer) QR code built from payee, IBAN, amount and reference."""
    __slots__ = ("module", "payee", "iban", "bic", "amount", "reference", "text")
    kind = "epc-qr"


class ChartNode(Graphic):
    """A bar chart of ``value`` over the nodes of ``select``, drawn as boxes, rules and text."""
    __slots__ = ("width", "height", "select", "value", "label", "value_label", "title", "color",
                 "highlight", "highlight_last", "axis_color", "font_id", "size", "scale", "scale_min",
                 "scale_max", "gridlines", "grid_color", "axis_label", "negative_color")
    kind = "chart"


# -- fixed-only content -------------------------------------------------------------------------

class TextBox(Node):
    """A paragraph at a fixed position (``y`` is the top of its first line box)."""
    __slots__ = ("x", "y", "width", "height", "para")
    kind = "text"


class Frame(Node):
    """Flow items composed into a fixed box (one page; overflow rejects the record)."""
    __slots__ = ("x", "y", "width", "height", "children", "style")
    kind = "frame"


class AddressNode(Node):
    """The recipient address block, positioned for an envelope window and checked against a postal norm."""
    __slots__ = ("x", "y", "width", "height", "window", "norm", "reject", "select", "lines",
                 "country", "country_line", "style", "imb", "imb_above")
    kind = "address"


# -- tables -----------------------------------------------------------------------------------

class Column(NamedTuple):
    """A table column: width in units, default cell alignment."""
    width: int
    align: str | None


class Cell(Node):
    """A table cell: inline runs, alignment, span."""
    __slots__ = ("runs", "style", "colspan", "fill", "x", "width", "simple", "blocks", "valign")
    kind = "cell"
    # blocks: flow content (images, bar codes, paragraphs, blocks…) instead of inline runs, or None
    # x, width: position in the table (units); simple: (template, font id, size, colour, fast) when
    # the cell is one unconditional run (the fast path), else None; fast: node -> str when the run
    # is a plain {child} value


class Row(Node):
    """A table row template: ``height`` is the minimum content height, ``padding`` added above and below."""
    __slots__ = ("cells", "style", "fill", "height", "padding", "rule_below", "rule_above", "mixed", "plan",
                 "valigned")
    kind = "row"
    # valigned: True when a cell has valign middle/bottom (compose lowers it in the row)
    # mixed: the cells use different sizes/fonts (compose lines up their first baselines); plan: compose's
    # per-process binding plan and cell cache (None until the row is first bound)


class Table(Node):
    """A table that flows over pages, with repeated header rows (``header``: a list) and carried-forward totals."""
    __slots__ = ("columns", "width", "header", "carry_in", "carry_out", "body", "shade", "carry",
                 "carry_initial", "grid", "frame", "style", "widows", "orphans")
    kind = "table"
    # widows / orphans: minimum body rows on the table's last page / before a page break (0: no rule)


# -- pages and the layout ------------------------------------------------------------------------

class Region(NamedTuple):
    """The body (flow) region of a page template."""
    x: int
    y: int
    width: int
    height: int
    columns: int = 1
    gap: int = 0


class PageTemplate:
    """A page template: size, body region (None: no flow on this page), background and fixed content.

    ``background`` holds static items composed once per worker into one :class:`ccm_batch.pages.Form`
    (cached in ``form``), ``fixed`` the per-page items (they may use record data and ``$page``).
    ``paper``: the medium its sheets are printed on (a job ``[media]`` name; ``""`` = default stock).
    ``sparse``: its pages may be nearly empty by design (``sparse="true"``; see ``compose.fill``).
    """
    __slots__ = ("name", "width", "height", "body", "background", "fixed", "src", "form", "paper", "sparse")

    def __init__(self, name, width, height, body, background, fixed, src, paper="", sparse=False):
        self.paper = paper
        self.sparse = sparse
        self.name = name
        self.width = width
        self.height = height
        self.body = body
        self.background = background
        self.fixed = fixed
        self.src = src
        self.form = None


class PageSequence(NamedTuple):
    """Which template each page uses: ``first``, ``rest``, ``last`` (None: rest), ``only`` (a single-page
    document; None: first) and ``first_back`` (the back of the first sheet, fixed content only).

    ``choices``: ``[(test Expr, PageSequence)]`` from ``<when>`` children — the first whose test is
    true for the record replaces this sequence; ``template``: an expression evaluated before each
    page is filled (``$page`` set) naming the template of that page ('' = the sequence's choice)."""
    first: PageTemplate
    rest: PageTemplate
    last: PageTemplate | None
    only: PageTemplate | None
    first_back: PageTemplate | None
    choices: tuple = ()
    template: object = None


class Field(NamedTuple):
    """A declared field: evaluated once per document into variable ``$name``."""
    name: str
    path: object          # Expr (nodes for list, string otherwise)
    type: str
    default: str | None


class Meta(NamedTuple):
    """Expressions for the document metadata (``None`` = engine default)."""
    doc_id: object = None
    customer_id: object = None
    date: object = None
    country: object = None
    postcode: object = None
    carrier: object = None
    product: object = None
    sender: object = None
    confidentiality: object = None
    mail_separately: object = None
    inserts: object = None
    recipient_name: object = None
    index: tuple = ()     # ((name, Expr), ...)


class Layout:
    """A loaded, validated, compiled layout definition.

    Public: ``name``, ``doc_type``, ``record`` (record element name, '' if not given), ``duplex``,
    ``field_specs`` (:class:`~ccm_batch.records.validate.FieldSpec` list), ``files`` (the layout file and
    every imported fragment file), ``path``, ``channels`` (the email/SMS/portal variants by channel name),
    ``image_dirs`` (the only directories an image named by record data may come from: by default those
    of the layout's files; a job's ``[layout] image_dirs`` replaces them). The rest is compose's business.
    """

    def __init__(self, **kw):
        self.name = kw["name"]
        self.doc_type = kw["doc_type"]
        self.record = kw["record"]
        self.duplex = kw["duplex"]
        self.path = kw["path"]
        self.files = kw["files"]
        self.field_specs = kw["field_specs"]
        self.fields = kw["fields"]
        self.variables = kw["variables"]
        self.messages = kw["messages"]
        self.meta = kw["meta"]
        self.styles = kw["styles"]
        self.templates = kw["templates"]
        self.sequence = kw["sequence"]
        self.flow = kw["flow"]
        self.locale = kw["locale"]
        self.currency = kw["currency"]
        self.language = kw["language"]
        self.base_style = kw["base_style"]
        self.path_uses = ()          # names the expressions read (ccm_batch.layout.paths.PathUse)
        self.extract_names = None    # names the <extract> section declares, or None
        self.channels = kw.get("channels") or {}    # channel name -> variant (ccm_batch.layout.variants)
        self.image_dirs = tuple(kw.get("image_dirs") or
                                sorted({os.path.dirname(os.path.realpath(f)) for f in self.files}))

    def __repr__(self):
        return f"<Layout {self.name} ({self.path})>"
