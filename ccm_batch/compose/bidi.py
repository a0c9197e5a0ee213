"""Compose stage: lines holding right-to-left or complex-script text — bidi reordering and shaping.

:mod:`ccm_batch.compose.text` breaks every paragraph in logical (reading) order; when a paragraph
holds a character of a complex script (Arabic, Hebrew…, :func:`ccm_batch.fonts.shaping.is_complex`)
it measures those words with their shaped advances and hands each finished line to
:func:`visual_line`, which

1. resolves the bidi embedding level of every character of the line (UAX #9, paragraph level 0:
   the documents are left-to-right text; :func:`ccm_batch.fonts.shaping.levels`);
2. cuts the line's fragments where the level changes, and groups the pieces of every maximal
   right-to-left stretch (levels ≥ 1: an Arabic name with its digits, spaces and punctuation);
3. reorders each stretch visually (rule L2: from the highest level down to 1, every run of pieces
   at that level or higher is reversed) and shapes each piece with HarfBuzz in its font and
   direction (glyphs in visual order, mirrored brackets, joining forms, lam-alef, marks);
4. replaces the stretch by one :class:`ShapedFragment` drawing a :class:`ccm_batch.pages.Glyphs`
   item whose ``text`` is the stretch's **logical** text and ``actual`` the text PDF writes as
   ``/ActualText`` (:func:`extraction_text`), so that ``pdftotext`` gives the name back exactly as
   it is in the extract.

Left-to-right pieces stay ordinary fragments (unchanged when a fragment is not cut), so Latin text
around a name is drawn exactly as before. Widths are the shaped advances (each piece's font and
size), so alignment and right-aligned amounts are exact; a shaped stretch is not stretched by
justification (its spaces are not counted). :func:`single_line` does the same for one-line texts
(:func:`ccm_batch.compose.text.place_runs` and :func:`~ccm_batch.compose.text.text_width`).
"""
from __future__ import annotations

from typing import NamedTuple
from unicodedata import bidirectional

from .. import fonts
from ..fonts import shaping
from ..pages import Glyphs, Rule
from . import text as textmod
from .text import Fragment, Line, Span


class ShapedFragment(NamedTuple):
    """A right-to-left stretch (or a complex-script run) of a line, drawn as one Glyphs item.

    The first five fields are those of :class:`~ccm_batch.compose.text.Fragment` (``text`` is the
    logical text, ``span`` the style of its first piece, ``spaces`` 0: justification leaves it
    alone); ``runs`` are the :attr:`ccm_batch.pages.Glyphs.runs`, ``spans`` the style of each run
    (for underlines), ``actual`` the :attr:`ccm_batch.pages.Glyphs.actual` text.
    """
    text: str
    span: Span
    width: int
    kerns: tuple
    spaces: int
    runs: tuple
    spans: tuple
    actual: str

    def place(self, x: int, y: int) -> list:
        """The Glyphs item at ``x`` on baseline ``y``, then a Rule under every underlined run."""
        items: list = [Glyphs(x, y, self.text, self.runs, self.width, self.actual)]
        pos = x
        for run, span in zip(self.runs, self.spans):
            if span.underline:
                offset, thick = fonts.get_font(span.font).underline(span.size)
                items.append(Rule(pos, y + offset, run[3], thick, "h", span.color))
            pos += run[3]
        return items


def _run(text: str, span: Span, rtl: bool) -> tuple:
    """One Glyphs run ``(font, size, colour, width, glyphs)`` of ``text`` in ``span``'s style."""
    glyphs = tuple((g[0], g[2], g[3], g[4]) for g in shaping.shape(text, span.font, rtl))
    upem = fonts.get_font(span.font).units_per_em
    width = round(sum(g[1] for g in glyphs) * span.size / upem)
    return (span.font, span.size, span.color, width, glyphs)


def _plain(text: str, frag: Fragment, kern: bool) -> Fragment:
    """A left-to-right piece cut from ``frag``: measured like the line breaker measures it."""
    span = frag.span
    st = textmod._style(span.font, span.size, span.base)
    adv, k = st.measure(text)
    kerns = st.fm.kerns(text, span.size) if kern and st.pairs else ()
    return Fragment(text, span, round(adv * span.size / st.upem) + (k if kern else 0), kerns,
                    text.count(" "))


def _stretch(pieces: list) -> ShapedFragment:
    """One ShapedFragment from the logical ``pieces`` ``(text, span, level)`` of a stretch."""
    order = _reorder([p[2] for p in pieces])
    runs = tuple(_run(pieces[k][0], pieces[k][1], pieces[k][2] % 2 == 1) for k in order)
    spans = tuple(pieces[k][1] for k in order)
    text = "".join(p[0] for p in pieces)
    return ShapedFragment(text, pieces[0][1], sum(r[3] for r in runs), (), 0, runs, spans,
                          extraction_text(text))


_KEPT = frozenset(("L", "EN", "ES", "ET", "CS", "AN"))    # letters, digits, number separators
_RTL = frozenset(("R", "AL"))


def extraction_text(text: str) -> str:
    """``text`` as PDF's ``/ActualText`` of a right-to-left stretch (see
    :attr:`ccm_batch.pages.Glyphs.actual`): every run of right-to-left letters, with the spaces and
    punctuation between them, reversed; left-to-right letters, digits and number separators (the
    characters a line-reading extractor keeps in place: bidi classes L, EN, ES, ET, CS, AN) and the
    neutrals at a run's edges stay where they are."""
    out: list = []
    i, n = 0, len(text)
    while i < n:
        if bidirectional(text[i]) in _KEPT:
            out.append(text[i])
            i += 1
            continue
        j = i
        while j < n and bidirectional(text[j]) not in _KEPT:
            j += 1
        run = text[i:j]
        strong = [k for k, ch in enumerate(run) if bidirectional(ch) in _RTL]
        if strong:
            a, b = strong[0], strong[-1] + 1
            run = run[:a] + run[a:b][::-1] + run[b:]
        out.append(run)
        i = j
    return "".join(out)


def _reorder(levels: list) -> list:
    """Indexes of ``levels`` in visual order (rule L2 of UAX #9: from the highest level down to
    the lowest odd one, every run at that level or higher is reversed)."""
    order = list(range(len(levels)))
    top, low = max(levels), min(levels) | 1
    for level in range(top, low - 1, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = reversed(order[i:j])
                i = j
            else:
                i += 1
    return order


def visual_line(line: Line, kern: bool = True) -> Line:
    """``line`` (logical order) with its right-to-left stretches reordered and shaped (see the
    module docstring); a line without complex text is returned as it is."""
    frags = [f for f in line.fragments if f.text]
    logical = "".join(f.text for f in frags)
    if not shaping.is_complex(logical):
        return line
    levels = shaping.levels(logical)
    out: list = []
    stretch: list = []                   # pieces (text, span, level) of the current RTL stretch
    at = 0
    for frag in frags:
        text = frag.text
        start = 0
        for i in range(1, len(text) + 1):
            if i < len(text) and levels[at + i] == levels[at + start]:
                continue
            piece, level = text[start:i], levels[at + start]
            if level:
                stretch.append((piece, frag.span, level))
            else:
                if stretch:
                    out.append(_stretch(stretch))
                    stretch = []
                if shaping.is_complex(piece):            # a left-to-right complex script
                    out.append(_stretch([(piece, frag.span, 0)]))
                elif start == 0 and i == len(text):
                    out.append(frag)                     # a whole fragment: kept as it is
                else:
                    out.append(_plain(piece, frag, kern))
            start = i
        at += len(text)
    if stretch:
        out.append(_stretch(stretch))
    return line._replace(fragments=tuple(out), width=sum(f.width for f in out))


def single_line(text: str, font: str, size: int, color: tuple, kern: bool = True) -> Line:
    """A one-line text (fallback runs included) as a visual :class:`Line` (nothing is broken)."""
    frags = []
    for run, run_font in textmod._runs(text, font):
        span = Span(run, run_font, size, color)
        st = textmod._style(run_font, size)
        adv, k = st.measure(run)
        kerns = st.fm.kerns(run, size) if kern and st.pairs else ()
        frags.append(Fragment(run, span, round(adv * size / st.upem) + (k if kern else 0), kerns,
                              run.count(" ")))
    line = Line(tuple(frags), sum(f.width for f in frags), 0, 0)
    return visual_line(line, kern)
