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
- a table with ``keep-together`` moves whole to the next page when it does not fit.

Row geometry follows XSL-FO as FOP applies it: a row's ``height`` is the minimum height of its
content; the ``padding`` is added above and below it; cell text starts at the top. Decision: when
the cells of a row use different sizes, the smaller texts are lowered so that the first baselines
of the row line up (a label in 7.5 pt beside a value in 9 pt reads as one line).
"""
from __future__ import annotations

from typing import NamedTuple

from ..errors import RecordError
from ..pages import Box, Rule, Text
from .flow import SimpleLine, place_lines


class BoundCell(NamedTuple):
    """A cell with its text broken into lines: offset and width within the table; ``dy`` lowers the
    text so that the first baselines of a row line up (cells in different sizes)."""
    x: int
    width: int
    lines: list
    leading: int
    align: str
    fill: tuple | None
    dy: int = 0


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
    h = row.height
    pad = row.padding
    if row.fill is not None:
        items.append(Box(x, y, width, h, row.fill, None, 0))
    for c in row.cells:
        if c.fill is not None:
            items.append(Box(x + c.x, y, c.width, h, c.fill, None, 0))
    for c in row.cells:
        lines = c.lines
        if not lines:
            continue
        if len(lines) == 1 and type(lines[0]) is SimpleLine:      # inline SimpleLine.place
            ln = lines[0]
            lead = c.leading
            cx = x + c.x + pad + ln.indent
            if c.align in ("end", "right"):
                cx += c.width - 2 * pad - ln.indent - ln.width
            elif c.align == "center":
                cx += (c.width - 2 * pad - ln.indent - ln.width) // 2
            items.append(Text(cx, y + pad + c.dy + (lead - ln.ascent - ln.descent) // 2 + ln.ascent, ln.font,
                              ln.size, ln.text, ln.color, 0, ln.kerns))
        else:
            items.extend(place_lines(lines, x + c.x + pad, y + pad + c.dy, c.width - 2 * pad, c.leading,
                                     c.align))
    if row.rule_above is not None:
        t, color = row.rule_above
        items.append(Rule(x, y, width, t, "h", color))
    if row.rule_below is not None:
        t, color = row.rule_below
        items.append(Rule(x, y + h, width, t, "h", color))
    if grid is not None:
        t, color = grid
        items.append(Rule(x, y + h, width, t, "h", color))
        for c in row.cells:
            items.append(Rule(x + c.x, y, h, t, "v", color))
        items.append(Rule(x + width, y, h, t, "v", color))
    return items


class TableBlock:
    """A bound table in the flow; ``header`` its header rows (a tuple), ``pos`` the next row to place and
    ``carry`` the carried value."""

    __slots__ = ("rows", "header", "width", "grid", "frame", "name", "src", "keep_with_next", "keep_together",
                 "space_before", "space_after", "pos", "carry", "make_carry", "carry_out_h", "has_carry_in",
                 "has_carry_out")

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
