"""Compose stage tests: issue 15's layout features — side-by-side columns in the flow, the page
sequence chosen per record (<pages><when>) and per page (<pages template>), format-amount of a
negated zero. Geometry from the page model."""
from __future__ import annotations

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.errors import RecordError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Barcode, Text, mm
from ccm_batch.records.model import Record

LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r">
  <fields>
    <field name="accounts" path="account" type="list" required="false"/>
    <field name="items" path="item" type="list" required="false"/>
  </fields>
  <page-template name="three" size="100mm 200mm">
    <body top="60mm" bottom="10mm" left="10mm" right="10mm"/>
    <text x="10mm" y="5mm">three</text>
  </page-template>
  <page-template name="one" size="100mm 200mm">
    <body top="40mm" bottom="10mm" left="10mm" right="10mm"/>
    <text x="10mm" y="5mm">one</text>
  </page-template>
  <page-template name="odd" size="100mm 200mm">
    <body top="10mm" bottom="10mm" left="10mm" right="10mm"/>
    <text x="10mm" y="5mm">odd {{$page}}</text>
  </page-template>
  {pages}
  <flow>
  {flow}
  </flow>
</layout>
"""


def compose(tmp_path, flow="<p>x</p>", record="<r/>", pages='<pages first="three"/>'):
    path = tmp_path / "t.xml"
    path.write_text(LAYOUT.format(flow=flow, pages=pages), encoding="utf-8")
    layout = load_layout(path)
    rec = Record("data.xml", 1, 0, 1, record.encode(), etree.fromstring(record), key="K1")
    return compose_document(layout, rec, job="job", job_date="2026-11-23").document


def texts(page):
    return {i.text: i for i in page.items if isinstance(i, Text)}


def test_columns_put_a_qr_code_beside_a_heading_vertically_centred(tmp_path):
    flow = """<columns gap="5mm" space-before="2mm">
      <column><p size="14pt">Votre relevé</p><p>trimestriel</p></column>
      <column width="20mm" valign="middle"><barcode type="qr" data="https://example.org/r/1" module="0.5mm"/></column>
    </columns>
    <p>after</p>"""
    page = compose(tmp_path, flow).pages[0]
    t = texts(page)
    qr = [i for i in page.items if isinstance(i, Barcode)][0]
    body_left, body_right = mm(10), mm(90)
    assert t["Votre relevé"].x == body_left
    assert qr.x == body_right - mm(20)                  # the fixed-width column is on the right
    assert t["trimestriel"].y < qr.y + qr.height         # side by side, not stacked
    band_bottom = max(qr.y + qr.height, t["trimestriel"].y)
    assert t["after"].y > band_bottom                   # the flow continues under the band
    # the heading column is shorter than the QR: the QR (the taller) starts at the band's top
    assert qr.y == mm(60)


def test_columns_valign_middle_and_bottom(tmp_path):
    flow = """<columns>
      <column width="40mm"><box width="10mm" height="30mm" fill="#000000"/></column>
      <column width="20mm" valign="middle"><p>mid</p></column>
      <column width="20mm" valign="bottom"><p>bot</p></column>
    </columns>"""
    t = texts(compose(tmp_path, flow).pages[0])
    top = mm(60)
    assert abs((t["mid"].y - top) - mm(15)) < mm(3)
    assert abs((t["bot"].y - top) - mm(30)) < mm(3)
    assert t["mid"].x == mm(50) and t["bot"].x == mm(70)


def test_columns_move_whole_to_the_next_page(tmp_path):
    flow = '<p>x</p><space height="110mm"/>' + """<columns>
      <column><box width="10mm" height="20mm" fill="#000000"/></column><column><p>right</p></column>
    </columns>"""
    doc = compose(tmp_path, flow)
    assert len(doc.pages) == 2 and "right" in texts(doc.pages[1])


PER_RECORD = """<pages first="three">
    <when test="count($accounts) = 1" first="one"/>
  </pages>"""


def test_page_sequence_chosen_per_record(tmp_path):
    one = compose(tmp_path, "<p>body</p>", "<r><account/></r>", PER_RECORD)
    three = compose(tmp_path, "<p>body</p>", "<r><account/><account/><account/></r>", PER_RECORD)
    assert "one" in texts(one.pages[0]) and texts(one.pages[0])["body"].y < mm(45)
    assert "three" in texts(three.pages[0]) and texts(three.pages[0])["body"].y > mm(60)


def test_page_template_chosen_per_page_by_an_expression(tmp_path):
    flow = "".join(f"<p>line {i}</p>" for i in range(120))
    pages = '<pages first="three" template="when($page mod 2 = 0, \'odd\', \'\')"/>'
    doc = compose(tmp_path, flow, pages=pages)
    assert len(doc.pages) >= 3
    assert "three" in texts(doc.pages[0]) and "odd 2" in texts(doc.pages[1]) and "three" in texts(doc.pages[2])


def test_page_template_expression_naming_no_template_rejects(tmp_path):
    with pytest.raises(RecordError, match="no page template 'nope'"):
        compose(tmp_path, pages='<pages first="three" template="\'nope\'"/>')


def test_format_amount_of_a_negated_zero_has_no_sign(tmp_path):
    flow = "<p>{format-amount(-sum($items))}|{format-amount(-0.004)}|{format-number(-sum($items), '0.00')}</p>"
    t = texts(compose(tmp_path, flow).pages[0])
    assert "0,00\u00a0€|0,00\u00a0€|0,00" in t, t


def test_table_cells_hold_barcodes_images_and_blocks_with_vertical_alignment(tmp_path):
    from PIL import Image as PILImage
    from ccm_batch.pages import Box, Image
    PILImage.new("RGB", (40, 20), "red").save(tmp_path / "logo.png")
    flow = """<table padding="1mm">
      <column width="30mm"/><column width="25mm"/><column width="25mm"/>
      <repeat select="$items">
        <row>
          <cell valign="middle">{@id}</cell>
          <cell><barcode type="datamatrix" data="{@id}" module="0.6mm"/></cell>
          <cell><image src="logo.png" width="20mm"/><p size="7pt">logo</p></cell>
        </row>
      </repeat>
    </table>
    <p>after</p>"""
    doc = compose(tmp_path, flow, '<r><item id="A-1"/><item id="B-2"/></r>')
    page = doc.pages[0]
    t = texts(page)
    codes = [i for i in page.items if isinstance(i, Barcode)]
    images = [i for i in page.items if isinstance(i, Image)]
    assert len(codes) == 2 and len(images) == 2
    assert codes[0].x == mm(40) + mm(1) and images[0].x == mm(65) + mm(1)
    assert codes[1].y > codes[0].y + codes[0].height          # one per row, rows stacked
    row_top = mm(60)
    row_h = codes[1].y - codes[0].y
    assert row_h >= images[0].height + mm(2)                   # the tallest cell sets the height
    # the text cell is centred in its row
    label = [i for i in page.items if isinstance(i, Text) and i.text == "A-1"][0]
    assert abs(label.y - (row_top + row_h // 2)) < mm(3)
    assert t["after"].y > codes[1].y + codes[1].height
    assert not any(isinstance(i, Box) for i in page.items)


def test_a_cell_mixing_loose_text_and_blocks_is_a_load_error(tmp_path):
    from ccm_batch.errors import LayoutError
    flow = """<table><column width="30mm"/><row><cell>text <image src="x.png" width="1mm"/></cell></row></table>"""
    with pytest.raises(LayoutError, match=r"t\.xml:\d+: "):
        compose(tmp_path, flow)


def _rows(n):
    return "".join(f'<item id="{i}"/>' for i in range(n))


TABLE = """<table {attrs}>
      <column width="40mm"/>
      <header><cell>head</cell></header>
      <repeat select="$items"><row height="5mm"><cell>row {{@id}}</cell></row></repeat>
      <row><cell>TOTAL</cell></row>
    </table>"""


def _page_of(doc, text):
    for i, page in enumerate(doc.pages):
        if text in texts(page):
            return i
    raise AssertionError(text)


def _count_rows(page):
    return sum(1 for t in texts(page) if t.startswith("row "))


def test_table_widows_carry_at_least_n_rows_with_the_totals(tmp_path):
    # the body holds 26 rows of 5 mm (130 mm) minus the header: 27 rows + total overflow by ~2 rows
    plain = compose(tmp_path, TABLE.format(attrs=""), f"<r>{_rows(27)}</r>")
    assert len(plain.pages) == 2 and _count_rows(plain.pages[1]) < 4
    kept = compose(tmp_path, TABLE.format(attrs='widows="6"'), f"<r>{_rows(27)}</r>")
    # six body rows on the last page: five item rows and the total
    assert _count_rows(kept.pages[1]) == 5 and "TOTAL" in texts(kept.pages[1])
    assert _count_rows(kept.pages[0]) + 5 == 27


def test_table_orphans_start_the_table_on_the_next_page(tmp_path):
    flow = '<p>x</p><space height="110mm"/>' + TABLE.format(attrs='orphans="3"')
    doc = compose(tmp_path, flow, f"<r>{_rows(10)}</r>")
    assert _count_rows(doc.pages[0]) == 0 and _count_rows(doc.pages[1]) == 10
    doc = compose(tmp_path, '<p>x</p><space height="110mm"/>' + TABLE.format(attrs=""), f"<r>{_rows(10)}</r>")
    assert 0 < _count_rows(doc.pages[0]) < 3              # without the rule: lonely rows


def test_keep_with_previous_never_leaves_a_disclaimer_alone_on_the_last_page(tmp_path):
    disclaimer = '<p space-before="4mm" {attr}>Vérifiez vos opérations. Sans réclamation sous deux mois, elles sont approuvées.</p>'
    rec = f"<r>{_rows(24)}</r>"
    alone = compose(tmp_path, TABLE.format(attrs="") + disclaimer.format(attr=""), rec)
    last = alone.pages[-1]
    assert len(alone.pages) == 2 and _count_rows(last) == 0 and "TOTAL" not in texts(last)
    kept = compose(tmp_path, TABLE.format(attrs='widows="4"') + disclaimer.format(attr='keep-with-previous="true"'),
                   rec)
    last = kept.pages[-1]
    assert _count_rows(last) >= 3 and "TOTAL" in texts(last)      # 4 body rows: 3 items and the total
    assert _count_rows(kept.pages[0]) + _count_rows(last) == 24


def test_keep_with_previous_moves_an_unsplittable_block_along(tmp_path):
    flow = ('<p>x</p><space height="104mm"/><box width="10mm" height="20mm" fill="#000000"/>'
            '<p keep-with-previous="true">sig</p>')
    doc = compose(tmp_path, flow)
    from ccm_batch.pages import Box
    assert len(doc.pages) == 2
    assert "sig" in texts(doc.pages[1]) and any(isinstance(i, Box) and i.height == mm(20) for i in doc.pages[1].items)


def test_keep_with_previous_moving_a_block_whole_takes_its_heading_along(tmp_path):
    """The mutuelle sample's "Totaux par bénéficiaire" stayed alone at the foot of page 1 when the
    closing block (keep-with-previous) took the kept-together totals table to page 2."""
    flow = ('<p>x</p><space height="100mm"/><p keep-with-next="true">Heading</p>'
            '<box width="10mm" height="20mm" fill="#000000"/><p keep-with-previous="true">sig</p>')
    doc = compose(tmp_path, flow)
    assert len(doc.pages) == 2
    assert "Heading" not in texts(doc.pages[0]) and {"Heading", "sig"} <= set(texts(doc.pages[1]))


@pytest.mark.parametrize("lang, title, total", [("fr", "FACTURE", "Total TTC à payer"),
                                                ("en", "INVOICE", "Total due incl. VAT"),
                                                ("de", "RECHNUNG", "Gesamtbetrag brutto")])
def test_sample_invoice_speaks_the_customers_language(lang, title, total):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    tree = etree.parse(str(root / "samples" / "data" / "invoices.xml"))
    inv = tree.getroot().find("invoice")
    inv.set("language", lang)
    inv.find("customer").set("language", lang)
    layout = load_layout(root / "layouts" / "invoice.xml")
    rec = Record("invoices.xml", 1, 0, 1, etree.tostring(inv), inv, key=inv.get("id"))
    doc = compose_document(layout, rec, job="job", job_date="2026-11-23").document
    words = {t.text for p in doc.pages for t in p.items if isinstance(t, Text)}
    assert title in words and total in words
    other = {"fr": "INVOICE", "en": "FACTURE", "de": "FACTURE"}[lang]
    assert other not in words
    assert doc.meta.language == lang
