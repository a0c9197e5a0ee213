"""Compose stage: paragraph composition — styled spans broken into lines and placed as page Text.

Device independent: widths come from :mod:`ccm_batch.fonts` in page units (1/1440 in) under the
fonts module's width/kerning contract, so a renderer that draws ``Text.text`` with the font's
advances plus ``Text.kerns`` plus ``Text.word_space`` lands exactly where composition measured.

Line breaking (:func:`break_lines`) is first-fit (greedy), the éditique norm: predictable, and
stable when a record's data changes elsewhere in the paragraph. Break opportunities:

* at runs of breaking white space (U+0020, tab, U+2000–U+2006, U+2008–U+200A, U+3000); the
  white space at a line end is dropped and not measured; U+00A0, U+2007 and U+202F never break;
* after a hyphen (``-`` or U+2010) between two word characters ("Jean-|Pierre", not "-|12,00"),
  except inside an **identifier** (a word holding a digit: ``SAN-2026-7907560``, ``RUM-C000006-11``)
  or a **URL / e-mail address / domain name** (``://``, ``www.``, ``@``, ``name.tld``), which never
  break at a hyphen; a URL may break after a ``/`` of its path;
* never at the **no-break pairs** (:func:`kept_glue`): a number and its unit (``12 kVA``,
  ``121 755,07 €``, ``15 %``), ``n°``/``N°``/``No.``/``§``/``art.`` and what follows
  (``n° SAN-2026-7907560``), French punctuation and the word before it (``montant :``,
  ``« texte »``) — the space is kept and drawn, but is no break opportunity;
* at a soft hyphen U+00AD (drawn as ``-`` only when the line breaks there) and at U+200B;
* at hyphenation points when ``hyphenate`` is set (a callable, or a language code using the
  optional ``pyphen`` package; ``True`` means French);
* an explicit ``\\n`` (also ``\\r\\n``/``\\r``) forces a break; a trailing one adds no empty line;
* a word wider than the line is broken between characters (at least one character per line), so
  no line ever overflows — except a single character wider than the whole line.

White space at the start of the paragraph or after a ``\\n`` is kept (indentation in data)
unless nothing follows it on that line (a blank line draws nothing); after a soft break it is
dropped. Text is NFC-normalised (decomposed accents from extracts become
the precomposed glyphs the fonts carry), and a character the span's font lacks is drawn with a
one-for-one stand-in from :data:`GLYPH_FALLBACKS` when there is one (U+202F → U+00A0 in
Liberation Mono, U+2011 → ``-``), keeping the original's break rule; :func:`missing_glyphs`
names what is still undrawable, for composition to warn about.

**Fallback fonts** (:func:`resolve_spans`, applied by :func:`break_lines`, :func:`text_width` and
:func:`place_runs`): a character that the span's font lacks even with a stand-in is drawn, per
character, in the first font of the family's fallback chain that has it
(:func:`ccm_batch.fonts.split_runs`); the span is cut into spans of those fonts, each measured
with its own advances (so line breaking, alignment and right-aligned amounts are exact). A
fallback span keeps the primary font's ascent, descent and line height (``Span.base``): a line
holding a CJK name sits on the same baseline as its neighbours. A soft hyphen whose added ``-`` would overflow the line
is taken back to the previous break opportunity; if there is none the line breaks there without
the ``-`` (rare: a syllable as wide as the line).

:meth:`Line.place` turns a line into :class:`ccm_batch.pages.Text` items, one per run of the same
style (font, size, colour, underline), and a :class:`ccm_batch.pages.Rule` under each underlined
run. Justification spreads the slack over the U+0020 spaces with ``Text.word_space``; the
remainder (fewer units than spaces) goes one unit each to the first spaces through
``Text.kerns``, so a justified line ends exactly at the right margin.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from itertools import accumulate
from typing import Callable, Iterable, NamedTuple

from .. import fonts
from ..fonts import shaping
from ..pages import BLACK, Rule, Text

_tn = tuple.__new__          # page items without the NamedTuple __new__ (a Python-level function)

__all__ = ["Span", "Fragment", "Line", "break_lines", "line_height", "missing_glyphs",
           "place_lines", "place_runs", "place_text", "resolve_spans", "text_width", "ALIGNS",
           "GLYPH_FALLBACKS"]

ALIGNS = ("left", "right", "center", "justify")
_ALIGN_ALIASES = {"left": "left", "start": "left", "right": "right", "end": "right",
                  "center": "center", "centre": "center", "middle": "center",
                  "justify": "justify", "justified": "justify", "block": "justify"}

_BREAK_SPACES = " \t\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u3000"
_TOKEN = re.compile(r"\n|[%s]+|\u200b|\u00ad|[^\n%s\u200b\u00ad]+" % (_BREAK_SPACES, _BREAK_SPACES))
_HYPHEN_SPLIT = re.compile(r"(?<=\w)[-\u2010](?=\w)")
_LETTERS = re.compile(r"[^\W\d_]{5,}")
_WORD = re.compile(r"[^\n%s]+" % _BREAK_SPACES)

# -- break rules: no-break pairs, identifiers, URLs --------------------------------------------

_UNITS = frozenset("""% ‰ € $ £ ¥ CHF EUR USD GBP kVA VA kW kWh MWh GWh Wh W kWc kvar V A mA Hz kHz MHz
GHz mm cm dm m km m² m³ m2 m3 g mg kg t q l L ml mL cl hl h min s ms °C °F ° Ko Mo Go To ko Mo KB MB GB TB
px pt an ans mois jour jours j h. km/h m³/h g/km mn sec kg/m³ pers.""".split())
_NUMBER_END = re.compile(r"\d[)\]]?$")
_BEFORE_ID = frozenset({"n°", "N°", "nº", "Nº", "№", "No.", "no.", "Nr.", "nr.", "§", "art.", "Art.",
                        "p.", "pp.", "réf.", "Réf.", "ref.", "Ref."})
_TRAIL_PUNCT = ".,;:!?)]»\u201d\u2019"


def kept_glue(before: str, after: str) -> bool:
    """True when the breaking space between the words ``before`` and ``after`` must not break:
    a number and its unit, an ``n°``-like abbreviation and the identifier after it, a French
    high punctuation (``:;!?»``) or closing quote and the word before it, ``«`` and the next word."""
    if not before or not after:
        return False
    if after[0] in ":;!?»\u203a" or before[-1] in "«\u2039":
        return True
    if before in _BEFORE_ID:
        return True
    if _NUMBER_END.search(before):
        unit = after.rstrip(_TRAIL_PUNCT) or after
        return unit in _UNITS
    return False


_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)*\.[a-z]{2,6}(/\S*)?[.,;:)]?$")


def _is_url(word: str) -> bool:
    return "://" in word or word.startswith("www.") or "@" in word or bool(_DOMAIN.match(word))


def is_identifier(word: str) -> bool:
    """A word that never breaks at a hyphen and is never hyphenated: it holds a digit, or it is a
    URL or e-mail address."""
    return any(c.isdigit() for c in word) or _is_url(word)


def word_breaks(word: str) -> list[int]:
    """Offsets in ``word`` (no white space) after which a line may break: after a hyphen between
    word characters, except in identifiers; after a ``/`` of a URL's path."""
    if _is_url(word):
        start = word.find("://")
        start = start + 3 if start >= 0 else 0
        return [i + 1 for i in range(start, len(word) - 1) if word[i] == "/" and word[i + 1] != "/"]
    if "-" not in word and "\u2010" not in word or is_identifier(word):
        return []
    return [m.end() for m in _HYPHEN_SPLIT.finditer(word)]


def _split_points(seg: str) -> list[int]:
    """:func:`word_breaks` over every word of ``seg`` (offsets in ``seg``)."""
    out = []
    for m in _WORD.finditer(seg):
        for p in word_breaks(m.group()):
            out.append(m.start() + p)
    return out


def _kept_at(text: str, start: int, end: int) -> bool:
    """Whether the glue ``text[start:end]`` joins a no-break pair (words on both sides)."""
    if start == 0 or end >= len(text):
        return False
    i = start
    while i > 0 and text[i - 1] not in _BREAK_SPACES and text[i - 1] != "\n":
        i -= 1
    j = end
    while j < len(text) and text[j] not in _BREAK_SPACES and text[j] != "\n":
        j += 1
    return kept_glue(text[i:start], text[end:j])


class Span(NamedTuple):
    """A piece of paragraph text in one style: ``font`` is a font id, ``size`` in page units.

    ``base`` (fallback spans only) is the font id of the paragraph's own font, whose vertical
    metrics the line keeps.
    """
    text: str
    font: str
    size: int
    color: tuple = BLACK
    underline: bool = False
    base: str = ""


SPAN_DEFAULTS = tuple(Span._field_defaults[f] for f in Span._fields[4:])
"""The fields after ``color`` of a plain span (no underline, no fallback base): the hot paths build
``tuple.__new__(Span, (text, font, size, color) + SPAN_DEFAULTS)``, without the NamedTuple's Python ``__new__``."""


class Fragment(NamedTuple):
    """A run of one style within a line, as it will be drawn.

    ``text`` is final (soft hyphens removed, ``-`` added at a hyphenation break); ``span`` is the
    :class:`Span` it comes from (its style); ``width`` the natural width in page units (kerning
    included when the paragraph was broken with ``kern=True``); ``kerns`` the ``Text.kerns``
    value; ``spaces`` the number of U+0020 in ``text``.
    """
    text: str
    span: Span
    width: int
    kerns: tuple
    spaces: int


class Line(NamedTuple):
    """One composed line: ``fragments`` in order, natural ``width`` (trailing spaces excluded),
    ``ascent``/``descent``/``height`` (page units, the largest of its fonts; ``height`` is the
    natural line distance), ``indent`` (from the left edge), ``hard`` (ends the paragraph or a ``\\n``: never justified)."""
    fragments: tuple
    width: int
    ascent: int
    descent: int
    height: int = 0
    indent: int = 0
    hard: bool = False

    @property
    def text(self) -> str:
        """The line's text as drawn."""
        return "".join(f.text for f in self.fragments)

    def place(self, x: int, baseline_y: int, width: int, align: str = "left",
              last: bool = False) -> list:
        """Items drawing this line in the box starting at ``x`` of ``width``, on ``baseline_y``.

        Returns :class:`~ccm_batch.pages.Text` items (one per style run) followed by a
        :class:`~ccm_batch.pages.Rule` per underlined run. ``align`` is left, right, center or
        justify; justify left-aligns a ``last`` or ``hard`` line and a line without spaces.
        """
        align = _align(align)
        frags = [f for f in self.fragments if f.text]
        avail = width - self.indent
        slack = avail - self.width
        start = x + self.indent
        word_space, extra = 0, 0
        if align == "right":
            start += slack
        elif align == "center":
            start += slack // 2
        elif align == "justify" and not (last or self.hard) and slack > 0:
            spaces = sum(f.spaces for f in frags)
            if spaces:
                word_space, extra = divmod(slack, spaces)
        items: list = []
        rules: list = []
        pos = start
        for frag in frags:
            if type(frag) is not Fragment:       # a shaped right-to-left stretch (compose.bidi)
                items.extend(frag.place(pos, baseline_y))
                pos += frag.width
                continue
            span = frag.span
            kerns = frag.kerns
            width_here = frag.width + word_space * frag.spaces
            if extra and frag.spaces:
                kerns, used = _spread(frag.text, kerns, extra)
                extra -= used
                width_here += used
            items.append(_tn(Text, (pos, baseline_y, span.font, span.size, frag.text, span.color,
                                    word_space if frag.spaces else 0, kerns)))
            if span.underline:
                offset, thick = fonts.get_font(span.font).underline(span.size)
                rules.append(Rule(pos, baseline_y + offset, max(0, width_here), thick, "h",
                                  span.color))
            pos += width_here
        return items + rules


def _spread(text: str, kerns: tuple, extra: int) -> tuple[tuple, int]:
    """Add one unit after each of the first ``extra`` spaces of ``text`` to ``kerns``."""
    add: dict[int, int] = {}
    idx = -1
    while len(add) < extra:
        idx = text.find(" ", idx + 1)
        if idx < 0:
            break
        add[idx] = 1
    merged = dict(kerns)
    for i, d in add.items():
        merged[i] = merged.get(i, 0) + d
    return tuple(sorted((i, d) for i, d in merged.items() if d)), len(add)


def _align(align: str) -> str:
    try:
        return _ALIGN_ALIASES[align.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown alignment {align!r} (use one of {', '.join(ALIGNS)})") from None


# -- styles and the measurement cache ----------------------------------------------------------

WORD_CACHE_SIZE = 8192       # measured texts kept per (font, size), then the cache starts again


class _Style:
    """Per (font, size) measurement state shared by every paragraph of the process."""
    __slots__ = ("fm", "size", "upem", "adv", "pairs", "words", "ascent", "descent",
                 "line_height")

    def __init__(self, font: str, size: int, base: str = ""):
        fm = fonts.get_font(font)
        self.fm = fm
        self.size = size
        self.upem = fm.units_per_em
        self.adv = fm._adv
        self.pairs = fm._kern_table(size) if fm.has_kerning else {}
        self.words: dict[str, tuple[int, int]] = {}
        vm = fonts.get_font(base) if base else fm
        self.ascent = vm.ascent(size)
        self.descent = vm.descent(size)
        self.line_height = vm.line_height(size)

    def measure(self, text: str) -> tuple[int, int]:
        """``(advance font units, kerning page units)`` of ``text`` (cached)."""
        m = self.words.get(text)
        if m is None:
            if len(self.words) >= WORD_CACHE_SIZE:
                self.words.clear()
            if shaping.shapes(text):   # shaped advances (HarfBuzz)
                m = self.words[text] = (shaping.advance(text, self.fm.font_id), 0)
                return m
            m = self.words[text] = (sum(map(self.adv.__getitem__, text)),
                                    self.fm.kern_total(text, self.size) if self.pairs else 0)
        return m


_styles: dict[tuple[str, int], _Style] = {}


def _style(font: str, size: int, base: str = "") -> _Style:
    st = _styles.get((font, size, base))
    if st is None:
        st = _styles[(font, size, base)] = _Style(font, size, base)
    return st


def resolve_spans(spans: Iterable[Span]) -> tuple:
    """``spans`` with every run of characters their font lacks moved to the fallback font that has
    them (see the module docstring). Spans their font covers are returned unchanged."""
    out: list = []
    for sp in spans:
        text = sp.text
        fm = fonts.get_font(sp.font)
        if fm._drawn.issuperset(text):
            out.append(sp)
            continue
        draw = _drawable(_nfc(text), sp.font)
        runs = fonts.split_runs(draw, sp.font)
        if len(runs) == 1 and runs[0][1] == sp.font:
            out.append(sp)
            continue
        base = sp.base or sp.font
        for run_text, run_font in runs:
            out.append(sp._replace(text=run_text, font=run_font,
                                   base="" if run_font == base else base))
    return tuple(out)


def _runs(text: str, font: str) -> list[tuple[str, str]]:
    text = _drawable(_nfc(text), font)
    if fonts.get_font(font)._drawn.issuperset(text):
        return [(text, font)]
    return fonts.split_runs(text, font)


def text_width(text: str, font: str, size: int, kern: bool = True) -> int:
    """Width of a single-line ``text`` in page units (same numbers :func:`break_lines` uses;
    fallback fonts included)."""
    if shaping.shapes(text):
        from .bidi import single_line
        return single_line(text, font, size, BLACK, kern).width
    total = 0
    for run, run_font in _runs(text, font):
        st = _style(run_font, size)
        adv, k = st.measure(run)
        total += round(adv * size / st.upem) + (k if kern else 0)
    return total


def place_runs(x: int, y: int, text: str, font: str, size: int, color: tuple = BLACK,
               align: str = "left", kern: bool = True) -> list:
    """Text items for a single line anchored at ``x`` on baseline ``y``: one per font run (the
    fallback fonts' runs included), placed one after the other.

    ``align`` says which end of the text ``x`` is: left (start), right (end) or center.
    """
    if shaping.shapes(text):
        from .bidi import single_line
        line = single_line(text, font, size, color, kern)
        align = _align(align)
        x -= line.width if align == "right" else line.width // 2 if align == "center" else 0
        return line.place(x, y, line.width)
    runs = _runs(text, font)
    measured = []
    width = 0
    for run, run_font in runs:
        st = _style(run_font, size)
        adv, k = st.measure(run)
        w = round(adv * size / st.upem) + (k if kern else 0)
        measured.append((run, run_font, st, w))
        width += w
    align = _align(align)
    if align == "right":
        x -= width
    elif align == "center":
        x -= width // 2
    items = []
    for run, run_font, st, w in measured:
        kerns = st.fm.kerns(run, size) if kern else ()
        items.append(Text(x, y, run_font, size, run, color, 0, kerns))
        x += w
    return items


def place_text(x: int, y: int, text: str, font: str, size: int, color: tuple = BLACK,
               align: str = "left", kern: bool = True) -> Text:
    """One Text item for a single line anchored at ``x`` on baseline ``y`` (the first run of
    :func:`place_runs`: use that when the text may need a fallback font).

    ``align`` says which end of the text ``x`` is: left (start), right (end) or center.
    """
    return place_runs(x, y, text, font, size, color, align, kern)[0]


def _nfc(text: str) -> str:
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text)


# Stand-ins drawn for characters a font lacks (one character for one, so break positions and
# widths stay aligned): the no-break spaces Babel's French formats use, typographic hyphens,
# quotes and dashes. A stand-in keeps the original's break behaviour (U+2011 still never breaks).
GLYPH_FALLBACKS = {
    "\u202f": "\u00a0", "\u2007": "\u00a0", "\u2009": " ", "\u2008": " ", "\u200a": " ",
    "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ",
    "\u2011": "-", "\u2010": "-", "\u2212": "-", "\u2012": "\u2013", "\u2015": "\u2014",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
}
_fallback_tables: dict[str, dict] = {}


def _fallback_table(font: str) -> dict:
    """``str.translate`` table of the stand-ins ``font`` needs (empty if it covers them all)."""
    table = _fallback_tables.get(font)
    if table is None:
        fm = fonts.get_font(font)
        table = {ord(a): b for a, b in GLYPH_FALLBACKS.items()
                 if not fm.covers(a) and fm.covers(b)}
        _fallback_tables[font] = table
    return table


def _drawable(text: str, font: str) -> str:
    """``text`` with stand-ins for the characters ``font`` lacks (see GLYPH_FALLBACKS)."""
    if text.isascii():
        return text
    table = _fallback_table(font)
    return text.translate(table) if table else text


# -- tokenising into words ---------------------------------------------------------------------

class _Word:
    """An unbreakable sequence of ``(style id, text)`` parts and the break after it.

    ``after``: ``glue`` (white space follows, in ``glue`` parts), ``break`` (zero-width break
    opportunity), ``soft`` (soft hyphen), ``newline``, ``end``. ``style`` is the style id at the
    break (gives an empty line its height).
    """
    __slots__ = ("parts", "after", "glue", "style")

    def __init__(self, parts: list, after: str, style: int, glue: list | None = None):
        self.parts = parts
        self.after = after
        self.style = style
        self.glue = glue if glue is not None else []


def _words(spans: Iterable[Span], style_of: Callable[[Span], int]) -> list[_Word]:
    words: list[_Word] = []
    parts: list = []
    sid = 0
    texts = []
    for span in spans:
        text = span.text
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        texts.append(_nfc(text))
    whole = "".join(texts)              # the paragraph's text: no-break pairs may cross spans
    base = 0
    for span, text in zip(spans, texts):
        if not text:
            continue
        sid = style_of(span)
        tr = None if text.isascii() else (_fallback_table(span.font) or None)
        for m in _TOKEN.finditer(text):
            tok = m.group()
            c = tok[0]
            if c == "\n":
                words.append(_Word(_unless_blank(parts), "newline", sid))
                parts = []
            elif c in _BREAK_SPACES:
                tok = tok.replace("\t", " ")
                if tr:
                    tok = tok.translate(tr)
                if parts and _kept_at(whole, base + m.start(), base + m.end()):
                    parts.append((sid, tok))            # a no-break pair: the space is no break
                elif parts:
                    words.append(_Word(parts, "glue", sid, [(sid, tok)]))
                    parts = []
                elif not words or words[-1].after == "newline":
                    parts.append((sid, tok))            # indentation in data: kept
                else:
                    last = words[-1]
                    if last.after != "glue":
                        last.after = "glue"
                    last.glue.append((sid, tok))
            elif tok == "\u200b" or tok == "\u00ad":
                if parts:
                    words.append(_Word(parts, "break" if c == "\u200b" else "soft", sid))
                    parts = []
            elif "-" in tok or "\u2010" in tok or "/" in tok:
                draw = tok.translate(tr) if tr else tok
                start = 0
                ws = base + m.start()                   # the whole word, across spans
                while ws > 0 and whole[ws - 1] not in _BREAK_SPACES and whole[ws - 1] != "\n":
                    ws -= 1
                off = base + m.start() - ws
                for p in word_breaks(_WORD.match(whole, ws).group()):
                    p -= off
                    if p <= start:
                        continue
                    if p >= len(tok):
                        break
                    parts.append((sid, draw[start:p]))
                    words.append(_Word(parts, "break", sid))
                    parts = []
                    start = p
                parts.append((sid, draw[start:]))
            else:
                parts.append((sid, tok.translate(tr) if tr else tok))
        base += len(text)
    words.append(_Word(_unless_blank(parts), "end", sid))
    return words


def _unless_blank(parts: list) -> list:
    """Indentation with no word after it is dropped: a blank line draws nothing."""
    for _, text in parts:
        if text.strip(_BREAK_SPACES):
            return parts
    return []


# -- the line builder --------------------------------------------------------------------------

class _Builder:
    """The line being filled: runs of ``(style id, text, advance units, kerning page units)``.

    Only the last run ever changes, so a snapshot is ``(run count, last run, closed width)``.
    """
    __slots__ = ("styles", "kern", "runs", "closed")

    def __init__(self, styles: list[_Style], kern: bool):
        self.styles = styles
        self.kern = kern
        self.runs: list[tuple] = []
        self.closed = 0          # width of every run but the last

    def width(self) -> int:
        if not self.runs:
            return 0
        sid, _, adv, k = self.runs[-1]
        st = self.styles[sid]
        return self.closed + round(adv * st.size / st.upem) + k

    def _extend(self, parts: list) -> tuple:
        """The line with ``parts`` appended: ``(width, closed runs, last run, closed width)``."""
        styles = self.styles
        kern = self.kern
        if self.runs:
            sid, text, adv, k = self.runs[-1]
        else:
            sid, text, adv, k = None, "", 0, 0
        closed = self.closed
        new = None
        for psid, ptext in parts:
            if not ptext:
                continue
            st = styles[psid]
            m = st.words.get(ptext)
            padv, pk = m if m is not None else st.measure(ptext)
            if psid == sid:
                if kern:
                    if st.pairs:
                        pk += st.pairs.get(text[-1] + ptext[0], 0)
                    k += pk
                adv += padv
                text += ptext
            else:
                if sid is not None:
                    cst = styles[sid]
                    closed += round(adv * cst.size / cst.upem) + k
                    if new is None:
                        new = []
                    new.append((sid, text, adv, k))
                sid, text, adv, k = psid, ptext, padv, (pk if kern else 0)
        if sid is None:
            return 0, None, None, 0
        st = styles[sid]
        return closed + round(adv * st.size / st.upem) + k, new, (sid, text, adv, k), closed

    def trial(self, parts: list) -> int:
        """Width of the line if ``parts`` were appended (nothing changes)."""
        return self._extend(parts)[0]

    def fit(self, parts: list, avail: int) -> bool:
        """Append ``parts`` if the line stays within ``avail``; say whether it did."""
        width, new, last, closed = self._extend(parts)
        if width > avail or last is None:
            return False
        self._commit(new, last, closed)
        return True

    def append(self, parts: list) -> None:
        """Append ``(style id, text)`` parts to the line, whatever its width."""
        _, new, last, closed = self._extend(parts)
        if last is not None:
            self._commit(new, last, closed)

    def _commit(self, new, last, closed) -> None:
        runs = self.runs
        if runs:
            runs.pop()
        if new:
            runs.extend(new)
        runs.append(last)
        self.closed = closed

    def snapshot(self) -> tuple:
        return len(self.runs), (self.runs[-1] if self.runs else None), self.closed

    def restore(self, snap: tuple) -> None:
        n, last, closed = snap
        del self.runs[n:]
        if n:
            self.runs[-1] = last
        self.closed = closed

    @property
    def empty(self) -> bool:
        return not self.runs


def _make_line(b: _Builder, styles: list[_Style], style_spans: list[Span], line_style: int,
               indent: int, hard: bool, kern: bool) -> Line:
    frags = []
    ascent = descent = height = 0
    sids = set()
    for sid, text, adv, k in b.runs:
        st = styles[sid]
        sids.add(sid)
        kerns = st.fm.kerns(text, st.size) if kern and st.pairs else ()
        frags.append(Fragment(text, style_spans[sid], round(adv * st.size / st.upem) + k, kerns,
                              text.count(" ")))
    if not sids:
        sids.add(line_style)
    for sid in sids:
        st = styles[sid]
        ascent = max(ascent, st.ascent)
        descent = max(descent, st.descent)
        height = max(height, st.line_height)
    return Line(tuple(frags), b.width(), ascent, descent, height, indent, hard)


# -- hyphenation -------------------------------------------------------------------------------

_pyphen_dicts: dict[str, Callable] = {}


def _hyphenator(hyphenate) -> Callable[[str], Iterable[int]] | None:
    if not hyphenate:
        return None
    if callable(hyphenate):
        return hyphenate
    lang = "fr" if hyphenate is True else str(hyphenate)
    fn = _pyphen_dicts.get(lang)
    if fn is None:
        try:
            import pyphen
        except ImportError:
            raise ImportError("hyphenate=%r needs the optional 'pyphen' package; pass a "
                              "callable or hyphenate=False" % (hyphenate,)) from None
        fn = _pyphen_dicts[lang] = pyphen.Pyphen(lang=lang, left=2, right=3).positions
    return fn


def _hyphen_points(word: "_Word", hyph) -> tuple[int, str, list[int]] | None:
    """``(style id, text, positions)`` for a single-part word with a hyphenable core."""
    if len(word.parts) != 1:
        return None
    sid, text = word.parts[0]
    if is_identifier(text):
        return None
    m = _LETTERS.search(text)
    if m is None:
        return None
    core = m.group()
    points = sorted({m.start() + p for p in hyph(core) if 0 < p < len(core)}, reverse=True)
    return (sid, text, points) if points else None


# -- breaking ----------------------------------------------------------------------------------

_PARAGRAPHS: dict[tuple, tuple] = {}
PARAGRAPH_CACHE_SIZE = 4096


def break_lines(spans: Iterable[Span], width: int, *, first_indent: int = 0, indent: int = 0,
                kern: bool = True, hyphenate=False) -> list[Line]:
    """Break styled ``spans`` into lines no wider than ``width`` page units.

    ``first_indent`` applies to the first line, ``indent`` to the others (both from the left
    edge, reducing the available width). ``kern`` applies the fonts' pair kerning to widths and
    to the resulting ``Text.kerns``. ``hyphenate``: False, a callable ``word -> iterable of
    split offsets``, a pyphen language code (``"fr"``, ``"de_DE"``…), or True (French).
    Returns at least one line (an empty paragraph gives one empty line with the first span's
    height); the last line is ``hard``. See the module docstring for the break rules.

    Results are kept in a bounded LRU cache keyed by the arguments: boilerplate paragraphs
    repeated in every document of a run are broken once per process.
    """
    spans = tuple(spans)
    key = (spans, width, first_indent, indent, kern, hyphenate)
    try:
        lines = _PARAGRAPHS.pop(key)
    except KeyError:
        lines = None
    except TypeError:                        # unhashable span (e.g. a list colour): no cache
        return _break_lines(spans, width, first_indent, indent, kern, hyphenate)
    if lines is None:
        lines = tuple(_break_lines(spans, width, first_indent, indent, kern, hyphenate))
        if len(_PARAGRAPHS) >= PARAGRAPH_CACHE_SIZE:
            del _PARAGRAPHS[next(iter(_PARAGRAPHS))]
    _PARAGRAPHS[key] = lines
    return list(lines)


def _break_lines(spans: tuple, width: int, first_indent: int, indent: int, kern: bool,
                 hyphenate) -> list[Line]:
    style_ids: dict[tuple, int] = {}
    style_spans: list[Span] = []
    styles: list[_Style] = []

    def style_of(span: Span) -> int:
        key = (span.font, span.size, span.color, span.underline, span.base)
        sid = style_ids.get(key)
        if sid is None:
            sid = style_ids[key] = len(styles)
            style_spans.append(span)
            styles.append(_style(span.font, span.size, span.base))
        return sid

    if not spans:
        raise ValueError("break_lines needs at least one span (it gives the paragraph's style)")
    spans = resolve_spans(spans)
    shaped = any(shaping.shapes(sp.text) for sp in spans)
    if FAST_PATH and len(spans) == 1 and not hyphenate and not shaped:
        lines = _break_plain(spans[0], width, first_indent, indent, kern)
        if lines is not None:
            return lines
    style_of(spans[0])
    words = _words(spans, style_of)
    hyph = _hyphenator(hyphenate)

    lines: list[Line] = []
    b = _Builder(styles, kern)
    cands: list[tuple] = []      # (next word index, snapshot, kind, style id) after each word
    line_style = 0
    cur_indent = first_indent
    avail = width - first_indent

    def emit(hard: bool, hyphen_style: int | None = None) -> None:
        nonlocal b, cands, cur_indent, avail
        if hyphen_style is not None:
            b.append([(hyphen_style, "-")])
        lines.append(_make_line(b, styles, style_spans, line_style, cur_indent, hard, kern))
        b = _Builder(styles, kern)
        cands = []
        cur_indent = indent
        avail = width - indent

    def try_hyphenate(glue: list, w: _Word) -> _Word | None:
        """Put the longest hyphenated head of ``w`` that fits on the line; return the tail."""
        found = _hyphen_points(w, hyph)
        if found is None:
            return None
        sid, text, points = found
        for p in points:
            head = [(sid, text[:p] + "-")]
            if b.trial(glue + head) <= avail:
                b.append(glue + head)
                return _Word([(sid, text[p:])], w.after, w.style, w.glue)
        return None

    def split_chars(w: _Word) -> _Word | None:
        """Fill the (empty) line with the leading characters of ``w``; return the rest."""
        parts = w.parts
        for pi, (sid, text) in enumerate(parts):
            for ci, ch in enumerate(text):
                if not b.empty and b.trial([(sid, ch)]) > avail:
                    rest = [(sid, text[ci:])] + parts[pi + 1:]
                    return _Word(rest, w.after, w.style, w.glue)
                b.append([(sid, ch)])
        return None                  # all of it went in: one glyph wider than the line

    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        if not w.parts:                      # a bare newline, or the end of the paragraph
            i += 1
            if w.after == "newline":
                if b.empty:
                    line_style = w.style
                emit(True)
            elif not b.empty or not lines:
                emit(True)
            continue
        if b.empty:
            line_style = w.parts[0][0]
            glue: list = []
        else:
            prev = words[i - 1]
            glue = prev.glue if prev.after == "glue" else []
        placed = b.fit(glue + w.parts if glue else w.parts, avail)
        if not placed and hyph is not None:
            tail = try_hyphenate(glue, w)
            if tail is not None:
                words[i] = tail
                emit(False)
                continue
        if not placed and b.empty:           # a word wider than the whole line
            for k, (psid, ptext) in enumerate(w.parts):
                if k and not ptext.strip(_BREAK_SPACES):
                    # a no-break pair wider than the line: break at its space, not inside a word
                    words[i:i + 1] = [_Word(w.parts[:k], "glue", psid, [(psid, ptext)]),
                                      _Word(w.parts[k + 1:], w.after, w.style, w.glue)]
                    n += 1
                    break
            else:
                k = 0
            if k:
                continue
            tail = split_chars(w)
            if tail is not None:
                words[i] = tail
                emit(False)
                continue
            placed = True
        if placed:
            i += 1
            if w.after in ("newline", "end"):
                emit(True)
            else:
                cands.append((i, b.snapshot(), w.after, w.parts[-1][0]))
            continue
        while True:                          # break at the last opportunity on the line
            nxt, snap, kind, sid = cands[-1]
            b.restore(snap)
            if kind == "soft" and b.trial([(sid, "-")]) > avail:
                if len(cands) > 1:
                    cands.pop()
                    continue
                emit(False)
            else:
                emit(False, sid if kind == "soft" else None)
            i = nxt
            break
    if not b.empty:
        emit(True)
    if not lines:
        emit(True)
    if not lines[-1].hard:
        lines[-1] = lines[-1]._replace(hard=True)
    if shaped:                               # right-to-left / complex scripts (compose.bidi)
        from .bidi import visual_line
        lines = [visual_line(line, kern) for line in lines]
    return lines


FAST_PATH = True
_PLAIN_SKIP = re.compile("[\t\r\u00ad\u200b]")
_GLUE = re.compile("[%s]+" % _BREAK_SPACES)


def _break_plain(span: Span, width: int, first_indent: int, indent: int,
                 kern: bool) -> list[Line] | None:
    """First-fit breaking of a one-span paragraph over character prefix sums.

    Gives the same lines as the general loop (tests compare them) at C speed per character:
    every line is a slice ``text[s:e]`` whose width is ``round((A[e] - A[s]) * size / upem)
    + K[e-1] - K[s]`` (A: advance prefix sums, K: pair-kerning prefix sums). Answers None
    (use the general loop) for tabs, soft hyphens, zero-width spaces or a word wider than its
    line.
    """
    text = span.text
    if _PLAIN_SKIP.search(text):
        return None
    text = _nfc(text)
    draw = _drawable(text, span.font)           # breaks are found in text, widths in draw
    st = _style(span.font, span.size)
    size, upem = st.size, st.upem
    adv = list(accumulate(map(st.adv.__getitem__, draw), initial=0))
    pairs = st.pairs if kern else None
    all_kerns = st.fm.kerns(draw, size) if pairs else ()
    if all_kerns:
        kv = [0] * len(text)
        for i, d in all_kerns:
            kv[i] = d
        ks = list(accumulate(kv, initial=0))
        nz = [i for i, _ in all_kerns]
    else:
        kv, ks, nz = (), None, []

    def span_width(s: int, e: int) -> int:
        w = round((adv[e] - adv[s]) * size / upem)
        if ks is not None and e - s > 1:
            w += ks[e - 1] - ks[s]
        return w

    lines: list[Line] = []
    ascent, descent, height = st.ascent, st.descent, st.line_height
    seg_start = 0
    segments = text.split("\n")
    if len(segments) > 1 and not segments[-1].strip(_BREAK_SPACES):
        segments.pop()                          # a trailing newline adds no empty line
    for seg in segments:
        seg_end = seg_start + len(seg)
        trimmed = seg_start + len(seg.rstrip(_BREAK_SPACES))
        if trimmed == seg_start:                # empty or blank: an empty line
            lines.append(Line((), 0, ascent, descent, height,
                              indent if lines else first_indent, True))
            seg_start = seg_end + 1
            continue
        # break candidates: (end of line, start of the next line)
        cands = []
        for m in _GLUE.finditer(seg):
            if 0 < m.start() and seg_start + m.start() < trimmed and not _kept_at(seg, m.start(), m.end()):
                cands.append((seg_start + m.start(), seg_start + m.end()))
        if "-" in seg or "\u2010" in seg or "/" in seg:
            for p in _split_points(seg):
                cands.append((seg_start + p, seg_start + p))
            cands.sort()
        cands.append((trimmed, seg_end + 1))
        ends = [c[0] for c in cands]
        s = seg_start
        k = 0                                   # first candidate after s
        while True:
            cur_indent = indent if lines else first_indent
            avail = width - cur_indent
            if span_width(s, ends[k]) > avail:
                return None                     # a word wider than the line: general loop
            lo, hi = k, len(cands) - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if span_width(s, ends[mid]) <= avail:
                    lo = mid
                else:
                    hi = mid - 1
            e, nxt = cands[lo]
            line_text = draw[s:e]
            w = span_width(s, e)
            if nz:
                i0, i1 = bisect_left(nz, s), bisect_left(nz, e - 1)
                kerns = tuple((i - s, kv[i]) for i in nz[i0:i1])
            else:
                kerns = ()
            hard = lo == len(cands) - 1
            lines.append(Line((Fragment(line_text, span, w, kerns, line_text.count(" ")),), w,
                              ascent, descent, height, cur_indent, hard))
            if hard:
                break
            s, k = nxt, lo + 1
        seg_start = seg_end + 1
    if not lines:
        lines.append(Line((), 0, ascent, descent, height, first_indent, True))
    return lines


# -- vertical placement ------------------------------------------------------------------------

def line_height(spans: Iterable[Span], leading: int | None = None,
                factor: float | None = None) -> int:
    """Baseline-to-baseline distance for lines of ``spans``.

    ``leading`` (page units) wins when given; else ``factor`` × the largest span size; else the
    largest natural line height (ascent + descent + line gap) of the spans' fonts.
    """
    if leading is not None:
        return int(leading)
    spans = list(spans)
    if not spans:
        raise ValueError("line_height needs at least one span")
    if factor is not None:
        return round(factor * max(s.size for s in spans))
    return max(_style(s.font, s.size, s.base).line_height for s in spans)


def place_lines(lines: list[Line], x: int, top: int, width: int, align: str = "left",
                leading: int | None = None) -> tuple[list, int]:
    """Place ``lines`` top-down in a box from ``top``; returns ``(items, height used)``.

    Each line takes ``leading`` (or its own natural ``height``) and its baseline sits at
    half-leading: ``top + (L - ascent - descent) // 2 + ascent`` of its line box.
    """
    items: list = []
    y = top
    for line in lines:
        lead = leading if leading is not None else line.height
        baseline = y + (lead - line.ascent - line.descent) // 2 + line.ascent
        items.extend(line.place(x, baseline, width, align))
        y += lead
    return items, y - top


def missing_glyphs(spans: Iterable[Span]) -> str:
    """Distinct characters of ``spans`` that neither their font (even with a stand-in from
    :data:`GLYPH_FALLBACKS`) nor its fallback fonts can draw, in order of appearance."""
    out: dict[str, None] = {}
    for span in spans:
        for ch in fonts.uncovered(_drawable(_nfc(span.text), span.font), span.font):
            out[ch] = None
    return "".join(out)


def _clear_caches() -> None:
    _PARAGRAPHS.clear()
    _styles.clear()                 # word widths: shaped or not depends on the configuration


fonts.on_change(_clear_caches)
