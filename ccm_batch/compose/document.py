"""Compose stage: one record + a compiled layout → one :class:`ccm_batch.pages.Document`.

Steps for a record (:class:`Composer`):

1. **Bind**: evaluate the declared fields (once), the variables (once, in order), the language,
   locale and currency; walk the flow (``if``/``choose``/``repeat`` resolved, ``lang`` filtered) into
   bound blocks: paragraphs as styled spans, tables with every row's cells evaluated.
2. **Paginate**: fill the body region of each page template in turn (:func:`ccm_batch.compose.flow.fill`);
   page 1 uses ``first``, later pages ``rest``; the back of sheet 1 is ``first-back`` when set (fixed
   content only); the final page is laid out again with ``last`` (or ``only`` for a one-page
   document) when the layout has one. Decision: when the final content does not fit the ``last``
   (or ``only``) template's body, the page keeps its template and one more page with the ``last``
   template (and no flow content) closes the document; with no ``last`` template, none is added.
3. **Fixed content** of every page (headers, footers, address, "Page X of Y", "continued" notes) is
   evaluated once the page count is known: ``$page``, ``$pages``, ``$sheet`` and ``$is_last`` are set.
   The background of a template is composed once per process into one shared :class:`~ccm_batch.pages.Form`.
4. **Metadata**: doc id, customer id, address lines, postcode, country, index fields, mail
   attributes; duplex documents are padded to an even page count with a blank back.

Warnings (an address breach configured as a warning) name the record number and the layout element.
A record that cannot be laid out raises :class:`~ccm_batch.errors.RecordError` (the runner rejects it
and goes on).

**No silent loss** (``missing_glyphs`` policy, the job's ``[fonts] missing_glyphs``): a character that
neither the font nor its fallback fonts can draw rejects the record (``reject``, the default: the
reason names the element, the character and its code point) or is printed as ``?`` with a warning
(``substitute``). Data values are checked where they are bound (paragraphs, table cells); then every
:class:`~ccm_batch.pages.Text` of the finished document — addresses, running heads, constants, bar
codes' human-readable text — is checked once more, so nothing reaches a renderer undrawable.
"""
from __future__ import annotations

from ..errors import RecordError
from ..layout import model as M
from ..layout.expr import ExprError
from ..layout.functions import set_locale, to_str
from ..pages import Document, DocumentMeta, Form, Glyphs, Page, Text
from .. import fonts
from . import flow as F
from .address import fits_window, format_address
from .graphics import bind_graphic
from .table import BoundRow, TableBlock, bind_row, bind_table
from .text import SPAN_DEFAULTS, Span
from .typography import hyphenation, no_break, typographic

_tn = tuple.__new__          # a Span without the NamedTuple __new__ (a Python-level function)

MAX_PAGES = 5000
MISSING_GLYPHS = ("reject", "substitute")
_DRAWN: dict = {}          # font id -> the characters it draws (a font id's metrics never change)
_PRINTABLE_ASCII = frozenset(map(chr, range(0x20, 0x7F)))
_ASCII_DRAWN: dict = {}    # font id -> it draws every printable ASCII character (U+0020-U+007E)
_SWEPT: dict = {}          # font id -> texts the sweep found the font itself draws (labels, cell values)
SWEPT_SIZE = 8192          # texts kept per font, then the set starts again
_GRAPHICS = (M.ImageNode, M.RuleNode, M.BoxNode, M.BarcodeNode, M.EpcQrNode, M.ChartNode)


class _Where:
    """Names a place that is not a layout node (a text found on a finished page)."""
    __slots__ = ("name", "src")

    def __init__(self, name: str, src: str):
        self.name, self.src = name, src


def _where(node) -> str:
    return f"{node.name} ({node.src})"


class Composer:
    """Composes one record with one layout; :meth:`run` returns ``(Document, warnings)``."""

    def __init__(self, layout: M.Layout, record, job: str, job_date: str, missing_glyphs: str = "reject"):
        if missing_glyphs not in MISSING_GLYPHS:
            raise ValueError(f"missing_glyphs must be one of {', '.join(MISSING_GLYPHS)}, not {missing_glyphs!r}")
        self.missing_glyphs = missing_glyphs
        self.layout = layout
        self.record = record
        self.root = record.tree
        self.job = job
        self.job_date = job_date
        self.warnings: list[str] = []
        self.page = None
        self.address = None
        self._warned = set()
        self.keep_with_previous = set()       # ids of bound blocks that keep with the previous one

    # -- diagnostics --------------------------------------------------------------------------
    def warn(self, node, message: str) -> None:
        if type(message) is F.GlyphWarning and self.missing_glyphs == "reject":
            self.error(node, message.split("; printed as")[0])
        key = (id(node), message)
        if key in self._warned:
            return
        self._warned.add(key)
        self.warnings.append(f"record {self.record.number}: {_where(node)}: {message}")

    def error(self, node, message: str):
        raise RecordError(f"{_where(node)}: {message}", field=_where(node), page=self.page)

    # -- environment -----------------------------------------------------------------------------
    def build_env(self) -> dict:
        lay = self.layout
        root = self.root
        env = {"job": self.job, "job_date": self.job_date, "record_number": float(self.record.number)}
        for f in lay.fields:
            try:
                value = f.path.eval(root, env)
            except ExprError as exc:
                raise RecordError(f"field {f.name}: {exc}", field=f.name) from None
            if f.default is not None and (value == "" or value == []):
                value = f.default
            env[f.name] = value
        language = "fr"
        if lay.language is not None:
            language = self._eval(lay.language, root, env, "language") or "fr"
        env["language"] = language
        locale = self._eval(lay.locale, root, env, "locale") if lay.locale is not None else language
        currency = self._eval(lay.currency, root, env, "currency") if lay.currency is not None else "EUR"
        env["locale"] = locale
        env["currency"] = currency
        try:
            from ..layout.functions import check_locale
            locale = check_locale(locale)
        except ValueError as exc:
            raise RecordError(f"locale: {exc}", field="locale") from None
        set_locale(locale, currency, language, lay.messages)
        self.language = language
        for name, expr in lay.variables:
            env[name] = self._eval(expr, root, env, f"variable {name}")
        return env

    def _eval(self, expr, node, env, what):
        try:
            return expr.eval(node, env)
        except ExprError as exc:
            raise RecordError(f"{what}: {exc}", field=what, page=self.page) from None

    def _test(self, node, ctx, env) -> bool:
        if node.lang is not None and node.lang != self.language:
            return False
        if node.cond is not None:
            try:
                return node.cond.eval(ctx, env)
            except ExprError as exc:
                self.error(node, str(exc))
        return True

    # -- inline text ----------------------------------------------------------------------------
    def spans(self, runs, ctx, env, owner) -> list:
        """Evaluate inline runs into :class:`~ccm_batch.compose.text.Span` (merged, ends trimmed)."""
        if len(runs) == 1:                       # fast path: one run, no condition
            r = runs[0]
            tmpl = r.template
            if r.cond is None and r.lang is None and tmpl is not None and not r.nobreak:
                text = tmpl.const
                if text is None:
                    text = self._render(tmpl, ctx, env, owner, r.font_id)
                    text = text.strip(" ")
                if not text:
                    return []
                return [_tn(Span, (text, r.font_id, r.size, r.color) + SPAN_DEFAULTS)]
        out: list = []
        lang = self.language
        for r in runs:
            if r.lang is not None and r.lang != lang:
                continue
            if r.cond is not None and not r.cond.eval(ctx, env):
                continue
            tmpl = r.template
            if tmpl is None:
                text = "\n"
            elif tmpl.const is not None:
                text = tmpl.const
            else:
                text = self._render(tmpl, ctx, env, owner, r.font_id)
            if not text:
                continue
            if r.nobreak:
                text = no_break(text)
            if out:
                last = out[-1]
                if last.font == r.font_id and last.size == r.size and last.color == r.color:
                    out[-1] = last._replace(text=last.text + text)
                    continue
                if text[0] == " " and last.text.endswith((" ", "\n")):
                    text = text.lstrip(" ")
                    if not text:
                        continue
            out.append(_tn(Span, (text, r.font_id, r.size, r.color) + SPAN_DEFAULTS))
        if out:
            if out[0].text[:1] == " ":
                out[0] = out[0]._replace(text=out[0].text.lstrip(" "))
            if out[-1].text[-1:] == " ":
                out[-1] = out[-1]._replace(text=out[-1].text.rstrip(" "))
            out = [s for s in out if s.text]
        return out

    def _render(self, tmpl, ctx, env, owner, font_id) -> str:
        try:
            text = tmpl.render(ctx, env)
        except ExprError as exc:
            self.error(owner, str(exc))
        return self._check_text(text, owner, font_id)

    def _check_text(self, text, owner, font_id) -> str:
        """Collapse data line breaks; warn about characters the font cannot draw."""
        text, warning = F.data_text(text, font_id)
        if warning is not None:
            self.warn(owner, warning)
        return text

    # -- flow binding ----------------------------------------------------------------------------
    def bind_flow(self, nodes, ctx, env, out: list) -> list:
        for n in nodes:
            if (n.lang is not None or n.cond is not None) and not self._test(n, ctx, env):
                continue
            before = len(out)
            self._bind_one(n, ctx, env, out)
            if len(out) > before:
                st = getattr(n, "style", None)
                if st is not None and st.keep_with_previous or getattr(n, "keep_with_previous", False):
                    self.keep_with_previous.add(id(out[before]))
        return out

    def _bind_one(self, n, ctx, env, out: list) -> None:
        if True:
            t = type(n)
            if t is M.Para:
                spans = self.spans(n.runs, ctx, env, n)
                if spans:
                    st = n.style
                    if st.typographic:
                        spans = [sp._replace(text=typographic(sp.text, self.language)) for sp in spans]
                    out.append(F.ParaBlock(spans, st, n.name, n.src, hyphenate=hyphenation(st, self.language)))
            elif t is M.Table:
                out.append(self.bind_table(n, ctx, env))
            elif t is M.If:
                if n.test is None or self._eval(n.test, ctx, env, _where(n)):
                    self.bind_flow(n.children, ctx, env, out)
            elif t is M.Choose:
                self.bind_flow(self._choose(n, ctx, env), ctx, env, out)
            elif t is M.Repeat:
                for item, e in self._items(n, ctx, env):
                    self.bind_flow(n.children, item, e, out)
            elif t is M.Block:
                children = self.bind_flow(n.children, ctx, env, [])
                if children:
                    st = n.style
                    out.append(F.GroupBlock(children, n.name, n.src, st.keep_with_next, st.keep_together,
                                            st.space_before, st.space_after))
            elif t is M.Columns:
                cols = [(c.width, c.valign, self.bind_flow(c.children, ctx, env, [])) for c in n.cols]
                st = n.style
                out.append(F.SideBlock(cols, n.gap, n.name, n.src, st.keep_with_next, st.space_before,
                                       st.space_after))
            elif t is M.PageBreak:
                out.append(F.BreakBlock(n.name, n.src))
            elif t is M.Space:
                out.append(F.SpaceBlock(n.height, n.name, n.src))
            elif t in _GRAPHICS:
                g = bind_graphic(self, n, ctx, env)
                out.append(F.GraphicBlock(g.width, g.height, g.draw, n.align, n.name, n.src, n.keep_with_next,
                                          n.space_before, n.space_after))
            else:
                self.error(n, f"<{n.kind}> cannot be used in a flow")

    def _choose(self, n, ctx, env):
        for test, children in n.branches:
            if self._eval(test, ctx, env, _where(n)):
                return children
        return n.otherwise

    def _select(self, n, ctx, env) -> list:
        """The nodes a ``repeat`` iterates over (unsorted)."""
        nodes = self._eval(n.select, ctx, env, _where(n))
        if not isinstance(nodes, list):
            nodes = [] if nodes in ("", None) else [nodes]
        return nodes

    def _items(self, n, ctx, env):
        nodes = self._select(n, ctx, env)
        count = len(nodes)
        if n.sort is not None:
            keyed = []
            for i, item in enumerate(nodes, 1):
                key = self._eval(n.sort, item, dict(env, index=i, count=count, item=[item]), _where(n))
                try:
                    key = (0, float(key), "")
                except ValueError:
                    key = (1, 0.0, key)
                keyed.append((key, i, item))
            keyed.sort(key=lambda k: (k[0], k[1]), reverse=n.descending)
            nodes = [k[2] for k in keyed]
        for i, item in enumerate(nodes, 1):
            e = env.copy()
            e["index"] = i                    # position in the iteration order (after sort)
            e["count"] = count
            e["item"] = [item]                # the current item as a node set (XPath: $item/amount)
            yield item, e

    # -- tables (binding in :mod:`ccm_batch.compose.table`) ---------------------------------------
    def bind_table(self, t: M.Table, ctx, env) -> TableBlock:
        return bind_table(self, t, ctx, env)

    def bind_row(self, row: M.Row, t: M.Table, ctx, env, fill, carry=0.0) -> BoundRow:
        return bind_row(self, row, t, ctx, env, fill, carry)

    # -- pagination ------------------------------------------------------------------------------
    def fill_page(self, tmpl: M.PageTemplate, queue: list):
        body = tmpl.body
        if body is None:                        # a layout with fixed content only
            return F.Fill([], 0, queue, False)
        if body.columns <= 1:
            return F.fill(queue, body.x, body.y, body.width, body.height, True, self)
        cw = (body.width - body.gap * (body.columns - 1)) // body.columns
        items: list = []
        res = None
        for i in range(body.columns):
            res = F.fill(queue, body.x + i * (cw + body.gap), body.y, cw, body.height, True, self)
            items.extend(res.items)
            queue = res.rest
            if res.forced or not queue:
                break
        return F.Fill(items, 0, queue, res.forced)

    def sequence(self) -> M.PageSequence:
        """The page sequence of this record: the first ``<pages><when>`` whose test is true, else
        the ``<pages>`` attributes."""
        seq = self.layout.sequence
        for test, alt in seq.choices:
            if self._eval(test, self.root, self.env, "pages when"):
                return alt
        return seq

    def page_template(self, tmpl: M.PageTemplate, number: int) -> M.PageTemplate:
        """``<pages template="…">``: the template an expression names for page ``number``."""
        expr = self.layout.sequence.template
        if expr is None:
            return tmpl
        name = self._eval(expr, self.root, dict(self.env, page=number), "pages template").strip()
        if not name:
            return tmpl
        found = self.layout.templates.get(name)
        if found is None:
            raise RecordError(f"pages template: no page template {name!r} (defined: "
                              f"{', '.join(self.layout.templates)})", field="pages template", page=number)
        return found

    def paginate(self, blocks: list) -> list:
        seq = self.sequence()
        pages: list = []            # [(template, flow items)]
        queue = blocks
        n = 1
        while True:
            tmpl = seq.first if n == 1 else seq.rest
            tmpl = self.page_template(tmpl, len(pages) + 1)
            self.page = len(pages) + 1
            start = queue
            res = self.fill_page(tmpl, queue)
            queue = res.rest
            done = not queue
            if done:
                alt = seq.only if n == 1 else seq.last
                if alt is not None and alt is not tmpl:
                    res2 = self.fill_page(alt, start)
                    if not res2.rest:
                        pages.append((alt, res2.items))
                    else:
                        # the end does not fit the closing template: keep this page as it is and
                        # close with an extra 'last' page (none when the layout has no 'last')
                        pages.append((tmpl, res.items))
                        if n == 1 and seq.first_back is not None:
                            pages.append((seq.first_back, []))
                        if seq.last is not None:
                            self.page = len(pages) + 1
                            pages.append((seq.last, []))
                        return pages
                else:
                    pages.append((tmpl, res.items))
            else:
                pages.append((tmpl, res.items))
            if n == 1 and seq.first_back is not None:
                pages.append((seq.first_back, []))
            if done:
                return pages
            n += 1
            if len(pages) > MAX_PAGES:
                raise RecordError(f"document exceeds {MAX_PAGES} pages", field="flow", page=len(pages))

    # -- fixed content -----------------------------------------------------------------------------
    def fixed(self, nodes, ctx, env, out: list) -> list:
        for n in nodes:
            if (n.lang is not None or n.cond is not None) and not self._test(n, ctx, env):
                continue
            t = type(n)
            if t is M.TextBox:
                self._textbox(n, ctx, env, out)
            elif t in _GRAPHICS:
                g = bind_graphic(self, n, ctx, env)
                x = n.x
                if n.align in ("end", "right"):
                    x -= g.width
                elif n.align == "center":
                    x -= g.width // 2
                out.extend(g.draw(x, n.y, g.width))
            elif t is M.AddressNode:
                self._address(n, ctx, env, out)
            elif t is M.Frame:
                blocks = self.bind_flow(n.children, ctx, env, [])
                h = n.height if n.height is not None else 1 << 40
                res = F.fill(blocks, n.x, n.y, n.width, h, True, self)
                if res.rest:
                    self.error(n, "content overflows the frame")
                out.extend(res.items)
            elif t is M.If:
                if n.test is None or self._eval(n.test, ctx, env, _where(n)):
                    self.fixed(n.children, ctx, env, out)
            elif t is M.Choose:
                self.fixed(self._choose(n, ctx, env), ctx, env, out)
            elif t is M.Repeat:
                for item, e in self._items(n, ctx, env):
                    self.fixed(n.children, item, e, out)
            else:
                self.error(n, f"<{n.kind}> needs a flow")
        return out

    def _textbox(self, n: M.TextBox, ctx, env, out):
        p = n.para
        spans = self.spans(p.runs, ctx, env, n)
        if not spans:
            return
        st = p.style
        if st.typographic:
            spans = [sp._replace(text=typographic(sp.text, self.language)) for sp in spans]
        width = n.width if n.width is not None else max(1, self.layout_width - n.x)
        lines = F.make_lines(spans, width, st.first_indent, st.indent, hyphenation(st, self.language))
        out.extend(F.place_lines(lines, n.x, n.y, width, st.leading, st.align))

    def _address(self, n: M.AddressNode, ctx, env, out):
        if n.select is not None:
            nodes = self._eval(n.select, ctx, env, _where(n))
            raw = [to_str([x]) for x in nodes] if isinstance(nodes, list) else [to_str(nodes)]
        else:
            raw = []
            for tmpl, cond in n.lines:
                if cond is not None and not cond.eval(ctx, env):
                    continue
                raw.append(tmpl.render(ctx, env))
        country = self._eval(n.country, ctx, env, _where(n)).strip() if n.country is not None else ""
        if n.country_line is not None:
            cl = n.country_line.render(ctx, env).strip()
            if cl:
                raw.append(cl)
        res = format_address(raw, n.norm, country)
        st = n.style
        imb = None
        if n.imb is not None:
            data = n.imb.render(ctx, env).strip()
            if data:
                from .. import barcodes
                try:
                    w, h = barcodes.measure("imb", data, 0)
                except ValueError as exc:
                    self.error(n, f"IMb: {exc}")
                imb = (data, w, h)
        extra = imb[2] + 60 if imb else 0
        breaches = list(res.breaches)
        problem = fits_window(res.lines, st.font_id, st.size, st.leading, n.width, n.height, extra)
        if problem:
            breaches.append(problem)
        if breaches and self.address is None:
            for b in breaches:
                if n.reject:
                    self.error(n, b)
                self.warn(n, b)
        if self.address is None:
            self.address = res
        y = n.y
        if imb and n.imb_above:
            from ..pages import Barcode
            out.append(Barcode(n.x, y, imb[1], imb[2], "imb", imb[0], 0, ()))
            y += extra
        spans_lines = []
        for ln in res.lines:
            spans_lines.append(F.make_lines([_tn(Span, (ln, st.font_id, st.size, st.color) + SPAN_DEFAULTS)],
                                            1 << 30)[0])
        out.extend(F.place_lines(spans_lines, n.x, y, n.width, st.leading, "start"))
        y += len(spans_lines) * st.leading
        if imb and not n.imb_above:
            from ..pages import Barcode
            out.append(Barcode(n.x, y + 60, imb[1], imb[2], "imb", imb[0], 0, ()))

    def background(self, tmpl: M.PageTemplate):
        if not tmpl.background:
            return None
        if tmpl.form is None:
            saved = self.page
            self.page = None
            items = self.fixed(tmpl.background, None, {}, [])
            self.page = saved
            items = self._sweep_items(tuple(items), f"background of page template {tmpl.name}")
            tmpl.form = Form(f"{self.layout.name}.{tmpl.name}", items)
        return tmpl.form

    # -- the document ------------------------------------------------------------------------------
    def run(self) -> tuple[Document, list]:
        try:
            return self._run()
        except ExprError as exc:          # safety net: any evaluation problem rejects the record
            raise RecordError(str(exc), field="layout", page=self.page) from None

    def _run(self) -> tuple[Document, list]:
        lay = self.layout
        env = self.build_env()
        self.env = env
        blocks = self.bind_flow(lay.flow, self.root, env, []) if lay.flow else []
        plan = self.paginate(blocks)
        self.templates_used = [tmpl for tmpl, _ in plan]       # per page (the preview overlay reads it)
        total = len(plan)
        duplex = lay.duplex
        pages = []
        for i, (tmpl, items) in enumerate(plan, 1):
            self.page = i
            self.layout_width = tmpl.width
            penv = env.copy()
            penv["page"] = i
            penv["pages"] = total
            penv["sheet"] = (i + 1) // 2 if duplex else i
            penv["is_last"] = i == total
            fixed = self.fixed(tmpl.fixed, self.root, penv, []) if tmpl.fixed else []
            side = "back" if duplex and i % 2 == 0 else "front"
            paper = tmpl.paper
            if side == "back" and paper != pages[-1].paper:     # one medium per sheet: the front's
                self.warn(tmpl, f"page {i}: template {tmpl.name!r} asks for paper {paper or 'default'!r} on "
                                f"the back of a sheet printed on {pages[-1].paper or 'default'!r}; the sheet "
                                f"keeps its front's paper (a paper change starts on a front page)")
                paper = pages[-1].paper
            pages.append(Page(tmpl.width, tmpl.height, tuple(items) + tuple(fixed), side,
                              self.background(tmpl), paper=paper))
        if duplex and len(pages) % 2:
            last = pages[-1]
            pages.append(Page(last.width, last.height, (), "back", None, True, paper=last.paper))
        pages = [self._glyph_sweep(p, i) for i, p in enumerate(pages, 1)]
        return Document(self.meta(env), tuple(pages)), self.warnings

    def _glyph_sweep(self, page: Page, number: int) -> Page:
        """Check every Text of a finished page (see the module docstring); substitute if allowed."""
        items = self._sweep_items(page.items, f"page {number}")
        return page if items is page.items else page._replace(items=items)

    def _sweep_items(self, items: tuple, src: str) -> tuple:
        bad = None
        drawn, ascii_drawn, swept = _DRAWN, _ASCII_DRAWN, _SWEPT
        for i, item in enumerate(items):
            t = type(item)
            if t is Text:
                text = item.text    # a text already found drawable in this font (the same label or
                font = item.font    # cell value on every page: its hash is kept): one set lookup
                seen = swept.get(font)
                if seen is not None and text in seen:
                    continue
                # else printable ASCII (two C-level checks) in a font that draws it all, or every
                # character drawn
                if not (text.isascii() and text.isprintable() and ascii_drawn.get(font)):
                    chars = drawn.get(font)
                    if chars is None:
                        chars = drawn[font] = fonts.get_font(font)._drawn
                        ascii_drawn[font] = chars.issuperset(_PRINTABLE_ASCII)
                    if not chars.issuperset(text):   # fallback fonts, shaping: asked each time
                        missing = fonts.uncovered(text, font)
                        if missing:
                            bad = bad or []
                            bad.append((i, missing))
                        continue
                if seen is None:
                    seen = swept[font] = set()
                elif len(seen) >= SWEPT_SIZE:
                    seen.clear()
                seen.add(text)
            elif t is Glyphs and any(g[0] == 0 for run in item.runs for g in run[4]):
                self.error(_Where(f"text {item.text[:40]!r}", src),
                           "shaping found no glyph (.notdef) for "
                           + ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(item.text) if not c.isspace()))
        if not bad:
            return items
        items = list(items)
        for i, missing in bad:
            t = items[i]
            where = _Where(f"text {t.text[:40]!r}", src)
            self.warn(where, F.GlyphWarning(F.describe_missing(missing, t.font)
                                            + f"; printed as {F.SUBSTITUTE!r}"))
            items[i] = t._replace(text=t.text.translate({ord(ch): F.SUBSTITUTE for ch in missing}))
        return tuple(items)

    def meta(self, env) -> DocumentMeta:
        m = self.layout.meta
        root = self.root

        def s(expr, default=""):
            if expr is None:
                return default
            v = self._eval(expr, root, env, "meta")
            if isinstance(v, bool) or default is False:
                return v
            return (v if type(v) is str else to_str(v)).strip()       # numbers canonical: 163.15
        rec = self.record
        doc_id = s(m.doc_id) or f"{self.job}-{rec.number:08d}"
        addr = self.address
        postcode = s(m.postcode) or (addr.postcode if addr else "")
        country = s(m.country) or (addr.country if addr and addr.country else "") or "FR"
        inserts = ()
        if m.inserts is not None:
            v = self._eval(m.inserts, root, env, "meta inserts")
            inserts = tuple(to_str([x]).strip() for x in v) if isinstance(v, list) else (to_str(v),)
            inserts = tuple(x for x in inserts if x)
        index = tuple((name, to_str(self._eval(expr, root, env, f"index {name}"))) for name, expr in m.index)
        return DocumentMeta(
            doc_id=doc_id, customer_id=s(m.customer_id) or rec.key or "", doc_type=self.layout.doc_type,
            date=s(m.date) or self.job_date, address=addr.lines if addr else (), postcode=postcode,
            country=country.upper(), language=self.language, index=index, duplex=self.layout.duplex,
            record_number=rec.number, carrier=s(m.carrier), product=s(m.product), sender=s(m.sender),
            confidentiality=s(m.confidentiality),
            mail_separately=bool(s(m.mail_separately, False)), inserts=inserts,
            recipient_name=s(m.recipient_name) or (addr.lines[0] if addr and addr.lines else ""))
