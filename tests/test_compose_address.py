"""Compose stage tests: the address block — NF Z10-011 / Pub 28 formatting and checks, windows, IMb, metadata."""
from __future__ import annotations

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.compose.address import format_address
from ccm_batch.errors import RecordError
from ccm_batch.layout import WINDOWS, load_layout
from ccm_batch.pages import Barcode, Text, mm
from ccm_batch.records.model import Record


def test_fr_formats_last_line_and_drops_blank_lines():
    res = format_address(["Mme Hélène LEFÈVRE", "  ", "12  rue de la  Roquette", "42000 Saint-Étienne"], "fr")
    assert res.lines == ("Mme Hélène LEFÈVRE", "12 rue de la Roquette", "42000 SAINT ETIENNE")
    assert res.breaches == () and res.postcode == "42000" and res.country == "FR"


def test_fr_breaches_line_count_length_and_postcode():
    seven = ["L1", "L2", "L3", "L4", "L5", "L6", "75011 PARIS"]
    assert any("7 lines" in b for b in format_address(seven, "fr").breaches)
    long = format_address(["M. et Mme François DE LA TOUR D'AUVERGNE", "1 RUE X", "75011 PARIS"], "fr")
    assert long.breaches and "line 1 has 40 characters" in long.breaches[0]
    bad = format_address(["M. X", "1 RUE X", "PARIS"], "fr")
    assert any("CODE POSTAL" in b for b in bad.breaches) and bad.postcode == ""


def test_fr_foreign_address_has_a_country_line():
    res = format_address(["Mr John SMITH", "10 Downing Street", "LONDON SW1A 2AA", "Royaume-Uni"], "fr", "GB")
    assert res.lines[-1] == "ROYAUME UNI" and res.breaches == () and res.country == "GB"
    assert len(format_address(["a", "b", "c", "d", "e", "f", "LONDON", "ROYAUME UNI"], "fr", "GB").breaches) == 1


def test_us_pub28():
    res = format_address(["Ms. Emily R. Johnson", "1234 N. Main St., Apt 5B", "Springfield, IL 62704-1234"], "us")
    assert res.lines == ("MS EMILY R JOHNSON", "1234 N MAIN ST APT 5B", "SPRINGFIELD IL 62704-1234")
    assert res.postcode == "62704-1234" and res.breaches == () and res.country == "US"
    assert format_address(["JOHN DOE", "1 MAIN ST", "SPRINGFIELD ILLINOIS"], "us").breaches


LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="addr" record="r">
  <fields>
    <field name="lines" path="address/line" type="list"/>
    <field name="country" path="address/country" required="false" default="FR"/>
  </fields>
  <meta recipient-name="address/line[1]"/>
  <page-template name="p" size="{size}">
    <body top="110mm" bottom="20mm" left="20mm" right="20mm"/>
    <address {where} select="$lines" country="$country" norm="{norm}" on-breach="{breach}">{imb}</address>
  </page-template>
  <pages first="p"/>
  <flow><p>Corps</p></flow>
</layout>"""


def compose(tmp_path, lines, where='window="fr-dl-right"', norm="fr", breach="warn", size="A4", imb="",
            country="FR"):
    path = tmp_path / "addr.xml"
    path.write_text(LAYOUT.format(where=where, norm=norm, breach=breach, size=size, imb=imb), encoding="utf-8")
    layout = load_layout(path)
    xml = "<r><address>" + "".join(f"<line>{ln}</line>" for ln in lines) + f"<country>{country}</country></address></r>"
    return compose_document(layout, Record("d", 5, 0, 1, b"", etree.fromstring(xml)), job="j", job_date="2026-11-23")


def addr_texts(doc):
    return [t for t in doc.pages[0].items if isinstance(t, Text) and t.text != "Corps"]


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_window_presets_place_the_block(tmp_path, window):
    x, y, w, h = WINDOWS[window]
    size = "Letter" if window.startswith("us") else "A4"
    norm = "us" if window.startswith("us") else "fr"
    lines = (["JOHN DOE", "1 MAIN ST", "SPRINGFIELD IL 62704"] if norm == "us"
             else ["M. Jean DUPONT", "1 RUE DE PARIS", "75011 PARIS"])
    res = compose(tmp_path, lines, where=f'window="{window}"', norm=norm, size=size,
                  country="US" if norm == "us" else "FR")
    ts = addr_texts(res.document)
    assert [t.text for t in ts] == lines
    assert all(t.x == round(x * 1440 / 25.4) for t in ts)
    top, bottom = round(y * 1440 / 25.4), round((y + h) * 1440 / 25.4)
    assert top < ts[0].y and ts[-1].y < bottom
    assert res.warnings == []


def test_explicit_position(tmp_path):
    res = compose(tmp_path, ["A B", "1 RUE C", "75001 PARIS"], where='x="30mm" y="60mm" width="80mm" height="30mm"')
    assert {t.x for t in addr_texts(res.document)} == {mm(30)}


def test_breach_warns_and_names_record_and_element(tmp_path):
    res = compose(tmp_path, ["M. et Mme François DE LA TOUR D'AUVERGNE", "1 RUE X", "75011 Paris"])
    assert len(res.warnings) == 1
    assert res.warnings[0].startswith("record 5: address (") and "40 characters" in res.warnings[0]
    assert addr_texts(res.document)[-1].text == "75011 PARIS"


def test_breach_rejects_when_configured(tmp_path):
    with pytest.raises(RecordError) as info:
        compose(tmp_path, ["L1", "L2", "L3", "L4", "L5", "L6", "75011 PARIS"], breach="reject")
    assert info.value.field.startswith("address (") and "7 lines" in info.value.message


def test_block_must_fit_the_window(tmp_path):
    res = compose(tmp_path, ["A", "B", "C", "D", "E", "75011 PARIS"],
                  where='x="100mm" y="45mm" width="95mm" height="20mm"')
    assert any("window" in w for w in res.warnings)


def test_metadata_from_the_block(tmp_path):
    meta = compose(tmp_path, ["Mme Zoé MARTIN", "3 RUE DES LILAS", "69003 Lyon"]).document.meta
    assert meta.address == ("Mme Zoé MARTIN", "3 RUE DES LILAS", "69003 LYON")
    assert meta.postcode == "69003" and meta.country == "FR" and meta.recipient_name == "Mme Zoé MARTIN"


def test_imb_below_the_address(tmp_path):
    imb = '<imb data="00270123456200800001 987654321 01"/>'
    res = compose(tmp_path, ["JOHN DOE", "1 MAIN ST", "SPRINGFIELD IL 62704"], where='window="us-10"', norm="us",
                  size="Letter", imb=imb, country="US")
    doc = res.document
    bars = [b for b in doc.pages[0].items if isinstance(b, Barcode)]
    assert len(bars) == 1 and bars[0].symbology == "imb"
    assert bars[0].data == "00270123456200800001 987654321 01"
    last = addr_texts(doc)[-1]
    assert bars[0].y > last.y and bars[0].x == last.x
    assert doc.meta.postcode == "62704" and doc.meta.country == "US"
    assert res.warnings == []
