"""Render stage: the AFP (MO:DCA-P) backend — page model items onto structured fields, streamed to disk.

Print file layout (afp.md §4.1)::

    BRG                                       print-file resource group, written by start_file
      BRS F1CCMBAT  BFM  BMM MMSIMPLX … EMM  BMM MMDUPLEX … EMM  EFM  ERS    inline form map
      BRS IMG00001  BIM … EIM  ERS            each declared image, once (IOCA, included by IOB)
      BRS O1F00001  BMO AEG … EMO  ERS        each declared background Form, as a page overlay
    ERG
    BDT DOC00001 (X'01' CCSID 500)  NOP "ccm-batch … job=… stream=…"
      BNG G0000001                            one named page group per document
        TLE DocId  TLE CustomerId  TLE DocType  TLE DocDate  TLE <layout index fields>…
        IMM MMSIMPLX | MMDUPLEX               per DocumentMeta.duplex (MMSnnnnn | MMDnnnnn: a page's paper)
        BPG P0000001
          BAG  MCF  [MPO]  PGD  PTD  EAG      units 1440/inch = the page model's units
          [IPO O1F00001]                      background Form as overlay
          BPT PTX… EPT | IOB | BIM…EIM | BBC…EBC   one block per run of items, in page order
        EPG
      ENG                                     end_document() → offset/length of BNG…ENG
    EDT

Choices (documented here as the brief asks):

* **Z-order**: items are written in page order. Text, rules, boxes and marks go into one text object
  (BPT…EPT) until an image or BCOCA bar code comes; that object closes, the image/bar code follows,
  and later text opens a new text object. A background Form comes first (under everything).
* **Text**: each run is ``[AMB y] AMI x [SCFL] [STC/SEC] [SVI] TRN…`` in a PTX; TRN ≤ 253 bytes.
  ``word_space`` sets SVI = font space width + word_space (X'40' is the variable space; U+00A0 is not
  stretched, as in PDF). ``kerns`` split the run and insert **RMI** (relative) moves: an AMI would
  need our own glyph metrics, RMI lets the printer's metrics place the glyphs exactly as the PDF does.
  Colour: STC X'0008' for black, SEC RGB otherwise; re-emitted only on change within a text object.
* **Fonts** (two kinds, chosen per text run):

  - *resident* outline character sets, size from the MCF X'1F' triplet (FtHeight = Text.size):
    LiberationSans* → Helvetica ``CZH200/300/400/500`` (regular/italic/bold/bold-italic), Serif →
    Times ``CZN2..5``, Mono → Courier ``CZ42..5``, text in code page ``T1001140`` (CP1140 = Latin-1
    + €). Liberation is metric-compatible with these, so line breaks composed with Liberation
    metrics hold; every AFP server has them. Used for a Liberation run whose characters the code
    page holds — so files whose text is Latin-1 are byte-for-byte what they were before issue 12.
  - *Unicode* runs (issue 12): a run in any other font (the fallback fonts — DejaVu Sans, Noto Sans
    CJK — or a layout's own fonts), or a Liberation run with a character outside the code page (œ —
    ’ Ł Ω Ж …), is written in **UTF-16BE** (CCSID 1200) with a **TrueType font carried in the print
    file's resource group**: ``BRS (X'21' 92) BOC OCD… EOC ERS`` holding a subset of the very font
    composition measured with (:func:`ccm_batch.fonts.embed.truetype_subset`: the characters the
    run uses, original advance widths, a Unicode cmap), mapped on each page by an **MDR** (FQN X'DE'
    name, X'BE' LID, X'8B' data-object font descriptor: TrueType, Unicode BMP, size) — the
    MO:DCA "data-object font" mechanism Apache FOP also uses. The printer places each glyph by the
    font's own advance, so AFP and PDF widths agree (right-aligned amounts end at the same x).
    ``AfpOptions.fonts`` lists the fonts and characters to carry (:func:`collect_fonts` over the
    documents; the run collects them while composing). Requires a print server with TrueType/
    OpenType support (IBM PSF and InfoPrint Manager with the AFP Font Collection / TrueType
    support, Ricoh ProcessDirector, or an AFP viewer that reads data-object fonts).

  A run needing a font that ``AfpOptions.fonts`` does not declare falls back to the resident font
  and the code page's substitutions (œ → oe …, see :mod:`ccm_batch.afp.ptoca`), counted in
  ``stats["substituted"]`` (and ``stats["unknown_fonts"]`` for a font mapped to Helvetica); the run
  report lists them as warnings. A character missing from a declared subset is counted in
  ``stats["undeclared_glyphs"]``.
* **Rules, boxes, marks**: every rectangle is a PTOCA **DIR** whose width (toward +B, FOP's convention)
  is the rectangle's height — vertical rules too, so only one width convention is relied on (afp.md
  §15.2). Widths above ``AfpOptions.rule_width_max`` are drawn as stacked strips (set 192 for PT1 devices).
  Rules are centred on their axis; box strokes are centred on the box edge. ``Marks`` via ``Marks.rules()``.
* **Images**: IOCA, declared once in the resource group for every path in ``AfpOptions.images`` and
  placed by IOB (area = the Image box, scale-to-fill). The resource group precedes every document, so an
  image first met while rendering and not declared cannot join it without breaking the BNG offsets
  already reported: it is written as an inline image object in the page (counted in
  ``stats["inline_images"]``). Use :func:`collect_resources` over the spool to declare them all.
* **Forms** (page backgrounds): Forms listed in ``AfpOptions.forms`` become overlays (BMO in the
  resource group, MPO + IPO per page); any other Form is drawn as repeated items under the page items
  (``stats["form_pages_inline"]``).
* **Bar codes**: BCOCA objects (:mod:`ccm_batch.afp.bcoca`), IMb as BCOCA USPS 4-state (X'22').
  ``barcode_mode="rules"`` draws the modules as rectangles from ``ccm_batch.barcodes.rectangles``.
* **Form map**: inline, two medium maps (simplex ``F4 01``, duplex ``F4 02``), sheet size
  ``AfpOptions.medium_size``; IMM per document. Per paper of ``AfpOptions.media`` (the job's
  ``[media]``, named by page templates' ``paper``) two more, ``MMSnnnnn``/``MMDnnnnn``, whose MMC
  selects the input bin (``E1 0n``); a front page whose paper differs from the sheet before gets an
  IMM of its map before its BPG (an IMM starts a new sheet; back pages share their front's paper).
  Every medium map declares the print file's sheet size (``medium_size``). Servers must be told
  ``FORMDEF=F1CCMBAT`` (or DUMMY).
* **Determinism**: no clock is read; names are sequence numbers; the NOP carries the job date only.

Field order compared with Apache FOP 2.8 on an equivalent page (tests/fixtures/afp/fop_invoice.*, test
``test_field_order_matches_fop_on_an_equivalent_page``): from BPG to ENG the sequences are identical —
``BPG BAG MCF PGD PTD EAG BPT PTX EPT IOB EPG ENG`` — and inside the PTX both write
``AMB AMI SCFL [SVI] TRN … AMB AMI DIR … SEC DIR … NOP``. Differences, all deliberate:

* FOP writes IMM *before* the group's TLEs; the grammar (afp.md §4) and ACIF want TLEs first, so we
  write TLE…, then IMM (our ``check`` flags FOP's order);
* FOP's BDT has no X'01' CCSID triplet (PyAFP strict rejects it); ours declares CCSID 500;
* FOP uses 240 L-units/inch (2400 per 10 in); we use 1440, the page model's unit, in PGD/PTD/OBD/IOB;
* FOP maps raster character sets (``C0H200A0``…, one per size) with code page T1V10500; we map outline
  sets (``CZH200``…) with the size in X'1F'/X'5D' and code page T1001140 (has €);
* FOP emits SVI after every SCFL; we emit it only for justified runs (and to undo one);
* FOP leaves black as the default colour and writes SEC for other colours; we write STC X'0008' for
  black and SEC RGB otherwise (explicit black, no device-default surprise);
* FOP names BAG/BPT/BOG (AEG00001, PT000001…); we leave them unnamed (names are optional);
* FOP may continue a PTOCA chain across PTX fields; every PTX of ours starts with X'2BD3' and ends
  with an unchained NOP; FOP puts no form map in the file, we put an inline one.
"""
from __future__ import annotations

import codecs
import os
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from .. import __version__
from .. import fonts as fonts_registry
from ..afp import bcoca, fields as F, ioca, ptoca
from ..afp.ptoca import PtxPacker, amb, ami, color as cs_color, dir_rule, rmi, scfl, svi, trn, trn_utf16
from ..errors import OutputError
from ..pages import Barcode, Box, DocumentMeta, Form, Glyphs, Image, Marks, Page, Rule, Text
from .base import DocumentFacts, FileFacts, PieceInfo, StreamInfo

A4 = (11906, 16838)
_DOC_CODECS = {500: "cp500", 37: "cp037", 1140: "cp1140", 1148: "ccm-cp1148"}
_MAX_POS = 0x7FFF
_AMI = struct.Struct(">BBh").pack
_AMB_AMI = struct.Struct(">BBhBBh").pack


@dataclass(frozen=True)
class AfpOptions:
    """How the AFP backend writes a print file (all fields have working defaults).

    ``code_page``: AFP code page of the text fonts (T1001140, T1001148, T1V10500, T1V10037).
    ``document_ccsid``: CCSID declared on BDT; TLE names/values and NOPs are encoded in it
    (500, 37, 1140 or 1148 — must match the OnDemand application's code page).
    ``form_map``/``simplex_map``/``duplex_map``: names of the inline form map and its medium maps.
    ``medium_size``: sheet size (L-units) for the MDD. ``images``: image paths declared once in the
    resource group. ``forms``: background Forms written as overlays. ``image_mode``: ``bilevel`` or
    ``color``. ``barcode_mode``: ``bcoca`` or ``rules``. ``tle_fields``: (TLE name, DocumentMeta
    attribute) pairs written before the layout's index fields; ``tle_values`` replaces all of that
    with a function ``meta -> [(name, value)]`` (e.g. from ccm_batch.archive). ``rule_width_max``:
    thickest single DIR. ``document_name``: BDT name (default ``DOC`` + stream sequence).
    ``job_date``: written in the producer NOP (default: ``StreamInfo.job_date``); no clock is read.
    With a ``document_ccsid`` other than 500, give ``tle_values`` the matching codec.
    ``fonts``: ``(font id, characters)`` pairs — TrueType fonts carried in the resource group for
    Unicode text runs (see the module docstring and :func:`collect_fonts`).
    ``media``: ``(paper name, input bin)`` pairs (the job's ``[media]``): each adds a simplex and a
    duplex medium map selecting that bin (MMC X'E1'), invoked for the sheets whose pages name it.
    """
    code_page: str = "T1001140"
    document_ccsid: int = 500
    form_map: str = "F1CCMBAT"
    simplex_map: str = "MMSIMPLX"
    duplex_map: str = "MMDUPLEX"
    medium_size: tuple = A4
    images: tuple = ()
    forms: tuple = ()
    image_mode: str = "bilevel"
    barcode_mode: str = "bcoca"
    tle_fields: tuple = (("DocId", "doc_id"), ("CustomerId", "customer_id"),
                         ("DocType", "doc_type"), ("DocDate", "date"))
    tle_values: Callable | None = None
    rule_width_max: int = 0x7FFF
    document_name: str = ""
    job_date: str = ""
    fonts: tuple = ()
    media: tuple = ()


def media_maps(media) -> dict[str, tuple[str, str, int]]:
    """Paper name -> (simplex medium map, duplex medium map, input bin) for ``AfpOptions.media``:
    ``MMS00001``/``MMD00001`` for the first medium, and so on (8-character names)."""
    return {name: (f"MMS{i:05d}", f"MMD{i:05d}", int(source)) for i, (name, source) in enumerate(media, 1)}


# --- fonts -----------------------------------------------------------------------------------
_SPACE_PER_MILLE = {"H": 278, "N": 250, "4": 600}   # Helvetica/Arial, Times, Courier (= Liberation)


def afp_font(font_id: str) -> tuple[str, int, bool]:
    """(outline character set name, space width per 1000 em, known?) for a page-model font id."""
    low = font_id.lower().replace(" ", "")
    family, _, style = low.partition("-")
    known = True
    if "mono" in family or "courier" in family:
        face = "4"
    elif "serif" in family or "times" in family:
        face = "N"
    elif "sans" in family or "helvetica" in family or "arial" in family:
        face = "H"
    else:
        face, known = "H", False
    bold = "bold" in style or "bold" in family
    italic = "italic" in style or "oblique" in style
    weight = "5" if bold and italic else "4" if bold else "3" if italic else "2"
    return f"CZ{face}{weight}00", _SPACE_PER_MILLE[face], known


RESIDENT_FAMILIES = ("LiberationSans", "LiberationSerif", "LiberationMono")
_RESIDENT_MAP = ptoca._encoding_map("cp1140")


def resident(font_id: str) -> bool:
    """True for the Liberation fonts, printed with resident Helvetica/Times/Courier."""
    return font_id.startswith(RESIDENT_FAMILIES)


def code_page_lacks(text: str, encoding_map=_RESIDENT_MAP) -> bool:
    """True when the code page (``encoding_map``) has no code for a character of ``text``: in a resident
    font, such a run is written as UTF-16 with a carried TrueType font (see the module docstring)."""
    if text.isascii():
        return False
    try:
        codecs.charmap_encode(text, "strict", encoding_map)
    except UnicodeEncodeError:
        return True
    return False


_LACKING: dict[str, bool] = {}     # non-ASCII text -> the resident code page lacks one of its characters


def note_fonts(items, found: dict) -> None:
    """Add to ``found`` (font id -> set of characters) the Unicode runs among ``items``.

    For a resident font the answer depends on the text alone: non-ASCII texts are looked up in a
    per-process table (the same labels and names recur on every page) before the code page is tried."""
    for item in items:
        if type(item) is Text:
            text = item.text        # ASCII in a resident font, nine runs in ten: no call
            if not text:
                continue
            font = item.font
            if font.startswith(RESIDENT_FAMILIES):
                if text.isascii():
                    continue
                lacking = _LACKING.get(text)
                if lacking is None:
                    if len(_LACKING) >= 8192:
                        _LACKING.clear()
                    lacking = _LACKING[text] = code_page_lacks(text)
                if not lacking:
                    continue
            found.setdefault(font, set()).update(text)
        elif type(item) is Form:
            note_fonts(item.items, found)


def collect_fonts(pages: Iterable[Page]) -> tuple[tuple[str, str], ...]:
    """The ``AfpOptions.fonts`` value for ``pages`` (backgrounds included): sorted, deterministic."""
    found: dict[str, set] = {}
    for page in pages:
        if page.background is not None:
            note_fonts(page.background.items, found)
        note_fonts(page.items, found)
    return fonts_option(found)


def fonts_option(found: dict) -> tuple[tuple[str, str], ...]:
    """``{font id: characters}`` as the sorted ``AfpOptions.fonts`` tuple."""
    return tuple((font, "".join(sorted(chars))) for font, chars in sorted(found.items()))


_PROGRAMS: dict[tuple[str, str], bytes] = {}


def font_program(font_id: str, chars: str) -> bytes:
    """The TrueType subset of ``font_id`` for ``chars`` (cached per process: every print file of a
    run carries the same subsets)."""
    key = (font_id, chars)
    program = _PROGRAMS.get(key)
    if program is None:
        from ..fonts import embed
        try:
            by_cp = embed.glyph_ids(font_id, chars)
        except (KeyError, OSError) as exc:
            raise OutputError(f"AFP backend: cannot read font {font_id!r}: {exc}") from None
        program = _PROGRAMS[key] = embed.truetype_subset(font_id, sorted(set(by_cp.values())), by_cp)
    return program


def _encodable(ch: str, encoding_map) -> bool:
    try:
        codecs.charmap_encode(ch, "strict", encoding_map)
    except UnicodeEncodeError:
        return False
    return True


def collect_resources(pages: Iterable[Page]) -> tuple[tuple[str, ...], tuple[Form, ...]]:
    """Image paths and background Forms used by ``pages`` (first-use order), for :class:`AfpOptions`."""
    images: dict[str, None] = {}
    forms: dict[str, Form] = {}

    def walk(items):
        for item in items:
            if isinstance(item, Image):
                images.setdefault(item.resource)
    for page in pages:
        if page.background is not None:
            forms.setdefault(page.background.name, page.background)
            walk(page.background.items)
        walk(page.items)
    return tuple(images), tuple(forms.values())


def _name(prefix: str, n: int) -> str:
    """An 8-character token name: prefix + zero-padded number (base 36 past the decimal range)."""
    width = 8 - len(prefix)
    if n < 10 ** width:
        return f"{prefix}{n:0{width}d}"
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return (prefix + out.rjust(width, "0"))[-8:]


def _clamp(v: int) -> int:
    return 0 if v < 0 else _MAX_POS if v > _MAX_POS else v


class _Body:
    """Builds the object part of one page or overlay: text objects, included objects, font LIDs."""

    __slots__ = ("r", "lids", "groups", "mdr_groups", "out", "packer", "lid", "y", "color", "svi",
                 "runs", "kerned", "embedded", "unicode_fonts")

    def __init__(self, renderer: "AfpRenderer"):
        self.r = renderer
        # the renderer's maps every text looks in, held here: typed in the compiled core (afp.pxd),
        # a look-up is then a C call, not an attribute of the renderer and a method found by name
        self.runs = renderer.runs
        self.kerned = renderer.kerned
        self.embedded = renderer.embedded
        self.unicode_fonts = renderer.unicode_fonts
        self.lids: dict = {}
        self.groups: list[bytes] = []
        self.mdr_groups: list[bytes] = []
        self.out: list[bytes] = []
        self.packer = PtxPacker()
        self._reset_text_state()

    def _reset_text_state(self):
        self.lid = None
        self.y = None
        self.color = None
        self.svi = None

    def close_text(self) -> None:
        """End the current text object (BPT … EPT), if any."""
        if self.packer:
            self.out.append(_BPT + self.packer.take() + _EPT)
            self._reset_text_state()

    def items(self, items) -> None:
        for item in items:
            t = type(item)
            if t is Text:
                self.text(item)           # compiled (afp.pxd): a direct C call
            elif t is Rule:
                self.rule(item)
            elif t is Box:
                self.box(item)
            elif t is Marks:
                for rule in item.rules():
                    self.rule(rule)
            elif t is Image:
                self.image(item)
            elif t is Barcode:
                self.barcode(item)
            elif t is Form:
                self.items(item.items)
            elif t is Glyphs:
                raise OutputError(f"AFP backend: shaped right-to-left / complex-script text "
                                  f"{item.text[:40]!r} cannot be written to AFP (see the README, "
                                  f"'Printer and font requirements'); compose it for PDF only")
            else:
                raise OutputError(f"AFP backend: unknown page item {t.__name__}")

    # -- text --------------------------------------------------------------------------------
    def _font(self, font: str, size: int) -> tuple[int, int]:
        key = (font, size)
        got = self.lids.get(key)
        if got is not None:
            return got
        r = self.r
        charset, space, known = r.font_info(font)
        lid = len(self.lids) + 1
        if lid > 254:
            raise OutputError("AFP backend: more than 254 font/size combinations on one page")
        group = r.mcf_group(charset, size, lid)
        self.groups.append(group)
        got = self.lids[key] = (lid, round(size * space / 1000))
        return got

    def _unicode_font(self, font: str, size: int, full_name: str) -> tuple[int, int]:
        key = (font, size, "unicode")
        got = self.lids.get(key)
        if got is not None:
            return got
        lid = len(self.lids) + 1
        if lid > 254:
            raise OutputError("AFP backend: more than 254 font/size combinations on one page")
        group, space = self.r.unicode_font(font, full_name, size, lid)
        self.mdr_groups.append(group)
        got = self.lids[key] = (lid, space)
        return got

    def text(self, t: Text) -> None:
        """One run; on the code-page path the encoded run of each text is remembered per process and
        code page (texts the code page lacks are encoded each time, so every substitution is counted)."""
        font, size, s, kerns = t.font, t.size, t.text, t.kerns
        if not s:
            return
        r = self.r
        emb = self.embedded.get(font)       # a text in runs is one the code page holds: no new check
        if emb is not None and (font in self.unicode_fonts or not s.isascii() and s not in self.runs
                                and r.lacks(s)):      # (a resident font here)
            full_name, chars = emb
            if not chars.issuperset(s):
                for ch in set(s) - chars:
                    r.stats["undeclared_glyphs"][ch] += 1
            lid, space = self._unicode_font(t.font, t.size, full_name)
            self._unicode_run(t, lid, space)
            return
        f = self.lids.get((font, size))
        if f is None:
            f = self._font(font, size)
        blob = self._controls(t, f[0], f[1])
        if kerns:
            run = self.kerned.get((s, kerns))
            if run is None:
                run = r.encode_kerned(s, kerns)
            blob += run
        else:
            run = self.runs.get(s)
            if run is None:
                run = r.encode_run(s)
            blob += run
        self.packer.add(blob)

    def _controls(self, t: Text, lid: int, space: int) -> bytes:
        """The control sequences before a run's text: ``[AMB] AMI [SCFL] [colour] [SVI]`` (only what changed)."""
        x = t.x
        if x < 0 or x > _MAX_POS:
            x = _clamp(x)
        y = t.y
        if y != self.y:
            self.y = y
            blob = _AMB_AMI(4, 0xD3, _clamp(y), 4, 0xC7, x)
        else:
            blob = _AMI(4, 0xC7, x)
        font_changed = lid != self.lid
        if font_changed:
            blob += scfl(lid)
            self.lid = lid
        if t.color != self.color:
            blob += cs_color(t.color)
            self.color = t.color
        ws = t.word_space
        if ws or self.svi is not None:
            want = space + ws
            if font_changed or want != self.svi:
                blob += svi(want)
                self.svi = want
        return blob

    def _unicode_run(self, t: Text, lid: int, space: int) -> None:
        """A text run in UTF-16 as ``[AMB] AMI [SCFL] [colour] [SVI] TRN…`` (its TRN and RMI control
        sequences remembered per process)."""
        blob = self._controls(t, lid, space)
        text, kerns = t.text, t.kerns
        runs = self.r.unicode_runs
        run = runs.get((text, kerns))
        if run is None:
            run = self._kerned(text, kerns, trn_utf16) if kerns else trn_utf16(text)
            if len(runs) >= 8192:
                runs.clear()
            runs[(text, kerns)] = run
        self.packer.add(blob + run)

    @staticmethod
    def _kerned(text: str, kerns, make_trn) -> bytes:
        moves: dict[int, int] = {}
        for index, delta in kerns:
            moves[index] = moves.get(index, 0) + delta
        out, start = [], 0
        for index in sorted(moves):
            if index < 0 or index >= len(text) - 1 or not moves[index]:
                continue
            out.append(make_trn(text[start:index + 1]))
            out.append(rmi(moves[index]))
            start = index + 1
        out.append(make_trn(text[start:]))
        return b"".join(out)

    # -- rules and boxes ---------------------------------------------------------------------
    def rect(self, x: int, y: int, w: int, h: int, rgb) -> None:
        """A filled rectangle as DIR rules (width toward +B), in strips of ≤ rule_width_max.

        The rules of a rectangle depend only on its geometry: they are remembered per process (table
        rules and boxes sit at the same places on every page)."""
        rects = self.r.rects
        drawn = rects.get((x, y, w, h))
        if drawn is None:
            drawn = self.r.rect_rules(x, y, w, h)
            if len(rects) >= 4096:
                rects.clear()
            rects[(x, y, w, h)] = drawn
        rules, last_y = drawn
        if not rules:
            return
        if rgb != self.color:
            rules = cs_color(rgb) + rules
            self.color = rgb
        self.y = last_y
        self.packer.add(rules)

    def rule(self, r: Rule) -> None:
        t = max(1, r.thickness)
        if r.direction == "v":
            self.rect(r.x - t // 2, r.y, t, r.length, r.color)
        else:
            self.rect(r.x, r.y - t // 2, r.length, t, r.color)

    def box(self, b: Box) -> None:
        if b.fill is not None:
            self.rect(b.x, b.y, b.width, b.height, b.fill)
        if b.stroke is not None and b.stroke_width > 0:
            sw = b.stroke_width
            h = sw // 2
            x0, y0 = b.x - h, b.y - h
            x1, y1 = b.x + b.width + (sw - h), b.y + b.height + (sw - h)
            self.rect(x0, y0, x1 - x0, sw, b.stroke)
            self.rect(x0, y1 - sw, x1 - x0, sw, b.stroke)
            self.rect(x0, y0 + sw, sw, y1 - y0 - 2 * sw, b.stroke)
            self.rect(x1 - sw, y0 + sw, sw, y1 - y0 - 2 * sw, b.stroke)

    # -- objects -----------------------------------------------------------------------------
    def image(self, im: Image) -> None:
        if im.width <= 0 or im.height <= 0:
            return
        self.close_text()
        r = self.r
        name = r.image_names.get(im.resource)
        if name is not None:
            self.out.append(F.iob(name, 0xFB, _clamp(im.x), _clamp(im.y), im.width, im.height))
            return
        r.stats["inline_images"] += 1
        img = r.load_image(im.resource)
        r.inline_seq += 1
        self.out.append(ioca.image_object(_name("II", r.inline_seq), img, x=_clamp(im.x), y=_clamp(im.y),
                                          width=im.width, height=im.height, inline=True))

    def barcode(self, bc: Barcode) -> None:
        r = self.r
        if r.options.barcode_mode == "rules":
            rects = r.barcode_rectangles(bc)
            if rects is not None:
                for x, y, w, h in rects:
                    self.rect(x, y, w, h, (0, 0, 0))
                return
        if bc.symbology not in bcoca.SYMBOLOGIES:
            raise OutputError(f"AFP backend: unsupported bar code symbology {bc.symbology!r}")
        self.close_text()
        r.barcode_seq += 1
        self.out.append(bcoca.barcode_object(_name("BC", r.barcode_seq), bc.symbology, bc.data, bc.x, bc.y,
                                             bc.width, bc.height, bc.module, bc.options,
                                             r.page_size[0], r.page_size[1]))

    def finish(self) -> tuple[bytes, bytes]:
        """(MCF and MDR fields or b'', object bytes) of everything added."""
        self.close_text()
        maps = F.mcf(self.groups) if self.groups else b""
        if self.mdr_groups:
            maps += F.mdr(self.mdr_groups)
        return maps, b"".join(self.out)


_SHARED: dict[tuple, dict] = {}


def _shared(*depends_on) -> dict:
    """A renderer cache shared by every print file of the process whose options give the same
    ``depends_on`` (the code page, the rule width): a run writes a file per presorted part, and each
    file draws the same labels, values and table rules. Its values are functions of their keys and of
    ``depends_on`` alone (texts the code page lacks are never kept: their substitutions are counted
    at each occurrence), so the bytes written do not depend on what an earlier file left in it."""
    return _SHARED.setdefault(depends_on, {})


_BPT = F.begin(F.BPT)
_EPT = F.begin(F.EPT)
_BAG = F.begin(F.BAG)
_EAG = F.begin(F.EAG)


class AfpRenderer:
    """Writes one AFP print file per ``start_file``/``end_file``; see the module docstring for the layout.

    ``stats`` counts what the report should mention: ``substituted`` (Counter of characters replaced
    for the code page, in text and TLEs), ``unknown_fonts`` (Counter of font ids mapped to Helvetica,
    one count per page and size using them), ``inline_images`` (images written inline because they
    were not declared), ``form_pages_inline`` (pages whose background Form was drawn as items),
    ``tle_truncated`` (TLE names/values cut to 250 bytes).
    """

    format = "afp"

    def __init__(self, options: AfpOptions | None = None):
        self.options = options or AfpOptions()
        o = self.options
        self.codec = ptoca.codec_for(o.code_page)
        self.encoder = ptoca.TextEncoder(self.codec)
        self.doc_codec = _DOC_CODECS.get(o.document_ccsid)
        if self.doc_codec is None:
            raise OutputError(f"AFP backend: unsupported document CCSID {o.document_ccsid} "
                              f"(use one of {sorted(_DOC_CODECS)})")
        self.doc_encoder = ptoca.TextEncoder(self.doc_codec)
        self.doc_encoder.substituted = self.encoder.substituted      # one count for text and TLEs
        self.stats = {"substituted": self.encoder.substituted, "unknown_fonts": Counter(),
                      "inline_images": 0, "form_pages_inline": 0, "tle_truncated": 0,
                      "undeclared_glyphs": Counter()}
        self.media = media_maps(o.media)
        self._imm_due, self._paper = False, ""
        self.embedded: dict[str, tuple[str, frozenset]] = {}     # font id -> (full name, characters)
        for font_id, chars in o.fonts:
            self.embedded[font_id] = (f"{font_id}-ccm", frozenset(chars))
        self.unicode_fonts = frozenset(f for f in self.embedded if not resident(f))  # always UTF-16
        # encodings kept for the next page and the next print file of the process (see _shared):
        # text -> TRN control sequences; (text, kerns) -> TRN and RMI sequences; non-ASCII text -> the
        # code page lacks a character of it; (text, kerns) -> UTF-16 TRN and RMI sequences; (x, y, w, h)
        # -> rules, last baseline; font maps
        cp = o.code_page
        self.runs: dict[str, bytes] = _shared("runs", cp)
        self.kerned: dict[tuple, bytes] = _shared("kerned", cp)
        self.lacking: dict[str, bool] = _shared("lacking", cp)
        self.unicode_runs: dict[tuple, bytes] = _shared("unicode runs")
        self.rects: dict[tuple, tuple[bytes, int]] = _shared("rects", o.rule_width_max)
        self._mcf_cache: dict[tuple, bytes] = _shared("mcf", cp)
        self._mdr_cache: dict[tuple, tuple] = _shared("mdr")
        self._descr_cache: dict[tuple, bytes] = _shared("descriptors")
        self._fonts: dict[str, tuple[str, int, bool]] = {}
        self._images: dict[str, ioca.IocaImage] = {}
        self._out = None

    # -- caches used by _Body ------------------------------------------------------------------
    def font_info(self, font: str) -> tuple[str, int, bool]:
        info = self._fonts.get(font)
        if info is None:
            info = self._fonts[font] = afp_font(font)
        if not info[2]:
            self.stats["unknown_fonts"][font] += 1
        return info

    def lacks(self, text: str) -> bool:
        """:func:`code_page_lacks` with this file's code page, remembered per text: kerned runs are
        not in :attr:`runs`, nor is a text the code page lacks, so the same labels would be tried
        again on every page (an exception each time)."""
        lacking = self.lacking
        got = lacking.get(text)
        if got is None:
            if len(lacking) >= 8192:
                lacking.clear()
            got = lacking[text] = code_page_lacks(text, self.encoder._map)
        return got

    def encode_run(self, text: str) -> bytes:
        """``text`` as TRN control sequences in the code page, remembered in :attr:`runs` when the code
        page holds every character (otherwise substitutions are counted, for each occurrence)."""
        encoder = self.encoder
        try:
            data = ptoca._charmap_encode(text, "strict", encoder._map)[0]
        except UnicodeEncodeError:
            return trn(encoder.encode(text))
        n = len(data)
        run = bytes((n + 2, 0xDB)) + data if n <= 253 else trn(data)
        runs = self.runs
        if len(runs) >= 8192:
            runs.clear()
        runs[text] = run
        return run

    def encode_kerned(self, text: str, kerns: tuple) -> bytes:
        """A kerned run's TRN and RMI control sequences in the code page (:meth:`_Body._kerned`),
        remembered in :attr:`kerned` when the code page holds every character (otherwise
        substitutions are counted, for each occurrence)."""
        encoder = self.encoder
        encode = encoder.encode
        run = _Body._kerned(text, kerns, lambda piece: trn(encode(piece)))
        try:
            ptoca._charmap_encode(text, "strict", encoder._map)
        except UnicodeEncodeError:
            return run
        kerned = self.kerned
        if len(kerned) >= 8192:
            kerned.clear()
        kerned[(text, kerns)] = run
        return run

    def rect_rules(self, x: int, y: int, w: int, h: int) -> tuple[bytes, int]:
        """(AMB AMI DIR control sequences, baseline after them) of a filled rectangle, in strips of ≤
        ``rule_width_max``; (b"", 0) when nothing of it lies on the page."""
        if w <= 0 or h <= 0:
            return b"", 0
        x0, y0 = _clamp(x), _clamp(y)
        w = min(w - (x0 - x), _MAX_POS - x0)
        h = min(h - (y0 - y), _MAX_POS - y0)
        if w <= 0 or h <= 0:
            return b"", 0
        parts = []
        step = self.options.rule_width_max
        ax = ami(x0)
        done = last_y = 0
        while done < h:
            strip = min(step, h - done)
            parts.append(amb(y0 + done) + ax + dir_rule(w, strip))
            last_y = y0 + done
            done += strip
        return b"".join(parts), last_y

    def mcf_group(self, charset: str, size: int, lid: int) -> bytes:
        key = (charset, size, lid)
        g = self._mcf_cache.get(key)
        if g is None:
            g = self._mcf_cache[key] = F.mcf_group_outline(charset, self.options.code_page, lid, size)
        return g

    def unicode_font(self, font: str, full_name: str, size: int, lid: int) -> tuple[bytes, int]:
        """(MDR repeating group, space width) of a carried font at ``size`` as text LID ``lid``; the
        same on every page that maps it the same way (kept per process)."""
        key = (font, full_name, size, lid)
        got = self._mdr_cache.get(key)
        if got is None:
            fm = fonts_registry.get_font(font)
            got = self._mdr_cache[key] = (F.mdr_group_font(full_name, lid, size),
                                          round(fm.advance(" ") * size / fm.units_per_em))
        return got

    def load_image(self, path: str) -> ioca.IocaImage:
        img = self._images.get(path)
        if img is None:
            try:
                img = ioca.load_image(path, self.options.image_mode)
            except (OSError, ValueError) as exc:
                raise OutputError(f"AFP backend: cannot read image {path}: {exc}") from None
            self._images[path] = img
        return img

    def barcode_rectangles(self, bc: Barcode):
        try:
            from .. import barcodes  # written by another stage; optional here
        except ImportError:
            return None
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in barcodes.rectangles(bc)]

    def _descriptors(self, width: int, height: int) -> bytes:
        key = (width, height)
        d = self._descr_cache.get(key)
        if d is None:
            d = self._descr_cache[key] = F.pgd(width, height) + F.ptd(width, height)
        return d

    # -- events --------------------------------------------------------------------------------
    def start_file(self, path: str, stream: StreamInfo) -> None:
        o = self.options
        self._path = path
        try:
            self._out = open(path, "wb", buffering=1 << 20)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        self._pos = 0
        self._pages = 0
        self._docs = 0
        self._groups = 0
        self.inline_seq = 0
        self.barcode_seq = 0
        self.page_size = o.medium_size
        self.image_names: dict[str, str] = {}
        self.overlay_names: dict[str, str] = {}
        maps = [(o.simplex_map, False), (o.duplex_map, True)]
        for simplex, duplex, source in self.media.values():
            maps += [(simplex, False, source), (duplex, True, source)]
        parts = [F.begin(F.BRG, "RG000001"), F.form_map(o.form_map, maps, *o.medium_size)]
        for i, (font_id, chars) in enumerate(o.fonts, 1):
            parts.append(F.font_resource(_name("TTF", i), self.embedded[font_id][0],
                                         font_program(font_id, chars)))
        declared = 0
        for path_ in o.images:
            full = os.path.abspath(path_)
            if full in self.image_names:
                continue
            declared += 1
            name = self.image_names[full] = self.image_names[path_] = _name("IMG", declared)
            parts.append(ioca.image_resource(name, self.load_image(path_)))
        for form in o.forms:
            if form.name in self.overlay_names:
                continue
            name = self.overlay_names[form.name] = _name("O1F", len(self.overlay_names) + 1)
            parts.append(self._overlay(name, form))
        parts.append(F.begin(F.ERG, "RG000001"))
        self._doc_name = o.document_name or _name("DOC", stream.seq)
        parts.append(F.bdt(self._doc_name, o.document_ccsid))
        producer = (f"ccm-batch {__version__} AFP job={stream.job} stream={stream.stream} "
                    f"seq={stream.seq} date={o.job_date or stream.job_date}")
        parts.append(F.nop(self.doc_encoder.encode(producer)))
        self._write(b"".join(parts))

    def _overlay(self, name: str, form: Form) -> bytes:
        w, h = self.options.medium_size
        body = _Body(self)
        body.items(form.items)
        mcf, objects = body.finish()
        return (F.brs(name, F.RES_TYPE_OVERLAY) + F.begin(F.BMO, name) + F.sf(F.NOP, self.doc_encoder.encode(
                f"form {form.name}")) + _BAG + mcf + self._descriptors(w, h) + _EAG + objects
                + F.begin(F.EMO, name) + F.begin(F.ERS, name))

    def start_piece(self, piece: PieceInfo) -> None:
        pass

    def start_document(self, meta: DocumentMeta) -> None:
        o = self.options
        self._meta = meta
        self._groups += 1
        self._group_name = _name("G", self._groups)
        self._doc_start = self._pos
        self._doc_first = self._pages + 1
        parts = [F.begin(F.BNG, self._group_name)]
        enc = self.doc_encoder.encode
        doc_map = ptoca._encoding_map(self.doc_codec)
        for name, value in self.tle_pairs(meta):
            name, value = str(name), str(value)
            if not value.isascii() or not name.isascii():
                try:
                    codecs.charmap_encode(name + value, "strict", doc_map)
                except UnicodeEncodeError:
                    lost = [ch for ch in name + value if ch not in ptoca.SUBSTITUTIONS
                            and not _encodable(ch, doc_map)]
                    if name and lost:                  # would print "?": a UTF-16 TLE instead
                        if len(name) > 125 or len(value) > 124:
                            self.stats["tle_truncated"] += 1
                        parts.append(F.tle_unicode(name, value))
                        continue
            n, v = enc(name), enc(value)
            if not n:
                continue                                   # a TLE name is 1–250 bytes
            if len(n) > 250 or len(v) > 250:
                self.stats["tle_truncated"] += 1
            parts.append(F.tle(n, v))
        self._imm_due = True              # written before the first page (its paper picks the map)
        self._write(b"".join(parts))

    def tle_pairs(self, meta: DocumentMeta) -> list[tuple[str, str]]:
        """The (name, value) TLEs of a document: standard fields, then the layout's index fields."""
        if self.options.tle_values is not None:
            return list(self.options.tle_values(meta))
        index = [(str(n), "" if v is None else str(v)) for n, v in meta.index]
        taken = {n for n, _ in index}
        pairs = [(n, str(getattr(meta, attr, "") or "")) for n, attr in self.options.tle_fields if n not in taken]
        return pairs + index

    def _medium_map(self, paper: str) -> str:
        duplex = self._meta.duplex
        o = self.options
        if paper:
            maps = self.media.get(paper)
            if maps is not None:
                return maps[1] if duplex else maps[0]
            self.stats.setdefault("unknown_media", Counter())[paper] += 1
        return o.duplex_map if duplex else o.simplex_map

    def page(self, page: Page) -> None:
        # IMM: at the start of each page group, and before a front page whose paper changes the
        # medium map (an IMM always starts a new sheet, so never before a back page)
        if self._imm_due or (page.side != "back" and page.paper != self._paper):
            self._paper = page.paper
            self._write(F.imm(self._medium_map(page.paper)))
            self._imm_due = False
        self._pages += 1
        name = _name("P", self._pages)
        self.page_size = (page.width, page.height)
        body = _Body(self)
        bg = page.background
        overlay = None
        if bg is not None:
            overlay = self.overlay_names.get(bg.name)
            if overlay is None:
                self.stats["form_pages_inline"] += 1
                body.items(bg.items)
        if page.items:
            body.items(page.items)
        mcf, objects = body.finish()
        if overlay is not None:
            head = _BAG + mcf + F.mpo([(overlay, 1)]) + self._descriptors(page.width, page.height) + _EAG
            objects = F.ipo(overlay) + objects
        else:
            head = _BAG + mcf + self._descriptors(page.width, page.height) + _EAG
        self._write(F.begin(F.BPG, name) + head + objects + F.begin(F.EPG, name))

    def end_document(self) -> DocumentFacts:
        if self._imm_due:                 # a document without pages still invokes its medium map
            self._write(F.imm(self._medium_map("")))
            self._imm_due = False
        self._write(F.begin(F.ENG, self._group_name))
        self._docs += 1
        meta = self._meta
        count = self._pages - self._doc_first + 1
        sheets = (count + 1) // 2 if meta.duplex else count
        return DocumentFacts(meta.doc_id, self._doc_first, count, sheets,
                             self._doc_start, self._pos - self._doc_start)

    def end_piece(self) -> None:
        pass

    def end_file(self) -> FileFacts:
        self._write(F.begin(F.EDT, self._doc_name))
        try:
            self._out.close()
        except OSError as exc:
            raise OutputError(f"cannot write {self._path}: {exc.strerror}") from None
        self._out = None
        return FileFacts(self._path, self._pages, self._docs, os.path.getsize(self._path))

    def _write(self, data: bytes) -> None:
        try:
            self._out.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self._path}: {exc.strerror}") from None
        self._pos += len(data)
