"""Compose/text: line breaking, placement and justification against font measurements."""
import pytest

from ccm_batch import fonts
from ccm_batch.compose.text import (Span, break_lines, line_height, missing_glyphs, place_lines,
                                    place_text, text_width)
from ccm_batch.pages import Rule, Text

SANS, BOLD = "LiberationSans", "LiberationSans-Bold"
PT10 = 200


def drawn_width(item: Text) -> int:
    """Where a renderer following the contract ends the run, relative to its x."""
    fm = fonts.get_font(item.font)
    return (fm.width(item.text, item.size) + sum(d for _, d in item.kerns)
            + item.word_space * item.text.count(" "))


def w(text, font=SANS, size=PT10, kern=True):
    return fonts.get_font(font).width(text, size, kern=kern)


LOREM = ("Nous vous remercions de votre confiance et restons à votre entière disposition pour "
         "tout renseignement complémentaire concernant votre contrat numéro 123456789.")


def test_greedy_breaks_at_spaces_and_fits():
    width = 3000
    lines = break_lines([Span(LOREM, SANS, PT10)], width)
    assert " ".join(l.text for l in lines) == LOREM
    words = LOREM.split(" ")
    k = 0
    for line in lines:
        assert line.width == w(line.text) <= width
        n = len(line.text.split(" "))
        k += n
        if k < len(words):   # greedy: the next word would not have fitted
            assert w(line.text + " " + words[k]) > width
    assert lines[-1].hard and not lines[0].hard


def test_trailing_spaces_not_counted():
    text = "alpha beta"
    first = w("alpha")
    lines = break_lines([Span(text, SANS, PT10)], first + w(" ") // 2)
    assert [l.text for l in lines] == ["alpha", "beta"]
    assert lines[0].width == first


def test_explicit_newlines():
    lines = break_lines([Span("Ligne 1\nLigne 2\n\nLigne 4\n", SANS, PT10)], 10000)
    assert [l.text for l in lines] == ["Ligne 1", "Ligne 2", "", "Ligne 4"]
    assert all(l.hard for l in lines)
    assert lines[2].width == 0 and lines[2].ascent == fonts.get_font(SANS).ascent(PT10)
    assert [l.text for l in break_lines([Span("a\r\nb", SANS, PT10)], 10000)] == ["a", "b"]


def test_leading_spaces_kept_after_newline_dropped_after_soft_break():
    lines = break_lines([Span("  Total\n    12", "LiberationMono", PT10)], 10000)
    assert [l.text for l in lines] == ["  Total", "    12"]
    lines = break_lines([Span("aaaa    bbbb", "LiberationMono", PT10)], w("aaaa  ", "LiberationMono"))
    assert [l.text for l in lines] == ["aaaa", "bbbb"]


def test_long_word_broken_by_characters_never_overflows():
    word = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2
    width = w("ABCDEFGHIJ")
    lines = break_lines([Span("x " + word + " y", SANS, PT10)], width)
    assert "".join(l.text.replace(" ", "") for l in lines) == "x" + word + "y"
    assert lines[0].text == "x"
    for line in lines:
        assert 0 < line.width <= width
    assert lines[1].text.startswith("ABCDEFG")


def test_break_after_hyphen_between_words_only():
    text = "Jean-Pierre Dupont-Durand -12,00"
    lines = break_lines([Span(text, SANS, PT10)], w("Jean-Pierre Dupont-"))
    assert [l.text for l in lines] == ["Jean-Pierre Dupont-", "Durand -12,00"]
    lines = break_lines([Span("x -12,00", SANS, PT10)], w("-12,00"))
    assert [l.text for l in lines] == ["x", "-12,00"]


def test_no_break_at_no_break_spaces():
    text = "Montant : 1\u202f234,56\u00a0€ à régler"
    lines = break_lines([Span(text, SANS, PT10)], w("Montant : 1\u202f234,"))
    assert lines[0].text == "Montant :"
    assert lines[1].text == "1\u202f234,56\u00a0€ à"


def test_soft_hyphen_drawn_only_at_break():
    text = "le rem\u00adbour\u00adsement"
    one = break_lines([Span(text, SANS, PT10)], 100000)
    assert [l.text for l in one] == ["le remboursement"]
    assert one[0].width == w("le remboursement")
    lines = break_lines([Span(text, SANS, PT10)], w("le rembour-"))
    assert [l.text for l in lines] == ["le rembour-", "sement"]
    assert lines[0].width == w("le rembour-")


def test_soft_hyphen_backs_off_when_hyphen_does_not_fit():
    text = "le rem\u00adbour\u00adsement"
    width = w("le rembour")          # "le rembour" fits, "le rembour-" does not
    lines = break_lines([Span(text, SANS, PT10)], width)
    assert lines[0].text == "le rem-"
    assert "".join(l.text for l in lines) == "le rem-bour-sement"
    assert all(l.width <= width for l in lines)


def test_zero_width_space_is_a_break_opportunity():
    lines = break_lines([Span("ABCDEF\u200bGHIJ", SANS, PT10)], w("ABCDEFG"))
    assert [l.text for l in lines] == ["ABCDEF", "GHIJ"]


def test_mixed_styles_one_fragment_per_run():
    spans = [Span("Votre solde est de ", SANS, PT10), Span("1 234,56 €", BOLD, PT10),
             Span(" au 31/12.", SANS, PT10)]
    [line] = break_lines(spans, 100000)
    assert [f.text for f in line.fragments] == ["Votre solde est de ", "1 234,56 €", " au 31/12."]
    assert line.width == w("Votre solde est de ") + w("1 234,56 €", BOLD) + w(" au 31/12.")
    items = line.place(1000, 5000, 100000, "left")
    assert [i.font for i in items] == [SANS, BOLD, SANS]
    assert items[1].x == 1000 + w("Votre solde est de ")
    assert items[2].x == items[1].x + w("1 234,56 €", BOLD)


def test_word_spanning_two_styles_is_not_broken_between_them():
    spans = [Span("aaa ", SANS, PT10), Span("gras", BOLD, PT10), Span("sement", SANS, PT10)]
    lines = break_lines(spans, w("aaa ") + w("gras", BOLD) + w("sement") - 1)
    assert [l.text for l in lines] == ["aaa", "grassement"]


def test_mixed_sizes_ascent_is_the_largest():
    spans = [Span("petit ", SANS, 160), Span("GRAND", SANS, 400)]
    [line] = break_lines(spans, 100000)
    fm = fonts.get_font(SANS)
    assert line.ascent == fm.ascent(400) and line.descent == fm.descent(400)
    assert line.height == fm.line_height(400)


def test_indents_reduce_width():
    lines = break_lines([Span(LOREM, SANS, PT10)], 3000, first_indent=500, indent=200)
    assert lines[0].indent == 500 and all(l.indent == 200 for l in lines[1:])
    assert lines[0].width <= 2500 and all(l.width <= 2800 for l in lines[1:])
    items = lines[0].place(1000, 3000, 3000, "left")
    assert items[0].x == 1500


@pytest.mark.parametrize("align", ["left", "right", "center"])
def test_alignment_positions(align):
    [line] = break_lines([Span("Objet : relevé", SANS, PT10)], 4000)
    [item] = line.place(1000, 2000, 4000, align)
    natural = w("Objet : relevé")
    expected = {"left": 1000, "right": 5000 - natural, "center": 1000 + (4000 - natural) // 2}
    assert item.x == expected[align] and item.y == 2000 and item.word_space == 0
    assert drawn_width(item) == natural


def test_justify_reaches_right_margin_exactly():
    spans = [Span(LOREM[:60], SANS, PT10), Span(LOREM[60:100], BOLD, PT10),
             Span(LOREM[100:], SANS, PT10)]
    lines = break_lines(spans, 3000)
    assert len(lines) >= 3
    for line in lines[:-1]:
        items = line.place(700, 1000, 3000, "justify")
        texts = [i for i in items if isinstance(i, Text)]
        assert texts[0].x == 700
        for a, b in zip(texts, texts[1:]):
            assert a.x + drawn_width(a) == b.x
        assert texts[-1].x + drawn_width(texts[-1]) == 3700
        assert len({t.word_space for t in texts if " " in t.text}) == 1
    last = lines[-1].place(700, 1000, 3000, "justify")
    assert all(t.word_space == 0 for t in last)
    assert last[-1].x + drawn_width(last[-1]) == 700 + lines[-1].width


def test_justify_skips_line_ending_with_newline_and_last_flag():
    lines = break_lines([Span("un deux\ntrois quatre cinq six", SANS, PT10)], 100000)
    assert lines[0].place(0, 0, 100000, "justify")[0].word_space == 0
    line = break_lines([Span(LOREM, SANS, PT10)], 3000)[0]
    assert line.place(0, 0, 3000, "justify", last=True)[0].word_space == 0
    assert line.place(0, 0, 3000, "justify")[0].word_space > 0


def test_kerning_flag():
    text = "AVATAR Tower"
    [k] = break_lines([Span(text, SANS, PT10)], 100000)
    [nk] = break_lines([Span(text, SANS, PT10)], 100000, kern=False)
    assert k.width == w(text) < nk.width == w(text, kern=False)
    assert k.place(0, 0, 100000)[0].kerns == fonts.get_font(SANS).kerns(text, PT10)
    assert nk.place(0, 0, 100000)[0].kerns == ()


def test_underline_adds_rule_under_run():
    spans = [Span("voir ", SANS, PT10), Span("conditions", SANS, PT10, (0, 0, 255), True)]
    [line] = break_lines(spans, 100000)
    items = line.place(100, 1000, 100000)
    rules = [i for i in items if isinstance(i, Rule)]
    assert len(rules) == 1
    offset, thick = fonts.get_font(SANS).underline(PT10)
    assert rules[0] == Rule(100 + w("voir "), 1000 + offset, w("conditions"), thick, "h", (0, 0, 255))


def test_hyphenate_with_callable():
    def hyph(word):
        return [3, 7] if word == "remboursement" else []
    text = "votre remboursement"
    width = w(text) - 1
    lines = break_lines([Span(text, SANS, PT10)], width, hyphenate=hyph)
    assert [l.text for l in lines] == ["votre rembour-", "sement"]
    lines = break_lines([Span(text, SANS, PT10)], w("votre rembour-"), hyphenate=hyph)
    assert [l.text for l in lines] == ["votre rembour-", "sement"]
    lines = break_lines([Span(text, SANS, PT10)], width)
    assert [l.text for l in lines] == ["votre", "remboursement"]


def test_nfc_normalisation_and_missing_glyphs():
    [line] = break_lines([Span("e\u0301te\u0301", SANS, PT10)], 10000)
    assert line.text == "été"
    spans = [Span("abc \ue000\u4e00", SANS, PT10), Span("\u2011x\u4e00\ue000", BOLD, PT10)]
    # U+2011 is drawn with a stand-in, U+4E00 by the CJK fallback font; no font has U+E000
    assert missing_glyphs(spans) == "\ue000"


def test_stand_ins_for_missing_glyphs_keep_break_rules():
    mono = "LiberationMono"
    # Liberation Mono has no U+202F (Babel's French group separator) nor U+2011
    assert not fonts.get_font(mono).covers("\u202f")
    text = "Total 1\u202f234,56\u00a0€ Jean\u2011Paul"
    [line] = break_lines([Span(text, mono, PT10)], 100000)
    assert line.text == "Total 1\u00a0234,56\u00a0€ Jean-Paul"
    assert missing_glyphs([Span(text, mono, PT10)]) == ""
    narrow = w("Total 1\u00a0234,", mono)
    lines = break_lines([Span(text, mono, PT10)], narrow)
    assert [l.text for l in lines][:2] == ["Total", "1\u00a0234,56\u00a0€"]
    lines = break_lines([Span("x Jean\u2011Paul", mono, PT10)], w("Jean-Paul", mono))
    assert [l.text for l in lines] == ["x", "Jean-Paul"]          # never broken at U+2011
    lines = break_lines([Span("x Jean\u2011Paul", mono, PT10), Span(" fin", SANS, PT10)],
                        w("Jean-Paul", mono))
    assert [l.text for l in lines][:2] == ["x", "Jean-Paul"]      # general loop too
    assert place_text(0, 0, "1\u202f234", mono, PT10).text == "1\u00a0234"
    # fonts that have the glyph keep it
    [line] = break_lines([Span("1\u202f234", SANS, PT10)], 100000)
    assert line.text == "1\u202f234"


def test_empty_paragraph_gives_one_empty_line():
    [line] = break_lines([Span("", SANS, PT10)], 1000)
    assert line.text == "" and line.hard and line.height == fonts.get_font(SANS).line_height(PT10)
    assert line.place(0, 0, 1000) == []


def test_line_height_helper_and_place_lines():
    spans = [Span("a", SANS, PT10), Span("b", SANS, 240)]
    assert line_height(spans) == fonts.get_font(SANS).line_height(240)
    assert line_height(spans, leading=300) == 300
    assert line_height(spans, factor=1.2) == 288
    lines = break_lines([Span("un\ndeux\ntrois", SANS, PT10)], 10000)
    items, height = place_lines(lines, 100, 1000, 10000, leading=280)
    assert height == 840
    fm = fonts.get_font(SANS)
    first = 1000 + (280 - fm.ascent(PT10) - fm.descent(PT10)) // 2 + fm.ascent(PT10)
    assert [i.y for i in items] == [first, first + 280, first + 560]


def test_place_text_and_text_width():
    t = place_text(5000, 800, "1 234,56 €", BOLD, PT10, align="right")
    assert t.x + drawn_width(t) == 5000
    assert text_width("AVATAR", SANS, PT10) == w("AVATAR")
    assert text_width("AVATAR", SANS, PT10, kern=False) == w("AVATAR", kern=False)


def test_unknown_alignment_rejected():
    [line] = break_lines([Span("x", SANS, PT10)], 1000)
    with pytest.raises(ValueError, match="alignment"):
        line.place(0, 0, 1000, "diagonal")


def test_hyphenate_with_pyphen_french():
    pytest.importorskip("pyphen")
    text = "Conformément à la réglementation en vigueur"
    width = w("Conformément à la réglemen")        # "réglemen-" does not fit, "régle-" does
    lines = break_lines([Span(text, SANS, PT10)], width, hyphenate="fr")
    assert lines[0].text == "Conformément à la régle-"
    assert lines[1].text.startswith("mentation")
    assert all(l.width <= width for l in lines)


def test_glyph_wider_than_the_line_stands_alone():
    lines = break_lines([Span("a W\nb", SANS, 2000)], w("W", size=2000) - 10)
    assert [l.text for l in lines] == ["a", "W", "b"]
    assert [l.hard for l in lines] == [False, True, True]
