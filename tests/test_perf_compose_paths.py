"""Compose stage tests: the fast paths of composition give what the general paths give, on odd data.

The layout below puts every kind of table cell the row plans handle (literal, ``{child}``,
``{child} €``, ``{$var} €``, ``{$index}``, mixed sizes) next to cells they leave to the general path
(conditional cells, several runs), and the records carry what could trip them: data line breaks and
tabs, mixed content, characters the font lacks, missing and repeated children, comments, elements in
a namespace, empty values. Each record is composed with the fast paths switched off and on (twice:
cold and warm caches); documents and warnings must be identical.
"""
from __future__ import annotations

import contextlib

import pytest
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.compose import table as table_mod
from ccm_batch.layout import load_layout
from ccm_batch.pages import Box, Text
from ccm_batch.records.model import Record

LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="paths" record="r" locale="'fr_FR'">
  <fields>
    <field name="items" path="items/it" type="list" required="false"/>
    <field name="total" path="total"/>
    <field name="who" path="who"/>
  </fields>
  <styles><style name="default" size="9pt"/></styles>
  <page-template name="p" size="A5">
    <body top="20mm" bottom="20mm" left="10mm" right="10mm"/>
    <text x="10mm" y="8mm" width="120mm">Relevé de {$who}</text>
    <frame x="10mm" y="195mm" width="120mm" height="10mm">
      <p size="7pt">Pied de page fixe</p>
      <p size="7pt" align="end">Page {$page}/{$pages}</p>
    </frame>
  </page-template>
  <pages first="p"/>
  <flow>
    <p>Détail pour {$who} :</p>
    <table shade="#eeeeee" padding="0.5mm">
      <column width="50mm"/><column width="15mm" align="end"/><column width="30mm" align="end"/>
      <column width="20mm" align="center"/>
      <header bold="true"><cell>Libellé</cell><cell>Qté</cell><cell>Montant</cell><cell>N°</cell></header>
      <repeat select="$items">
        <row><cell>{desc}</cell><cell>{qty}</cell><cell>{amount} €</cell><cell>{$index}/{$count}</cell></row>
      </repeat>
    </table>
    <table space-before="2mm" shade="#dddddd">
      <column width="60mm"/><column width="30mm" align="end"/><column width="25mm"/>
      <repeat select="$items">
        <row><cell size="6pt">{desc}</cell><cell size="11pt">{amount}</cell><cell>fixe</cell></row>
      </repeat>
    </table>
    <table space-before="2mm">
      <column width="60mm"/><column width="30mm" align="end"/><column width="25mm"/>
      <repeat select="$items">
        <row><cell><b>{qty}</b> × {desc}</cell><cell if="amount &gt; 10">{amount}</cell><cell>{$who}</cell></row>
      </repeat>
      <row><cell>Total</cell><cell>{$total} €</cell><cell>{total}</cell></row>
    </table>
  </flow>
</layout>
"""

NS = "urn:other"
RECORDS = [
    f"""<r><who>Zoé Dupont</who><total>12,50</total><items>
         <it><desc>Abonnement\nligne   deux</desc><qty>1</qty><amount>12.50</amount></it>
         <it><desc>\tTabulé\r</desc><qty> 2 </qty><amount>3.00</amount></it>
         <it><desc>mixte <b>gras</b> fin</desc><qty/><amount></amount></it>
         <it><!-- commentaire --><desc>Chinois 中文 ok</desc><desc>second</desc><amount>99.99</amount></it>
         <it><o:desc xmlns:o="{NS}">autre espace</o:desc><qty>7</qty><amount>1.00</amount></it>
         <it/>
       </items></r>""",
    """<r><who>Ab</who><total></total><items>""" + "".join(
        f"<it><desc>Ligne {i} — consommation {'très ' * (i % 7)}longue</desc><qty>{i}</qty>"
        f"<amount>{i * 1.5:.2f}</amount></it>" for i in range(1, 70)) + "</items></r>",
    """<r><who></who><total>0</total></r>""",
]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = tmp_path_factory.mktemp("paths") / "paths.xml"
    path.write_text(LAYOUT, encoding="utf-8")
    return load_layout(path)


@contextlib.contextmanager
def general_paths():
    """Switch every composition fast path off."""
    saved = table_mod.FAST_ROWS
    table_mod.FAST_ROWS = False
    try:
        yield
    finally:
        table_mod.FAST_ROWS = saved


def compose(layout, xml: str, number: int):
    tree = etree.fromstring(xml)
    res = compose_document(layout, Record("paths.xml", number, 0, 0, xml.encode(), tree), job="t",
                           job_date="2026-11-23")
    return res.document, res.warnings


@pytest.mark.parametrize("number", range(1, len(RECORDS) + 1))
def test_fast_paths_match_general_paths(layout, number):
    xml = RECORDS[number - 1]
    with general_paths():
        expected = compose(layout, xml, number)
    cold = compose(layout, xml, number)
    warm = compose(layout, xml, number)
    assert cold == expected
    assert warm == expected
    assert repr(cold) == repr(expected)          # same types too (tuples, ints)


def test_odd_data_shows_as_the_general_path_shows_it(layout):
    doc, warnings = compose(layout, RECORDS[0], 1)
    texts = [t.text for p in doc.pages for t in p.items if isinstance(t, Text)]
    assert "Abonnement ligne deux" in texts          # data line breaks collapse to one space
    assert "Tabulé" in texts                          # tab and CR collapse, ends trimmed
    assert "mixte gras fin" in texts                  # mixed content: the child's string value
    # the first <desc> only; since issue 12 the CJK characters come from the fallback font (own run)
    assert "Chinois 中文 ok" in "".join(texts) and "second" not in texts
    cjk = [t for p in doc.pages for t in p.items if isinstance(t, Text) and "中文" in t.text]
    assert cjk and all(t.font.startswith("NotoSansCJK") for t in cjk)
    assert "autre espace" not in texts                # an element in another namespace is not {desc}
    assert "1/6" in texts and "6/6" in texts          # $index/$count in a planned row
    assert texts.count("12.50 €") == 1 and texts.count(" €") == 0 and "€" in texts
    assert not any("中" in w for w in warnings)       # printed: no warning
    shaded = [b for p in doc.pages for b in p.items if isinstance(b, Box) and b.fill == (238, 238, 238)]
    assert len(shaded) == 3                           # rows 2, 4 and 6 of the first table


def test_mixed_sizes_line_up_first_baselines(layout):
    doc, _ = compose(layout, RECORDS[1], 2)
    items = [t for p in doc.pages for t in p.items if isinstance(t, Text)]
    small = [t for t in items if t.size == 120 and t.text.startswith("Ligne 1 ")]
    big = [t for t in items if t.size == 220 and t.text == "1.50"]
    assert len(small) == len(big) == 1 and small[0].y == big[0].y and small[0].x < big[0].x


def test_rows_get_the_expected_plans(layout):
    compose(layout, RECORDS[0], 1)
    tables = [n for n in layout.flow if type(n).__name__ == "Table"]
    plans = [table_mod.row_plan(t.body[0].children[0]) for t in tables]
    assert plans[0] is not None and not plans[0].pure          # $index: planned, needs the environment
    assert plans[1] is not None and plans[1].pure and plans[1].names == {"desc", "amount"}
    assert plans[2] is None                                    # several runs, a conditional cell
    assert table_mod.row_plan(tables[2].body[1]) is not None   # {$total} €, literal, {total}
