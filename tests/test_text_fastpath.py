"""Compose/text: the one-span fast path breaks exactly like the general loop (randomised)."""
import random
import re

import pytest

from ccm_batch import fonts
from ccm_batch.compose import text as textmod
from ccm_batch.compose.text import Span, break_lines

VOCAB = ["Nous", "vous", "remercions", "de", "votre", "confiance", "AVATAR", "Tyrolean", "WAVY",
         "Jean-Pierre", "-12,00", "1\u202f234,56\u00a0€", "l'article", "n°", "A", "T.", "y,",
         "réglementation", "d'accès", "«\u00a0oui\u00a0»", "e\u0301te\u0301", "x", "Lyon", "VA",
         "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ", "r.", "Fin", "—", "P.-S.", "Jean\u2011Paul",
         "\u2018cit\u00e9\u2019", "1\u2009000"]
SEPS = [" ", " ", " ", " ", "  ", "\n", " \n", "\n\n", "\n  "]


def _paragraph(rng: random.Random) -> str:
    n = rng.randint(0, 40)
    out = []
    if rng.random() < 0.2:
        out.append("  ")
    for i in range(n):
        out.append(rng.choice(VOCAB))
        if i < n - 1 or rng.random() < 0.2:
            out.append(rng.choice(SEPS))
    return "".join(out)


def _both(span, width, first_indent, indent, kern):
    textmod._PARAGRAPHS.clear()
    fast = textmod._break_plain(span, width, first_indent, indent, kern)
    textmod.FAST_PATH = False
    try:
        textmod._PARAGRAPHS.clear()
        general = break_lines([span], width, first_indent=first_indent, indent=indent, kern=kern)
    finally:
        textmod.FAST_PATH = True
    return fast, general


@pytest.mark.parametrize("seed", range(12))
def test_fast_path_equals_general_loop(seed):
    rng = random.Random(seed)
    font = rng.choice(["LiberationSans", "LiberationSerif-Italic", "LiberationSans-Bold",
                       "LiberationMono"])
    compared = 0
    for _ in range(60):
        text = _paragraph(rng)
        size = rng.choice([160, 200, 240])
        width = rng.randint(1500, 9000)
        first, indent = rng.choice([(0, 0), (300, 0), (0, 200)])
        kern = rng.random() < 0.8
        span = Span(text, font, size)
        fast, general = _both(span, width, first, indent, kern)
        if fast is None:           # fast path declined (a word wider than the line): fine
            continue
        compared += 1
        assert fast == general, (text, width)
    assert compared >= 20


def test_fast_path_lines_measure_like_the_fonts_module():
    text = "AVATAR Tyrolean WAVY " * 20
    lines = break_lines([Span(text, "LiberationSans", 200)], 4000)
    fm = fonts.get_font("LiberationSans")
    for line in lines:
        [frag] = line.fragments
        assert frag.width == line.width == fm.width(line.text, 200, kern=True) <= 4000
        assert frag.kerns == fm.kerns(line.text, 200)


def test_paragraph_cache_returns_equal_fresh_lists():
    spans = [Span("Conditions générales " * 30, "LiberationSerif", 180)]
    a = break_lines(spans, 5000)
    b = break_lines(spans, 5000)
    assert a == b and a is not b
    a.pop()
    assert len(break_lines(spans, 5000)) == len(b)


def _squeeze(text: str) -> str:
    """Without the breaking white space a line break may swallow."""
    return re.sub("[%s]" % textmod._BREAK_SPACES, "", text)


@pytest.mark.parametrize("seed", range(8))
def test_mixed_styles_invariants(seed):
    """Random multi-span paragraphs: no overflow, text preserved, widths = sum of runs."""
    rng = random.Random(100 + seed)
    styles = [("LiberationSans", 200), ("LiberationSans-Bold", 200), ("LiberationSerif", 240),
              ("LiberationSans-Italic", 160)]
    for _ in range(40):
        spans = []
        for _ in range(rng.randint(1, 5)):
            font, size = rng.choice(styles)
            spans.append(Span(_paragraph(rng).replace("\n", " ") + rng.choice(["", " "]),
                              font, size))
        width = rng.randint(1200, 7000)
        lines = break_lines(spans, width)
        source = "".join(textmod._drawable(textmod._nfc(s.text), s.font) for s in spans)
        assert _squeeze("".join(l.text for l in lines)) == _squeeze(source)
        for line in lines:
            assert line.width == sum(f.width for f in line.fragments)
            for f in line.fragments:
                fm = fonts.get_font(f.span.font)
                assert f.width == fm.width(f.text, f.span.size, kern=True)
            assert line.width <= width or len(line.text) == 1
            assert not line.text.endswith(" ")
