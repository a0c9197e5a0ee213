"""Compose stage tests: page templates — first/rest/last/only, back of the first sheet, duplex padding,
backgrounds as shared forms, page sizes, fixed content per page, multi-column bodies, frames."""
from __future__ import annotations

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.errors import RecordError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Box, Text, mm
from ccm_batch.records.model import Record

TEMPLATES = """
  <page-template name="first" size="A5">
    <body top="60mm" bottom="20mm" left="15mm" right="15mm"/>
    <background><box x="0mm" y="0mm" width="148mm" height="10mm" fill="#102030"/>
      <text x="15mm" y="2mm" color="white">EN-TÊTE</text></background>
    <text x="15mm" y="200mm">first {$page}/{$pages}</text>
  </page-template>
  <page-template name="rest" size="A5">
    <body top="20mm" bottom="20mm" left="15mm" right="15mm"/>
    <text x="15mm" y="200mm">rest {$page}/{$pages}</text>
  </page-template>
  <page-template name="last" size="A5">
    <body top="20mm" bottom="80mm" left="15mm" right="15mm"/>
    <text x="15mm" y="150mm">slip {$page}/{$pages}</text>
  </page-template>
  <page-template name="only" size="A5">
    <body top="60mm" bottom="80mm" left="15mm" right="15mm"/>
    <text x="15mm" y="150mm">only</text>
  </page-template>
  <page-template name="terms" size="A5">
    <text x="15mm" y="20mm">Conditions générales</text>
  </page-template>
"""


def layout_file(tmp_path, pages: str, duplex=False, extra_templates="", flow="<repeat select='l'><p>{.}</p></repeat>"):
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<layout name="seq" duplex="{'true' if duplex else 'false'}">
  {TEMPLATES}{extra_templates}
  {pages}
  <flow>{flow}</flow>
</layout>"""
    path = tmp_path / "seq.xml"
    path.write_text(text, encoding="utf-8")
    return load_layout(path)


def compose(layout, n_lines):
    xml = "<r>" + "".join(f"<l>ligne {i}</l>" for i in range(n_lines)) + "</r>"
    return compose_document(layout, Record("d", 1, 0, 1, b"", etree.fromstring(xml)), job="j",
                            job_date="2026-11-23").document


def labels(doc):
    out = []
    for p in doc.pages:
        ts = [t.text for t in p.items if isinstance(t, Text)
              and t.text.split(" ")[0] in ("first", "rest", "slip", "only", "Conditions")]
        out.append(ts[0] if ts else ("blank" if p.blank else "?"))
    return out


def body_lines(page):
    return [t for t in page.items if isinstance(t, Text) and t.text.startswith("ligne")]


def test_first_and_rest(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest"/>')
    doc = compose(lay, 80)              # 30 lines on 'first', 40 on 'rest'
    assert labels(doc) == ["first 1/3", "rest 2/3", "rest 3/3"]
    assert body_lines(doc.pages[0])[0].y > mm(60) and body_lines(doc.pages[1])[0].y < mm(30)
    assert (doc.pages[0].width, doc.pages[0].height) == (mm(148), mm(210))


def test_last_template_when_the_end_fits(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest" last="last"/>')
    doc = compose(lay, 80)               # page 3 holds 10 lines: they fit the short 'last' body (25)
    assert labels(doc) == ["first 1/3", "rest 2/3", "slip 3/3"]
    assert all(t.y < mm(130) for t in body_lines(doc.pages[2]))


def test_last_template_gets_its_own_page_when_the_end_does_not_fit(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest" last="last"/>')
    # 'rest' holds 40 lines, 'last' only 25: 30 lines on page 3 are too many for 'last'
    full = compose(lay, 30 + 40 + 30)
    assert labels(full)[-1].startswith("slip")
    assert labels(full)[-2].startswith("rest")
    assert body_lines(full.pages[-1]) == []
    n = sum(len(body_lines(p)) for p in full.pages)
    assert n == 100 and full.page_count == 4


def test_only_template_for_a_single_page(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest" last="last" only="only"/>')
    assert labels(compose(lay, 3)) == ["only"]
    assert labels(compose(lay, 80))[0] == "first 1/3"


def test_first_back_terms_and_duplex_padding(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest" first-back="terms"/>', duplex=True)
    one = compose(lay, 3)
    assert labels(one) == ["first 1/2", "Conditions générales"]
    assert [p.side for p in one.pages] == ["front", "back"]
    two = compose(lay, 40)
    # the blank filler back is not counted in $pages
    assert labels(two) == ["first 1/3", "Conditions générales", "rest 3/3", "blank"]
    assert two.pages[3].blank and two.pages[3].items == () and two.pages[3].side == "back"
    assert two.meta.duplex and two.sheet_count == 2
    # the flow continues on page 3, right after page 1
    assert body_lines(two.pages[2])[0].text == f"ligne {len(body_lines(two.pages[0]))}"


def test_duplex_pads_odd_documents(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest"/>', duplex=True)
    doc = compose(lay, 3)
    assert doc.page_count == 2 and doc.pages[1].blank
    simplex = compose(layout_file(tmp_path, '<pages first="first" rest="rest"/>'), 3)
    assert simplex.page_count == 1 and simplex.pages[0].side == "front"


def test_background_is_one_shared_form(tmp_path):
    lay = layout_file(tmp_path, '<pages first="first" rest="rest"/>')
    a, b = compose(lay, 3), compose(lay, 80)
    form = a.pages[0].background
    assert form is not None and form.name == "seq.first"
    assert b.pages[0].background is form and b.pages[1].background is None
    assert any(isinstance(i, Box) and i.fill == (0x10, 0x20, 0x30) for i in form.items)
    assert any(isinstance(i, Text) and i.text == "EN-TÊTE" and i.color == (255, 255, 255) for i in form.items)
    # background items are not repeated in the page items
    assert not any(isinstance(i, Text) and i.text == "EN-TÊTE" for i in a.pages[0].items)


def test_two_columns(tmp_path):
    extra = """<page-template name="cols" size="A5">
      <body top="20mm" bottom="20mm" left="15mm" right="15mm" columns="2" gap="8mm"/></page-template>"""
    lay = layout_file(tmp_path, '<pages first="cols"/>', extra_templates=extra)
    doc = compose(lay, 60)
    xs = sorted({t.x for t in body_lines(doc.pages[0])})
    col_w = (mm(148) - mm(30) - mm(8)) // 2
    assert xs == [mm(15), mm(15) + col_w + mm(8)]
    assert doc.page_count == 1


def test_frame_overflow_rejects(tmp_path):
    extra = """<page-template name="framed" size="A5">
      <body top="100mm" bottom="20mm" left="15mm" right="15mm"/>
      <frame x="15mm" y="20mm" width="60mm" height="10mm" id="box1"><repeat select="l"><p>{.}</p></repeat></frame>
    </page-template>"""
    lay = layout_file(tmp_path, '<pages first="framed"/>', extra_templates=extra, flow="")
    doc = compose(lay, 2)
    assert [t.text for t in body_lines(doc.pages[0])] == ["ligne 0", "ligne 1"]
    with pytest.raises(RecordError) as info:
        compose(lay, 10)
    assert "box1" in info.value.field and info.value.page == 1


def test_layout_with_fixed_content_only(tmp_path):
    path = tmp_path / "card.xml"
    path.write_text("""<?xml version="1.0"?>
<layout name="card"><page-template name="c" size="148mm 105mm">
  <text x="10mm" y="10mm">Carte {$record_number}</text></page-template><pages first="c"/></layout>""",
                    encoding="utf-8")
    doc = compose_document(load_layout(path), Record("d", 4, 0, 1, b"", etree.fromstring("<r/>")), job="j",
                           job_date="2026-11-23").document
    assert doc.page_count == 1 and [t.text for t in doc.pages[0].items] == ["Carte 4"]
