"""Compose/render support: the font registry and font metrics (advances, kerning, vertical metrics).

Fonts are TrueType/OpenType files read with fontTools. A **font id** is the font's PostScript
name (``LiberationSans``, ``LiberationSans-Bold``, ``LiberationSerif-BoldItalic``, …); it is what
:class:`ccm_batch.pages.Text` carries and what renderers embed or map. The twelve Liberation 2
fonts (SIL OFL, metric-compatible with Arial/Helvetica, Times and Courier) are bundled and always
registered, and so is **OCR-B** (``OCR-B``/``OCR B``: Matthew Skala's public-domain OpenType font with
CFF outlines, copied unchanged from Debian ``fonts-ocr-b``; payment slips' OCR lines); layouts may
ship their own families with :func:`register_directory`.

Units: advances and kerning values are **font units** (``units_per_em`` per em); every method that
takes a ``size`` (in page units, 1/1440 in, so 10 pt = 200) answers in **page units** (integers).

Width and kerning contract (shared by composition and every renderer, so they agree exactly)::

    width(text, size, kern)  = round(sum(advances) * size / upem)
                               + (sum(delta for _, delta in kerns(text, size)) if kern else 0)
    kerns(text, size)        = ((i, round(k_i * size / upem)), ...)   # k_i = pair kerning of
                                                                      # text[i], text[i+1]; 0s left out

A renderer draws a :class:`~ccm_batch.pages.Text` by advancing each glyph by its exact scaled
advance and adding ``delta`` after character ``index`` for every kern pair, plus ``word_space``
after every U+0020. Kerning comes from the font's GPOS ``kern`` feature (pair adjustment, formats 1
and 2, horizontal advance of the first glyph) for the Latin script, else from the legacy ``kern``
table. Liberation 2 Sans and Serif carry both (identical pairs); Liberation Mono carries none.

Fallback chains (issue 12): every family has an ordered list of fallback families
(:func:`set_fallbacks`: a default chain for all families, or one per family; the layout's
``<font-face fallback=…>``/``<fallback>`` and the job's ``[fonts]`` set them). A character the primary
font lacks is taken, **per character**, from the first fallback font (in the same style) that has
it — :func:`split_runs` — and measured with that font's metrics. The default chain is
:data:`DEFAULT_FALLBACKS`: the bundled **DejaVu Sans** (Bitstream Vera licence; Latin Extended,
Greek, Cyrillic, symbols — bundled so that a fresh clone prints them without any system package)
then **Noto Sans CJK** from the system (Debian ``fonts-noto-cjk``; too large to bundle — 16 MB
per weight), skipped when not installed; **Noto Sans Arabic** and **Noto Sans Hebrew** (Debian
``fonts-noto-core``) head the chain for those scripts. :func:`uncovered` names what no font of the
chain has. Characters of scripts that need shaping or right-to-left layout (:func:`needs_shaping`:
Arabic, Hebrew, Syriac, Thaana, N'Ko, Indic) are shaped and reordered by composition
(:mod:`ccm_batch.fonts.shaping`, :mod:`ccm_batch.compose.bidi`); when shaping is off (a run that
writes AFP, see :func:`ccm_batch.fonts.shaping.set_complex_text`) they count as uncovered, because
drawing them glyph by glyph, left to right, would print a wrong name without saying so.

System fonts: :func:`find_system_font` looks a family name up in the usual font directories
(``/usr/share/fonts``, ``/usr/local/share/fonts``, ``~/.fonts``; file names first, then the name
tables); TrueType collections (``.ttc``) and CFF-flavoured OpenType are accepted: their
metrics come from ``hmtx``/``cmap`` like any font, and the renderers convert the glyphs they embed
to TrueType outlines (:mod:`ccm_batch.fonts.embed`).

Decisions: characters the font has no glyph for measure as ``.notdef`` (glyph 0) and are reported
by :meth:`FontMetrics.missing`; ``resolve`` falls back to the nearest existing style of a family
(bold-italic → bold → italic → regular) because shipped families often lack some styles; a
later registration of the same font id from another file is an error (ids must stay unique).
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from fontTools.ttLib import TTFont

FONT_DIR = str(Path(__file__).resolve().parent)

# Characters that composition handles itself and never draws: not reported as missing glyphs.
_CONTROL = frozenset("\n\r\t\u00ad\u200b\u200c\u200d\ufeff")

_lock = threading.RLock()
_paths: dict[str, str] = {}                          # font id -> file path
_index: dict[str, int] = {}                          # font id -> face number in a .ttc (0)
_families: dict[str, dict[tuple[bool, bool], str]] = {}  # family key -> (bold, italic) -> font id
_aliases: dict[str, str] = {}                        # normalised family name -> family key
_styles: dict[str, tuple[str, bool, bool]] = {}      # font id -> (family key, bold, italic)
_cache: dict[str, "FontMetrics"] = {}

_STYLE_SUFFIX = {(False, False): ("", "Regular"), (True, False): ("-Bold", "Bold"),
                 (False, True): ("-Italic", "Italic"), (True, True): ("-BoldItalic", "BoldItalic")}


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


def _add(font_id: str, path: str, family: str, bold: bool, italic: bool, index: int = 0) -> None:
    old = _paths.get(font_id)
    if old is not None and os.path.realpath(old) != os.path.realpath(path):
        if not _same_file(old, path):
            raise ValueError(f"font id {font_id!r} already registered from {old}, not {path}")
        path = old                   # the same font shipped twice (two copies of a layout): fine
    _paths[font_id] = path
    _index[font_id] = index
    _styles[font_id] = (family, bold, italic)
    _families.setdefault(family, {})[(bold, italic)] = font_id


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def register_alias(alias: str, family: str) -> None:
    """Make ``alias`` (case-insensitive) name the registered ``family`` (a family key or alias)."""
    with _lock:
        key = _aliases.get(_norm(family), family if family in _families else None)
        if key is None:
            raise KeyError(f"cannot alias {alias!r}: unknown font family {family!r}")
        _aliases[_norm(alias)] = key


def _register_bundled() -> None:
    for family, aliases in (
        ("LiberationSans", ("Liberation Sans", "sans", "sans-serif", "Helvetica", "Arial", "Swiss")),
        ("LiberationSerif", ("Liberation Serif", "serif", "Times", "Times New Roman", "Times-Roman",
                             "Roman")),
        ("LiberationMono", ("Liberation Mono", "mono", "monospace", "Courier", "Courier New")),
    ):
        for (bold, italic), (suffix, file_style) in _STYLE_SUFFIX.items():
            _add(family + suffix, os.path.join(FONT_DIR, f"{family}-{file_style}.ttf"),
                 family, bold, italic)
        _aliases[_norm(family)] = family
        for alias in aliases:
            _aliases[_norm(alias)] = family


    for (bold, suffix) in ((False, ""), (True, "-Bold")):
        _add("DejaVuSans" + suffix, os.path.join(FONT_DIR, f"DejaVuSans{suffix}.ttf"),
             "DejaVuSans", bold, False)
    _aliases[_norm("DejaVuSans")] = _aliases[_norm("DejaVu Sans")] = "DejaVuSans"
    # OCR-B (public domain, Matthew Skala; CFF outlines, converted to TrueType when embedded): the
    # payment slips' OCR line. Bundled, not looked up, so that every machine prints the same glyphs
    # and widths, and a slip never falls back silently to a font a bank's reader cannot read.
    _add("OCRB", os.path.join(FONT_DIR, "OCRB.otf"), "OCRB", False, False)
    for alias in ("OCRB", "OCR-B", "OCR B"):
        _aliases[_norm(alias)] = "OCRB"


_register_bundled()


def _name(ttf: TTFont, *ids: int) -> str:
    table = ttf["name"]
    for name_id in ids:
        value = table.getDebugName(name_id)
        if value:
            return value.strip()
    return ""


def register_font(path: str, alias: str | None = None, index: int = 0,
                  family: str | None = None, bold: bool | None = None,
                  italic: bool | None = None) -> str:
    """Register one TTF/OTF file (or face ``index`` of a ``.ttc``); returns its font id (the
    PostScript name).

    The family is the typographic family name (name id 16, else 1); bold/italic come from the
    OS/2 ``fsSelection`` bits (else ``head.macStyle``); ``family``/``bold``/``italic`` override
    them (a layout's ``<font-face>`` says which file is which style). ``alias`` adds a family
    alias. TrueType and CFF outlines are both accepted. Raises ``ValueError`` (not a font, no
    name) or ``OSError`` (unreadable file).
    """
    path = os.path.abspath(path)
    try:
        ttf = TTFont(path, lazy=True, fontNumber=index)
    except OSError:
        raise
    except Exception as exc:                      # fontTools: TTLibError, struct errors...
        raise ValueError(f"{path}: not a TrueType/OpenType font ({exc})") from None
    try:
        if "glyf" not in ttf and "CFF " not in ttf:
            raise ValueError(f"{path}: font has neither TrueType (glyf) nor CFF outlines")
        if "cmap" not in ttf or "hmtx" not in ttf:
            raise ValueError(f"{path}: font has no cmap or hmtx table")
        ps_name = _name(ttf, 6)
        family_name = _name(ttf, 16, 1)
        if not ps_name or not family_name:
            raise ValueError(f"{path}: font has no PostScript or family name")
        sel = ttf["OS/2"].fsSelection if "OS/2" in ttf else 0
        mac = ttf["head"].macStyle
        if bold is None:
            bold = bool(sel & 0x20) or bool(mac & 1)
        if italic is None:
            italic = bool(sel & 0x01) or bool(mac & 2)
    except (KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: incomplete font ({exc})") from None
    finally:
        ttf.close()
    if family:
        family_name = family
    family = family_name.replace(" ", "")
    with _lock:
        _add(ps_name, path, family, bold, italic, index)
        _aliases.setdefault(_norm(family), family)
        _aliases.setdefault(_norm(family_name), family)
        if alias:
            _aliases[_norm(alias)] = family
    return ps_name


def register_directory(directory: str, alias: str | None = None) -> list[str]:
    """Register every ``*.ttf``/``*.otf`` file of ``directory`` (sorted by name); returns font ids.

    ``alias`` (optional) names the family of the registered fonts, e.g. ``"corporate"``.
    """
    names = sorted(n for n in os.listdir(directory) if n.lower().endswith((".ttf", ".otf")))
    if not names:
        raise ValueError(f"no .ttf/.otf font in {directory}")
    return [register_font(os.path.join(directory, n), alias) for n in names]


def families() -> dict[str, dict[tuple[bool, bool], str]]:
    """Registered families: family key -> {(bold, italic): font id} (a copy)."""
    with _lock:
        return {k: dict(v) for k, v in _families.items()}


def font_ids() -> list[str]:
    """All registered font ids, sorted."""
    return sorted(_paths)


def resolve(family: str, bold: bool = False, italic: bool = False) -> str:
    """The font id for ``family`` (case-insensitive name, alias or font id) in the given style.

    A font id as ``family`` stands for its family with its own style or-ed with ``bold``/
    ``italic``. Missing styles fall back: bold-italic → bold → italic → regular.
    Raises ``KeyError`` naming the known families when ``family`` is unknown.
    """
    key = _aliases.get(_norm(family))
    if key is None:
        style = _styles.get(family)
        if style is None:
            known = ", ".join(sorted({*_families, *("sans", "serif", "mono")}))
            raise KeyError(f"unknown font family {family!r} (known: {known})")
        key, b, i = style
        bold, italic = bold or b, italic or i
    styles = _families[key]
    for want in ((bold, italic), (bold, False), (False, italic), (False, False)):
        if want in styles:
            return styles[want]
    return next(iter(styles.values()))


def font_index(font_id: str) -> int:
    """Face number of ``font_id`` in its file (0 unless the file is a TrueType collection)."""
    return _index.get(font_id, 0)


def font_path(font_id: str) -> str:
    """Absolute path of the font file of ``font_id`` (``KeyError`` if unregistered)."""
    try:
        return _paths[font_id]
    except KeyError:
        raise KeyError(f"unknown font id {font_id!r}") from None


def get_font(font_id: str) -> "FontMetrics":
    """The (cached, shared) :class:`FontMetrics` of a registered font id."""
    fm = _cache.get(font_id)
    if fm is None:
        with _lock:
            fm = _cache.get(font_id)
            if fm is None:
                fm = _cache[font_id] = FontMetrics(font_id, font_path(font_id))
    return fm


def _char_class(chars) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


class _Advances(dict):
    """char -> advance in font units; unknown characters get (and cache) the .notdef advance."""
    __slots__ = ("notdef",)

    def __missing__(self, ch: str) -> int:
        self[ch] = self.notdef
        return self.notdef


def _pair_kerning(ttf: TTFont) -> dict[tuple[str, str], int]:
    """Glyph-pair kerning (first glyph's x-advance adjustment) from GPOS ``kern``, else ``kern``."""
    pairs: dict[tuple[str, str], int] = {}
    if "GPOS" in ttf:
        gpos = ttf["GPOS"].table
        features = gpos.FeatureList.FeatureRecord if gpos.FeatureList else []
        lookups: list[int] = []
        script_feats: list[int] = []
        for rec in (gpos.ScriptList.ScriptRecord if gpos.ScriptList else []):
            if rec.ScriptTag in ("latn", "DFLT"):
                langsys = rec.Script.DefaultLangSys
                if langsys is not None:
                    script_feats.extend(langsys.FeatureIndex)
        if not script_feats:
            script_feats = list(range(len(features)))
        for fi in script_feats:
            if features[fi].FeatureTag == "kern":
                for li in features[fi].Feature.LookupListIndex:
                    if li not in lookups:
                        lookups.append(li)
        for li in lookups:
            lookup = gpos.LookupList.Lookup[li]
            for sub in lookup.SubTable:
                if lookup.LookupType == 9:
                    if sub.ExtensionLookupType != 2:
                        continue
                    sub = sub.ExtSubTable
                elif lookup.LookupType != 2:
                    continue
                _read_pair_pos(sub, pairs)
    if not pairs and "kern" in ttf:
        for table in ttf["kern"].kernTables:
            if getattr(table, "coverage", 1) & 1 == 0 or not hasattr(table, "kernTable"):
                continue      # vertical or unsupported subtable format
            for pair, value in table.kernTable.items():
                pairs.setdefault(pair, value)
    return pairs


def _read_pair_pos(sub, pairs: dict) -> None:
    if not sub.ValueFormat1 & 0x4:        # no XAdvance on the first glyph: nothing to apply
        return
    if sub.Format == 1:
        for first, pair_set in zip(sub.Coverage.glyphs, sub.PairSet):
            for rec in pair_set.PairValueRecord:
                value = getattr(rec.Value1, "XAdvance", 0) or 0
                if value:
                    pairs.setdefault((first, rec.SecondGlyph), value)
    elif sub.Format == 2:
        class1 = sub.ClassDef1.classDefs if sub.ClassDef1 else {}
        class2 = sub.ClassDef2.classDefs if sub.ClassDef2 else {}
        by_class2: dict[int, list[str]] = {}
        for glyph, cls in class2.items():
            by_class2.setdefault(cls, []).append(glyph)
        for first in sub.Coverage.glyphs:
            row = sub.Class1Record[class1.get(first, 0)].Class2Record
            for cls, seconds in by_class2.items():   # class 0 ("all others") is not expanded
                value = getattr(row[cls].Value1, "XAdvance", 0) or 0
                if value:
                    for second in seconds:
                        pairs.setdefault((first, second), value)


class FontMetrics:
    """Metrics of one font for composition and renderers.

    Public attributes: ``font_id``, ``path``, ``postscript_name``, ``family``, ``bold``,
    ``italic``, ``units_per_em``, ``ascender``/``descender`` (hhea, font units, descender
    negative), ``line_gap_units``, ``cap_height``, ``x_height``, ``italic_angle``, ``bbox``
    (xMin, yMin, xMax, yMax), ``fixed_pitch``, ``underline_position``/``underline_thickness``
    (post table, font units), ``cmap`` (code point -> glyph name), ``glyph_order`` (glyph id ->
    glyph name), ``glyph_advances`` (glyph id -> advance, font units).
    """

    def __init__(self, font_id: str, path: str):
        self.font_id = font_id
        self.path = path
        ttf = TTFont(path, lazy=True, fontNumber=_index.get(font_id, 0))
        self.cff = "glyf" not in ttf          # CFF outlines: converted when embedded
        self.postscript_name = _name(ttf, 6) or font_id
        family, self.bold, self.italic = _styles.get(font_id, (font_id, False, False))
        self.family = family
        head, hhea = ttf["head"], ttf["hhea"]
        self.units_per_em = head.unitsPerEm
        self.bbox = (head.xMin, head.yMin, head.xMax, head.yMax)
        self.ascender = hhea.ascent
        self.descender = hhea.descent
        self.line_gap_units = hhea.lineGap
        os2 = ttf["OS/2"] if "OS/2" in ttf else None
        self.cap_height = getattr(os2, "sCapHeight", 0) or round(self.ascender * 0.7)
        self.x_height = getattr(os2, "sxHeight", 0) or round(self.ascender * 0.5)
        post = ttf["post"]
        self.italic_angle = float(post.italicAngle)
        self.fixed_pitch = bool(post.isFixedPitch)
        self.underline_position = post.underlinePosition
        self.underline_thickness = post.underlineThickness or max(1, self.units_per_em // 20)
        self.glyph_order = ttf.getGlyphOrder()
        self._gid = {name: gid for gid, name in enumerate(self.glyph_order)}
        hmtx = ttf["hmtx"].metrics
        self.glyph_advances = [hmtx[name][0] for name in self.glyph_order]
        self.cmap = dict(ttf.getBestCmap() or {})
        # the characters that print as they are (complex scripts left out: see needs_shaping)
        from .fallback import needs_shaping
        self._drawn = frozenset(c for c in map(chr, self.cmap) if not needs_shaping(c)) | _CONTROL
        adv = _Advances()
        adv.notdef = self.glyph_advances[0]
        for cp, glyph in self.cmap.items():
            adv[chr(cp)] = hmtx[glyph][0]
        for ch in _CONTROL:                 # never drawn: zero width
            adv[ch] = 0
        self._adv = adv
        chars_of: dict[str, list[str]] = {}
        for cp, glyph in self.cmap.items():
            chars_of.setdefault(glyph, []).append(chr(cp))
        kern: dict[str, int] = {}
        # CJK fonts (tens of thousands of glyphs) are set solid: reading their GPOS would take
        # seconds per process for kerning pairs that only concern their Latin glyphs.
        pairs = _pair_kerning(ttf) if len(self.glyph_order) < 20000 else {}
        for (g1, g2), value in pairs.items():
            for c1 in chars_of.get(g1, ()):
                for c2 in chars_of.get(g2, ()):
                    kern[c1 + c2] = value
        self._kern = kern
        self._scaled: dict[int, tuple] = {}   # size -> (pair -> page units, candidate regex)
        ttf.close()

    def __repr__(self) -> str:
        return f"<FontMetrics {self.font_id}>"

    # -- per character ---------------------------------------------------------------------
    def advance(self, ch: str) -> int:
        """Advance width of one character in font units (.notdef's for a missing glyph)."""
        return self._adv[ch]

    def covers(self, ch: str) -> bool:
        """True if the font has a glyph for ``ch``."""
        return ord(ch) in self.cmap

    def missing(self, text: str) -> str:
        """The distinct characters of ``text`` without a glyph, in order of first appearance.

        Line-breaking controls (newline, tab, soft hyphen, zero-width space/joiners) are ignored.
        """
        if self._drawn.issuperset(text):
            return ""
        cmap = self.cmap
        out: dict[str, None] = {}
        for ch in set(text):
            if ord(ch) not in cmap and ch not in _CONTROL:
                out[ch] = None
        if not out:
            return ""
        return "".join(sorted(out, key=text.index))

    def glyph_id(self, ch: str) -> int:
        """Glyph id of ``ch`` (0 = .notdef when the font has no glyph)."""
        name = self.cmap.get(ord(ch))
        return 0 if name is None else self._gid[name]

    def glyph_ids(self, text: str) -> list[int]:
        """Glyph ids of every character of ``text``."""
        cmap, gid = self.cmap, self._gid
        return [gid[cmap[ord(c)]] if ord(c) in cmap else 0 for c in text]

    def glyph_name(self, ch: str) -> str:
        """Glyph name of ``ch`` (``.notdef`` when missing)."""
        return self.cmap.get(ord(ch), self.glyph_order[0])

    # -- kerning ---------------------------------------------------------------------------
    def kern_pair(self, first: str, second: str) -> int:
        """Pair kerning of two characters in font units (0 if none)."""
        return self._kern.get(first + second, 0)

    @property
    def has_kerning(self) -> bool:
        """True if the font carries pair kerning."""
        return bool(self._kern)

    def _kern_table(self, size: int) -> dict[str, int]:
        """Pair -> kerning in page units at ``size`` (rounded; pairs rounding to 0 left out)."""
        return self._kern_size(size)[0]

    def _kern_size(self, size: int) -> tuple:
        entry = self._scaled.get(size)
        if entry is None:
            upem = self.units_per_em
            table = {pair: round(v * size / upem) for pair, v in self._kern.items()}
            table = {pair: v for pair, v in table.items() if v}
            # Candidate pairs found by the regex engine (few Python-level probes per line):
            # a first char that kerns, followed by a char it kerns against. First chars are
            # split into two groups — those that kern against lowercase letters (A, T, V…) and
            # the others (r, v, y, space… against punctuation or capitals) — so running
            # lowercase text yields few false candidates.
            pattern = pairs = None
            if table:
                seconds_of: dict[str, set] = {}
                for a, b in table:
                    seconds_of.setdefault(a, set()).add(b)
                branches = []
                for lower in (False, True):
                    firsts = [a for a, bs in seconds_of.items()
                              if any(c.islower() for c in bs) == lower]
                    if firsts:
                        seconds = set().union(*(seconds_of[a] for a in firsts))
                        branches.append((_char_class(firsts), _char_class(seconds)))
                pattern = re.compile("|".join(f"{f}(?={s})" for f, s in branches))
                pairs = re.compile("(?=(" + "|".join(f"{f}{s}" for f, s in branches) + "))")
            if len(self._scaled) > 64:
                self._scaled.clear()
            entry = self._scaled[size] = (table, pattern, pairs)
        return entry

    def kerns(self, text: str, size: int) -> tuple:
        """Kerning of ``text`` at ``size``: ``((index, delta), ...)``, delta in page units.

        ``delta`` is added after character ``index`` (the :attr:`ccm_batch.pages.Text.kerns`
        format); pairs that round to 0 are left out.
        """
        if len(text) < 2 or not self._kern:
            return ()
        table, pattern, _ = self._kern_size(size)
        if pattern is None:
            return ()
        get = table.get
        out = []
        for m in pattern.finditer(text):
            i = m.start()
            d = get(text[i:i + 2])
            if d:
                out.append((i, d))
        return tuple(out)

    def kern_total(self, text: str, size: int) -> int:
        """Sum of :meth:`kerns` deltas (page units)."""
        if len(text) < 2 or not self._kern:
            return 0
        table, _, pairs = self._kern_size(size)
        if pairs is None:
            return 0
        return sum(filter(None, map(table.get, pairs.findall(text))))

    # -- measurement -----------------------------------------------------------------------
    def advance_units(self, text: str) -> int:
        """Sum of the advances of ``text`` in font units (no kerning)."""
        return sum(map(self._adv.__getitem__, text))

    def width(self, text: str, size: int, kern: bool = False) -> int:
        """Width of ``text`` at ``size`` in page units; with ``kern`` adds :meth:`kerns` deltas."""
        w = round(sum(map(self._adv.__getitem__, text)) * size / self.units_per_em)
        if kern and self._kern:
            w += self.kern_total(text, size)
        return w

    def scale(self, units: float, size: int) -> int:
        """Font units to page units at ``size`` (rounded)."""
        return round(units * size / self.units_per_em)

    # -- vertical metrics (page units, positive) ---------------------------------------------
    def ascent(self, size: int) -> int:
        """Height above the baseline (hhea ascender) at ``size``."""
        return round(self.ascender * size / self.units_per_em)

    def descent(self, size: int) -> int:
        """Depth below the baseline (hhea descender, positive) at ``size``."""
        return round(-self.descender * size / self.units_per_em)

    def line_gap(self, size: int) -> int:
        """Extra leading recommended by the font (hhea lineGap) at ``size``."""
        return round(self.line_gap_units * size / self.units_per_em)

    def line_height(self, size: int) -> int:
        """The font's natural line distance: ascent + descent + line gap at ``size``."""
        return round((self.ascender - self.descender + self.line_gap_units) * size
                     / self.units_per_em)

    def underline(self, size: int) -> tuple[int, int]:
        """``(offset, thickness)`` of an underline: its axis lies ``offset`` units below the baseline.

        OpenType's ``underlinePosition`` is the top of the stroke, so the axis is half the
        thickness lower.
        """
        upem = self.units_per_em
        thick = self.underline_thickness
        return (round((thick / 2 - self.underline_position) * size / upem),
                max(1, round(thick * size / upem)))


from .fallback import (DEFAULT_FALLBACKS, fallback_chain, fallbacks, find_system_font,  # noqa: E402
                       font_for, needs_shaping, on_change, reset_fallbacks, set_fallbacks, split_runs,
                       uncovered)

__all__ = ["DEFAULT_FALLBACKS", "FONT_DIR", "FontMetrics", "fallback_chain", "fallbacks", "families",
           "find_system_font", "font_for", "font_ids", "font_index", "font_path", "get_font",
           "needs_shaping", "on_change", "register_alias", "reset_fallbacks", "register_directory", "register_font",
           "resolve", "set_fallbacks", "split_runs", "uncovered"]
