"""Compose stage tests: paragraphs and the flow — wrapping, styles, keeps, widows/orphans, breaks, data binding.

Pages here are 100 × 100 mm with a 20 mm × 80 mm body: at the default 10 pt on 12 pt leading
(240 units) a page holds 18 lines (4535 units of body).
"""
from __future__ import annotations

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.errors import RecordError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Text, mm
from ccm_batch.records.model import Record

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r" language="{language}" locale="{locale}">
  <fields>
    <field name="name" path="name" required="false" default="client"/>
    <field name="lang" path="@lang" required="false" default="fr"/>
    <field name="items" path="items/item" type="list" required="false"/>
    <field name="kind" path="@kind" required="false" default="a"/>
  </fields>
  <variables>
    <variable name="total" select="sum($items/amount)"/>
    <variable name="n" select="count($items)"/>
  </variables>
  <page-template name="p" size="100mm 100mm">
    <body top="10mm" bottom="10mm" left="10mm" right="10mm"/>
    {fixed}
  </page-template>
  <pages first="p"/>
  <flow>
"""
LINE = 240
BODY_TOP = mm(10)


def compose(tmp_path, flow: str, record: str = "<r/>", fixed: str = "", language="$lang",
            locale="when($lang = 'en', 'en_GB', 'fr_FR')", number=7, missing_glyphs="reject"):
    path = tmp_path / "t.xml"
    path.write_text(HEAD.format(fixed=fixed, language=language, locale=locale) + flow
                    + "\n  </flow>\n</layout>\n", encoding="utf-8")
    layout = load_layout(path)
    rec = Record("data.xml", number, 0, 1, record.encode(), etree.fromstring(record), key="K1")
    return compose_document(layout, rec, job="job", job_date="2026-11-23", missing_glyphs=missing_glyphs)


def texts(page):
    return [i for i in page.items if isinstance(i, Text)]


def words(n, word="mot"):
    return " ".join(f"{word}{i}" for i in range(n))


def test_paragraph_wraps_inside_body_and_justifies(tmp_path):
    res = compose(tmp_path, f'<p align="justify">{words(60)}</p>')
    page = res.document.pages[0]
    lines = texts(page)
    assert len(lines) > 3
    assert all(t.x == mm(10) for t in lines)
    assert [t.y for t in lines] == sorted(t.y for t in lines)
    assert {b.y - a.y for a, b in zip(lines, lines[1:])} == {LINE}
    assert BODY_TOP < lines[0].y < BODY_TOP + LINE
    assert all(t.word_space > 0 for t in lines[:-1]) and lines[-1].word_space == 0
    assert " ".join(t.text for t in lines) == words(60)


def test_alignment_end_and_center(tmp_path):
    res = compose(tmp_path, '<p align="end">droite</p><p align="center">milieu</p>')
    right, mid = texts(res.document.pages[0])
    from ccm_batch.fonts import get_font
    fm = get_font(right.font)
    assert right.x + fm.width("droite", 200, True) == mm(90)
    assert abs(mid.x + fm.width("milieu", 200, True) // 2 - mm(50)) <= 1


def test_inline_bold_italic_spans_share_the_baseline(tmp_path):
    res = compose(tmp_path, "<p>Un <b>gras</b> et <i>italique</i> {upper($name)}</p>",
                  record="<r><name>Zoé</name></r>")
    ts = texts(res.document.pages[0])
    assert [t.font for t in ts] == ["LiberationSans", "LiberationSans-Bold", "LiberationSans",
                                    "LiberationSans-Italic", "LiberationSans"]
    assert len({t.y for t in ts}) == 1
    assert "".join(t.text for t in ts) == "Un gras et italique ZOÉ"
    assert all(a.x < b.x for a, b in zip(ts, ts[1:]))


def test_whitespace_in_layout_is_collapsed_and_br_breaks(tmp_path):
    res = compose(tmp_path, "<p>\n   Ligne   une<br/>ligne\n      deux   </p>")
    ts = texts(res.document.pages[0])
    assert [t.text for t in ts] == ["Ligne une", "ligne deux"]


def test_long_paragraph_splits_over_pages_with_page_numbers(tmp_path):
    fixed = '<text x="10mm" y="92mm" width="80mm" align="end" size="8pt">Page {$page} / {$pages}</text>'
    res = compose(tmp_path, f"<p>{words(400)}</p>", fixed=fixed)
    doc = res.document
    assert doc.page_count >= 3
    for i, page in enumerate(doc.pages, 1):
        body = [t for t in texts(page) if t.size == 200]
        assert len(body) <= 18
        assert all(BODY_TOP < t.y < mm(90) for t in body)
        assert [t.text for t in texts(page) if t.size == 160] == [f"Page {i} / {doc.page_count}"]
    flowed = " ".join(t.text for p in doc.pages for t in texts(p) if t.size == 200)
    assert flowed == words(400)


def fill_lines(k):
    """Paragraphs occupying k lines of the body (one word each)."""
    return "".join(f"<p>l{i}</p>" for i in range(k))


def first_page_words(res):
    return [t.text for t in texts(res.document.pages[0])]


def test_orphans_and_widows(tmp_path):
    para = f'<p>{" ".join(["xx"] * 200)}</p>'
    # 17 lines used: only 1 line left, fewer than orphans=2 -> whole paragraph moves
    res = compose(tmp_path, fill_lines(17) + '<p orphans="2">' + "a " * 30 + "fin</p>")
    assert len(first_page_words(res)) == 17
    # 16 lines used: 2 lines fit -> split 2 / rest
    res = compose(tmp_path, fill_lines(16) + para)
    assert len(texts(res.document.pages[0])) == 18
    # widows: a 3-line paragraph with 2 free lines -> 1 line would be carried (< widows 2) -> moves
    three = '<p>' + " ".join(["yy"] * 45) + '</p>'
    res = compose(tmp_path, fill_lines(16) + three)
    n_three = len([t for p in res.document.pages for t in texts(p) if t.text.startswith("yy")])
    assert n_three == 3
    assert len(texts(res.document.pages[0])) == 16
    # widows="1" orphans="1" lets it split 2 + 1
    res = compose(tmp_path, fill_lines(16) + three.replace("<p>", '<p widows="1" orphans="1">'))
    assert len(texts(res.document.pages[0])) == 18


def test_keep_with_next_moves_the_heading(tmp_path):
    flow = fill_lines(17) + '<p bold="true" keep-with-next="true">Titre</p>' + f"<p keep-together=\"true\">{words(30)}</p>"
    res = compose(tmp_path, flow)
    p1, p2 = res.document.pages
    assert "Titre" not in [t.text for t in texts(p1)]
    assert texts(p2)[0].text == "Titre" and BODY_TOP < texts(p2)[0].y < BODY_TOP + LINE


def test_keep_together_block(tmp_path):
    block = '<block keep-together="true"><p>A1</p><p>A2</p><p>A3</p></block>'
    res = compose(tmp_path, fill_lines(16) + block)
    p1, p2 = res.document.pages
    assert [t.text for t in texts(p2)] == ["A1", "A2", "A3"]
    # without keep-together the block splits
    res = compose(tmp_path, fill_lines(16) + block.replace(' keep-together="true"', ""))
    assert [t.text for t in texts(res.document.pages[1])] == ["A3"]


def test_page_break_and_space(tmp_path):
    res = compose(tmp_path, '<page-break/><p>un</p><page-break/><p>deux</p><space height="20mm"/><p>trois</p>')
    doc = res.document
    assert doc.page_count == 2                      # the leading page-break is ignored
    assert [t.text for t in texts(doc.pages[0])] == ["un"]
    deux, trois = texts(doc.pages[1])
    assert trois.y - deux.y == LINE + mm(20)


def test_space_before_is_discarded_at_page_top(tmp_path):
    res = compose(tmp_path, fill_lines(18) + '<p space-before="10mm">suite</p>')
    p2 = res.document.pages[1]
    assert BODY_TOP < texts(p2)[0].y < BODY_TOP + LINE
    # and adjacent spaces collapse to the larger one
    res = compose(tmp_path, '<p space-after="5mm">a</p><p space-before="8mm">b</p>')
    a, b = texts(res.document.pages[0])
    assert b.y - a.y == LINE + mm(8)


def test_if_choose_repeat_and_variables(tmp_path):
    rec = ("<r kind='b'><items><item><label>Un</label><amount>1.50</amount></item>"
           "<item><label>Deux</label><amount>2.25</amount></item></items></r>")
    flow = """
      <if test="$kind = 'a'"><p>kind A</p></if>
      <choose><when test="$kind = 'a'"><p>choose A</p></when>
              <when test="$kind = 'b'"><p>choose B</p></when><otherwise><p>other</p></otherwise></choose>
      <repeat select="$items"><p>{$index}/{$count} {label}</p></repeat>
      <p if="$n = 2">total {format-amount($total)} pour {$n} lignes</p>
      <p if="$n = 3">never</p>"""
    res = compose(tmp_path, flow, record=rec)
    assert [t.text for t in texts(res.document.pages[0])] == [
        "choose B", "1/2 Un", "2/2 Deux", "total 3,75\u00a0€ pour 2 lignes"]


def test_repeat_sort(tmp_path):
    rec = "<r><items><item><amount>3</amount></item><item><amount>10</amount></item><item><amount>2</amount></item></items></r>"
    res = compose(tmp_path, '<repeat select="$items" sort="amount" order="descending"><p>{amount}</p></repeat>',
                  record=rec)
    assert [t.text for t in texts(res.document.pages[0])] == ["10", "3", "2"]


def test_language_selects_texts_and_locale(tmp_path):
    flow = """<p lang="fr">Bonjour</p><p lang="en">Hello</p>
      <p>{format-date('2026-11-23')} {format-amount(1234.5)}</p>"""
    fr = compose(tmp_path, flow, record="<r lang='fr'/>")
    en = compose(tmp_path, flow, record="<r lang='en'/>")
    assert [t.text for t in texts(fr.document.pages[0])] == ["Bonjour", "23 novembre 2026 1\u00a0234,50\u00a0€"]
    assert [t.text for t in texts(en.document.pages[0])] == ["Hello", "23 November 2026 €1,234.50"]
    assert fr.document.meta.language == "fr" and en.document.meta.language == "en"


def test_default_for_missing_optional_field(tmp_path):
    res = compose(tmp_path, "<p>Cher {$name}</p>")
    assert texts(res.document.pages[0])[0].text == "Cher client"


def test_continued_note_on_all_pages_but_the_last(tmp_path):
    fixed = '<text x="10mm" y="91mm" size="8pt" if="not($is_last)">Suite page suivante…</text>'
    res = compose(tmp_path, f"<p>{words(300)}</p>", fixed=fixed)
    doc = res.document
    notes = [[t.text for t in texts(p) if t.size == 160] for p in doc.pages]
    assert notes[:-1] == [["Suite page suivante…"]] * (doc.page_count - 1) and notes[-1] == []


def test_metadata_defaults(tmp_path):
    res = compose(tmp_path, "<p>x</p>", number=12)
    meta = res.document.meta
    assert meta.doc_id == "job-00000012" and meta.customer_id == "K1" and meta.record_number == 12
    assert meta.date == "2026-11-23" and meta.doc_type == "t"


def test_cjk_prints_with_the_fallback_font_and_no_warning(tmp_path):
    res = compose(tmp_path, "<p>Note {$name}</p>", record="<r><name>\u4e2d\u6587</name></r>", number=3)
    assert res.warnings == []
    runs = [(t.text, t.font) for t in texts(res.document.pages[0])]
    assert runs[0] == ("Note ", "LiberationSans") and runs[1][0] == "\u4e2d\u6587"
    assert runs[1][1].startswith("NotoSansCJK")


def test_character_no_font_draws_rejects_the_record_naming_it(tmp_path):
    with pytest.raises(RecordError) as info:
        compose(tmp_path, "<p>Note {$name}</p>", record="<r><name>A\ue000B</name></r>", number=3)
    assert info.value.field.startswith("p (") and "t.xml:" in info.value.field
    assert "no font draws" in info.value.message and "(U+E000)" in info.value.message


def test_missing_glyph_is_a_warning_naming_record_and_element_when_substituting(tmp_path):
    res = compose(tmp_path, "<p>Note {$name}</p>", record="<r><name>A\ue000B</name></r>", number=3,
                  missing_glyphs="substitute")
    assert len(res.warnings) == 1
    w = res.warnings[0]
    assert w.startswith("record 3: p (") and "t.xml:" in w and "U+E000" in w
    assert [t.text for t in texts(res.document.pages[0])] == ["Note A?B"]


def test_graphic_taller_than_body_rejects_the_record(tmp_path):
    with pytest.raises(RecordError) as info:
        compose(tmp_path, '<p>x</p><box width="10mm" height="90mm" id="bigbox"/>')
    assert "bigbox" in info.value.field and info.value.page == 2


def test_evaluation_error_rejects_the_record(tmp_path):
    with pytest.raises(RecordError) as info:
        compose(tmp_path, "<p>{pad($name, 'abc')}</p>")
    assert "pad" in info.value.message


def test_the_glyph_sweep_remembers_texts_per_font_and_still_catches_another_font(tmp_path):
    """The last check of every Text keeps the texts a font was found to draw in full. The same text in
    a font that lacks one of its characters (no fallback font here) still rejects the record,
    naming the character; and a text drawn through a fallback font is not kept (the chain can
    change from one job to the next)."""
    from ccm_batch import fonts
    from ccm_batch.compose.document import _SWEPT, Composer
    path = tmp_path / "t.xml"
    path.write_text(HEAD.format(fixed="", language="'fr'", locale="'fr_FR'") + "<p>x</p>\n  </flow>\n</layout>\n",
                    encoding="utf-8")
    rec = Record("data.xml", 1, 0, 1, b"<r/>", etree.fromstring("<r/>"), key="K1")
    comp = Composer(load_layout(path), rec, "job", "2026-11-23")
    text = "Zoë ☃ " + str(tmp_path)[-6:]                   # a text no earlier test swept
    drawn = (Text(0, 0, "DejaVuSans", 200, text),)
    assert comp._sweep_items(drawn, "page 1") is drawn
    assert text in _SWEPT["DejaVuSans"]
    via_fallback = (Text(0, 0, "LiberationSans", 200, text),)
    assert comp._sweep_items(via_fallback, "page 1") is via_fallback      # DejaVu Sans draws the ☃
    assert text not in _SWEPT.get("LiberationSans", ())
    fonts.set_fallbacks(())
    try:
        with pytest.raises(RecordError) as info:
            comp._sweep_items(drawn + via_fallback, "page 2")
    finally:
        fonts.reset_fallbacks()
    assert "(U+2603)" in info.value.message and "page 2" in info.value.field
