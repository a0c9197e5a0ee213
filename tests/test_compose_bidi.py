"""Issue 12 item 5, composition level: bidi levels, visual order, shaped widths, the AFP refusal."""
from __future__ import annotations

import os

import pytest

from ccm_batch import fonts
from ccm_batch.compose import bidi, text as T
from ccm_batch.fonts import shaping
from ccm_batch.pages import Glyphs, Text

HAVE_NOTO = bool(__import__("ccm_batch.fonts", fromlist=["x"]).find_system_font("Noto Sans Arabic"))
if not HAVE_NOTO and os.environ.get("CI"):
    raise RuntimeError("CI must install fonts-noto-core (Noto Sans Arabic / Hebrew, the fallback fonts)")
pytestmark = pytest.mark.skipif(not HAVE_NOTO, reason="fonts-noto-core is not installed")

NAME = "صلاح الدين عبد الله"
SANS = "LiberationSans"


@pytest.fixture(autouse=True)
def _shaping_on():
    shaping.set_complex_text(True)
    yield
    shaping.set_complex_text(True)


def _arabic_font() -> str:
    return fonts.font_for("\u0644", SANS)


def test_levels_follow_the_unicode_bidi_algorithm():
    # Latin 0, Arabic 1, European digits after Arabic letters 2 (W2: AN), spaces between them 1
    text = "abc شركة 123 للتجارة def"
    assert shaping.levels(text) == [0] * 4 + [1] * 5 + [2] * 3 + [1] * 8 + [0] * 4
    assert shaping.levels("plain latin") == [0] * 11


def test_an_rtl_name_in_a_ltr_sentence_is_one_glyph_block_between_the_latin_runs():
    items = T.place_runs(1000, 2000, f"Client: {NAME}, compte 12", SANS, 200)
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Text", "Glyphs", "Text"]
    latin, name, rest = items
    assert latin.text == "Client: " and rest.text == ", compte 12"
    assert name.text == NAME                               # the logical text, as in the extract
    assert name.x == latin.x + T.text_width("Client: ", SANS, 200)
    assert rest.x == name.x + name.width
    assert name.width == sum(run[3] for run in name.runs)


def test_digits_and_latin_inside_rtl_are_ordered_visually():
    # logical: street name then number; drawn: number on the left of the Arabic words
    [g] = T.place_runs(0, 0, "شارع الملك فهد 12", SANS, 200)
    fonts_in_order = [run[0] for run in g.runs]
    assert fonts_in_order[0] == SANS and fonts_in_order[-1] == _arabic_font()
    digits = fonts.get_font(SANS).glyph_ids("12")
    assert [gl[0] for gl in g.runs[0][4]] == digits          # "12" left to right inside
    # Latin letters inside an Arabic stretch keep their own order, between the Arabic pieces
    items = [i for i in T.place_runs(0, 0, "شركة ABC للتجارة", SANS, 200) if i.text.strip()]
    assert [type(i).__name__ for i in items] == ["Glyphs", "Text", "Glyphs"]
    assert items[1].text.strip() == "ABC" and items[0].text == "شركة"


def test_arabic_is_joined_and_lam_alef_is_one_glyph():
    font = _arabic_font()
    nominal = fonts.get_font(font).glyph_ids("لا")
    shaped = shaping.shape("لا", font, True)
    assert len(shaped) == 1 and shaped[0][0] not in nominal     # the lam-alef ligature
    word = shaping.shape("محمد", font, True)
    assert [g[0] for g in word] != fonts.get_font(font).glyph_ids("محمد")[::-1]   # joining forms
    assert all(g[0] for g in word)


def test_brackets_are_mirrored_in_right_to_left_text():
    [g] = T.place_runs(0, 0, "محمد (علي)", SANS, 200)
    leftmost = g.runs[0][4][0][0]
    assert leftmost == fonts.get_font(SANS).glyph_id("(")       # logical ")" shown as "("


def test_widths_are_the_shaped_advances_and_right_alignment_is_exact():
    font = _arabic_font()
    fm = fonts.get_font(font)
    shaped = round(shaping.advance(NAME, font) * 200 / fm.units_per_em)
    assert T.text_width(NAME, SANS, 200) == shaped
    assert shaped != fm.width(NAME, 200)                     # the isolated forms' widths differ
    [g] = T.place_runs(9000, 500, NAME, SANS, 200, align="right")
    assert g.x + g.width == 9000


def test_paragraphs_break_on_shaped_widths():
    words = " ".join([NAME] * 6)
    lines = T.break_lines([T.Span(words, SANS, 200)], 3000)
    assert len(lines) > 1
    for line in lines:
        assert line.width <= 3000
        frags = [f for f in line.fragments if f.text]
        assert line.width == sum(f.width for f in frags)
        items = line.place(0, 0, 3000, "right")
        glyphs = [i for i in items if type(i) is Glyphs]
        assert glyphs and glyphs[-1].x + glyphs[-1].width == 3000
    assert "".join(f.text for ln in lines for f in ln.fragments).replace(" ", "") == words.replace(" ", "")


def test_latin_paragraphs_take_the_unchanged_path():
    spans = [T.Span("Montant dû : 121 755,07 € — œuvre d’art, Łukasz", SANS, 200)]
    lines = T.break_lines(spans, 2500)
    assert all(type(f) is T.Fragment for ln in lines for f in ln.fragments)
    assert all(type(i) is Text for ln in lines for i in ln.place(0, 0, 2500))


def test_extraction_text_reverses_right_to_left_runs_only():
    assert bidi.extraction_text("שרה לוי-כהן") == "יול הרש-ןהכ"
    assert bidi.extraction_text("محمد") == "دمحم"
    assert bidi.extraction_text("ABC 12") == "ABC 12"
    assert bidi.extraction_text("شركة ABC") == "ةكرش ABC"


def test_a_character_no_font_has_stays_uncovered_with_its_code_point():
    syriac = "\u0710\u0712"                                  # no font of the default chain has Syriac
    assert fonts.uncovered("محمد " + syriac, SANS) == syriac
    assert fonts.uncovered("محمد שרה", SANS) == ""


def test_afp_runs_refuse_complex_text_with_the_reason():
    from ccm_batch.compose.flow import describe_missing
    from ccm_batch.job import AFP_COMPLEX_TEXT
    shaping.set_complex_text(False, AFP_COMPLEX_TEXT)
    assert fonts.uncovered("Client محمد", SANS) == "محد"
    message = describe_missing("م", SANS)
    assert "(U+0645, needs shaping)" in message and message.endswith(
        "; shaping is " + AFP_COMPLEX_TEXT)
    items = T.place_runs(0, 0, "محمد", SANS, 200)
    assert all(type(i) is Text for i in items)                # nothing is shaped


def test_the_afp_backend_refuses_a_glyphs_item(tmp_path):
    from ccm_batch.errors import OutputError
    from ccm_batch.pages import DocumentMeta, Page
    from ccm_batch.render.afp import AfpRenderer
    from ccm_batch.render.base import PieceInfo, StreamInfo
    items = tuple(T.place_runs(1000, 1000, NAME, SANS, 200))
    r = AfpRenderer()
    r.start_file(str(tmp_path / "x.afp"), StreamInfo("j", "s"))
    r.start_piece(PieceInfo("p", 1))
    r.start_document(DocumentMeta("d", "c", "t", "2026-11-23"))
    with pytest.raises(OutputError, match="cannot be written to AFP"):
        r.page(Page(11906, 16838, items))


def test_a_shaped_notdef_glyph_rejects_the_record_and_a_drawn_one_passes():
    """The glyph sweep of a finished page: a Glyphs item holding glyph 0 (.notdef) is a record error
    naming the code points; the same item with a real glyph id passes unchanged."""
    from types import SimpleNamespace

    from ccm_batch.compose.document import Composer
    from ccm_batch.errors import RecordError
    from ccm_batch.pages import BLACK
    stub = SimpleNamespace(page=1)
    stub.error = lambda node, message: Composer.error(stub, node, message)

    def glyphs(gid):
        return (Glyphs(0, 0, "بب", ((SANS, 200, BLACK, 100, ((gid, 500, 0, 0), (gid, 500, 0, 0))),), 100),)

    drawn = glyphs(7)
    assert Composer._sweep_items(stub, drawn, "page 1") is drawn
    with pytest.raises(RecordError, match=r"\.notdef\) for U\+0628"):
        Composer._sweep_items(stub, glyphs(0), "page 1")
