"""Compose stage tests: tables over pages — repeated header, whole rows, shading, carried-forward totals.

The statement layout below has a 100 × 150 mm page with a 20 mm × 120 mm body; its movement table
carries the balance: "Solde reporté" opens every continuation page and "Solde à reporter" closes
every page the table breaks on. Totals are checked on 1-, 2- and 30-page statements: every carry-in
equals the previous page's carry-out, and each equals the opening balance plus the rows placed so far.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.errors import RecordError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Box, Rule, Text, mm
from ccm_batch.records.model import Record

LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="stmt" record="statement" locale="'en_US'">
  <fields>
    <field name="opening" path="opening" type="amount"/>
    <field name="moves" path="moves/m" type="list" required="false"/>
  </fields>
  <styles><style name="default" size="8pt"/></styles>
  <page-template name="p" size="100mm 150mm">
    <body top="10mm" bottom="20mm" left="10mm" right="10mm"/>
    <text x="10mm" y="140mm" size="7pt">Page {$page}/{$pages}</text>
  </page-template>
  <pages first="p"/>
  <flow>
    <p>Relevé</p>
    <table id="moves" shade="#eeeeee" padding="1mm" carry="sum(credit) - sum(debit)"
           carry-initial="$opening" grid="0.5pt #999999">
      <column width="50mm"/><column width="30mm" align="end"/>
      <header bold="true" fill="#cccccc"><cell>Libellé</cell><cell>Montant</cell></header>
      <header size="6pt" italic="true"><cell>(opérations de la période)</cell><cell>EUR</cell></header>
      <carry-in italic="true"><cell>Solde reporté</cell><cell>{format-number($carry, '0.00')}</cell></carry-in>
      <carry-out italic="true"><cell>Solde à reporter</cell><cell>{format-number($carry, '0.00')}</cell></carry-out>
      <repeat select="$moves">
        <row><cell>{label}</cell><cell>{format-number($running, '0.00')}</cell></row>
      </repeat>
    </table>
    <p>Fin du relevé</p>
  </flow>
</layout>
"""


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = tmp_path_factory.mktemp("t") / "stmt.xml"
    path.write_text(LAYOUT, encoding="utf-8")
    return load_layout(path)


def statement(n, opening="100.00", label="Opération"):
    moves = []
    for i in range(n):
        amount = Decimal(i % 7 + 1) + Decimal(i % 100) / 100
        kind = "credit" if i % 3 == 0 else "debit"
        moves.append(f"<m><label>{label} {i + 1}</label><{kind}>{amount}</{kind}></m>")
    xml = f"<statement><opening>{opening}</opening><moves>{''.join(moves)}</moves></statement>"
    return etree.fromstring(xml)


def compose(layout, tree):
    return compose_document(layout, Record("s.xml", 1, 0, 1, b"", tree), job="j", job_date="2026-11-23")


def texts(page):
    return [i for i in page.items if isinstance(i, Text)]


def expected_running(tree):
    total = Decimal(tree.findtext("opening"))
    out = []
    for m in tree.findall("moves/m"):
        total += Decimal(m.findtext("credit") or "0") - Decimal(m.findtext("debit") or "0")
        out.append(total)
    return out


def row_values(page):
    """(label, amount) of the rows of the table on a page, in order (amounts in the 2nd column)."""
    ts = texts(page)
    labels = {t.y: t.text for t in ts if t.x == mm(10) + mm(1)}
    values = {t.y: t.text for t in ts if t.x > mm(40) and t.size == 160}
    return [(labels[y], values[y]) for y in sorted(labels) if y in values
            and labels[y] not in ("Libellé", "(opérations de la période)")]


@pytest.mark.parametrize("n", [3, 30, 1100])
def test_carried_totals_add_up(layout, n):
    tree = statement(n)
    doc = compose(layout, tree).document
    running = expected_running(tree)
    pages = doc.pages
    if n == 3:
        assert len(pages) == 1
    elif n == 30:
        assert len(pages) == 2
    else:
        assert len(pages) >= 30
    placed = 0
    previous_out = None
    for i, page in enumerate(pages):
        rows = row_values(page)
        if i > 0 and placed < n:
            assert rows[0][0] == "Solde reporté"
            assert rows[0][1] == previous_out
            carried = Decimal(rows[0][1])
            assert carried == running[placed - 1]
            rows = rows[1:]
        movement_rows = [r for r in rows if r[0].startswith("Opération")]
        for label, value in movement_rows:
            assert label == f"Opération {placed + 1}"
            assert Decimal(value) == running[placed]
            placed += 1
        out_rows = [r for r in rows if r[0] == "Solde à reporter"]
        if placed < n:
            assert len(out_rows) == 1 and rows[-1] == out_rows[0]
            assert Decimal(out_rows[0][1]) == running[placed - 1]
            previous_out = out_rows[0][1]
        else:
            assert not out_rows
    assert placed == n
    # both header rows repeat on every page that holds rows, in order; page numbers
    for i, page in enumerate(pages, 1):
        heads = [t for t in texts(page) if t.text in ("Libellé", "(opérations de la période)")]
        assert [t.text for t in heads] == ["Libellé", "(opérations de la période)"]
        assert f"Page {i}/{len(pages)}" in [t.text for t in texts(page)]
    last = texts(pages[-1])
    assert last[[t.text for t in last].index("Fin du relevé")].y > max(
        t.y for t in last if t.text.startswith("Opération"))


def test_rows_stay_inside_the_body_and_shading_alternates(layout):
    doc = compose(layout, statement(40)).document
    body_bottom = mm(130)
    for page in doc.pages:
        boxes = [b for b in page.items if isinstance(b, Box)]
        assert all(b.y + b.height <= body_bottom for b in boxes)
        assert all(t.y < body_bottom for t in texts(page) if t.size == 160)
    shaded = [b for p in doc.pages for b in p.items if isinstance(b, Box) and b.fill == (0xee, 0xee, 0xee)]
    assert len(shaded) == 20                    # rows 2, 4, ... 40
    grid = [r for r in doc.pages[0].items if isinstance(r, Rule) and r.direction == "v"]
    assert grid and {r.x for r in grid} == {mm(10), mm(10) + mm(50), mm(10) + mm(50) + mm(30)}


def test_wrapped_row_moves_whole(layout):
    tree = statement(40, label=" ".join(["Libellé très long"] * 4))
    doc = compose(layout, tree).document
    for page in doc.pages:
        ts = texts(page)
        # a wrapped label's lines stay on the page of its amount: every amount has its first line
        lines = [t for t in ts if t.x == mm(11) and t.text.startswith("Libellé très")]
        rows = [t for t in ts if t.x > mm(40) and re.match(r"-?\d+\.\d\d$", t.text)
                and any(ln.y == t.y for ln in lines)]
        assert rows and len(lines) == 2 * len(rows)          # both lines of every row on its page
    total_amounts = sum(len([t for t in texts(p) if t.x > mm(40) and re.match(r"-?\d+\.\d\d$", t.text)])
                        for p in doc.pages)
    carries = sum(len([t for t in texts(p) if t.text.startswith("Solde")]) for p in doc.pages)
    assert total_amounts == 40 + carries


def test_row_taller_than_a_page_rejects_the_record(layout):
    tree = statement(2, label=" ".join(["mot"] * 600))
    with pytest.raises(RecordError) as info:
        compose(layout, tree)
    # "Relevé" starts page 1, so the row is tried on page 1, then on an empty page 2
    assert info.value.field.startswith("row (") and info.value.page == 2
    assert "table moves" in str(info.value)


def test_empty_table_prints_its_header_only(layout):
    doc = compose(layout, statement(0)).document
    assert doc.page_count == 1
    assert [t.text for t in texts(doc.pages[0])][:5] == ["Relevé", "Libellé", "Montant",
                                                          "(opérations de la période)", "EUR"]
