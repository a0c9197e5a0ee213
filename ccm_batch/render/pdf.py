"""Render stage: the PDF backend — render events and page items onto a streaming PDF file.

``PdfRenderer(PdfOptions(...))`` implements :class:`ccm_batch.render.base.Renderer`. Each page is
painted into one content stream and written, with its page object, as soon as :meth:`page` returns;
memory stays flat whatever the length of the file (see :mod:`ccm_batch.render.pdfwriter`).

Mapping of the page model (1/1440 in, origin top-left, y down) onto PDF:

* Every content stream starts with ``0.05 0 0 -0.05 0 H cm``: user space becomes page units with y
  down, so items are written with their integer coordinates as they are. Text objects flip back with
  the text matrix ``1 0 0 -1 x y Tm`` (the baseline start), and font sizes are in units (200 = 10 pt).
* ``Text`` → Identity-H glyph ids (:mod:`ccm_batch.render.pdffont`); ``word_space`` and ``kerns``
  become ``TJ`` adjustments (``Tw`` does not apply to two-byte codes).
* ``Rule`` → a filled rectangle centred on its axis; ``Box`` → ``re`` filled and/or stroked;
  ``Image`` → an image XObject stored once per file (keyed by its path); ``Barcode`` → filled
  rectangles from :func:`ccm_batch.barcodes.rectangles`; ``Marks`` → their :meth:`rules`.
* ``Page.background`` → a form XObject defined once per file (keyed by the form's name), drawn first.
  Its bounding box is the size of the first page that uses it.
* ``Page.blank`` → no background; the page is empty unless items were put on it (e.g. marks).
* One bookmark per document: ``"<customer id> <recipient name> / <document id>"`` (empty parts
  left out), pointing at the document's first page.
* ``PdfOptions(pdfa=True)`` gives PDF/A-2b: XMP metadata, sRGB output intent, ``/Lang``, all fonts
  embedded, no transparency (image alpha flattened on white), the trailer ``/ID`` (always written),
  and no .notdef shown (characters a font lacks are drawn as "?"; composition should have
  reported them already).

Determinism: no clock is read; dates come from ``creation_date`` or the stream's job date; the same
events give byte-identical files.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import __version__
from ..barcodes import rectangles as barcode_rectangles
from ..pages import BLACK, Barcode, Box, DocumentMeta, Form, Glyphs, Image, Marks, Page, Rule, Text
from .base import DocumentFacts, FileFacts, PieceInfo, StreamInfo
from .pdffont import SHARED_CODES_LIMIT, TEXT_CACHE_LIMIT, FontResource, load_face, write_font
from .pdfresources import (SRGB_CONDITION, parse_date, pdf_date, srgb_icc_profile, write_image,
                           xmp_metadata)
from .pdfwriter import PdfWriter, num, pdf_string



@dataclass(frozen=True)
class PdfOptions:
    """How the PDF backend writes its files.

    ``compress``: Flate-compress content streams (and images, fonts). ``title``/``author``: the
    document information (``title`` defaults to the stream's title, else ``job stream seq``).
    ``creation_date``: ISO 8601 date or date-time of the job, used for /CreationDate and /ModDate
    (defaults to ``StreamInfo.job_date``; no date is written when both are empty). ``pdfa``: write
    PDF/A-2b. ``lang``: the natural language (``/Lang``), defaulting to the first document's
    ``DocumentMeta.language``. ``bookmarks``: one outline entry per document.
    ``compress_level``: zlib level 1–9.
    """

    compress: bool = True
    title: str = ""
    author: str = ""
    creation_date: str = ""
    pdfa: bool = False
    lang: str = ""
    bookmarks: bool = True
    compress_level: int = 3


_PRODUCER = f"ccm-batch {__version__}"
PAINTED_PAGES = 64
"""Content streams kept per process for :meth:`PdfRenderer._painted` (the pages of the piece being
rendered: its archived documents are written before its print pages)."""
_PAINTED: dict[int, tuple] = {}
_FILL = {}
_STROKE = {}


def _colour(cache: dict, color, operator: str) -> str:
    """``r g b <operator>`` for a 0–255 colour (a tuple, or a list from a spool), cached (bounded)."""
    color = tuple(color)
    if len(cache) >= 1024:
        cache.clear()
    op = "%s %s %s %s\n" % (*(num(round(c / 255, 4)) for c in color), operator)
    cache[color] = op
    return op


def _fill(color) -> str:
    """``r g b rg`` for a 0–255 colour."""
    try:
        return _FILL[color]
    except (KeyError, TypeError):
        return _colour(_FILL, color, "rg")


def _stroke(color) -> str:
    """``r g b RG`` for a 0–255 colour."""
    try:
        return _STROKE[color]
    except (KeyError, TypeError):
        return _colour(_STROKE, color, "RG")


class _Painter:
    """Builds one content stream (a page or a form) from page items; one handler per item kind.

    Tracks the graphics state it set (fill/stroke colour, line width, font and size, inside a text
    object or not) so repeated settings are not written again.
    """

    __slots__ = ("renderer", "fonts", "parts", "fill", "stroke", "line_width", "font", "size",
                 "in_text")

    def __init__(self, renderer: "PdfRenderer", prologue: str = ""):
        self.renderer = renderer
        self.fonts = renderer._fonts
        self.parts = [prologue] if prologue else []
        self.fill = BLACK
        self.stroke = BLACK
        self.line_width = None
        self.font = None
        self.size = 0
        self.in_text = False

    def paint(self, items) -> None:
        """Draw ``items`` in order.

        Text, nine items in ten on a business page, and Box are drawn inline here with the graphics
        state in local variables (the hot path); every other kind goes to its handler below. The
        font resource and its text cache's ``get`` are looked up again only when the font id changes
        (the cache is rotated in place, so the bound ``get`` stays valid).
        """
        append = self.parts.append
        fonts, new_font = self.fonts, self.renderer._font
        font, size, fill, in_text = self.font, self.size, self.fill, self.in_text
        res_id = res = cached = None
        for item in items:
            kind = type(item)
            if kind is Text:
                x, y, font_id, text_size, text, color, word_space, kerns = item
                if font_id != res_id:
                    res = fonts.get(font_id) or new_font(font_id)
                    res_id, cached = font_id, res.cache.get
                if not in_text:
                    append("BT\n")
                    in_text = True
                if res is not font or text_size != size:
                    append("/%s %d Tf\n" % (res.name, text_size))
                    font, size = res, text_size
                if color is not fill and color != fill:
                    append(_fill(color))
                    fill = color
                if word_space or kerns:
                    key = (text, text_size, word_space, kerns)
                    tj = res.tj_cache.get(key)
                    if tj is None:
                        if len(res.tj_cache) >= TEXT_CACHE_LIMIT:
                            res.tj_cache.clear()
                        tj = res.shared_tj.get(key)
                        if tj is None:            # first time in this process
                            if len(res.shared_tj) >= SHARED_CODES_LIMIT:
                                res.shared_tj.clear()
                            tj = res.shared_tj[key] = self._tj(item, res)
                        else:                     # drawn in an earlier file: record its characters
                            res.encode(text)
                        res.tj_cache[key] = tj
                    append("1 0 0 -1 %d %d Tm[%s]TJ\n" % (x, y, tj))
                else:
                    append("1 0 0 -1 %d %d Tm<%s>Tj\n" % (x, y, cached(text) or res.encode(text)))
                continue
            if in_text:
                append("ET\n")
                in_text = False
            if kind is Box:                       # the same as :meth:`box`, inline
                bx, by, width, height, box_fill, stroke, stroke_width = item
                if box_fill is None:
                    if stroke is None:
                        continue
                    op = "S"
                else:
                    if box_fill != fill:
                        append(_fill(box_fill))
                        fill = box_fill
                    op = "f" if stroke is None else "B"
                if stroke is not None:
                    if stroke != self.stroke:
                        append(_stroke(stroke))
                        self.stroke = stroke
                    if stroke_width != self.line_width:
                        append("%d w\n" % stroke_width)
                        self.line_width = stroke_width
                append("%d %d %d %d re %s\n" % (bx, by, width, height, op))
                continue
            self.fill = fill
            match item:
                case Rule():
                    self.rule(item)
                case Box():                       # a subclass of Box
                    self.box(item)
                case Image():
                    self.image(item)
                case Barcode():
                    self.barcode(item)
                case Marks():
                    for rule in item.rules():
                        self.rule(rule)
                case Glyphs():
                    self.in_text, self.font, self.size = False, font, size
                    self.glyphs(item)
                    font, size, in_text = self.font, self.size, False
                case Text():                      # a subclass of Text
                    self.in_text, self.font, self.size = False, font, size
                    self.text(item)
                    font, size, in_text = self.font, self.size, self.in_text
                case _:
                    raise TypeError(f"PDF backend cannot draw {type(item).__name__}")
            fill = self.fill
        self.font, self.size, self.fill, self.in_text = font, size, fill, in_text

    def content(self) -> bytes:
        """The finished content stream."""
        if self.in_text:
            self.parts.append("ET\n")
            self.in_text = False
        return "".join(self.parts).encode("ascii")

    def _end_text(self) -> None:
        self.parts.append("ET\n")
        self.in_text = False

    def _set_fill(self, color) -> None:
        if color != self.fill:
            self.parts.append(_fill(color))
            self.fill = color

    # -- handlers, one per item kind -------------------------------------------------------------

    def text(self, t: Text) -> None:
        """Draw one Text (the same as the inline path of :meth:`paint`)."""
        self.paint((Text(*t),))

    @staticmethod
    def _tj(t: Text, res: FontResource) -> str:
        """The ``TJ`` array body: glyph runs separated by adjustments (thousandths of the size)."""
        extra = {}
        text = t.text
        if t.word_space:
            for index, char in enumerate(text):
                if char == " ":
                    extra[index] = t.word_space
        for index, delta in t.kerns:
            extra[index] = extra.get(index, 0) + delta
        out, start, scale = [], 0, (-1000.0 / t.size if t.size else 0.0)
        for index in sorted(extra):
            if not extra[index] or index >= len(text):
                continue
            out.append("<%s>%s" % (res.encode(text[start:index + 1]),
                                   num(round(extra[index] * scale, 3))))
            start = index + 1
        if start < len(text):
            out.append("<%s>" % res.encode(text[start:]))
        return "".join(out)

    def glyphs(self, g: Glyphs) -> None:
        """Draw shaped glyph runs inside ``/Span <</ActualText (the characters)>> BDC … EMC``.

        Each run is one text object positioned at its start; glyph ids are written as they are
        (Identity-H) and recorded for the subset; the difference between HarfBuzz's advance and
        the font's own (``/W``) width is a ``TJ`` adjustment, and a glyph with an offset (marks)
        gets its own ``Tm``. Text extraction reads the ActualText (``Glyphs.actual``, see
        :class:`ccm_batch.pages.Glyphs`), so ligatures, joining forms and mirrored brackets do not
        matter: ``pdftotext`` gives the logical text back.
        """
        if self.in_text:
            self._end_text()
        parts = self.parts
        parts.append("/Span<</ActualText%s>>BDC\n" % pdf_string(g.actual or g.text).decode("ascii"))
        x = g.x
        for font_id, size, color, width, glyphs in g.runs:
            res = self.fonts.get(font_id) or self.renderer._font(font_id)
            face = res.face
            res.gids.update(gl[0] for gl in glyphs)
            if color != self.fill:
                self._set_fill(color)
            parts.append("BT\n/%s %d Tf\n" % (res.name, size))
            self.font, self.size = res, size
            scale = size / face.units_per_em
            pen = 0                                  # font units from the run's start
            tj: list = []
            start = None
            for gid, advance, dx, dy in glyphs:
                if dx or dy:
                    if tj:
                        parts.append("[%s]TJ\n" % "".join(tj))
                        tj = []
                    parts.append("1 0 0 -1 %s %s Tm<%04x>Tj\n"
                                 % (num(round(x + (pen + dx) * scale, 3)),
                                    num(round(g.y - dy * scale, 3)), gid))
                    start = None
                else:
                    if start is None:
                        if tj:
                            parts.append("[%s]TJ\n" % "".join(tj))
                            tj = []
                        parts.append("1 0 0 -1 %s %d Tm" % (num(round(x + pen * scale, 3)), g.y))
                        start = pen
                    tj.append("<%04x>" % gid)
                    own = face.advances[gid] if gid < face.num_glyphs else 0
                    if own != advance:
                        tj.append(num(round((own - advance) * 1000 / face.units_per_em, 3)))
                pen += advance
            if tj:
                parts.append("[%s]TJ\n" % "".join(tj))
            parts.append("ET\n")
            x += width
        parts.append("EMC\n")

    def rule(self, r: Rule) -> None:
        if self.in_text:
            self._end_text()
        if r.color != self.fill:
            self._set_fill(r.color)
        if r.direction == "v":
            self.parts.append("%s %d %d %d re f\n" % (_offset(r.x, r.thickness), r.y, r.thickness,
                                                      r.length))
        else:
            self.parts.append("%d %s %d %d re f\n" % (r.x, _offset(r.y, r.thickness), r.length,
                                                      r.thickness))

    def box(self, b: Box) -> None:
        if self.in_text:
            self._end_text()
        parts = self.parts
        if b.fill is None and b.stroke is None:
            return
        if b.fill is not None and b.fill != self.fill:
            self._set_fill(b.fill)
        if b.stroke is not None:
            if b.stroke != self.stroke:
                parts.append(_stroke(b.stroke))
                self.stroke = b.stroke
            if b.stroke_width != self.line_width:
                parts.append("%d w\n" % b.stroke_width)
                self.line_width = b.stroke_width
        op = "S" if b.fill is None else "f" if b.stroke is None else "B"
        parts.append("%d %d %d %d re %s\n" % (b.x, b.y, b.width, b.height, op))

    def image(self, i: Image) -> None:
        if self.in_text:
            self._end_text()
        name = self.renderer._image(i.resource)
        self.parts.append("q %d 0 0 %d %d %d cm /%s Do Q\n"
                          % (i.width, -i.height, i.x, i.y + i.height, name))

    def barcode(self, b: Barcode) -> None:
        if self.in_text:
            self._end_text()
        self._set_fill(BLACK)
        rects = ["%s %s %s %s re\n" % (num(x), num(y), num(w), num(h))
                 for x, y, w, h in barcode_rectangles(b)]
        if rects:
            self.parts.extend(rects)
            self.parts.append("f\n")

    def form(self, name: str) -> None:
        """Invoke form XObject ``name`` (state is saved and restored around it by ``Do``)."""
        if self.in_text:
            self._end_text()
        self.parts.append("/%s Do\n" % name)


def _offset(position: int, thickness: int) -> str:
    """``position - thickness / 2``: the near edge of a rule centred on ``position``."""
    edge = position * 2 - thickness
    return str(edge // 2) if edge % 2 == 0 else num(edge / 2)


def bookmark_title(meta: DocumentMeta) -> str:
    """The outline title of a document: ``"<customer id> <recipient name> / <document id>"``."""
    who = " ".join(part for part in (meta.customer_id, meta.recipient_name) if part)
    return f"{who} / {meta.doc_id}" if who else meta.doc_id


class PdfRenderer:
    """The PDF backend: writes one streaming PDF file per ``start_file``/``end_file`` pair.

    Event order and meaning are those of :mod:`ccm_batch.render.base`. ``end_document`` returns
    ``DocumentFacts(doc_id, first_page, page_count, sheet_count, 0, 0)``; ``end_file`` returns
    ``FileFacts(path, pages, documents, size)``.
    """

    format = "pdf"

    def __init__(self, options: PdfOptions | None = None):
        self.options = options or PdfOptions()
        self._writer: PdfWriter | None = None

    # -- events ----------------------------------------------------------------------------------

    def start_file(self, path: str, stream: StreamInfo) -> None:
        opts = self.options
        self._path = path
        self._stream = stream
        self._writer = PdfWriter(path, compress=opts.compress, level=opts.compress_level)
        self._resources = self._writer.reserve()
        self._form_resources = 0
        self._fonts: dict[str, FontResource] = {}
        self._images: dict[str, tuple[str, int]] = {}
        self._forms: dict[str, tuple[str, int]] = {}
        self._media: dict[tuple[int, int], tuple[bytes, str]] = {}
        self._pages = 0
        self._documents = 0
        self._pieces = 0
        self._meta: DocumentMeta | None = None
        self._first = 1
        self._lang = opts.lang

    def start_piece(self, piece: PieceInfo) -> None:
        self._pieces += 1

    def start_document(self, meta: DocumentMeta) -> None:
        self._meta = meta
        self._first = self._pages + 1
        if not self._lang and meta.language:
            self._lang = meta.language

    def page(self, page: Page) -> None:
        writer = self._writer
        media = self._media.get((page.width, page.height))
        if media is None:
            height_pt = num(page.height / 20)
            media = (b"/MediaBox[0 0 %s %s]/Resources %d 0 R"
                     % (num(page.width / 20).encode(), height_pt.encode(), self._resources),
                     "0.05 0 0 -0.05 0 %s cm\n" % height_pt)
            self._media[(page.width, page.height)] = media
        entries, prologue = media
        if page.items or (page.background is not None and not page.blank):
            content = self._painted(page)
            if content is None:
                painter = _Painter(self, prologue)
                if page.background is not None and not page.blank:
                    painter.form(self._form(page.background, page))
                painter.paint(page.items)
                content = painter.content()
                self._remember(page, content)
            contents = writer.add_shared_stream(content)     # the same in the archived document
            entries += b"/Contents %d 0 R" % contents
        number = writer.add_page(entries)
        self._pages += 1
        if self._pages == self._first and self._meta is not None and self.options.bookmarks:
            writer.add_outline(bookmark_title(self._meta), number, page.height / 20)

    def _remember(self, page: Page, content: bytes) -> None:
        """Keep a page's content stream for another renderer of this process drawing the same page
        object (the print file after the page's archived document), with the names it depends on."""
        if len(_PAINTED) >= PAINTED_PAGES:
            del _PAINTED[next(iter(_PAINTED))]
        substituted = any(r.substituted for r in self._fonts.values())
        _PAINTED[id(page)] = (page, content, {k: r.name for k, r in self._fonts.items()},
                              dict(self._images), dict(self._forms), substituted, self.options.pdfa)

    def _painted(self, page: Page) -> bytes | None:
        """The content stream another renderer painted for this very page, when it is what painting it
        here would give: every font, image and form that renderer had named carries the same name
        here (so whatever the page uses is named alike, and nothing new would be defined by painting
        it), no PDF/A substitution of .notdef is in it, and for a PDF/A file it was painted for one
        (a file that is not PDF/A may show .notdef). The characters drawn are recorded."""
        entry = _PAINTED.get(id(page))
        if entry is None or entry[0] is not page or entry[5]:
            return None
        _, content, fonts, images, forms, _, pdfa = entry
        if self.options.pdfa and not pdfa:        # it may show .notdef, which PDF/A forbids
            return None
        mine = self._fonts
        for font_id, name in fonts.items():
            res = mine.get(font_id)
            if res is None or res.name != name:
                return None
        if any(self._images.get(k) != v for k, v in images.items()) or \
                any(self._forms.get(k) != v for k, v in forms.items()):
            return None
        if page.background is not None and not page.blank and page.background.name not in self._forms:
            return None
        texts: dict[str, list[str]] = {}
        for item in page.items:
            if isinstance(item, Text):
                texts.setdefault(item.font, []).append(item.text)
            elif isinstance(item, Glyphs):        # shaped runs: painted here (their glyphs recorded)
                return None
        for font_id, drawn in texts.items():
            mine[font_id].note(drawn)
        return content

    def end_document(self) -> DocumentFacts:
        meta = self._meta
        count = self._pages - self._first + 1
        sheets = (count + 1) // 2 if meta.duplex else count
        self._documents += 1
        self._meta = None
        return DocumentFacts(meta.doc_id, self._first, count, sheets, 0, 0)

    def end_piece(self) -> None:
        pass

    def end_file(self) -> FileFacts:
        writer = self._writer
        for resource in self._fonts.values():
            write_font(writer, resource)
        fonts = "".join("/%s %d 0 R" % (r.name, r.number) for r in self._fonts.values())
        images = "".join("/%s %d 0 R" % entry for entry in self._images.values())
        forms = "".join("/%s %d 0 R" % entry for entry in self._forms.values())
        writer.write_object(self._resources, self._resource_dict(fonts, images + forms))
        if self._form_resources:
            writer.write_object(self._form_resources, self._resource_dict(fonts, images))
        catalog, info = self._document_info()
        size = writer.close(catalog, info)
        self._writer = None
        return FileFacts(self._path, self._pages, self._documents, size)

    def abort(self) -> None:
        """Stop writing after an error (the orchestrator deletes the partial file)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None

    # -- resources -------------------------------------------------------------------------------

    def _font(self, font_id: str) -> FontResource:
        """The file's resource for ``font_id``, created on first use."""
        resource = FontResource(load_face(font_id), "F%d" % (len(self._fonts) + 1),
                                self._writer.reserve(), avoid_notdef=self.options.pdfa)
        self._fonts[font_id] = resource
        return resource

    def _image(self, path: str) -> str:
        """The resource name of image ``path``, writing its XObject on first use."""
        entry = self._images.get(path)
        if entry is None:
            number = write_image(self._writer, path, pdfa=self.options.pdfa)
            entry = ("Im%d" % (len(self._images) + 1), number)
            self._images[path] = entry
        return entry[0]

    def _form(self, form: Form, page: Page) -> str:
        """The resource name of background ``form``, writing its form XObject on first use."""
        entry = self._forms.get(form.name)
        if entry is None:
            if not self._form_resources:
                self._form_resources = self._writer.reserve()
            painter = _Painter(self)
            painter.paint(form.items)
            number = self._writer.add_shared_stream(     # the same in every archived document
                painter.content(),
                b"/Type/XObject/Subtype/Form/BBox[0 0 %d %d]/Resources %d 0 R"
                % (page.width, page.height, self._form_resources))
            entry = ("Fm%d" % (len(self._forms) + 1), number)
            self._forms[form.name] = entry
        return entry[0]

    @staticmethod
    def _resource_dict(fonts: str, xobjects: str) -> bytes:
        body = ["<<"]
        if fonts:
            body.append("/Font<<%s>>" % fonts)
        if xobjects:
            body.append("/XObject<<%s>>" % xobjects)
        body.append(">>")
        return "".join(body).encode("ascii")

    def _document_info(self) -> tuple[bytes, bytes]:
        """Catalogue extras (``/Lang``, PDF/A metadata and output intent) and the Info dictionary."""
        opts, stream, writer = self.options, self._stream, self._writer
        title = opts.title or stream.title or " ".join(
            part for part in (stream.job, stream.stream, str(stream.seq)) if part)
        created = parse_date(opts.creation_date or stream.job_date)
        info = [b"/Title", pdf_string(title)]
        if opts.author:
            info += [b"/Author", pdf_string(opts.author)]
        info += [b"/Creator", pdf_string("ccm-batch"), b"/Producer", pdf_string(_PRODUCER)]
        if created is not None:
            stamp = pdf_string(pdf_date(created))
            info += [b"/CreationDate", stamp, b"/ModDate", stamp]
        catalog = []
        lang = self._lang or "fr"
        catalog += [b"/Lang", pdf_string(lang)]
        if opts.pdfa:
            xmp = xmp_metadata(title=title, author=opts.author, creator="ccm-batch",
                               producer=_PRODUCER, created=created, lang=lang)
            metadata = writer.add_stream(xmp, b"/Type/Metadata/Subtype/XML", compress=False)
            profile = writer.add_shared_stream(srgb_icc_profile(), b"/N 3")
            condition = pdf_string(SRGB_CONDITION)
            catalog.append(b"/Metadata %d 0 R/OutputIntents[<</Type/OutputIntent/S/GTS_PDFA1"
                           b"/OutputConditionIdentifier%s/Info%s/DestOutputProfile %d 0 R>>]"
                           % (metadata, condition, condition, profile))
        return b"".join(catalog), b"".join(info)
