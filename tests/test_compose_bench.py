"""Compose stage tests: the benchmark invoice layout against Apache FOP's rendering of invoice.xsl.

FOP's page counts per document (N=1000, seed 42; 1588 pages) are a committed fixture; the layout
must break every document at the same place. Geometry checks use FOP's positions (address window
at 100 mm / 45 mm, body at 105 mm on page 1 and 35 mm after, rows 6.6 mm apart).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.layout import load_layout
from ccm_batch.pages import Box, Text, mm
from ccm_batch.records.model import Record

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "bench" / "fop-reference" / "gen_data.py"
FIXTURE = ROOT / "tests" / "fixtures" / "compose" / "fop_pages_n1000.txt"


@pytest.fixture(scope="module")
def layout():
    return load_layout(ROOT / "layouts" / "bench-invoice.xml")


@pytest.fixture(scope="module")
def customers(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "data.xml"
    subprocess.run([sys.executable, str(GEN), "1000", str(out), "42"], check=True)
    return etree.parse(str(out)).getroot().findall("customer")


def compose(layout, el, number=1):
    return compose_document(layout, Record("data.xml", number, 0, 0, b"", el), job="bench",
                            job_date="2026-11-23")


def texts(page):
    return [i for i in page.items if isinstance(i, Text)]


def find(page, needle):
    return [t for t in texts(page) if needle in t.text]


def test_page_breaks_match_fop_for_every_document(layout, customers):
    expected = [int(x) for x in FIXTURE.read_text().split()]
    got = [compose(layout, el, i).document.page_count for i, el in enumerate(customers, 1)]
    assert sum(expected) == 1588
    mismatches = [(i + 1, g, e) for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not mismatches, mismatches[:10]
    assert sum(got) == 1588


def test_first_page_geometry(layout, customers):
    doc = compose(layout, customers[0]).document
    assert doc.page_count == 1
    page = doc.pages[0]
    assert (page.width, page.height) == (mm(210), mm(297))
    # address lines in the DL right window, left-aligned at 100 mm, one 12 pt line apart
    lines = [ln.text for ln in customers[0].findall("address/line")]
    addr = [t for t in texts(page) if t.x == mm(100)]
    assert [t.text for t in addr][0] == lines[0]
    assert mm(45) < addr[0].y < mm(45) + 240
    assert all(b.y - a.y == 240 for a, b in zip(addr, addr[1:]))
    assert addr[-1].y < mm(85)
    # the flow starts at the top of the body (105 mm), intro first, then the shaded header
    intro = find(page, "Madame, Monsieur")[0]
    assert mm(105) < intro.y < mm(105) + 216 and intro.x == mm(20)
    header = [i for i in page.items if isinstance(i, Box) and i.fill == (0xd9, 0xe2, 0xf3)][0]
    assert header.y == mm(105) + 216 + mm(3) and header.height == mm(8)
    assert abs(header.width - mm(170)) <= 2          # sum of rounded column widths
    # rows 6.6 mm apart, amounts right-aligned on the column end (190 mm - padding)
    amounts = [t for t in texts(page) if t.text.endswith(" €") and t.y > header.y
               and t.y < find(page, "Total HT")[0].y]
    assert len(amounts) == len(customers[0].findall("items/item"))
    assert {b.y - a.y for a, b in zip(amounts, amounts[1:])} <= {mm(6.6) - 1, mm(6.6), mm(6.6) + 1}
    # every second row shaded
    shaded = [i for i in page.items if isinstance(i, Box) and i.fill == (0xf2, 0xf2, 0xf2)]
    assert len(shaded) == len(amounts) // 2
    assert find(page, "Page 1 sur 1")
    assert doc.meta.doc_id == customers[0].findtext("invoiceNo")
    assert doc.meta.customer_id == customers[0].get("id")
    assert doc.meta.postcode == lines[-1][:5]


def test_two_page_invoice_repeats_header_and_numbers_pages(layout, customers):
    el = next(c for c in customers if len(c.findall("items/item")) >= 30)
    doc = compose(layout, el).document
    assert doc.page_count == 2
    p1, p2 = doc.pages
    assert len(find(p1, "Désignation")) == 1 and len(find(p2, "Désignation")) == 1
    assert find(p1, "Page 1 sur 2") and find(p2, "Page 2 sur 2")
    # page 2 body starts at 35 mm; its reminder header names the invoice
    assert find(p2, "Facture N° " + el.findtext("invoiceNo"))
    head2 = [i for i in p2.items if isinstance(i, Box) and i.fill == (0xd9, 0xe2, 0xf3)][0]
    assert head2.y == mm(35)
    # all item rows placed once, in order
    descs = [d.text for d in el.findall("items/item/desc")]
    placed = [t.text for p in doc.pages for t in texts(p) if t.x == mm(20) + mm(0.8)]
    assert placed == descs
    # the background band is a shared form on page 1 only
    assert p1.background is not None and p1.background.name == "bench-invoice.first"
    assert p2.background is None
    assert compose(layout, customers[2]).document.pages[0].background is p1.background
