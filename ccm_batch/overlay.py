"""Preview stage: the designer's overlay — envelope windows, inserter clear zones and marks, collisions.

``ccm-batch preview --overlay`` draws on each composed page what the run would add or what the
envelope imposes, so that collisions are found before ``run``:

- the **envelope window** of every ``<address>`` block of the page's template (its window preset or
  x/y/width/height), as a blue frame;
- with a job whose ``[mail]`` is enabled, the **inserter control** the run prints on each sheet's
  front page: the OMR ladder (as ``run`` draws it, marks included) or the 2D control code
  (DataMatrix), and around it its **clear zone** (the marks' box widened by ``CLEAR_ZONE``), as a
  red frame;
- **collisions**: any page item (text, box, rule, image, bar code) that enters a clear zone, or
  that crosses a window's edge (part inside, part outside: an address line too long, a logo
  showing through the window), is reported as a line naming the record, page, item and zone.

Item extents are page-model geometry: text from its font's advance widths, ascent and descent.
"""
from __future__ import annotations

from typing import NamedTuple

from .pages import Barcode, Box, Glyphs, Image, Marks, Rule, Text, mm

CLEAR_ZONE = mm(3)                   # margin kept free around the OMR ladder / control code
WINDOW_COLOR = (0, 90, 200)
ZONE_COLOR = (220, 0, 0)


class Zone(NamedTuple):
    """A rectangle of the overlay: ``kind`` is ``window`` or ``clear``; ``label`` names it."""
    kind: str
    label: str
    x: int
    y: int
    width: int
    height: int


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(a, b) -> bool:
    return b[0] <= a[0] and b[1] <= a[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]


def extent(item):
    """(x, y, width, height) of a page item, or None for items without a body (marks)."""
    t = type(item)
    if t is Text:
        from .compose.flow import vmetrics
        from .compose.text import text_width
        asc, desc = vmetrics(item.font, item.size)
        w = text_width(item.text, item.font, item.size) + item.word_space * item.text.count(" ")
        return (item.x, item.y - asc, max(w, 1), asc + desc)
    if t is Glyphs:
        size = max((run[1] for run in item.runs), default=0)
        return (item.x, item.y - size, max(item.width, 1), size + size // 4)
    if t in (Box, Image, Barcode):
        return (item.x, item.y, item.width, item.height)
    if t is Rule:
        half = item.thickness // 2
        if item.direction == "v":
            return (item.x - half, item.y, item.thickness, item.length)
        return (item.x, item.y - half, item.length, item.thickness)
    return None


def _describe(item) -> str:
    t = type(item).__name__
    at = f"at ({item.x / 56.693:.1f} mm, {item.y / 56.693:.1f} mm)"
    if isinstance(item, (Text, Glyphs)):
        return f"text {item.text[:40]!r} {at}"
    return f"{t.lower()} {at}"


def window_zones(layout, template) -> list[Zone]:
    """The envelope windows of the address blocks among ``template``'s fixed items."""
    from .layout import model as M
    out = []

    def walk(nodes):
        for n in nodes:
            if isinstance(n, M.AddressNode):
                out.append(Zone("window", f"window {n.window or 'address'}", n.x, n.y, n.width, n.height))
            for attr in ("children", "otherwise"):
                kids = getattr(n, attr, None) if attr in getattr(type(n), "__slots__", ()) else None
                if kids:
                    walk(kids)
            if isinstance(n, M.Choose):
                for _, kids in n.branches:
                    walk(kids)
    walk(template.fixed)
    return out


def control_items(mail, sheet: int, sheets: int) -> tuple[list, list[Zone]]:
    """The inserter control the run would print on a sheet's front page, and its clear zone."""
    if mail is None or not mail.enabled or mail.control == "none":
        return [], []
    if mail.control == "omr":
        from .mail.control import omr_marks
        s = mail.omr
        marks = omr_marks(s, sheet, sheets, sheet, ())
        h = s.pitch * (len(s.positions) - 1) + s.thickness
        zone = Zone("clear", "OMR clear zone", s.x - CLEAR_ZONE, s.y - s.thickness // 2 - CLEAR_ZONE,
                    s.length + 2 * CLEAR_ZONE, h + 2 * CLEAR_ZONE)
        return [marks], [zone]
    from .mail.control import _symbol_size
    s = mail.datamatrix
    data = f"PREVIEW{sheet:04d}{sheets:04d}"
    w, h = _symbol_size("datamatrix", data, s.module, (22 * s.module, 22 * s.module))
    code = Barcode(s.x, s.y, w, h, "datamatrix", data, s.module)
    zone = Zone("clear", "2D code clear zone", s.x - CLEAR_ZONE, s.y - CLEAR_ZONE, w + 2 * CLEAR_ZONE,
                h + 2 * CLEAR_ZONE)
    return [code], [zone]


def overlay_document(doc, plan_templates, layout, mail, record_number: int):
    """(pages with the overlay drawn, collision lines) for one composed document.

    ``plan_templates`` gives the page template of each page (None for a blank filler back)."""
    from .compose.text import place_text
    pages, problems = [], []
    fronts = [i for i, p in enumerate(doc.pages) if p.side != "back"]
    for i, page in enumerate(doc.pages):
        tmpl = plan_templates[i] if i < len(plan_templates) else None
        zones = window_zones(layout, tmpl) if tmpl is not None else []
        extra = []
        if i in fronts:
            items, clear = control_items(mail, fronts.index(i) + 1, len(fronts))
            extra.extend(items)
            zones.extend(clear)
        body = list(page.items) + list(page.background.items if page.background is not None else ())
        for z in zones:
            rect = (z.x, z.y, z.width, z.height)
            color = WINDOW_COLOR if z.kind == "window" else ZONE_COLOR
            extra.append(Box(z.x, z.y, z.width, z.height, None, color, 8))
            extra.append(place_text(max(z.x, mm(2)), z.y - 40, z.label, "LiberationSans", 110, color))
            for item in body:
                if isinstance(item, Marks):
                    continue
                e = extent(item)
                if e is None or not _overlaps(e, rect):
                    continue
                if z.kind == "clear" or not _inside(e, rect):
                    what = "enters" if z.kind == "clear" else "crosses the edge of"
                    problems.append(f"record {record_number} page {i + 1}: {_describe(item)} {what} "
                                    f"the {z.label}")
        pages.append(page.with_items(extra))
    return doc._replace(pages=tuple(pages)), problems
