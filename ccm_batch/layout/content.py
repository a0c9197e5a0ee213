"""Layout stage: compile layout content — flow items, fixed items, tables, graphics — into the model.

:class:`ContentCompiler` is the part of the loader (:mod:`ccm_batch.layout.loader`) that turns content
elements into :mod:`ccm_batch.layout.model` nodes: it checks where each element may appear (flow or
fixed content, background), compiles expressions in the scope of the place they appear (``$page`` only
on page templates, ``$carry`` only in carried-forward rows, ``$index``/``$count``/``$item`` inside
repeats), resolves styles
and fonts, expands ``<use fragment>`` in the user's scope, and reads image sizes. Errors go through the
loader's ``fail`` (``file:line: message``).

Whitespace in text is collapsed (XML indentation never shows); ``<br/>`` breaks a line. Only XML
white space (space, tab, CR, LF) is collapsed and trimmed: a no-break space (U+00A0, ``&#160;``) or a
narrow no-break space (U+202F) typed in a layout is kept as written, in text and inside ``{…}`` holes.
"""
from __future__ import annotations

import os
import re

from . import model as M
from .carry import CarrySet
from .expr import Template
from .units import WINDOWS, parse_color, parse_length

_XML_WS = " \t\r\n"                        # XML white space; never U+00A0 / U+202F
_WS = re.compile(r"[ \t\r\n]+")
_ALIGN = {"left": "start", "right": "end"}
# set by compose for each item of a repeat (and of a chart): ``$index`` is the item's 1-based position
# in the iteration order — after ``sort`` — and ``$item`` the item itself (a one-node set), so a
# predicate can reach it: ``$acts[@beneficiary = $item/@id]`` (``current()`` is not XPath 1.0 in lxml)
REPEAT_VARS = frozenset({"index", "count", "item"})


def _fonts():
    from .. import fonts
    return fonts


class ContentCompiler:
    """Mixin of the loader: needs ``fail``, ``where``, ``style``, ``expr``, ``template``, ``length``,
    ``color``, ``common``, ``fragments``, ``style_defs``, ``base_style``, ``using`` and ``_file_of``."""

    # -- content ---------------------------------------------------------------------------------
    def content(self, el, style, scope, ctx, static=False) -> list:
        return self.content_list(list(el), style, scope, ctx, static)

    def content_list(self, children, style, scope, ctx, static=False) -> list:
        out = []
        for child in children:
            if not isinstance(child.tag, str):
                continue
            node = self.node(child, style, scope, ctx, static)
            if node is None:
                continue
            if isinstance(node, list):
                out.extend(node)
            else:
                out.append(node)
        return out

    def node(self, el, style, scope, ctx, static):
        tag = el.tag
        if static and (el.get("if") is not None or el.get("lang") is not None):
            attr = "if" if el.get("if") is not None else "lang"
            self.fail(el, f"background content is drawn once for every document: no '{attr}' here")
        if tag == "use":
            return self._use(el, style, scope, ctx, static)
        if tag == "if":
            node = self.common(M.If, el, scope)
            node.test = self.expr(el, el.get("test"), scope, "boolean", "test")
            node.children = self.content(el, style, scope, ctx, static)
            return node
        if tag == "choose":
            node = self.common(M.Choose, el, scope)
            node.branches = [(self.expr(w, w.get("test"), scope, "boolean", "test"),
                              self.content(w, style, scope, ctx, static)) for w in el.findall("when")]
            other = el.find("otherwise")
            node.otherwise = self.content(other, style, scope, ctx, static) if other is not None else []
            return node
        if tag == "repeat":
            if static:
                self.fail(el, "no <repeat> in a background")
            node = self.common(M.Repeat, el, scope)
            node.select = self.expr(el, el.get("select"), scope, "nodes", "select")
            node.sort = self._opt_expr(el, "sort", scope | REPEAT_VARS, "string")
            node.descending = el.get("order") == "descending"
            node.children = self.content(el, style, scope | REPEAT_VARS, ctx, static)
            return node
        if tag in ("p", "page-break", "space", "block", "table", "columns"):
            if ctx != "flow":
                self.fail(el, f"<{tag}> belongs in a <flow>, a <frame> or a <block>, not among fixed items")
            return getattr(self, "_" + tag.replace("-", "_"))(el, style, scope)
        if tag in ("text", "frame", "address"):
            if ctx != "fixed":
                self.fail(el, f"<{tag}> is positioned with x/y: it belongs in a page template or a frame's page")
            return getattr(self, "_" + tag)(el, style, scope, static)
        if tag in ("image", "rule", "box", "barcode", "epc-qr", "chart"):
            node = getattr(self, "_" + tag.replace("-", "_"))(el, style, scope, static)
            if ctx == "fixed" and (node.x is None or node.y is None):
                self.fail(el, f"<{tag}> among fixed items needs x and y")
            return node
        self.fail(el, f"unexpected <{tag}> here")

    def _use(self, el, style, scope, ctx, static):
        name = el.get("fragment")
        frag = self.fragments.get(name)
        if frag is None:
            known = ", ".join(sorted(self.fragments)) or "none imported"
            self.fail(el, f"unknown fragment {name!r} (known: {known})")
        if name in self.using:
            self.fail(el, f"fragment {name!r} uses itself ({' → '.join(self.using + [name])})")
        self.using.append(name)
        try:
            children = self.content(frag, style, scope, ctx, static)
        finally:
            self.using.pop()
        if el.get("if") is None and el.get("lang") is None:
            return children
        node = self.common(M.If, el, scope)
        node.test = None
        node.children = children
        return node

    # flow items
    def _p(self, el, style, scope):
        node = self.common(M.Para, el, scope)
        node.style = self.style(el, style)
        node.runs = self.runs(el, node.style, scope)
        return node

    def _page_break(self, el, style, scope):
        return self.common(M.PageBreak, el, scope)

    def _space(self, el, style, scope):
        node = self.common(M.Space, el, scope)
        node.height = self.length(el, "height")
        return node

    def _block(self, el, style, scope):
        node = self.common(M.Block, el, scope)
        node.style = self.style(el, style)
        node.children = self.content(el, node.style, scope, "flow")
        return node

    def _columns(self, el, style, scope):
        node = self.common(M.Columns, el, scope)
        node.style = self.style(el, style)
        node.gap = self.length(el, "gap", 0)
        valign = el.get("valign", "top")
        cols = []
        for c in el.findall("column"):
            width = None if c.get("width", "*") == "*" else self.length(c, "width")
            cst = self.style(c, node.style)
            cols.append(M.SideColumn(width, c.get("valign", valign), self.content(c, cst, scope, "flow")))
        if not cols:
            self.fail(el, "<columns> needs at least one <column>")
        node.cols = cols
        return node

    def runs(self, el, style, scope) -> tuple:
        """The inline runs of a mixed-content element (whitespace collapsed, ends trimmed)."""
        out = []
        self._inline(el, style.font_id, style, scope, out, None, None)
        _trim(out, 0, _lstrip_xml)
        _trim(out, -1, _rstrip_xml)
        if style.typographic:               # the layout's own apostrophes, in every language (cells too)
            out = [r._replace(template=_typographic_template(r.template)) if r.template is not None else r
                   for r in out]
        return tuple(r for r in out if r.template is None or r.template.parts)

    def _inline(self, el, font_id, style, scope, out, cond, lang, nobreak=False):
        def text(s):
            if s:
                s = _WS.sub(" ", s)
                out.append(M.Run(self.template(el, s, scope), font_id, style.size, style.color, cond, lang,
                                 nobreak))
        text(el.text)
        for child in el:
            if not isinstance(child.tag, str):
                text(child.tail)
                continue
            tag = child.tag
            if tag == "br":
                out.append(M.Run(None, font_id, style.size, style.color, cond, lang))
            elif tag in ("b", "i", "span", "nobreak"):
                st = style
                if tag == "b":
                    st = style._replace(bold=True)
                elif tag == "i":
                    st = style._replace(italic=True)
                else:
                    st = self.style(child, style)
                try:
                    fid = _fonts().resolve(st.family, st.bold, st.italic)
                except KeyError as exc:
                    self.fail(child, str(exc.args[0]))
                st = st._replace(font_id=fid)
                c_cond = self._opt_expr(child, "if", scope, "boolean") if tag == "span" else None
                c_lang = child.get("lang") if tag == "span" else None
                c_nobreak = nobreak or tag == "nobreak" or child.get("nobreak") == "true"
                self._inline(child, fid, st, scope, out, c_cond or cond, c_lang or lang, c_nobreak)
            else:
                self.fail(child, f"<{tag}> is not inline content (b, i, span, nobreak, br)")
            text(child.tail)

    # graphics
    def _graphic(self, cls, el, scope):
        node = self.common(cls, el, scope)
        node.x = self.length(el, "x")
        node.y = self.length(el, "y")
        node.align = _ALIGN.get(el.get("align", "start"), el.get("align", "start"))
        node.space_before = self.length(el, "space-before", 0)
        node.space_after = self.length(el, "space-after", 0)
        node.keep_with_next = el.get("keep-with-next") == "true"
        node.keep_with_previous = el.get("keep-with-previous") == "true"
        return node

    def _image(self, el, style, scope, static):
        node = self._graphic(M.ImageNode, el, scope)
        base = os.path.dirname(self._file_of(el))
        node.base = base
        node.source = self.template(el, el.get("src"), scope, "src")
        node.width = self.length(el, "width")
        node.height = self.length(el, "height")
        node.static_path = None
        node.static_size = None
        if node.source.const is not None:
            path = os.path.normpath(os.path.join(base, node.source.const))
            if not os.path.isfile(path):
                self.fail(el, f"image {node.source.const!r} not found ({path})")
            node.static_path = path
            try:
                node.static_size = image_size(path)
            except ValueError as exc:
                self.fail(el, str(exc))
        elif static:
            self.fail(el, "a background image needs a constant src")
        if node.source.const is None and (node.width is None or node.height is None):
            self.fail(el, "an image whose src depends on data needs width and height")
        return node

    def _rule(self, el, style, scope, static):
        node = self._graphic(M.RuleNode, el, scope)
        node.length = self.length(el, "length")
        node.thickness = self.length(el, "thickness", 10)
        node.direction = el.get("direction", "h")
        node.color = self.color(el, "color", (0, 0, 0))
        node.dash = None
        if el.get("dash") is not None:
            parts = el.get("dash").split()
            try:
                on = parse_length(parts[0])
                off = parse_length(parts[1]) if len(parts) > 1 else on
            except (ValueError, IndexError):
                self.fail(el, f"dash: expected 'ON [OFF]' lengths, got {el.get('dash')!r}")
            if on <= 0 or off < 0:
                self.fail(el, "dash: the lengths must be positive")
            node.dash = (on, off)
        return node

    def _box(self, el, style, scope, static):
        node = self._graphic(M.BoxNode, el, scope)
        node.width = self.length(el, "width")
        node.height = self.length(el, "height")
        node.fill = self.color(el, "fill", None)
        node.stroke = self.color(el, "stroke", (0, 0, 0) if el.get("fill") is None else None)
        node.stroke_width = self.length(el, "stroke-width", 10)
        return node

    def _barcode(self, el, style, scope, static):
        node = self._graphic(M.BarcodeNode, el, scope)
        node.symbology = el.get("type")
        node.data = self.template(el, el.get("data"), scope, "data")
        default_module = {"qr": 20, "datamatrix": 20, "code128": 14, "imb": 0}[node.symbology]
        node.module = self.length(el, "module", default_module)
        node.height = self.length(el, "height")
        node.ecc = el.get("ecc", "M")
        node.human_readable = el.get("human-readable") == "true"
        node.text_font = style
        if static and node.data.const is None:
            self.fail(el, "a background bar code needs constant data")
        return node

    def _epc_qr(self, el, style, scope, static):
        node = self._graphic(M.EpcQrNode, el, scope)
        node.module = self.length(el, "module", 20)
        node.payee = self.template(el, el.get("name"), scope, "name")
        node.iban = self.template(el, el.get("iban"), scope, "iban")
        node.bic = self._opt_template(el, "bic", scope)
        node.amount = self._opt_expr(el, "amount", scope, "string")
        node.reference = self._opt_template(el, "reference", scope)
        node.text = self._opt_template(el, "text", scope)
        return node

    def _chart(self, el, style, scope, static):
        node = self._graphic(M.ChartNode, el, scope)
        item_scope = scope | REPEAT_VARS | {"max", "value"}
        node.width = self.length(el, "width")
        node.height = self.length(el, "height")
        node.select = self.expr(el, el.get("select"), scope, "nodes", "select")
        node.value = self.expr(el, el.get("value"), scope | REPEAT_VARS, "number", "value")
        node.label = self._opt_template(el, "label", item_scope)
        node.value_label = self._opt_template(el, "value-label", item_scope)
        node.title = self._opt_template(el, "title", scope)
        node.color = self.color(el, "color", (31, 78, 121))
        node.highlight = self.color(el, "highlight", None)
        node.highlight_last = el.get("highlight-last") == "true"
        node.axis_color = self.color(el, "axis-color", (90, 90, 90))
        st = self.style(el, style)
        node.font_id = st.font_id
        node.size = self.length(el, "size", 140)
        node.scale = el.get("scale")
        node.scale_min = self._opt_expr(el, "scale-min", scope, "number")
        node.scale_max = self._opt_expr(el, "scale-max", scope, "number")
        node.gridlines = int(el.get("gridlines", "0"))
        node.grid_color = self.color(el, "grid-color", (200, 200, 200))
        node.axis_label = self._opt_template(el, "axis-label", scope | {"value"})
        node.negative_color = self.color(el, "negative-color", None)
        return node

    # fixed-only
    def _text(self, el, style, scope, static):
        node = self.common(M.TextBox, el, scope)
        node.x = self.length(el, "x")
        node.y = self.length(el, "y")
        node.width = self.length(el, "width")
        node.height = self.length(el, "height")
        para = self.common(M.Para, el, scope)
        para.cond = None
        para.style = self.style(el, style, inherit_only=False)
        para.runs = self.runs(el, para.style, scope)
        node.para = para
        if node.width is None and para.style.align not in ("start",):
            self.fail(el, f"align={para.style.align} needs a width")
        if static and any(r.template is not None and r.template.const is None for r in para.runs):
            self.fail(el, "background text is drawn once for every document: no {expressions} here")
        return node

    def _frame(self, el, style, scope, static):
        node = self.common(M.Frame, el, scope)
        node.x = self.length(el, "x")
        node.y = self.length(el, "y")
        node.width = self.length(el, "width")
        node.height = self.length(el, "height")
        node.style = self.style(el, style)
        node.children = self.content(el, node.style, scope, "flow", static)
        return node

    def _address(self, el, style, scope, static):
        if static:
            self.fail(el, "the address block cannot be background content")
        node = self.common(M.AddressNode, el, scope)
        window = el.get("window")
        geom = [None, None, None, None]
        if window is not None:
            if window not in WINDOWS:
                self.fail(el, f"unknown window {window!r} (known: {', '.join(WINDOWS)})")
            geom = [round(v * 1440 / 25.4) for v in WINDOWS[window]]
        for i, attr in enumerate(("x", "y", "width", "height")):
            geom[i] = self.length(el, attr, geom[i])
        if None in geom:
            self.fail(el, "the address block needs a window preset or x, y, width and height")
        node.x, node.y, node.width, node.height = geom
        node.window = window or ""
        node.norm = el.get("norm", "none")
        node.reject = el.get("on-breach", "warn") == "reject"
        node.select = self._opt_expr(el, "select", scope, "nodes")
        node.lines = [(self.template(ln, _WS.sub(" ", ln.text or "").strip(_XML_WS), scope, "line"),
                       self._opt_expr(ln, "if", scope, "boolean")) for ln in el.findall("line")]
        if node.select is None and not node.lines:
            self.fail(el, "the address block needs select=\"…\" or <line> children")
        node.country = self._opt_expr(el, "country", scope, "string")
        node.country_line = self._opt_template(el, "country-line", scope)
        st = self.style(el, style._replace(size=200, leading=240))
        node.style = st
        imb = el.find("imb")
        node.imb = self.template(imb, imb.get("data"), scope, "data") if imb is not None else None
        node.imb_above = imb is not None and imb.get("position") == "above"
        return node

    # tables
    def _table(self, el, style, scope):
        node = self.common(M.Table, el, scope)
        node.style = self.style(el, style)
        cols = []
        for c in el.findall("column"):
            cols.append(M.Column(self.length(c, "width"), _ALIGN.get(c.get("align"), c.get("align"))))
        node.columns = tuple(cols)
        node.width = self.length(el, "width", sum(c.width for c in cols))
        node.shade = self.color(el, "shade", None)
        node.widows = int(el.get("widows", "0"))      # rows; only when set on the table itself
        node.orphans = int(el.get("orphans", "0"))
        padding = self.length(el, "padding", 0)
        row_height = self.length(el, "row-height", 0)
        node.grid = self._line_spec(el, "grid")
        node.frame = self._line_spec(el, "frame")
        node.carry = self._opt_expr(el, "carry", scope | REPEAT_VARS, "number")
        node.carry_initial = self._opt_expr(el, "carry-initial", scope, "number")
        carry_scope = scope | {"carry", "page"}
        named = self._named_carries(el, scope)
        if named:                       # several carried columns: see ccm_batch.layout.carry
            node.carry = CarrySet(node.carry, [(n, v) for n, v, _ in named])
            node.carry_initial = CarrySet(node.carry_initial, [(n, i) for n, _, i in named])
            carry_scope = carry_scope | {"carry_" + n for n, _, _ in named}
        row_scope = scope | REPEAT_VARS | ({"running"} if node.carry is not None else set())
        defaults = (padding, row_height)
        node.header = [self._row(h, node, node.style, scope | {"page"}, defaults) for h in el.findall("header")]
        ci, co = el.find("carry-in"), el.find("carry-out")
        if (ci is not None or co is not None) and node.carry is None:
            self.fail(ci if ci is not None else co,
                      "carry-in/carry-out rows need carry=\"…\" on the table or <carry name value> children")
        node.carry_in = self._row(ci, node, node.style, carry_scope, defaults) if ci is not None else None
        node.carry_out = self._row(co, node, node.style, carry_scope, defaults) if co is not None else None
        body = [c for c in el if isinstance(c.tag, str) and c.tag not in ("column", "carry", "header",
                                                                            "carry-in", "carry-out")]
        node.body = self._row_content(body, node, node.style, scope, row_scope, defaults, in_repeat=False)
        return node

    def _named_carries(self, el, scope) -> list:
        """The table's ``<carry name value initial>`` children: [(name, value Expr, initial Expr or None)]."""
        out, seen = [], {}
        for c in el.findall("carry"):
            name = c.get("name")
            if name in seen:
                self.fail(c, f"carry {name!r} already declared at line {seen[name]}")
            seen[name] = c.sourceline
            out.append((name, self.expr(c, c.get("value"), scope | REPEAT_VARS, "number", "value"),
                        self._opt_expr(c, "initial", scope, "number")))
        return out

    def _row_content(self, children, table, style, scope, row_scope, defaults, in_repeat):
        out = []
        for el in children:
            tag = el.tag
            sc = row_scope if in_repeat else scope
            if tag == "row":
                out.append(self._row(el, table, style, sc, defaults))
            elif tag == "repeat":
                node = self.common(M.Repeat, el, sc)
                node.select = self.expr(el, el.get("select"), sc, "nodes", "select")
                node.sort = self._opt_expr(el, "sort", sc | REPEAT_VARS, "string")
                node.descending = el.get("order") == "descending"
                node.children = self._row_content(list(el), table, style, scope, row_scope, defaults, True)
                out.append(node)
            elif tag == "if":
                node = self.common(M.If, el, sc)
                node.test = self.expr(el, el.get("test"), sc, "boolean", "test")
                node.children = self._row_content(list(el), table, style, scope, row_scope, defaults, in_repeat)
                out.append(node)
            elif tag == "choose":
                node = self.common(M.Choose, el, sc)
                node.branches = [(self.expr(w, w.get("test"), sc, "boolean", "test"),
                                  self._row_content(list(w), table, style, scope, row_scope, defaults,
                                                    in_repeat)) for w in el.findall("when")]
                other = el.find("otherwise")
                node.otherwise = (self._row_content(list(other), table, style, scope, row_scope, defaults,
                                                    in_repeat) if other is not None else [])
                out.append(node)
            else:
                self.fail(el, f"unexpected <{tag}> in a table")
        return out

    def _row(self, el, table, style, scope, defaults) -> M.Row:
        node = self.common(M.Row, el, scope)
        node.style = self.style(el, style)
        node.fill = self.color(el, "fill", None)
        node.padding = self.length(el, "padding", defaults[0])
        node.height = self.length(el, "height", defaults[1])
        node.rule_below = self._line_spec(el, "rule-below")
        node.rule_above = self._line_spec(el, "rule-above")
        cells, span = [], 0
        for c in el.findall("cell"):
            cell = self.common(M.Cell, c, scope)
            cell.colspan = int(c.get("colspan", "1"))
            col = table.columns[span] if span < len(table.columns) else None
            cst = node.style
            if col is not None and col.align and c.get("align") is None and (
                    c.get("style") is None or "align" not in self.style_defs.get(c.get("style"), {})):
                cst = cst._replace(align=col.align)
            cell.style = self.style(c, cst)
            cell.fill = self.color(c, "fill", None)
            cell.valign = c.get("valign", "top")
            cell.blocks = None
            if any(isinstance(k.tag, str) and k.tag in _CELL_BLOCKS for k in c):
                if (c.text or "").strip(_XML_WS) or any((k.tail or "").strip(_XML_WS) for k in c):
                    self.fail(c, "a cell holding images, bar codes or blocks puts its text in <p> elements")
                cell.blocks = self.content(c, cell.style, scope, "flow")
                cell.runs = ()
            else:
                cell.runs = self.runs(c, cell.style, scope)
            cell.x = sum(col.width for col in table.columns[:span])
            cell.width = sum(col.width for col in table.columns[span:span + cell.colspan])
            r0 = cell.runs[0] if len(cell.runs) == 1 and not r0_nobreak(cell.runs) else None
            single = r0.template.single if r0 is not None and r0.template is not None else None
            cell.simple = ((r0.template, r0.font_id, r0.size, r0.color, single.fast if single else None)
                           if r0 is not None and r0.template is not None and r0.cond is None
                           and r0.lang is None else None)
            span += cell.colspan
            cells.append(cell)
        if span > len(table.columns):
            self.fail(el, f"row has {span} cells (with spans) for {len(table.columns)} columns")
        node.cells = tuple(cells)
        node.plan = None
        node.valigned = any(c.valign != "top" for c in cells)
        node.mixed = len({(c.style.size, c.style.leading, c.style.font_id) for c in cells}) > 1 or any(
            len({(r.font_id, r.size) for r in c.runs}) > 1 for c in cells)
        return node

    def _line_spec(self, el, attr):
        """``"0.5pt #888888"`` → (thickness, colour) or None."""
        value = el.get(attr)
        if value is None:
            return None
        parts = value.split()
        try:
            thickness = parse_length(parts[0])
            color = parse_color(parts[1]) if len(parts) > 1 else (0, 0, 0)
        except (ValueError, IndexError):
            self.fail(el, f"{attr}: expected 'THICKNESS [#rrggbb]', got {value!r}")
        return (thickness, color)


# elements that make a table cell hold flow content (images, bar codes, blocks) instead of inline text
_CELL_BLOCKS = frozenset({"p", "block", "columns", "table", "image", "barcode", "epc-qr", "chart", "rule",
                          "box", "space", "if", "choose", "repeat", "use"})


def r0_nobreak(runs) -> bool:
    """A single run that is ``<nobreak>`` cannot take the table's fast path (which ignores the flag)."""
    return bool(runs) and runs[0].nobreak


_APOSTROPHE = re.compile(r"(?<=\w)'")


def typographic_apostrophes(text: str) -> str:
    """``l'assuré`` → ``l’assuré`` (an apostrophe after a letter or digit)."""
    return _APOSTROPHE.sub("\u2019", text) if "'" in text else text


def _typographic_template(tmpl):
    parts = list(tmpl.parts)
    if not any(isinstance(p, str) and "'" in p for p in parts):
        return tmpl
    return Template.from_parts(tmpl.source, [typographic_apostrophes(p) if isinstance(p, str) else p
                                             for p in parts])


def _lstrip_xml(text: str) -> str:
    return text.lstrip(_XML_WS)


def _rstrip_xml(text: str) -> str:
    return text.rstrip(_XML_WS)


def _trim(runs: list, end: int, strip) -> None:
    """Strip whitespace at one end (0 = start, -1 = end) of a run list, dropping runs left empty."""
    while runs:
        i = 0 if end == 0 else len(runs) - 1
        run = runs[i]
        if run.template is None:
            return
        parts = list(run.template.parts)
        if not parts:
            del runs[i]
            continue
        j = 0 if end == 0 else len(parts) - 1
        if not isinstance(parts[j], str):
            return
        parts[j] = strip(parts[j])
        if parts[j]:
            runs[i] = run._replace(template=Template.from_parts(run.template.source, parts))
            return
        del parts[j]
        if parts:
            runs[i] = run._replace(template=Template.from_parts(run.template.source, parts))
            if end == 0 and isinstance(parts[0], str) or end == -1 and isinstance(parts[-1], str):
                continue
            return
        del runs[i]


def image_size(path: str) -> tuple[int, int]:
    """Natural size of a PNG/JPEG in page units (from its resolution, 96 dpi when none is recorded)."""
    from PIL import Image as PILImage
    try:
        with PILImage.open(path) as im:
            if im.format not in ("PNG", "JPEG"):
                raise ValueError(f"image {path}: {im.format} is not PNG or JPEG")
            dpi = im.info.get("dpi") or (96, 96)
            dx = float(dpi[0]) or 96.0
            dy = float(dpi[1]) or 96.0
            return round(im.width * 1440 / dx), round(im.height * 1440 / dy)
    except OSError as exc:
        raise ValueError(f"image {path}: {exc}") from None
