"""Render stage: TrueType fonts for the PDF backend — glyph encoding, subsetting, CIDFontType2 objects.

Every font is embedded as a **composite font** (``/Type0``, ``/Encoding /Identity-H``) over a
``/CIDFontType2`` descendant whose CIDs are the face's own glyph ids, with a ``/CIDToGIDMap`` stream
from them to the ids of the embedded program, and a ``/ToUnicode`` CMap so text extraction (pdftotext,
copy-paste, search) gives back the original characters, accents, €, « », œ included.

Decisions:

* A :class:`FontFace` is read once per process (metrics and cmap through fontTools, the raw table
  bytes kept for subsetting) and shared by every file the process writes.
* Text is encoded as Latin-1 bytes mapped to glyph ids by ``bytes.translate`` (C speed, no
  per-character Python code), characters outside Latin-1 being patched in afterwards. Characters
  the font lacks map to glyph 0 (``.notdef``) and are drawn as such (``?`` in PDF/A).
* Glyph usage is collected while streaming (a set of characters per font per file); the subset is
  built and embedded at the end of the file. Subsetting is done here on the raw ``glyf`` table:
  the glyphs kept (with the components of composite glyphs) are **renumbered in id order** and
  **unhinted** (TrueType instructions and the ``cvt fpgm prep`` tables left out: screen and print
  rasterisers at archive and printer resolutions draw the outlines alone, and poppler renders the
  bench invoices pixel for pixel as with the hinted program). A bench invoice's subset of Liberation
  Sans (printable ASCII and a few accented letters, see below) is 8.6 KB, 6.6 KB compressed; with
  the ids kept (``loca`` and ``hmtx`` up to the euro sign, glyph 2,088) and the hinting copied, its
  used glyphs alone made 30 KB, 12.8 KB compressed. It takes about 0.1 ms, where ``fontTools.subset``
  takes a quarter of a second per font — too slow for the archive's one PDF per document. Kept
  tables: ``head hhea maxp hmtx loca glyf OS/2 post`` (``post`` reduced to format 3, ``loca`` short
  when it fits); ``cmap`` and ``name`` are not needed by a CIDFontType2 and are dropped. Every subset
  of a face that draws printable ASCII holds all of it (:data:`BASE_CHARS`), so that the archive's
  documents share a few subsets, each prepared once per process.
* Widths (``/W``) come from ``hmtx`` scaled to 1/1000 em, written with up to 2 decimals so the
  advances match what composition measured.
* The subset tag (``ABCDEF+``) is derived from a hash of the glyph set: deterministic.
* Fonts with CFF outlines (Noto Sans CJK, the CJK fallback; faces of ``.ttc`` collections): the
  embedded program is a compact TrueType conversion of the glyphs used
  (:func:`ccm_batch.fonts.embed.truetype_subset`), mapped the same way.
"""
from __future__ import annotations

import hashlib
import os
import struct
from functools import lru_cache

from fontTools.ttLib import TTFont

from ..errors import ConfigError
from .pdfwriter import PdfWriter, num, pdf_name

_FONT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fonts")
_KEEP_TABLES = (b"head", b"hhea", b"maxp", b"hmtx", b"loca", b"glyf", b"OS/2", b"post")

BASE_CHARS = range(0x20, 0x7F)
"""Printable ASCII: a TrueType face that draws any of these characters in a file embeds all of them
(about 2 KB compressed for Liberation Sans). The glyph sets of the archive's one PDF per document then
differ only by their other characters: in the bench invoices, 42 distinct subsets among 2,010 embedded
fonts instead of 1,217, each prepared once per process (:data:`FONT_CACHE`). A fallback face that
draws only, say, Arabic letters is not padded."""

# composite glyph component flags (TrueType 'glyf')
_ARG_1_AND_2_ARE_WORDS = 0x0001
_WE_HAVE_A_SCALE = 0x0008
_MORE_COMPONENTS = 0x0020
_WE_HAVE_AN_X_AND_Y_SCALE = 0x0040
_WE_HAVE_A_TWO_BY_TWO = 0x0080
_WE_HAVE_INSTRUCTIONS = 0x0100


def font_file(font_id: str) -> str:
    """The TrueType file of ``font_id``: from the registry :func:`ccm_batch.fonts.font_path` (ids
    are PostScript names: ``LiberationSans``, ``LiberationSans-Bold``), else, as a fallback, the
    bundled file ``ccm_batch/fonts/<font_id>.ttf`` (file stems: ``LiberationSans-Regular``)."""
    try:
        from .. import fonts as fonts_module
        font_path = getattr(fonts_module, "font_path", None)
    except ImportError:       # pragma: no cover - the fonts directory always exists
        font_path = None
    problem = ""
    if font_path is not None:
        try:
            return str(font_path(font_id))
        except ConfigError:
            raise
        except (LookupError, OSError, ValueError) as exc:
            problem = str(exc).strip('"')
    path = os.path.join(_FONT_DIR, f"{font_id}.ttf")     # file stem, e.g. LiberationSans-Regular
    if not os.path.isfile(path):
        raise ConfigError(f"unknown font {font_id!r}: {problem or 'no file ' + path}")
    return path


class FontFace:
    """One TrueType font as the PDF backend needs it: metrics, cmap, raw tables for subsetting.

    ``high`` and ``low`` are the ``bytes.translate`` tables :class:`FontResource` encodes with;
    :meth:`subset` returns a font program holding only the given glyphs (original ids kept).
    """

    def __init__(self, font_id: str, path: str, index: int = 0):
        self.font_id = font_id
        self.path = path
        font = TTFont(path, lazy=True, fontNumber=index)
        self.cff = "glyf" not in font
        if self.cff and "CFF " not in font:
            raise ConfigError(f"font {font_id!r} ({path}) has no TrueType or CFF outlines")
        data = b""
        if not self.cff:
            with open(path, "rb") as handle:
                data = handle.read()
        self.data = data
        head, hhea, post = font["head"], font["hhea"], font["post"]
        self.units_per_em = upem = head.unitsPerEm
        self.cmap: dict[int, int] = {cp: font.getGlyphID(name)
                                     for cp, name in font.getBestCmap().items()}
        order = font.getGlyphOrder()
        hmtx = font["hmtx"].metrics
        self.num_glyphs = len(order)
        self.advances = [hmtx[name][0] for name in order]
        self._lsbs = [hmtx[name][1] for name in order]
        scale = 1000.0 / upem
        self.scale = scale
        self.ps_name = (font["name"].getDebugName(6) or font_id).replace(" ", "")
        self.bbox = [round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)]
        self.ascent = round(hhea.ascent * scale)
        self.descent = round(hhea.descent * scale)
        os2 = font["OS/2"] if "OS/2" in font else None
        cap = getattr(os2, "sCapHeight", 0) if os2 is not None else 0
        self.cap_height = round((cap or hhea.ascent) * scale)
        self.italic_angle = float(post.italicAngle)
        bold = bool(os2 is not None and os2.usWeightClass >= 600)
        self.stem_v = 120 if bold else 80
        flags = 32                                          # Nonsymbolic
        if post.isFixedPitch:
            flags |= 1
        if "Serif" in self.ps_name and "Sans" not in self.ps_name:
            flags |= 2
        if self.italic_angle:
            flags |= 64
        self.flags = flags
        self._entries: dict[int, tuple[bytes, int, tuple]] = {}   # per glyph, for subset (_glyph_entry)
        self._fixed: dict[bool, dict[bytes, tuple[bytes, int]]] = {}     # by loca format
        self._width_texts: dict[int, str] = {}
        font.close()
        latin = [self.cmap.get(cp, 0) for cp in range(256)]
        self.high = bytes(g >> 8 for g in latin)       # bytes.translate tables: Latin-1 byte →
        self.low = bytes(g & 0xFF for g in latin)       # high / low byte of its glyph id
        self.latin_narrow = not any(self.high)          # every Latin-1 glyph id below 256
        self.base_glyphs: dict[int, str] = {}         # glyph id -> first ASCII character drawn with it
        for cp in BASE_CHARS:
            if self.cmap.get(cp, 0):
                self.base_glyphs.setdefault(self.cmap[cp], chr(cp))
        if self.cff:
            return
        # raw table directory, for the subsetter
        count = struct.unpack_from(">H", data, 4)[0]
        self.tables: dict[bytes, tuple[int, int]] = {}
        for i in range(count):
            tag, _sum, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
            self.tables[tag] = (offset, length)
        self.checksums = {tag: _checksum(data[offset:offset + length])     # tables copied as is
                          for tag, (offset, length) in self.tables.items()
                          if tag == b"OS/2"}
        head_at = self.tables[b"head"][0]
        long_loca = struct.unpack_from(">h", data, head_at + 50)[0] == 1
        loca_at, loca_len = self.tables[b"loca"]
        if long_loca:
            self.loca = struct.unpack_from(">%dI" % (loca_len // 4), data, loca_at)
        else:
            self.loca = tuple(2 * v for v in struct.unpack_from(">%dH" % (loca_len // 2), data, loca_at))

    def gid(self, char: str) -> int:
        """The glyph id of ``char`` (0 = .notdef when the font lacks it)."""
        return self.cmap.get(ord(char), 0)

    def width(self, gid: int) -> float:
        """Advance width of glyph ``gid`` in 1/1000 em, rounded to 2 decimals."""
        return round(self.advances[gid] * self.scale, 2) if gid < self.num_glyphs else 0.0

    def _glyph(self, gid: int) -> bytes:
        glyf_at = self.tables[b"glyf"][0]
        start, end = self.loca[gid], self.loca[gid + 1]
        return self.data[glyf_at + start:glyf_at + end]

    def _unhinted(self, glyph: bytes) -> tuple[bytes, tuple[tuple[int, int], ...]]:
        """``glyph`` without its TrueType instructions, and the components of a composite glyph
        (offset of each glyph index in the returned bytes, glyph id); no components for a simple one."""
        if len(glyph) < 10:
            return glyph, ()
        contours = struct.unpack_from(">h", glyph, 0)[0]
        if contours >= 0:                              # simple: header, end points, instructions, points
            at = 10 + 2 * contours
            length = struct.unpack_from(">H", glyph, at)[0]
            end = _points_end(glyph, at + 2 + length, struct.unpack_from(">H", glyph, at - 2)[0] + 1
                              if contours else 0)
            return glyph[:at] + b"\0\0" + glyph[at + 2 + length:end], ()
        out, pos = bytearray(glyph), 10
        components = []
        while True:
            flags, component = struct.unpack_from(">HH", out, pos)
            struct.pack_into(">H", out, pos, flags & ~_WE_HAVE_INSTRUCTIONS)
            components.append((pos + 2, component))
            pos += 4 + (4 if flags & _ARG_1_AND_2_ARE_WORDS else 2)
            if flags & _WE_HAVE_A_SCALE:
                pos += 2
            elif flags & _WE_HAVE_AN_X_AND_Y_SCALE:
                pos += 4
            elif flags & _WE_HAVE_A_TWO_BY_TWO:
                pos += 8
            if not flags & _MORE_COMPONENTS:
                return bytes(out[:pos]), tuple(components)   # the composite's instructions follow

    def _glyph_entry(self, gid: int) -> tuple[bytes, int, tuple[tuple[int, int], ...]]:
        """Glyph ``gid`` as the subset stores it: unhinted, its bytes padded to 4, their checksum (a
        glyph starts on a 4-byte boundary, so the ``glyf`` table's checksum is the sum of its glyphs'),
        and the components of a composite glyph (offset of the glyph index, glyph id). Computed once
        per glyph and face."""
        entry = self._entries.get(gid)
        if entry is None:
            glyph, components = self._unhinted(self._glyph(gid))
            glyph += b"\0" * (-len(glyph) % 4)
            entry = (glyph, _checksum(glyph) if glyph else 0, components)
            self._entries[gid] = entry
        return entry

    def _fixed_tables(self, short_loca: bool) -> dict[bytes, tuple[bytes, int]]:
        """The tables every subset copies (``OS/2`` as it is, ``post`` reduced to
        format 3, ``head`` with its checksum adjustment zeroed and the ``loca`` format set) with their
        checksums; ``hhea`` and ``maxp`` as templates (their glyph counts are set per subset)."""
        tables = self._fixed.get(short_loca)
        if tables is not None:
            return tables
        data = self.data
        raw: dict[bytes, bytes] = {}
        for tag in _KEEP_TABLES:
            if tag in (b"glyf", b"loca", b"hmtx") or tag not in self.tables:
                continue
            offset, length = self.tables[tag]
            raw[tag] = data[offset:offset + length]
        head = bytearray(raw[b"head"])
        head[8:12] = b"\0\0\0\0"                       # checkSumAdjustment, set by _build_sfnt
        head[50:52] = struct.pack(">h", 0 if short_loca else 1)
        raw[b"head"] = bytes(head)
        if b"post" in raw:
            raw[b"post"] = b"\x00\x03\x00\x00" + raw[b"post"][4:32]
        tables = {tag: (table, self.checksums[tag] if tag in self.checksums else _checksum(table))
                  for tag, table in raw.items()}
        self._fixed[short_loca] = tables
        return tables

    def subset(self, gids) -> tuple[bytes, bytes]:
        """A compact TrueType program holding ``gids`` (plus .notdef and the components of composite
        glyphs), renumbered in id order, and the ``/CIDToGIDMap`` bytes from the original ids of
        ``gids`` (the CIDs) to the new ones: ``(program, cid_to_gid)``."""
        entry = self._glyph_entry
        asked = {0} | {g for g in gids if 0 <= g < self.num_glyphs}
        keep = set(asked)
        todo = list(keep)
        while todo:
            for _at, component in entry(todo.pop())[2]:
                if component not in keep and component < self.num_glyphs:
                    keep.add(component)
                    todo.append(component)
        kept = sorted(keep)
        new_id = {gid: new for new, gid in enumerate(kept)}
        glyf, loca, pos, glyf_sum = [], [], 0, 0
        for gid in kept:
            glyph, checksum, components = entry(gid)
            if components:                           # composite: its components' new ids
                patched = bytearray(glyph)
                for at, component in components:
                    struct.pack_into(">H", patched, at, new_id.get(component, 0))
                glyph = bytes(patched)
                checksum = _checksum(glyph)
            loca.append(pos)
            if glyph:
                glyf.append(glyph)
                glyf_sum += checksum
                pos += len(glyph)
        loca.append(pos)
        count = len(kept)
        short_loca = pos < 0x20000                     # offsets / 2 fit in 16 bits (glyphs are 4-aligned)
        tables = dict(self._fixed_tables(short_loca))
        loca_bytes = (struct.pack(">%dH" % len(loca), *[v >> 1 for v in loca]) if short_loca
                      else struct.pack(">%dI" % len(loca), *loca))
        advances, lsbs = self.advances, self._lsbs
        hmtx = struct.pack(">" + "Hh" * count, *[v for gid in kept for v in (advances[gid], lsbs[gid])])
        hhea = bytearray(tables[b"hhea"][0])
        hhea[34:36] = struct.pack(">H", count)        # numberOfHMetrics: every glyph has its own
        maxp = bytearray(tables[b"maxp"][0])
        maxp[4:6] = struct.pack(">H", count)
        for tag, table in ((b"hhea", hhea), (b"maxp", maxp), (b"hmtx", hmtx), (b"loca", loca_bytes)):
            tables[tag] = (bytes(table), _checksum(table))
        tables[b"glyf"] = (b"".join(glyf), glyf_sum & 0xFFFFFFFF)
        return _build_sfnt(tables), cid_to_gid_map({gid: new_id[gid] for gid in asked})  # components: no CID

    def width_text(self, gid: int) -> str:
        """:meth:`width` as written in ``/W`` (remembered per glyph)."""
        text = self._width_texts.get(gid)
        if text is None:
            text = self._width_texts[gid] = num(self.width(gid))
        return text


def cid_to_gid_map(new_ids: dict[int, int]) -> bytes:
    """The bytes of a ``/CIDToGIDMap`` stream: two per CID up to the highest of ``new_ids`` (CID -> glyph
    id in the embedded program), 0 for the CIDs not in it."""
    table = bytearray(2 * (max(new_ids) + 1))
    for cid, new in new_ids.items():
        table[2 * cid:2 * cid + 2] = new.to_bytes(2, "big")
    return bytes(table)


def _points_end(glyph: bytes, pos: int, points: int) -> int:
    """Where a simple glyph's data ends: its ``points`` flags (with repeats) start at ``pos``, then
    the x and y coordinates, one or two bytes each or none, as the flags say (the source's padding
    after them is left out, so that the subset pads each glyph to 4 bytes exactly once)."""
    flags = []
    while len(flags) < points:
        flag = glyph[pos]
        pos += 1
        count = 1
        if flag & 0x08:                                # REPEAT_FLAG
            count += glyph[pos]
            pos += 1
        flags.extend([flag] * count)
    for short, same in ((0x02, 0x10), (0x04, 0x20)):  # x, then y: SHORT_VECTOR, IS_SAME_OR_POSITIVE
        for flag in flags[:points]:
            pos += 1 if flag & short else (0 if flag & same else 2)
    return pos


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return sum(struct.unpack(">%dI" % (len(data) // 4), data)) & 0xFFFFFFFF


def _build_sfnt(tables: dict[bytes, tuple[bytes, int]]) -> bytes:
    """Assemble an sfnt file from its tables, each given with its checksum (sorted by tag, 4-byte
    aligned, ``head``'s checksum adjustment set: its checksum is that of ``head`` with the adjustment
    zeroed, as the table is given)."""
    tags = sorted(tables)
    count = len(tags)
    power = 1
    while power * 2 <= count:
        power *= 2
    search_range = power * 16
    selector = power.bit_length() - 1
    header = [struct.pack(">IHHHH", 0x00010000, count, search_range, selector,
                          count * 16 - search_range)]
    body, offset, total, head_at = [], 12 + 16 * count, 0, 0
    for tag in tags:
        table, checksum = tables[tag]
        total += checksum
        header.append(struct.pack(">4sIII", tag, checksum, offset, len(table)))
        if tag == b"head":
            head_at = offset
        body.append(table)
        offset += len(table)
        if len(table) % 4:
            body.append(b"\0" * (-len(table) % 4))
            offset += -len(table) % 4
    directory = b"".join(header)
    font = bytearray(directory + b"".join(body))
    adjustment = (0xB1B0AFBA - _checksum(directory) - total) & 0xFFFFFFFF   # whole-font sum
    font[head_at + 8:head_at + 12] = struct.pack(">I", adjustment)
    return bytes(font)


@lru_cache(maxsize=None)
def load_face(font_id: str) -> FontFace:
    """The :class:`FontFace` of ``font_id``, read once per process."""
    path = font_file(font_id)
    try:
        from ..fonts import font_index
        return FontFace(font_id, path, font_index(font_id))
    except ConfigError:
        raise
    except Exception as exc:                            # corrupt or unsupported font file
        raise ConfigError(f"cannot read font {font_id!r} ({path}): {exc}") from exc


TEXT_CACHE_LIMIT = 1024
"""Strings remembered per font per file (encoded form), in each of the two cache generations."""
SHARED_CODES_LIMIT = 2048
"""Strings (and TJ arrays) remembered per face for the whole process; emptied when full."""
_BYTE_VALUES = range(256)
_bytearray = bytearray       # untyped for Cython (compiled core): Cython 3.3 types a local made by
                             # ``bytearray()`` and then wrongly requires a bytearray for a slice of it
_SHARED_CODES: dict[FontFace, dict[str, tuple[str, tuple]]] = {}
_SHARED_TJ: dict[tuple, dict[tuple, str]] = {}


class FontResource:
    """One font as used in one PDF file: its resource name, its Type0 object number (reserved when
    first used, written at the end of the file) and the characters drawn with it.

    :meth:`encode` turns text into Identity-H hex codes and records the characters used: the text
    is encoded as Latin-1 (C speed) and mapped to glyph ids with ``bytes.translate``; the few
    characters outside Latin-1 (€, ’, œ, narrow no-break space …) are then patched in one by one.
    Latin-1 characters are recorded in bulk from the cache when it is emptied and at the end (so
    "?" may be embedded without being drawn: harmless). With ``avoid_notdef`` (PDF/A, which forbids
    showing .notdef), characters the font lacks are drawn as "?".

    Each string's encoding is cached for the file, as invoices repeat their labels on every page: the
    painter looks in ``cache`` first. The cache is bounded with two generations: when ``cache`` holds
    :data:`TEXT_CACHE_LIMIT` strings its characters are recorded and it becomes the old generation;
    :meth:`encode` takes a string found there back into ``cache`` without encoding it again, so the
    labels of every page stay cached while one-off amounts and names age out. ``tj_cache`` does the
    same for whole ``TJ`` arrays of kerned or justified text (keyed by text, size, word space and
    kerns; they are made of encoded strings, so their characters are recorded already).
    """

    __slots__ = ("face", "name", "number", "chars", "cache", "substitute", "_latin", "_seen", "_old",
                 "tj_cache", "gids", "_shared", "shared_tj", "_noted", "substituted")

    def __init__(self, face: FontFace, name: str, number: int, *, avoid_notdef: bool = False):
        self.face = face
        self.name = name
        self.number = number
        self.chars: set[str] = set()         # characters outside Latin-1 drawn in this file
        self.cache: dict[str, str] = {}      # text -> hex codes; every encoded text passes here
        self._latin: set[int] = set()        # Latin-1 code points drawn in this file
        self._seen = b""                     # the same, as bytes for bytes.translate(delete=)
        self._old: dict[str, str] = {}       # the previous cache generation (characters recorded)
        self.tj_cache: dict[tuple, str] = {}  # (text, size, word_space, kerns) -> TJ array body
        self.substitute = None               # PDF/A: hex code drawn instead of .notdef
        self.gids: set[int] = set()          # shaped glyphs drawn by id (Glyphs items)
        self.substituted = False             # PDF/A: some .notdef was drawn as the substitute
        self._noted: list[str] = []          # texts drawn without being encoded here (see note)
        if avoid_notdef:
            self.substitute = "%04x" % face.gid("?")
            self.chars.add("?")
        # encodings and TJ arrays shared by every file of the process with this face (archive
        # documents are small files that draw the same labels, and the same texts as their print
        # file): text -> (hex codes, characters outside Latin-1 in it, whether a code is .notdef),
        # (text, size, word space, kerns) -> TJ array body; the codes are kept
        # before any PDF/A substitution, so that print files and archived documents share them
        self._shared = _SHARED_CODES.setdefault(face, {})
        self.shared_tj = _SHARED_TJ.setdefault((face, self.substitute), {})

    def encode(self, text: str) -> str:
        """``text`` as hex glyph codes (4 digits per character); the characters are recorded."""
        hexed = self._old.get(text)
        if hexed is None:
            shared = self._shared.get(text)
            if shared is not None:
                hexed, extra, notdef = shared
                if extra:
                    self.chars.update(extra)
            else:
                hexed, _, notdef = self._encode(text)
            if notdef and self.substitute is not None:
                hexed = "".join(self.substitute if hexed[i:i + 4] == "0000" else hexed[i:i + 4]
                                for i in range(0, len(hexed), 4))
                self.substituted = True
        cache = self.cache
        if len(cache) >= TEXT_CACHE_LIMIT:
            self._rotate()
        cache[text] = hexed
        return hexed

    def _encode(self, text: str) -> tuple:
        """Encode ``text`` (not found in any cache; .notdef not substituted yet), record its characters
        outside Latin-1, and keep it in the process's shared cache; returns (hex codes, characters outside
        Latin-1, whether a code is .notdef: ``0000`` at a code's place, not across two codes such as
        ``07e0`` ``0003``)."""
        extra = ()
        raw = text.encode("latin-1", "replace")      # other characters become "?" for now
        face = self.face
        glyphs = _bytearray(len(raw) << 1)
        glyphs[1::2] = raw.translate(face.low)
        if not face.latin_narrow:
            glyphs[0::2] = raw.translate(face.high)
        if 63 in raw and raw.count(63) != text.count("?"):   # some were not Latin-1: patch
            cmap, chars = face.cmap, self.chars
            at = raw.find(63)
            while at >= 0:
                char = text[at]
                if char != "?":
                    gid = cmap.get(ord(char), 0)
                    glyphs[2 * at] = gid >> 8
                    glyphs[2 * at + 1] = gid & 0xFF
                    chars.add(char)
                    extra += (char,)
                at = raw.find(63, at + 1)
        hexed = glyphs.hex()
        notdef = "0000" in hexed and any(hexed[i:i + 4] == "0000" for i in range(0, len(hexed), 4))
        shared = self._shared
        if len(shared) >= SHARED_CODES_LIMIT:
            shared.clear()
        entry = shared[text] = (hexed, extra, notdef)
        return entry

    def note(self, texts: list[str]) -> None:
        """Record the characters of ``texts``, drawn in this file by content painted for another file
        (:mod:`ccm_batch.render.pdf` reuses a page's content stream): the same characters as if each
        text had been encoded here (Latin-1 ones in bulk, "?" for the others as :meth:`_record` does)."""
        self._noted.append("".join(texts))
        shared, chars = self._shared, self.chars    # characters beyond Latin-1: those the encoding of
        for text in texts:                          # each text found when it was painted (the same str
            if not text.isascii():                  # objects, their hashes kept), not a scan of every
                entry = shared.get(text)            # character of every page
                if entry is None:                   # (no longer in the shared codes)
                    chars.update(c for c in text if ord(c) > 255)
                elif entry[1]:
                    chars.update(entry[1])
        if len(self._noted) >= 256:
            self._record()

    def _rotate(self) -> None:
        """Record the cached strings' characters; the cache becomes the old generation."""
        self._record()
        self._old = self.cache.copy()
        self.cache.clear()                   # in place: painters hold its bound ``get``

    def _record(self) -> None:
        """Add the Latin-1 characters of the cached texts to the set drawn (C speed, in bulk)."""
        raw = "".join(self.cache).encode("latin-1", "replace")
        if self._noted:                  # (their characters outside Latin-1: recorded by note)
            raw += "".join(self._noted).encode("latin-1", "replace")
            self._noted.clear()
        fresh = raw.translate(None, self._seen)
        if fresh:                        # its distinct bytes, one memchr each (set.update(fresh) takes
            self._latin.update([b for b in _BYTE_VALUES if b in fresh])    # every byte one by one)
            self._seen = bytes(sorted(self._latin))

    def used_chars(self) -> set[str]:
        """Every character drawn with this font in the file."""
        self._record()
        return self.chars | {chr(c) for c in self._latin}


def _tounicode(mapping: list[tuple[int, str]]) -> bytes:
    lines = [b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
             b"/CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def\n"
             b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
             b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"]
    for start in range(0, len(mapping), 100):
        block = mapping[start:start + 100]
        lines.append(b"%d beginbfchar\n" % len(block))
        lines.extend(b"<%04X> <%s>\n" % (gid, char.encode("utf-16-be").hex().upper().encode())
                     for gid, char in block)
        lines.append(b"endbfchar\n")
    lines.append(b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
    return b"".join(lines)


def _widths(face: FontFace, gids: list[int]) -> bytes:
    """The ``/W`` array: runs of consecutive glyph ids share one ``c [w1 w2 …]`` entry."""
    parts, run_start, run = [], None, []
    width = face.width_text
    for gid in gids:
        if run and gid == run_start + len(run):
            run.append(width(gid))
            continue
        if run:
            parts.append("%d[%s]" % (run_start, " ".join(run)))
        run_start, run = gid, [width(gid)]
    if run:
        parts.append("%d[%s]" % (run_start, " ".join(run)))
    return ("[" + " ".join(parts) + "]").encode("ascii")


FONT_CACHE = 512
"""Embedded fonts (subset program, widths, ToUnicode, compressed) remembered per process, keyed by the
font and the glyphs drawn: the archive's one PDF per document embeds the same few subsets again and again."""
_EMBEDDED: dict[tuple, tuple] = {}


_GLYPH_SETS: dict[tuple, tuple] = {}


def _glyph_set(face: FontFace, chars: set, gids: frozenset) -> tuple[tuple, tuple]:
    """The glyphs a subset of ``face`` holds for ``chars`` drawn and glyph ids ``gids`` drawn by id
    (shaped text): ``((glyph id, character it stands for), …)`` in id order, and the sorted ``gids``.
    When some printable ASCII is drawn the subset holds all of it (:data:`BASE_CHARS`), and a glyph
    that stands for an ASCII character and another one maps to the ASCII one; otherwise the first
    character in code point order names a glyph. Remembered per process by the characters beyond
    ASCII (documents repeat them: 42 distinct sets in 1,000 bench invoices). At most :data:`FONT_CACHE`
    sets (about 6 KB each with the 95 ASCII glyphs), emptied when full."""
    ascii_drawn = not face.cff and any(" " <= char <= "~" for char in chars)
    if ascii_drawn:
        chars = {char for char in chars if not " " <= char <= "~"}
    key = (face, ascii_drawn, frozenset(chars), gids)
    found = _GLYPH_SETS.get(key)
    if found is not None:
        return found
    by_gid: dict[int, str] = dict(face.base_glyphs) if ascii_drawn else {}
    for char in sorted(chars):
        gid = face.gid(char)
        if gid and gid not in by_gid:
            by_gid[gid] = char
    found = (tuple(sorted(by_gid.items())), tuple(sorted(gids)))
    if len(_GLYPH_SETS) >= FONT_CACHE:
        _GLYPH_SETS.clear()
    _GLYPH_SETS[key] = found
    return found


def write_font(writer: PdfWriter, resource: FontResource) -> None:
    """Write ``resource``'s Type0 font (at its reserved number), CIDFontType2 descendant, font
    descriptor, subset font program and ToUnicode CMap.

    The objects' contents depend only on the face, the glyphs drawn (with the character each stands
    for) and the writer's compression: they are prepared once per process for each such set
    (:data:`FONT_CACHE` of them, least recently used dropped first) and written again as they are.
    """
    face = resource.face
    by_gid, extra = _glyph_set(face, resource.used_chars(), frozenset(resource.gids))
    key = (face, writer.compress, writer.level, by_gid, extra)
    embedded = _EMBEDDED.pop(key, None)
    if embedded is None:
        embedded = _prepare_font(writer, face, dict(by_gid), extra)
        if len(_EMBEDDED) >= FONT_CACHE:
            del _EMBEDDED[next(iter(_EMBEDDED))]
    _EMBEDDED[key] = embedded
    base_font, cid_map, program, descriptor, widths, to_unicode = embedded
    cid_to_gid = b"/CIDToGIDMap %d 0 R" % writer.add_prepared(cid_map)
    font_file = writer.add_prepared(program)
    descriptor = writer.add_object(descriptor + b"/FontFile2 %d 0 R>>" % font_file)
    cid_font = writer.add_object(
        b"<</Type/Font/Subtype/CIDFontType2/BaseFont%s"
        b"/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)/Supplement 0>>"
        b"/FontDescriptor %d 0 R/DW 1000/W%s%s>>"
        % (base_font, descriptor, widths, cid_to_gid))
    to_unicode = writer.add_prepared(to_unicode)
    writer.write_object(resource.number,
                        b"<</Type/Font/Subtype/Type0/BaseFont%s/Encoding/Identity-H"
                        b"/DescendantFonts[%d 0 R]/ToUnicode %d 0 R>>"
                        % (base_font, cid_font, to_unicode))


def _prepare_font(writer: PdfWriter, face: FontFace, by_gid: dict[int, str], extra=()) -> tuple:
    """What :func:`write_font` writes for these glyphs, streams compressed as ``writer`` would:
    (BaseFont name, CIDToGIDMap stream, font program stream, descriptor body up to its
    ``/FontFile2`` entry, ``/W`` array, ToUnicode stream). ``extra``: glyph ids drawn by id."""
    gids = sorted(set(by_gid) | {0} | set(extra))
    if face.cff:                            # compact TrueType conversion, original ids as CIDs
        from ..fonts.embed import truetype_subset
        used = [g for g in gids if g]
        program = truetype_subset(face.font_id, used)
        table = cid_to_gid_map({cid: new for new, cid in enumerate(gids)})
    else:
        program, table = face.subset(gids)
    cid_map = writer.prepare_stream(table)
    digest = hashlib.md5(",".join(map(str, gids)).encode("ascii")).digest()
    tag = "".join(chr(65 + b % 26) for b in digest[:6])
    base_font = pdf_name(f"{tag}+{face.ps_name}")
    descriptor = (b"<</Type/FontDescriptor/FontName%s/Flags %d/FontBBox[%s]/ItalicAngle %s/Ascent %d"
                  b"/Descent %d/CapHeight %d/StemV %d"
                  % (base_font, face.flags, " ".join(map(str, face.bbox)).encode("ascii"),
                     num(face.italic_angle).encode("ascii"), face.ascent, face.descent, face.cap_height,
                     face.stem_v))
    return (base_font, cid_map, writer.prepare_stream(program, b"/Length1 %d" % len(program)), descriptor,
            _widths(face, gids), writer.prepare_stream(_tounicode(sorted(by_gid.items()))))
