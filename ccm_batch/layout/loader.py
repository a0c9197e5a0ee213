"""Layout stage: load a layout file — parse, validate (RELAX NG), expand fragments, compile to the model.

Every problem is a :class:`~ccm_batch.errors.LayoutError` whose message starts with ``file:line:``:
XML syntax, schema violations, unknown styles, fonts, fragments, images, templates, fields and
functions used in expressions, XPath syntax. A layout that loads can compose any valid record.

Decisions documented here:
- Lengths are ``<number><unit>`` with unit mm, cm, in, pt or u (page units); a bare number is points.
- The style named ``default`` (if any) is the base of every text: font, size, colour...
  (without one: Helvetica = Liberation Sans 10 pt, leading 12 pt, black, start-aligned).
- Style cascade as in XSL-FO: font, size, leading, colour and alignment are inherited from the
  enclosing block, frame, table, row or cell; spaces and keeps are not. A ``style="name"`` applies the
  properties its named style (and its ``parent`` chain) sets, then the element's own attributes win.
- Whitespace in text is collapsed (XML indentation never shows); use ``<br/>`` for a line break.
- Fragments: ``<import href="fragments/x.xml"/>`` makes the file's ``<fragment name=…>`` usable with
  ``<use fragment=…/>`` (also its ``<styles>`` and ``<messages>``). A fragment is compiled where it is
  used, in the user's scope, so it may refer to the user's fields; errors name the fragment file.
- Envelope windows (``<address window=…>``) — position of the address block on the page, top-left
  of the block, for a sheet folded into the envelope: ``fr-dl-right`` (DL 110×220, window 45×100 mm
  on the right: block at 100 mm, 45 mm, 95×40 mm, the classic French layout), ``fr-dl-left`` (20 mm,
  45 mm), ``fr-c5-right`` / ``fr-c5-left`` (C5 162×229, sheet folded in two: 105/20 mm, 50 mm,
  90×35 mm), ``us-10`` (US #10 envelope 4⅛×9½ in, Letter tri-folded: block at 1 in, 2⅛ in,
  4×1⅛ in). Explicit ``x``/``y``/``width``/``height`` override a preset.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lxml import etree

from ..errors import LayoutError
from . import model as M
from .expr import Expr, ExprError, Template
from .functions import check_locale

try:                                    # the records engineer's FieldSpec; same shape here meanwhile
    from ..records.validate import FieldSpec
except ImportError:                     # pragma: no cover - until records/validate.py lands
    from typing import NamedTuple

    class FieldSpec(NamedTuple):
        """A declared record field (name, XPath, type, constraints, default)."""
        name: str
        path: str
        type: str = "string"
        required: bool = False
        values: tuple = ()
        pattern: str | None = None
        max_length: int | None = None
        default: str | None = None

SCHEMA_PATH = Path(__file__).with_name("layout.rng")
_schema = None

_UNITS = {"mm": 1440 / 25.4, "cm": 14400 / 25.4, "in": 1440.0, "pt": 20.0, "u": 1.0, "": 20.0}
_LENGTH = re.compile(r"\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(mm|cm|in|pt|u)?\s*$")
_NAMED_COLORS = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128),
                 "gray": (128, 128, 128), "none": None}
PAGE_SIZES = {"A3": (297, 420), "A4": (210, 297), "A5": (148, 210), "B5": (176, 250),
              "LETTER": (215.9, 279.4), "LEGAL": (215.9, 355.6)}
WINDOWS = {   # name: (x, y, width, height) in mm
    "fr-dl-right": (100, 45, 95, 40),
    "fr-dl-left": (20, 45, 95, 40),
    "fr-c5-right": (105, 50, 90, 35),
    "fr-c5-left": (20, 50, 90, 35),
    "us-10": (25.4, 53.975, 101.6, 28.575),
}
BUILTINS = frozenset({"job", "job_date", "record_number", "language", "locale", "currency"})
PAGE_VARS = frozenset({"page", "pages", "sheet", "is_last"})
_INHERITED = ("family", "bold", "italic", "size", "leading", "color", "align", "indent", "first_indent")
_STYLE_ATTRS = {"font": "family", "bold": "bold", "italic": "italic", "size": "size", "leading": "leading",
                "color": "color", "align": "align", "indent": "indent", "first-indent": "first_indent",
                "space-before": "space_before", "space-after": "space_after",
                "keep-with-next": "keep_with_next", "keep-together": "keep_together",
                "widows": "widows", "orphans": "orphans"}
_ALIGN = {"left": "start", "right": "end"}
_WS = re.compile(r"\s+")


def schema() -> etree.RelaxNG:
    """The layout RELAX NG schema (loaded once)."""
    global _schema
    if _schema is None:
        _schema = etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))
    return _schema


def parse_length(text: str) -> int:
    """``"12.5mm"`` → page units; ValueError when malformed."""
    m = _LENGTH.match(text or "")
    if not m:
        raise ValueError(f"bad length {text!r} (expected e.g. 12mm, 9pt, 1in)")
    return round(float(m.group(1)) * _UNITS[m.group(2) or ""])


def parse_color(text: str):
    """``#1f4e79`` → ``(31, 78, 121)``; ``none`` → None."""
    t = text.strip().lower()
    if t in _NAMED_COLORS:
        return _NAMED_COLORS[t]
    if len(t) == 4:
        t = "#" + "".join(c * 2 for c in t[1:])
    return (int(t[1:3], 16), int(t[3:5], 16), int(t[5:7], 16))


def _fonts():
    from .. import fonts
    return fonts


class _Loader:
    """One load: the files read, fragments, styles and the scope for expression checks."""

    def __init__(self, path):
        self.path = Path(path).resolve()
        self.files = [str(self.path)]
        self.fragments = {}                       # name -> (element, file)
        self.style_defs = {}                      # name -> (dict of props, element, file)
        self.messages = {}
        self.using = []                           # fragment names being expanded (cycle check)

    # -- errors --------------------------------------------------------------------------------
    def where(self, el) -> str:
        return f"{self._file_of(el)}:{el.sourceline}"

    def _file_of(self, el) -> str:
        root = el.getroottree()
        url = root.docinfo.URL
        return url or str(self.path)

    def fail(self, el, message: str):
        raise LayoutError(f"{self.where(el)}: {message}")

    # -- parsing ---------------------------------------------------------------------------------
    def parse(self, path: Path) -> etree._Element:
        if not path.is_file():
            raise LayoutError(f"{path}:0: layout file not found")
        parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False,
                                 no_network=True)
        try:
            tree = etree.parse(str(path), parser)
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or (exc.position[0] if exc.position else 0)
            raise LayoutError(f"{path}:{line}: {exc.msg}") from None
        root = tree.getroot()
        _canonical_order(root)
        rng = schema()
        if not rng.validate(tree):
            errors = [e for e in rng.error_log if e.line]
            err = errors[0] if errors else rng.error_log.last_error
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise LayoutError(f"{path}:{err.line}: schema: {err.message}{more}")
        return root

    # -- main ------------------------------------------------------------------------------------
    def load(self) -> M.Layout:
        root = self.parse(self.path)
        if root.tag != "layout":
            self.fail(root, "a layout file has <layout> as its root (this is a fragments file)")
        for imp in root.findall("import"):
            self._import(imp, self.path.parent)
        for st in root.findall("styles"):
            self._read_styles(st)
        for msgs in root.findall("messages"):
            self._read_messages(msgs)

        self.base_style = M.TextStyle("Helvetica", False, False, 200, 240, (0, 0, 0), "start", 0, 0,
                                      0, 0, False, False, 2, 2, _fonts().resolve("Helvetica"))
        if "default" in self.style_defs:      # the layout's base style: inherited by everything
            self.base_style = self._apply(root, self.base_style, self.style_defs["default"], False)
        specs, fields, scope = self._read_fields(root.find("fields"))
        variables = []
        for var in (root.find("variables") if root.find("variables") is not None else ()):
            name = var.get("name")
            if name in scope:
                self.fail(var, f"variable ${name} is already declared")
            variables.append((name, self.expr(var, var.get("select"), scope, "any", "select")))
            scope = scope | {name}
        self.scope = scope

        locale_expr = self._opt_expr(root, "locale", scope, "string")
        currency_expr = self._opt_expr(root, "currency", scope, "string")
        language_expr = self._opt_expr(root, "language", scope, "string")
        for value in (locale_expr,):
            if value is not None and value.is_constant:
                try:
                    check_locale(value.eval(None, {}))
                except ValueError as exc:
                    self.fail(root, str(exc))

        meta = self._read_meta(root.find("meta"), scope)
        templates = {}
        for pt in root.findall("page-template"):
            name = pt.get("name")
            if name in templates:
                self.fail(pt, f"page template {name!r} defined twice")
            templates[name] = self._read_template(pt)
        seq_el = root.find("pages")
        sequence = self._read_sequence(seq_el, templates)
        flow_el = root.find("flow")
        flow = self.content(flow_el, self.base_style, scope, "flow") if flow_el is not None else []
        if flow:
            for t in (sequence.first, sequence.rest, sequence.last, sequence.only):
                if t is not None and t.body is None:
                    self.fail(seq_el, f"page template {t.name!r} holds the flow but has no <body>")
        return M.Layout(
            name=root.get("name"), doc_type=root.get("doc-type", root.get("name")),
            record=root.get("record", ""), duplex=root.get("duplex") == "true", path=str(self.path),
            files=list(self.files), field_specs=specs, fields=fields, variables=variables,
            messages=self.messages, meta=meta, styles={k: v for k, v in self.style_defs.items()},
            templates=templates, sequence=sequence, flow=flow, locale=locale_expr,
            currency=currency_expr, language=language_expr, base_style=self.base_style)

    # -- imports, styles, messages ------------------------------------------------------------
    def _import(self, el, base: Path):
        path = (base / el.get("href")).resolve()
        if not path.is_file():
            self.fail(el, f"imported fragment file {el.get('href')!r} not found ({path})")
        if str(path) in self.files:
            return
        self.files.append(str(path))
        root = self.parse(path)
        if root.tag != "fragments":
            self.fail(el, f"{el.get('href')!r} is not a fragments file (root <fragments>)")
        for st in root.findall("styles"):
            self._read_styles(st)
        for msgs in root.findall("messages"):
            self._read_messages(msgs)
        for frag in root.findall("fragment"):
            name = frag.get("name")
            if name in self.fragments:
                self.fail(frag, f"fragment {name!r} already defined at {self.where(self.fragments[name])}")
            self.fragments[name] = frag

    def _read_styles(self, styles_el):
        for st in styles_el.findall("style"):
            name = st.get("name")
            if name in self.style_defs:
                self.fail(st, f"style {name!r} defined twice")
            props = {}
            parent = st.get("parent")
            if parent:
                if parent not in self.style_defs:
                    self.fail(st, f"unknown parent style {parent!r} (define it before {name!r})")
                props.update(self.style_defs[parent])
            props.update(self._style_attrs(st))
            self.style_defs[name] = props

    def _read_messages(self, el):
        for msg in el.findall("message"):
            texts = {t.get("lang"): _WS.sub(" ", t.text or "").strip() for t in msg.findall("text")}
            self.messages[msg.get("key")] = texts

    def _style_attrs(self, el) -> dict:
        props = {}
        for attr, prop in _STYLE_ATTRS.items():
            value = el.get(attr)
            if value is None:
                continue
            try:
                if prop in ("bold", "italic", "keep_with_next", "keep_together"):
                    props[prop] = value == "true"
                elif prop in ("widows", "orphans"):
                    props[prop] = int(value)
                elif prop == "color":
                    props[prop] = parse_color(value) or (0, 0, 0)
                elif prop == "align":
                    props[prop] = _ALIGN.get(value, value)
                elif prop == "family":
                    props[prop] = value.strip()
                else:
                    props[prop] = parse_length(value)
            except ValueError as exc:
                self.fail(el, f"attribute {attr}: {exc}")
        return props

    def style(self, el, parent: M.TextStyle, inherit_only=True) -> M.TextStyle:
        """The resolved style of ``el`` inside ``parent`` (see the cascade in the module docstring)."""
        name = el.get("style")
        explicit = {}
        if name:
            if name not in self.style_defs:
                self.fail(el, f"unknown style {name!r}")
            explicit.update(self.style_defs[name])
        explicit.update(self._style_attrs(el))
        return self._apply(el, parent, explicit, inherit_only)

    def _apply(self, el, parent: M.TextStyle, explicit: dict, inherit_only: bool) -> M.TextStyle:
        base = parent._asdict()
        if inherit_only:          # spaces and keeps are not inherited
            base.update(space_before=0, space_after=0, keep_with_next=False, keep_together=False)
        if not explicit:
            return M.TextStyle(**base)
        explicit = dict(explicit)
        if "size" in explicit and "leading" not in explicit:
            explicit["leading"] = round(explicit["size"] * 1.2)
        base.update(explicit)
        try:
            base["font_id"] = _fonts().resolve(base["family"], base["bold"], base["italic"])
        except KeyError as exc:
            self.fail(el, str(exc.args[0]))
        return M.TextStyle(**base)

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, el, source, scope, mode, attr="expression") -> Expr:
        try:
            return Expr(source, mode, scope)
        except ExprError as exc:
            self.fail(el, f"{attr}: {exc}")

    def template(self, el, source, scope, attr="text") -> Template:
        try:
            return Template(source, scope)
        except ExprError as exc:
            self.fail(el, f"{attr}: {exc}")

    def _opt_expr(self, el, attr, scope, mode):
        value = el.get(attr)
        return None if value is None else self.expr(el, value, scope, mode, attr)

    def _opt_template(self, el, attr, scope):
        value = el.get(attr)
        return None if value is None else self.template(el, value, scope, attr)

    def length(self, el, attr, default=None):
        value = el.get(attr)
        if value is None:
            return default
        try:
            return parse_length(value)
        except ValueError as exc:
            self.fail(el, f"attribute {attr}: {exc}")

    def color(self, el, attr, default=None):
        value = el.get(attr)
        return default if value is None else parse_color(value)

    def common(self, node_cls, el, scope):
        node = node_cls.__new__(node_cls)
        cond = self._opt_expr(el, "if", scope, "boolean")
        M.Node.__init__(node, self.where(el), cond, el.get("lang"), el.get("id") or "")
        return node

    # -- fields and meta ---------------------------------------------------------------------
    def _read_fields(self, el):
        specs, fields = [], []
        scope = set(BUILTINS)
        for f in (el if el is not None else ()):
            name = f.get("name")
            if name in BUILTINS or name in PAGE_VARS or name in ("index", "count", "running", "carry", "value"):
                self.fail(f, f"field name {name!r} is reserved for the engine's own variables")
            if name in scope:
                self.fail(f, f"field {name!r} declared twice")
            ftype = f.get("type", "string")
            path = f.get("path")
            mode = "nodes" if ftype == "list" else "string"
            compiled = self.expr(f, path, set(), mode, "path")
            values = tuple(v.strip() for v in f.get("values", "").split("|") if v.strip())
            if ftype == "enum" and not values:
                self.fail(f, f"enum field {name!r} needs values=\"a|b|c\"")
            max_length = f.get("max-length")
            specs.append(FieldSpec(name=name, path=path, type=ftype, required=f.get("required", "true") == "true",
                                   values=values, pattern=f.get("pattern"),
                                   max_length=int(max_length) if max_length else None,
                                   default=f.get("default")))
            fields.append(M.Field(name, compiled, ftype, f.get("default")))
            scope.add(name)
        return specs, fields, frozenset(scope)

    def _read_meta(self, el, scope) -> M.Meta:
        if el is None:
            return M.Meta()
        kw = {}
        for attr in ("doc-id", "customer-id", "date", "country", "postcode", "carrier", "product", "sender",
                     "confidentiality", "mail-separately", "inserts", "recipient-name"):
            if el.get(attr) is not None:
                mode = "nodes" if attr == "inserts" else ("boolean" if attr == "mail-separately" else "string")
                kw[attr.replace("-", "_")] = self.expr(el, el.get(attr), scope, mode, attr)
        kw["index"] = tuple((ix.get("name"), self.expr(ix, ix.get("value"), scope, "string", "value"))
                            for ix in el.findall("index"))
        return M.Meta(**kw)

    # -- page templates ------------------------------------------------------------------------
    def _read_template(self, el) -> M.PageTemplate:
        size = (el.get("size") or "A4").strip()
        if size.upper() in PAGE_SIZES:
            w, h = (round(v * 1440 / 25.4) for v in PAGE_SIZES[size.upper()])
        else:
            parts = size.split()
            if len(parts) != 2:
                self.fail(el, f"size {size!r}: A3, A4, A5, B5, Letter, Legal or 'WIDTH HEIGHT'")
            try:
                w, h = parse_length(parts[0]), parse_length(parts[1])
            except ValueError as exc:
                self.fail(el, f"size: {exc}")
        w = self.length(el, "width", w)
        h = self.length(el, "height", h)
        if el.get("orientation") == "landscape" and w < h:
            w, h = h, w
        body = None
        body_el = el.find("body")
        if body_el is not None:
            top, bottom = self.length(body_el, "top", 0), self.length(body_el, "bottom", 0)
            left, right = self.length(body_el, "left", 0), self.length(body_el, "right", 0)
            if top + bottom >= h or left + right >= w:
                self.fail(body_el, "body margins leave no room on the page")
            body = M.Region(left, top, w - left - right, h - top - bottom,
                            int(body_el.get("columns", "1")), self.length(body_el, "gap", 0))
        page_scope = self.scope | PAGE_VARS
        background = []
        bg = el.find("background")
        if bg is not None:
            background = self.content(bg, self.base_style, frozenset(), "fixed", static=True)
        fixed_els = [c for c in el if c.tag not in ("body", "background")]
        fixed = self.content_list(fixed_els, self.base_style, page_scope, "fixed")
        return M.PageTemplate(el.get("name"), w, h, body, background, fixed, self.where(el))

    def _read_sequence(self, el, templates) -> M.PageSequence:
        def get(attr, required=False):
            name = el.get(attr)
            if name is None:
                return None
            if name not in templates:
                self.fail(el, f"{attr}: unknown page template {name!r} (defined: {', '.join(templates)})")
            return templates[name]
        first = get("first")
        rest = get("rest") or first
        return M.PageSequence(first, rest, get("last"), get("only"), get("first-back"))

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
        if static and el.get("if") is not None:
            self.fail(el, "background content is drawn once for every document: no 'if' here")
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
            node.sort = self._opt_expr(el, "sort", scope | {"index", "count"}, "string")
            node.descending = el.get("order") == "descending"
            node.children = self.content(el, style, scope | {"index", "count"}, ctx, static)
            return node
        if tag in ("p", "page-break", "space", "block", "table"):
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

    def runs(self, el, style, scope) -> tuple:
        """The inline runs of a mixed-content element (whitespace collapsed, ends trimmed)."""
        out = []
        self._inline(el, style.font_id, style, scope, out, None, None)
        _trim(out, 0, str.lstrip)
        _trim(out, -1, str.rstrip)
        return tuple(r for r in out if r.template is None or r.template.parts)

    def _inline(self, el, font_id, style, scope, out, cond, lang):
        def text(s):
            if s:
                s = _WS.sub(" ", s)
                out.append(M.Run(self.template(el, s, scope), font_id, style.size, style.color, cond, lang))
        text(el.text)
        for child in el:
            if not isinstance(child.tag, str):
                text(child.tail)
                continue
            tag = child.tag
            if tag == "br":
                out.append(M.Run(None, font_id, style.size, style.color, cond, lang))
            elif tag in ("b", "i", "span"):
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
                self._inline(child, fid, st, scope, out, c_cond or cond, c_lang or lang)
            else:
                self.fail(child, f"<{tag}> is not inline content (b, i, span, br)")
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
        item_scope = scope | {"index", "count", "max", "value"}
        node.width = self.length(el, "width")
        node.height = self.length(el, "height")
        node.select = self.expr(el, el.get("select"), scope, "nodes", "select")
        node.value = self.expr(el, el.get("value"), scope | {"index", "count"}, "number", "value")
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
        node.lines = [(self.template(ln, _WS.sub(" ", ln.text or "").strip(), scope, "line"),
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
        padding = self.length(el, "padding", 0)
        row_height = self.length(el, "row-height", 0)
        node.grid = self._line_spec(el, "grid")
        node.frame = self._line_spec(el, "frame")
        node.carry = self._opt_expr(el, "carry", scope | {"index", "count"}, "number")
        node.carry_initial = self._opt_expr(el, "carry-initial", scope, "number")
        carry_scope = scope | {"carry", "page"}
        row_scope = scope | ({"index", "count", "running"} if node.carry is not None else {"index", "count"})
        defaults = (padding, row_height)
        h = el.find("header")
        node.header = self._row(h, node, node.style, scope | {"page"}, defaults) if h is not None else None
        ci, co = el.find("carry-in"), el.find("carry-out")
        if (ci is not None or co is not None) and node.carry is None:
            self.fail(ci if ci is not None else co, "carry-in/carry-out rows need carry=\"…\" on the table")
        node.carry_in = self._row(ci, node, node.style, carry_scope, defaults) if ci is not None else None
        node.carry_out = self._row(co, node, node.style, carry_scope, defaults) if co is not None else None
        body = [c for c in el if isinstance(c.tag, str) and c.tag not in ("column", "header", "carry-in",
                                                                            "carry-out")]
        node.body = self._row_content(body, node, node.style, scope, row_scope, defaults, in_repeat=False)
        return node

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
                node.sort = self._opt_expr(el, "sort", sc | {"index", "count"}, "string")
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
            cell.runs = self.runs(c, cell.style, scope)
            cell.x = sum(col.width for col in table.columns[:span])
            cell.width = sum(col.width for col in table.columns[span:span + cell.colspan])
            r0 = cell.runs[0] if len(cell.runs) == 1 else None
            single = r0.template.single if r0 is not None and r0.template is not None else None
            cell.simple = ((r0.template, r0.font_id, r0.size, r0.color, single.fast if single else None)
                           if r0 is not None and r0.template is not None and r0.cond is None
                           and r0.lang is None else None)
            span += cell.colspan
            cells.append(cell)
        if span > len(table.columns):
            self.fail(el, f"row has {span} cells (with spans) for {len(table.columns)} columns")
        node.cells = tuple(cells)
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


_ORDER = {
    "layout": ("import", "fields", "variables", "messages", "meta", "styles", "page-template", "pages", "flow"),
    "fragments": ("styles", "messages", "fragment"),
}


def _canonical_order(root) -> None:
    """Sort the children of <layout>, <fragments> and <page-template> into the schema's order.

    Designers may write the top-level sections in any order; the schema is a sequence because
    libxml2 reports precise ``file:line`` errors for sequences and only a vague one for interleaves.
    Elements keep their source lines. Unknown elements go last (the schema then names them).
    """
    def sort(el, order):
        kids = [c for c in el if isinstance(c.tag, str)]
        rank = {name: i for i, name in enumerate(order)}
        ordered = sorted(kids, key=lambda c: rank.get(c.tag, len(order)))
        if ordered != kids:
            for c in kids:
                el.remove(c)
            for c in ordered:
                el.append(c)
    if root.tag in _ORDER:
        sort(root, _ORDER[root.tag])
    for pt in root.iter("page-template"):
        sort(pt, ("body", "background"))


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


def load_layout(path) -> M.Layout:
    """Load, validate and compile a layout file; raises :class:`LayoutError` (``file:line: message``)."""
    return _Loader(path).load()
