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
  Only XML white space (space, tab, CR, LF) collapses: U+00A0 and U+202F are kept as typed.
- Fragments: ``<import href="fragments/x.xml"/>`` makes the file's ``<fragment name=…>`` usable with
  ``<use fragment=…/>`` (also its ``<styles>`` and ``<messages>``). Names are global to a load: a
  fragment name or message key defined twice (in one file or across imports) is a load error naming
  both places, a style defined twice one naming the second — nothing is silently overridden. A fragment is compiled where it is
  used, in the user's scope, so it may refer to the user's fields; errors name the fragment file.
- Envelope windows: see :data:`ccm_batch.layout.units.WINDOWS`.
- Content elements are compiled by :class:`ccm_batch.layout.content.ContentCompiler`.
"""
from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from ..errors import LayoutError
from . import model as M
from .content import ContentCompiler
from .expr import Expr, ExprError, Template
from .functions import check_locale
from .paths import PathUse, names_in, read_extract
from .units import PAGE_SIZES, parse_color, parse_length

from ..records.validate import FieldSpec

SCHEMA_PATH = Path(__file__).with_name("layout.rng")
_schema = None

BUILTINS = frozenset({"job", "job_date", "record_number", "language", "locale", "currency"})
PAGE_VARS = frozenset({"page", "pages", "sheet", "is_last"})
_INHERITED = ("family", "bold", "italic", "size", "leading", "color", "align", "indent", "first_indent")
_STYLE_ATTRS = {"font": "family", "bold": "bold", "italic": "italic", "size": "size", "leading": "leading",
                "color": "color", "align": "align", "indent": "indent", "first-indent": "first_indent",
                "space-before": "space_before", "space-after": "space_after",
                "keep-with-next": "keep_with_next", "keep-together": "keep_together",
                "keep-with-previous": "keep_with_previous",
                "widows": "widows", "orphans": "orphans", "hyphenate": "hyphenate",
                "typographic": "typographic"}
_ALIGN = {"left": "start", "right": "end"}
_WS = re.compile(r"[ \t\r\n]+")            # XML white space only (a no-break space stays)
_HOLE = re.compile(r"\{([^{}]*)\}")


def schema() -> etree.RelaxNG:
    """The layout RELAX NG schema (loaded once)."""
    global _schema
    if _schema is None:
        _schema = etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))
    return _schema


def _fonts():
    from .. import fonts
    return fonts


class _Loader(ContentCompiler):
    """One load: the files read, fragments, styles and the scope for expression checks."""

    def __init__(self, path):
        self.path = Path(path).resolve()
        self.files = [str(self.path)]
        self.fragments = {}                       # name -> (element, file)
        self.style_defs = {}                      # name -> (dict of props, element, file)
        self.messages = {}
        self.message_src = {}                     # key -> file:line of its definition
        self.using = []                           # fragment names being expanded (cycle check)
        self.path_uses = []                       # PathUse of every expression (ccm_batch.layout.paths)

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
        self._read_fonts(root.find("fonts"))
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
        if self.base_style.typographic:       # messages print with typographic apostrophes too
            from .content import typographic_apostrophes
            for texts in self.messages.values():
                for lang in texts:
                    texts[lang] = typographic_apostrophes(texts[lang])
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
            for seq in (sequence,) + tuple(c[1] for c in sequence.choices):
                for t in (seq.first, seq.rest, seq.last, seq.only):
                    if t is not None and t.body is None:
                        self.fail(seq_el, f"page template {t.name!r} holds the flow but has no <body>")
        extract_names = read_extract(root.find("extract"), self.path.parent, self.fail)
        from .variants import read_channel_variants
        variants = read_channel_variants(self, root.find("channels"), scope)
        layout = M.Layout(
            channels=variants,
            name=root.get("name"), doc_type=root.get("doc-type", root.get("name")),
            record=root.get("record", ""), duplex=root.get("duplex") == "true", path=str(self.path),
            files=list(self.files), field_specs=specs, fields=fields, variables=variables,
            messages=self.messages, meta=meta, styles={k: v for k, v in self.style_defs.items()},
            templates=templates, sequence=sequence, flow=flow, locale=locale_expr,
            currency=currency_expr, language=language_expr, base_style=self.base_style)
        layout.path_uses = tuple(self.path_uses)
        layout.extract_names = extract_names
        return layout

    # -- fonts ---------------------------------------------------------------------------------
    def _read_fonts(self, fonts_el) -> None:
        """Register the layout's ``<font-face>`` files and set its fallback chains (process-wide,
        like every font registration; a layout without ``<fonts>`` gets the default chain)."""
        fonts = _fonts()
        fonts.reset_fallbacks()
        if fonts_el is None:
            return
        self.font_files = []
        chains = []
        for face in fonts_el.findall("font-face"):
            family = face.get("family").strip()
            styles = [(attr, bold, italic) for attr, bold, italic in
                      (("regular", False, False), ("bold", True, False), ("italic", False, True),
                       ("bold-italic", True, True)) if face.get(attr)]
            if not styles:
                self.fail(face, f"font-face {family!r} names no file (regular, bold, italic, bold-italic)")
            for attr, bold, italic in styles:
                path = (Path(self._file_of(face)).parent / face.get(attr)).resolve()
                if not path.is_file():
                    self.fail(face, f"font-face {family!r}: {attr} font file {face.get(attr)!r} not found "
                                    f"({path})")
                try:
                    fonts.register_font(str(path), alias=family, family=family, bold=bold, italic=italic)
                except (ValueError, OSError) as exc:
                    self.fail(face, f"font-face {family!r}: {attr} file {face.get(attr)!r} is not a usable "
                                    f"font: {exc}")
                self.files.append(str(path))
            if face.get("fallback") is not None:
                chains.append((face, family, face.get("fallback")))
        try:
            if fonts_el.get("fallback") is not None:
                fonts.set_fallbacks(_families(fonts_el.get("fallback")))
        except KeyError as exc:
            self.fail(fonts_el, f"fallback: {exc.args[0]}")
        for face, family, chain in chains:
            try:
                fonts.set_fallbacks(_families(chain), family=family)
            except KeyError as exc:
                self.fail(face, f"fallback: {exc.args[0]}")

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
            key = msg.get("key")
            if key in self.message_src:
                self.fail(msg, f"message {key!r} already defined at {self.message_src[key]}")
            self.message_src[key] = self.where(msg)
            texts = {t.get("lang"): _WS.sub(" ", t.text or "").strip(" ") for t in msg.findall("text")}
            self.messages[msg.get("key")] = texts

    def _style_attrs(self, el) -> dict:
        props = {}
        for attr, prop in _STYLE_ATTRS.items():
            value = el.get(attr)
            if value is None:
                continue
            try:
                if prop == "hyphenate":
                    props[prop] = value
                elif prop in ("bold", "italic", "keep_with_next", "keep_together", "typographic",
                              "keep_with_previous"):
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
            base.update(space_before=0, space_after=0, keep_with_next=False, keep_together=False,
                        keep_with_previous=False)
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
            compiled = Expr(source, mode, scope)
        except ExprError as exc:
            self.fail(el, f"{attr}: {exc}")
        self._record_paths(el, source)
        return compiled

    def template(self, el, source, scope, attr="text") -> Template:
        try:
            compiled = Template(source, scope)
        except ExprError as exc:
            self.fail(el, f"{attr}: {exc}")
        if source and "{" in source:
            for hole in _HOLE.findall(source.replace("{{", "").replace("}}", "")):
                self._record_paths(el, hole)
        return compiled

    def _record_paths(self, el, source) -> None:
        """Remember the element/attribute names ``source`` reads (checked against the extract)."""
        if not source:
            return
        for kind, name in names_in(source):
            self.path_uses.append(PathUse(kind, name, source, self.where(el)))

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
            if name in BUILTINS or name in PAGE_VARS or name in ("index", "count", "item", "running", "carry", "value"):
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
                # "any": compose turns the value into text itself (numbers canonical, not XPath's
                # string(), which prints 1.2e+09); see ccm_batch.layout.functions.canonical_number
                mode = "nodes" if attr == "inserts" else ("boolean" if attr == "mail-separately" else "any")
                kw[attr.replace("-", "_")] = self.expr(el, el.get(attr), scope, mode, attr)
        kw["index"] = tuple((ix.get("name"), self.expr(ix, ix.get("value"), scope, "any", "value"))
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
        return M.PageTemplate(el.get("name"), w, h, body, background, fixed, self.where(el),
                              (el.get("paper") or "").strip(), el.get("sparse") == "true")

    def _read_sequence(self, el, templates) -> M.PageSequence:
        def one(e):
            def get(attr):
                name = e.get(attr)
                if name is None:
                    return None
                if name not in templates:
                    self.fail(e, f"{attr}: unknown page template {name!r} (defined: {', '.join(templates)})")
                return templates[name]
            first = get("first")
            rest = get("rest") or first
            return M.PageSequence(first, rest, get("last"), get("only"), get("first-back"))
        seq = one(el)
        choices = tuple((self.expr(w, w.get("test"), self.scope, "boolean", "test"), one(w))
                        for w in el.findall("when"))
        template = self._opt_expr(el, "template", self.scope | {"page"}, "string")
        self.templates = templates
        return seq._replace(choices=choices, template=template)


_ORDER = {
    "layout": ("import", "extract", "fonts", "fields", "variables", "messages", "meta", "styles", "page-template",
               "pages", "flow", "channels"),
    "fragments": ("styles", "messages", "fragment"),
}


def _families(text: str) -> list[str]:
    """A comma-separated list of family names."""
    return [f.strip() for f in text.split(",") if f.strip()]


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


def load_layout(path) -> M.Layout:
    """Load, validate and compile a layout file; raises :class:`LayoutError` (``file:line: message``)."""
    return _Loader(path).load()
