"""Compose stage tests: images, rules, boxes, bar codes, the EPC QR code and bar charts (fixed and in a flow)."""
from __future__ import annotations

import pytest
from lxml import etree
from PIL import Image as PILImage

from ccm_batch import barcodes
from ccm_batch.compose import compose_document
from ccm_batch.errors import RecordError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Barcode, Box, Image, Rule, Text, mm
from ccm_batch.records.model import Record

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="g" record="r" locale="'fr_FR'">
  <fields>
    <field name="iban" path="iban" required="false"/>
    <field name="amount" path="amount" required="false"/>
    <field name="ref" path="ref" required="false"/>
    <field name="months" path="consumption/month" type="list" required="false"/>
    <field name="sig" path="sig" required="false"/>
  </fields>
  <page-template name="p" size="A4">
    <body top="20mm" bottom="20mm" left="20mm" right="20mm"/>
    {fixed}
  </page-template>
  <pages first="p"/>
  <flow>{flow}</flow>
</layout>"""


@pytest.fixture()
def png(tmp_path):
    img = PILImage.new("RGB", (300, 100), "white")
    img.save(tmp_path / "logo.png", dpi=(150, 150))
    return tmp_path / "logo.png"


def compose(tmp_path, fixed="", flow="", record="<r/>"):
    path = tmp_path / "g.xml"
    path.write_text(HEAD.format(fixed=fixed, flow=flow), encoding="utf-8")
    layout = load_layout(path)
    return compose_document(layout, Record("d", 1, 0, 1, b"", etree.fromstring(record)), job="j",
                            job_date="2026-11-23")


def items(res, kind, page=0):
    return [i for i in res.document.pages[page].items if isinstance(i, kind)]


def test_image_natural_size_and_scaling(tmp_path, png):
    res = compose(tmp_path, fixed='<image src="logo.png" x="10mm" y="10mm"/>'
                                  '<image src="logo.png" x="10mm" y="50mm" width="60mm"/>')
    a, b = items(res, Image)
    assert (a.x, a.y, a.width, a.height) == (mm(10), mm(10), 2880, 960)   # 300 × 100 px at 150 dpi
    assert b.width == mm(60) and b.height == round(mm(60) / 3)
    assert a.resource == str(png)


def test_image_in_flow_with_alignment(tmp_path, png):
    res = compose(tmp_path, flow='<p>Cordialement,</p><image src="logo.png" width="40mm" align="end" space-before="2mm"/>')
    img = items(res, Image)[0]
    assert img.x == mm(190) - mm(40)
    para = items(res, Text)[0]
    assert para.text == "Cordialement," and img.y == mm(20) + 240 + mm(2)


def test_image_from_data_must_exist(tmp_path, png):
    fixed = '<image src="{$sig}" x="1mm" y="1mm" width="10mm" height="5mm" id="signature"/>'
    res = compose(tmp_path, fixed=fixed, record="<r><sig>logo.png</sig></r>")
    assert items(res, Image)[0].resource == str(png)
    with pytest.raises(RecordError) as info:
        compose(tmp_path, fixed=fixed, record="<r><sig>nope.png</sig></r>")
    assert info.value.field.startswith("signature (") and "nope.png" in info.value.message


def test_rules_and_boxes(tmp_path):
    res = compose(tmp_path, fixed='<rule x="20mm" y="100mm" length="170mm" thickness="1pt" color="#ff0000"/>'
                                  '<rule x="105mm" y="100mm" length="20mm" direction="v"/>'
                                  '<box x="20mm" y="150mm" width="50mm" height="20mm" fill="#00ff00" stroke="none"/>',
                  flow='<p>a</p><rule thickness="2pt"/><p>b</p>')
    rules = items(res, Rule)
    assert (rules[0].x, rules[0].y, rules[0].length, rules[0].thickness) == (mm(20), 240 + mm(20) + 20, mm(170), 40)
    fixed = [r for r in rules if r.color == (255, 0, 0)][0]
    # y is the top edge of the line: its axis is half the thickness lower
    assert (fixed.x, fixed.y, fixed.length, fixed.thickness, fixed.direction) == (mm(20), mm(100) + 10, mm(170), 20, "h")
    assert [r.direction for r in rules if r.x == mm(105) + 5] == ["v"]    # left edge + half of 0.5 pt
    box = items(res, Box)[0]
    assert (box.x, box.y, box.width, box.height, box.fill, box.stroke) == (mm(20), mm(150), mm(50), mm(20), (0, 255, 0), None)
    a, b = [t for t in items(res, Text)]
    assert b.y - a.y == 240 + 40


@pytest.mark.parametrize("kind,data", [("qr", "https://example.com/f/123"), ("datamatrix", "FAC-2026-0000001"),
                                       ("code128", "FAC2026000001")])
def test_barcodes_are_sized_by_the_symbology(tmp_path, kind, data):
    res = compose(tmp_path, fixed=f'<barcode type="{kind}" x="150mm" y="20mm" module="0.5mm" data="{data}"/>')
    bc = items(res, Barcode)[0]
    w, h = barcodes.measure(kind, data, mm(0.5), bc.options)
    assert (bc.x, bc.y, bc.width, bc.height, bc.symbology, bc.data, bc.module) == (mm(150), mm(20), w, h, kind, data, mm(0.5))


def test_barcode_data_refused_rejects(tmp_path):
    with pytest.raises(RecordError) as info:
        compose(tmp_path, fixed='<barcode type="imb" x="1mm" y="1mm" data="123" id="imb1"/>')
    assert info.value.field.startswith("imb1 (")


def test_epc_qr_payload(tmp_path):
    fixed = ('<epc-qr x="150mm" y="250mm" module="0.4mm" name="Énergies du Val SA" iban="{$iban}" bic="BNPAFRPPXXX" '
             'amount="$amount" text="Facture {$ref}"/>')
    res = compose(tmp_path, fixed=fixed,
                  record="<r><iban>FR7630004000031234567890143</iban><amount>132.09</amount><ref>F1</ref></r>")
    bc = items(res, Barcode)[0]
    assert bc.symbology == "qr" and ("ecc", "M") in bc.options
    assert bc.data.split("\n") == ["BCD", "002", "1", "SCT", "BNPAFRPPXXX", "Énergies du Val SA",
                                   "FR7630004000031234567890143", "EUR132.09", "", "", "Facture F1"]
    with pytest.raises(RecordError):
        compose(tmp_path, fixed=fixed, record="<r><iban>FR7630004000031234567890144</iban><amount>1</amount></r>")


def test_bar_chart_draws_vector_bars(tmp_path):
    months = "".join(f"<month period='2026-{m:02d}'>{v}</month>" for m, v in
                     zip(range(1, 13), [400, 380, 300, 250, 200, 150, 120, 130, 180, 260, 0, 420]))
    chart = ('<chart x="20mm" y="200mm" width="120mm" height="50mm" select="$months" value="number(.)" '
             'label="{format-date(@period, \'MMM\')}" value-label="{.}" title="Consommation (kWh)" '
             'color="#1f4e79" highlight="#e07b00" highlight-last="true"/>')
    res = compose(tmp_path, fixed=chart, record=f"<r><consumption>{months}</consumption></r>")
    bars = [b for b in items(res, Box)]
    assert len(bars) == 11                      # the zero month has no bar
    tallest = max(bars, key=lambda b: b.height)
    assert tallest.fill == (0xe0, 0x7b, 0x00)   # the last month (420) is highlighted and the tallest
    heights = sorted(b.height for b in bars)
    assert heights[-2] * 420 == pytest.approx(heights[-1] * 400, rel=0.01)
    axis = [r for r in items(res, Rule)][0]
    assert axis.x == mm(20) and axis.length == mm(120)
    assert all(b.y + b.height == axis.y for b in bars)
    labels = [t.text for t in items(res, Text)]
    assert "Consommation (kWh)" in labels and "janv." in labels and "420" in labels
    assert all(mm(200) <= t.y <= mm(250) for t in items(res, Text))
    xs = sorted(b.x for b in bars)
    assert xs[0] > mm(20) and xs[-1] + bars[0].width < mm(140)
