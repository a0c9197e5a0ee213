"""Compose stage: tables that flow over pages — repeated header, shading, carried-forward totals.

A table is bound to the record first (every row's cells evaluated and broken into lines, so every row
knows its height), then :class:`TableBlock` places rows region by region under the flow contract of
:mod:`ccm_batch.compose.flow`:

- the ``header`` rows are drawn at the top of every segment (every page the table occupies);
- a row that does not fit moves whole to the next page; a row taller than an empty page body
  rejects the record (:class:`~ccm_batch.errors.RecordError` naming the row and page);
- with ``carry="expr"`` each repeated row contributes a value; ``$carry`` is the initial value plus
  the values of the rows **actually placed** before that point. A ``carry-out`` row ("Solde à
  reporter") closes a segment the table breaks after; a ``carry-in`` row ("Solde reporté") opens the
  next one. Space for the carry-out row is reserved on every page (its height is measured once with
  the initial value; a carry-out row whose text wraps differently per value may exceed it slightly);
  the last row of the table needs no reserve. ``$running`` in a repeated row is the cumulated value
  up to and including that row (a running balance column);
- ``shade`` fills every second repeated row (2nd, 4th…, as XSL-FO ``position() mod 2 = 0``), rows'
  and cells' own ``fill`` win; ``grid`` draws cell borders, ``frame`` a box around each segment,
  ``rule-below``/``rule-above`` a line under/over a row;
- a table with ``keep-together`` moves whole to the next page when it does not fit;
- ``widows="N"`` on the table: when it breaks, at least N rows go to the next page with the last
  ones (the totals never sit under two lonely rows); ``orphans="N"``: fewer than N rows before the
  first break and the table starts on the next page.

Row geometry follows XSL-FO as FOP applies it: a row's ``height`` is the minimum height of its
content; the ``padding`` is added above and below it; cell text starts at the top. Decision: when
the cells of a row use different sizes, the smaller texts are lowered so that the first baselines
of the row line up (a label in 7.5 pt beside a value in 9 pt reads as one line).
"""
from __future__ import annotations

import re
from typing import NamedTuple

from lxml import etree

from ..errors import RecordError
from ..layout import model as M
from ..layout.content import typographic_apostrophes
from ..layout.expr import Expr, ExprError
from ..pages import Box, Rule, Text
from . import flow as F
from .flow import SimpleLine, place_lines
from .text import SPAN_DEFAULTS, Span

_tn = tuple.__new__          # builds page items without the NamedTuple keyword machinery
_WS = re.compile(r"[ \t\r\n]+")            # data line breaks; a no-break space is kept
_Element = etree._Element
FAST_ROWS = True             # tests switch the row plans off to compare with the general path
CELL_MEMO_SIZE = 20000       # bound cells remembered per table cell (per process); an amounts column has
                             # tens of thousands of repeated values: a smaller memo loses them (bench/RESULTS.md)


class BoundCell(NamedTuple):
    """A cell with its text broken into lines: offset and width within the table; ``dy`` lowers the
    text so that the first baselines of a row line up (cells in different sizes).

    Rows read cells by position (``c[0]`` …): cells bound through a row plan are plain tuples of
    these fields (the garbage collector stops tracking them), with ``lines`` empty and ``items`` set.
    """
    x: int
    width: int
    lines: list
    leading: int
    align: str
    fill: tuple | None
    dy: int = 0
    items: tuple | None = None       # the cell's Text items relative to the row's top-left corner
                                     # (dy not included) as plain tuples; None: placed from ``lines``
    first: int | None = None         # first baseline below the top of the text (None: no text)
    depth: int = 0                   # height of the text (lines × leading)
    blocks: tuple | None = None      # flow content's page items relative to the row's top-left corner


_X, _W, _LINES, _LEAD, _ALIGN, _FILL, _DY, _ITEMS, _FIRST, _DEPTH, _BLOCKS = range(11)


class BoundRow(NamedTuple):
    """A row ready to place: total height (padding included) and what to draw."""
    cells: tuple
    height: int
    padding: int
    fill: tuple | None
    rule_above: tuple | None
    rule_below: tuple | None
    carry: float
    name: str
    src: str


def draw_row(row: BoundRow, x: int, y: int, width: int, grid) -> list:
    """Items of ``row`` with its top-left corner at (x, y)."""
    items = []
    append = items.append
    h = row.height
    cells = row.cells
    if row.fill is not None:
        append(_tn(Box, (x, y, width, h, row.fill, None, 0)))
    for c in cells:
        if c[_FILL] is not None:
            append(_tn(Box, (x + c[_X], y, c[_W], h, c[_FILL], None, 0)))
    for c in cells:
        if len(c) > _BLOCKS and c[_BLOCKS] is not None:      # flow content: translate its items
            dy = y + c[_DY]
            for it in c[_BLOCKS]:
                append(it._replace(x=it.x + x, y=it.y + dy))
            continue
        rel = c[_ITEMS]
        if rel is not None:                  # pre-placed texts: translate
            yy = y + c[_DY]
            for dx, dy, font, size, text, color, ws, kerns in rel:
                append(_tn(Text, (x + dx, yy + dy, font, size, text, color, ws, kerns)))
        elif c[_LINES]:
            items.extend(_place_cell(c, x, y, row.padding))
    if row.rule_above is not None:
        t, color = row.rule_above
        append(Rule(x, y, width, t, "h", color))
    if row.rule_below is not None:
        t, color = row.rule_below
        append(Rule(x, y + h, width, t, "h", color))
    if grid is not None:
        t, color = grid
        append(Rule(x, y + h, width, t, "h", color))
        for c in cells:
            append(Rule(x + c[_X], y, h, t, "v", color))
        append(Rule(x + width, y, h, t, "v", color))
    return items


def _place_cell(c, x: int, y: int, pad: int) -> list:
    """Items of a cell's lines in the row whose top-left corner is (x, y)."""
    cx0, cw, lines, lead, align, _, dy = c[:7]
    if len(lines) == 1 and type(lines[0]) is SimpleLine:      # inline SimpleLine.place
        ln = lines[0]
        cx = x + cx0 + pad + ln.indent
        if align in ("end", "right"):
            cx += cw - 2 * pad - ln.indent - ln.width
        elif align == "center":
            cx += (cw - 2 * pad - ln.indent - ln.width) // 2
        return [_tn(Text, (cx, y + pad + dy + (lead - ln.ascent - ln.descent) // 2 + ln.ascent, ln.font, ln.size,
                           ln.text, ln.color, 0, ln.kerns))]
    return place_lines(lines, x + cx0 + pad, y + pad + dy, cw - 2 * pad, lead, align)


class TableBlock:
    """A bound table in the flow; ``header`` its header rows (a tuple), ``pos`` the next row to place and
    ``carry`` the carried value."""

    __slots__ = ("rows", "header", "width", "grid", "frame", "name", "src", "keep_with_next", "keep_together",
                 "space_before", "space_after", "pos", "carry", "make_carry", "carry_out_h", "has_carry_in",
                 "has_carry_out", "widows", "orphans")

    def __init__(self, rows, header, width, grid, frame, name, src, style, make_carry=None, carry=0.0,
                 carry_out_h=0, has_carry_in=False, has_carry_out=False, pos=0):
        self.rows = rows
        self.header = header
        self.width = width
        self.grid = grid
        self.frame = frame
        self.name = name
        self.src = src
        self.keep_with_next = style.keep_with_next
        self.keep_together = style.keep_together
        self.space_before = 0 if pos else style.space_before
        self.space_after = style.space_after
        self.pos = pos
        self.carry = carry
        self.make_carry = make_carry          # (kind 'in'|'out', carry value, page) -> BoundRow
        self.carry_out_h = carry_out_h
        self.has_carry_in = has_carry_in
        self.has_carry_out = has_carry_out
        self.widows = 0                       # rows (set by bind_table from the table's own attributes)
        self.orphans = 0

    def _total(self) -> int:
        return sum(h.height for h in self.header) + sum(r.height for r in self.rows)

    def split(self, x, y, width, avail, at_top, ctx):
        rows = self.rows
        n = len(rows)
        pos = self.pos
        if self.keep_together and pos == 0 and not at_top and self._total() > avail:
            return None, 0, None
        carry_in = None
        if pos > 0 and self.has_carry_in:
            carry_in = self.make_carry("in", self.carry, ctx.page)
        top = sum(h.height for h in self.header) + (carry_in.height if carry_in else 0)
        reserve = self.carry_out_h if self.has_carry_out else 0
        used = top
        carry = self.carry
        k = pos
        while k < n:
            r = rows[k]
            need = r.height + (reserve if k < n - 1 else 0)
            if used + need > avail:
                break
            used += r.height
            carry = round(carry + r.carry, 9)
            k += 1
        if k < n and (self.widows or self.orphans) and k > pos:
            if n - k < self.widows:             # at least `widows` rows go on with the last ones
                k = max(pos, n - self.widows)
            if k - pos < self.orphans and not at_top and pos == 0:
                k = pos                         # too few rows before the break: start on the next page
            if k == pos and at_top:
                k = pos + 1
            used = top + sum(r.height for r in rows[pos:k])
            carry = self.carry
            for r in rows[pos:k]:
                carry = round(carry + r.carry, 9)
        if k == pos and n > 0:
            if at_top:
                r = rows[pos]
                raise RecordError(f"a row of table {self.name} ({r.src}) is taller than the page body",
                                  field=f"{r.name} ({r.src})", page=ctx.page)
            return None, 0, None
        if n == 0 and top > avail:
            return (None, 0, None) if not at_top else ([], 0, None)
        items = []
        yy = y
        tw = self.width
        grid = self.grid
        if grid is not None:
            items.append(Rule(x, y, tw, grid[0], "h", grid[1]))
        for head in self.header:
            items.extend(draw_row(head, x, yy, tw, grid))
            yy += head.height
        if carry_in is not None:
            items.extend(draw_row(carry_in, x, yy, tw, grid))
            yy += carry_in.height
        for r in rows[pos:k]:
            items.extend(draw_row(r, x, yy, tw, grid))
            yy += r.height
        rest = None
        if k < n:
            if self.has_carry_out:
                out = self.make_carry("out", carry, ctx.page)
                items.extend(draw_row(out, x, yy, tw, grid))
                yy += out.height
            rest = TableBlock(rows, self.header, tw, grid, self.frame, self.name, self.src, _rest_style(self),
                              self.make_carry, carry, self.carry_out_h, self.has_carry_in, self.has_carry_out,
                              pos=k)
            rest.widows = self.widows
        if self.frame is not None:
            t, color = self.frame
            items.append(Box(x, y, tw, yy - y, None, color, t))
        return items, yy - y, rest


class _Keep(NamedTuple):
    """The keep/space properties a table remainder inherits (no space-before, no keep-together)."""
    keep_with_next: bool
    keep_together: bool
    space_before: int
    space_after: int


def _rest_style(block) -> _Keep:
    return _Keep(block.keep_with_next, False, 0, block.space_after)


# -- binding: the record's values into bound rows ------------------------------------------------
#
# Speed (the bench invoice binds ~25 rows per document): a row whose cells are literal text, plain
# child values ``{desc}`` or templates over them and variables (``{amount} €``, ``{$ht} €``) gets a
# *plan* once per process: the child elements it reads are fetched in one pass over the context
# node, and each cell remembers the bound cell (lines, height, pre-placed items, glyph warning) per
# distinct text it has shown. Results are identical to the general path (``FAST_ROWS = False``),
# which tests compare; anything else (conditional cells, several runs, a context that is not an
# element) takes the general path.

_CONST, _FAST, _RENDER = "const", "fast", "render"


class _RowPlan(NamedTuple):
    """How a row's cells get their text: ``cells`` ((cell, kind, source, memo), ...), the child
    element ``names`` read from the context, ``pure`` when no cell needs the environment."""
    cells: tuple
    names: frozenset
    pure: bool


def row_plan(row: M.Row) -> _RowPlan | None:
    """The row's plan (built on first use; None when the row needs the general path)."""
    plan = row.plan
    if plan is None:
        plan = row.plan = _make_plan(row) or False
    return plan or None


def _make_plan(row: M.Row) -> _RowPlan | None:
    cells = []
    names: set = set()
    pure = True
    if row.valigned:
        return None
    for cell in row.cells:
        simple = cell.simple
        if cell.cond is not None or cell.lang is not None or simple is None:
            return None
        tmpl, fast = simple[0], simple[4]
        if tmpl.const is not None:
            kind, source = _CONST, tmpl.const
        elif fast is not None and tmpl.single.child is not None:
            kind, source = _FAST, tmpl.single.child
            names.add(source)
        else:
            kind, parts = _RENDER, []
            for p in tmpl.parts:
                if isinstance(p, str):
                    parts.append(p)
                elif isinstance(p, Expr) and p.child is not None:
                    parts.append((p.child,))
                    names.add(p.child)
                else:
                    parts.append(p)
                    pure = False
            source = tuple(parts)
        cells.append((cell, kind, source, {}))
    return _RowPlan(tuple(cells), frozenset(names), pure)


def bind_table(comp, t: M.Table, ctx, env) -> TableBlock:
    """Bind table ``t`` to the record: header rows, body rows (repeats, conditions), carry rows."""
    initial = 0.0
    if t.carry_initial is not None:
        initial = comp._eval(t.carry_initial, ctx, env, _where(t))
        if initial != initial:
            initial = 0.0
    header = tuple(bind_row(comp, h, t, ctx, env, None) for h in t.header
                   if (h.lang is None and h.cond is None) or comp._test(h, ctx, env))
    rows: list = []
    comp._running = initial
    bind_rows(comp, t.body, t, ctx, env, rows, False)

    def make_carry(kind, value, page, t=t, ctx=ctx, env=env):
        row = t.carry_in if kind == "in" else t.carry_out
        e = env.copy()
        e["carry"] = value
        e.update(getattr(value, "named", ()))         # $carry_NAME (ccm_batch.layout.carry)
        e["page"] = page
        return bind_row(comp, row, t, ctx, e, None)
    out_h = make_carry("out", initial, 1).height if t.carry_out is not None else 0
    block = TableBlock(rows, header, sum(c.width for c in t.columns), t.grid, t.frame, t.name, t.src,
                       t.style, make_carry if t.carry is not None else None, initial, out_h,
                       t.carry_in is not None, t.carry_out is not None)
    block.widows, block.orphans = t.widows, t.orphans
    return block


def _where(node) -> str:
    return f"{node.name} ({node.src})"


def bind_rows(comp, nodes, t: M.Table, ctx, env, out: list, in_repeat: bool) -> None:
    """Bind the body content ``nodes`` (rows, repeats, if/choose) of table ``t`` into ``out``."""
    for n in nodes:
        if (n.lang is not None or n.cond is not None) and not comp._test(n, ctx, env):
            continue
        kind = type(n)
        if kind is M.Row:
            fill = None
            carry = 0.0
            if in_repeat:
                if t.shade is not None and env.get("index", 1) % 2 == 0:
                    fill = t.shade
                if t.carry is not None:
                    carry = comp._eval(t.carry, ctx, env, _where(t))
                    if carry != carry:
                        carry = 0.0
                    comp._running = round(comp._running + carry, 9)
                    env["running"] = comp._running
            out.append(bind_row(comp, n, t, ctx, env, fill, carry))
        elif kind is M.Repeat:
            if FAST_ROWS and t.carry is None and n.sort is None and len(n.children) == 1:
                row = n.children[0]
                plan = (row_plan(row) if type(row) is M.Row and row.cond is None and row.lang is None
                        else None)
                if plan is not None and plan.pure:
                    items = comp._select(n, ctx, env)
                    if all(isinstance(item, _Element) for item in items):
                        shade = t.shade
                        for i, item in enumerate(items, 1):
                            out.append(_bind_planned(comp, row, plan, item, env,
                                                     shade if shade is not None and i % 2 == 0 else None,
                                                     0.0))
                        continue
            for item, e in comp._items(n, ctx, env):
                bind_rows(comp, n.children, t, item, e, out, True)
        elif kind is M.If:
            if comp._eval(n.test, ctx, env, _where(n)):
                bind_rows(comp, n.children, t, ctx, env, out, in_repeat)
        elif kind is M.Choose:
            bind_rows(comp, comp._choose(n, ctx, env), t, ctx, env, out, in_repeat)


def bind_row(comp, row: M.Row, t: M.Table, ctx, env, fill, carry=0.0) -> BoundRow:
    """Bind one row: every cell's text evaluated and broken into lines; the row's height."""
    if FAST_ROWS:
        plan = row_plan(row)
        if plan is not None and (not plan.names or isinstance(ctx, _Element)):
            return _bind_planned(comp, row, plan, ctx, env, fill, carry)
    pad = row.padding
    cells = []
    valigns = []
    content = 0
    cache = F._line_cache
    for cell in row.cells:
        if (cell.lang is not None or cell.cond is not None) and not comp._test(cell, ctx, env):
            continue
        valigns.append(cell.valign)
        w = cell.width
        st = cell.style
        if cell.blocks is not None:                  # images, bar codes, blocks
            res = F.fill(comp.bind_flow(cell.blocks, ctx, env, []), cell.x + pad, pad, w - 2 * pad, 1 << 40,
                         True, comp)
            if res.rest:
                comp.error(cell, "no page break inside a table cell")
            if res.used > content:
                content = res.used
            cells.append(BoundCell(cell.x, w, (), st.leading, st.align, cell.fill, 0, None, None, res.used,
                                   tuple(res.items)))
            continue
        simple = cell.simple
        if simple is not None:                       # one unconditional run
            tmpl, font, size, color, fast = simple
            text = tmpl.const
            if text is None:
                if fast is not None:
                    text = fast(ctx)
                    if not text.isascii() or "\n" in text or "\t" in text:
                        text = comp._check_text(text, cell, font)
                    text = text.strip(" ")
                else:
                    text = comp._render(tmpl, ctx, env, cell, font).strip(" ")
            if st.typographic and "'" in text:
                text = typographic_apostrophes(text)
            if not text:
                cells.append(BoundCell(cell.x, w, (), st.leading, st.align, cell.fill))
                continue
            key = (text, font, size, color, w - 2 * pad, st.first_indent, st.indent)
            lines = cache.get(key)
            if lines is None:
                lines = F.remember_lines(key, F.make_lines_uncached([Span(text, font, size, color)], w - 2 * pad,
                                                                    st.first_indent, st.indent))
        else:
            spans = comp.spans(cell.runs, ctx, env, cell)
            if st.typographic:
                spans = [sp._replace(text=typographic_apostrophes(sp.text)) for sp in spans]
            lines = F.make_lines(spans, w - 2 * pad, st.first_indent, st.indent) if spans else ()
        h = len(lines) * st.leading
        if h > content:
            content = h
        first = (st.leading - lines[0].ascent - lines[0].descent) // 2 + lines[0].ascent if lines else None
        cells.append(BoundCell(cell.x, w, lines, st.leading, st.align, cell.fill, 0, None, first, h))
    return _finish_row(row, cells, content, fill, carry, valigns)


def _bind_planned(comp, row: M.Row, plan: _RowPlan, ctx, env, fill, carry) -> BoundRow:
    """:func:`bind_row` through the row's plan (same result)."""
    pad = row.padding
    names = plan.names
    vals: dict = {}
    if names:                                 # the first child of each name, in one pass
        left = len(names)
        for child in ctx:
            tag = child.tag
            if tag in names and tag not in vals:
                vals[tag] = "".join(child.itertext()) if len(child) else (child.text or "")
                left -= 1
                if not left:
                    break
    cells = []
    content = 0
    for cell, kind, source, memo in plan.cells:
        if kind is _FAST:
            raw = vals.get(source, "")
        elif kind is _CONST:
            raw = source
        else:
            out = []
            for p in source:
                tp = type(p)
                if tp is str:
                    out.append(p)
                elif tp is tuple:
                    out.append(vals.get(p[0], ""))
                else:
                    try:
                        out.append(p.eval(ctx, env))
                    except ExprError as exc:
                        comp.error(cell, str(exc))
            raw = "".join(out)
        hit = memo.get(raw)
        if hit is None:
            hit = _bind_cell(cell, kind, raw, pad, memo)
        bound, h, warning = hit
        if warning is not None:
            comp.warn(cell, warning)
        if h > content:
            content = h
        cells.append(bound)
    return _finish_row(row, cells, content, fill, carry)


def _bind_cell(cell: M.Cell, kind: str, raw: str, pad: int, memo: dict) -> tuple:
    """(bound cell, text height, glyph warning or None) of ``cell`` showing ``raw``; remembered.

    The bound cell is a plain tuple of the :class:`BoundCell` fields with its texts pre-placed.
    """
    _, font, size, color, _ = cell.simple
    st = cell.style
    text = raw
    warning = None
    if kind is not _CONST:
        if kind is _RENDER or not text.isascii() or "\n" in text or "\t" in text:
            text, warning = F.data_text(text, font)
        text = text.strip(" ")
        if st.typographic and "'" in text:
            text = typographic_apostrophes(text)
    w = cell.width
    lead = st.leading
    if not text:
        bound = (cell.x, w, (), lead, st.align, cell.fill, 0, (), None, 0)
        h = 0
    else:
        lines = F.make_lines_uncached([_tn(Span, (text, font, size, color) + SPAN_DEFAULTS)], w - 2 * pad,
                                      st.first_indent, st.indent)
        h = len(lines) * lead
        ln = lines[0]
        first = (lead - ln.ascent - ln.descent) // 2 + ln.ascent
        if len(lines) == 1 and type(ln) is SimpleLine:
            cx = cell.x + pad + ln.indent
            if st.align in ("end", "right"):
                cx += w - 2 * pad - ln.indent - ln.width
            elif st.align == "center":
                cx += (w - 2 * pad - ln.indent - ln.width) // 2
            rel = ((cx, pad + first, ln.font, ln.size, ln.text, ln.color, 0, ln.kerns),)
        else:
            placed = place_lines(lines, cell.x + pad, pad, w - 2 * pad, lead, st.align)
            rel = tuple(tuple(it) for it in placed)
            if any(type(it) is not Text for it in placed):
                bound = BoundCell(cell.x, w, lines, lead, st.align, cell.fill, 0, None, first, h)
                rel = None                   # underlines: placed from the lines when drawn
        if rel is not None:
            bound = (cell.x, w, (), lead, st.align, cell.fill, 0, rel, first, h)
    if len(memo) >= CELL_MEMO_SIZE:
        memo.clear()
    hit = memo[raw] = (bound, h, warning)
    return hit


def _finish_row(row: M.Row, cells: list, content: int, fill, carry, valigns=()) -> BoundRow:
    if row.mixed and len(cells) > 1:        # line up the first baselines of the row
        firsts = [c[_FIRST] for c in cells]
        top = max((f for f in firsts if f is not None), default=0)
        if any(f is not None and f != top for f in firsts):
            for i, (c, f) in enumerate(zip(cells, firsts)):
                if f is not None and f != top:
                    cells[i] = c[:_DY] + (top - f,) + c[_DY + 1:]
                    h = c[_DEPTH] + top - f
                    if h > content:
                        content = h
    pad = row.padding
    height = (row.height if row.height > content else content) + 2 * pad
    if row.valigned:                        # cells with valign middle/bottom: lowered in the row
        for i, (c, valign) in enumerate(zip(cells, valigns)):
            if valign != "top":
                room = height - 2 * pad - c[_DEPTH] - c[_DY]
                dy = room // 2 if valign == "middle" else room
                if dy > 0:
                    cells[i] = c[:_DY] + (c[_DY] + dy,) + c[_DY + 1:]
    return _tn(BoundRow, (tuple(cells), height, pad, row.fill if row.fill is not None else fill,
                          row.rule_above, row.rule_below, carry, row.name, row.src))
