"""Compose stage tests: typography — no-break pairs, identifiers and URLs, <nobreak>, hyphenation as a
style attribute, typographic quotes per language, charts (negative values, shared scale, gridlines,
attribute items). Geometry from the page model."""
from __future__ import annotations

from lxml import etree

from ccm_batch import fonts
from ccm_batch.compose import compose_document
from ccm_batch.compose.text import Span, break_lines
from ccm_batch.layout import load_layout
from ccm_batch.pages import Box, Rule, Text, mm
from ccm_batch.records.model import Record

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r" language="'{language}'">
  <fields>
    <field name="id" path="@id" required="false" default="X"/>
    <field name="months" path="m" type="list" required="false"/>
  </fields>
  <page-template name="p" size="100mm 200mm">
    <body top="10mm" bottom="10mm" left="10mm" right="10mm"/>
  </page-template>
  <pages first="p"/>
  <flow>
"""


def compose(tmp_path, flow, record="<r/>", language="fr"):
    path = tmp_path / "t.xml"
    path.write_text(HEAD.format(language=language) + flow + "\n  </flow>\n</layout>\n", encoding="utf-8")
    layout = load_layout(path)
    rec = Record("data.xml", 1, 0, 1, record.encode(), etree.fromstring(record), key="K1")
    return compose_document(layout, rec, job="job", job_date="2026-11-23")


def lines_of(res):
    return [i.text for i in res.document.pages[0].items if isinstance(i, Text)]


HELV = fonts.resolve("Helvetica")


def broken(text, width_mm, spans=1):
    sp = [Span(text, HELV, 200)] if spans == 1 else [Span(t, HELV, 200) for t in text]
    return [ln.text for ln in break_lines(sp, mm(width_mm))]


def test_number_and_unit_never_split():
    # "12" fits at the end of the first line, "kVA" would not: the pair moves down together
    for w in range(30, 60):
        lines = broken("Puissance souscrite pour le contrat 12 kVA et 15 % de remise sur 121 755,07 €", w)
        for ln in lines:
            assert not ln.startswith(("kVA", "%", "€")), (w, lines)


def test_numero_and_identifier_never_split_and_identifier_keeps_its_hyphens():
    for w in range(45, 70):
        lines = broken("Votre dossier n° SAN-2026-7907560 et le mandat RUM-C000006-11 sont enregistrés", w)
        joined = "|".join(lines)
        assert "SAN-2026-7907560" in joined and "RUM-C000006-11" in joined, (w, lines)
        assert not any(ln.endswith("n°") for ln in lines), (w, lines)


def test_identifier_split_across_spans_keeps_its_hyphens():
    for w in range(30, 60):
        lines = broken(["Votre mandat ", "RUM-", "C000006-11", " est actif depuis hier"], w, spans=3)
        assert "RUM-C000006-11" in "|".join(lines), (w, lines)


def test_ordinary_compound_words_still_break_at_their_hyphen():
    lines = broken("aaaa Jean-Pierre", 22)
    assert lines[:2] == ["aaaa Jean-", "Pierre"]


def test_url_never_breaks_at_a_hyphen_but_may_after_a_slash():
    for w in range(48, 80):
        lines = broken("Voir https://www.example-bank.fr/aide/contact-us/formulaire pour tout", w)
        for ln in lines:
            assert not ln.endswith("-"), (w, lines)
    lines = broken("Voir https://www.example-bank.fr/aide/contact-us/formulaire", 52)
    assert lines[1].endswith("/") or lines[0].endswith("/"), lines


def test_nobreak_element_keeps_its_content_on_one_line(tmp_path):
    flow = "<p>" + "texte " * 9 + "<nobreak>Jean-Pierre de la Fontaine</nobreak> fin</p>"
    res = compose(tmp_path, flow)
    lines = lines_of(res)
    assert any("Jean" in ln and "Fontaine" in ln for ln in lines), lines


def _justified(hyphenate=None, align="justify"):
    attr = f' hyphenate="{hyphenate}"' if hyphenate else ""
    words = ("Le présent relevé récapitule les opérations enregistrées pendant la période considérée "
             "conformément aux dispositions contractuelles applicables ") * 3
    return f'<p align="{align}"{attr}>{words}</p>'


def test_justified_text_is_hyphenated_by_default_in_the_document_language(tmp_path):
    on = lines_of(compose(tmp_path, _justified()))
    assert any(ln.endswith("-") for ln in on[:-1]), on
    off = lines_of(compose(tmp_path, _justified("false")))
    assert not any(ln.endswith("-") for ln in off), off
    ragged = lines_of(compose(tmp_path, _justified(align="start")))
    assert not any(ln.endswith("-") for ln in ragged), ragged
    forced = lines_of(compose(tmp_path, _justified("true", align="start")))
    assert any(ln.endswith("-") for ln in forced), forced
    assert len(on) <= len(off)


def test_typographic_quotes_and_apostrophes_per_language(tmp_path):
    flow = '<p typographic="true">l\'assuré a dit "oui"</p><p>l\'assuré</p>'
    fr = lines_of(compose(tmp_path, flow, language="fr"))
    assert fr == ["l\u2019assuré a dit «\u202foui\u202f»", "l'assuré"]
    en = lines_of(compose(tmp_path, flow, language="en"))
    assert en[0] == "l\u2019assuré a dit \u201coui\u201d"
    de = lines_of(compose(tmp_path, flow, language="de"))
    assert de[0] == "l\u2019assuré a dit \u201eoui\u201c"


# -- charts -----------------------------------------------------------------------------------

CHART = ('<chart width="80mm" height="40mm" select="{select}" value="{value}" value-label="{{$value}}" '
         'label="{{$index}}" {extra}/>')


def bars(res):
    return [i for i in res.document.pages[0].items if isinstance(i, Box)]


def axis(res):
    return [i for i in res.document.pages[0].items if isinstance(i, Rule) and i.thickness == 10]


def test_negative_values_hang_below_a_zero_baseline(tmp_path):
    rec = '<r><m v="40"/><m v="-20"/><m v="10"/></r>'
    res = compose(tmp_path, CHART.format(select="$months", value="number(@v)", extra=""), rec)
    b = bars(res)
    assert len(b) == 3
    base = axis(res)[0].y
    pos, neg, small = b
    assert pos.y + pos.height == base and small.y + small.height == base
    assert neg.y == base and neg.height > 0
    assert abs(pos.height - 2 * neg.height) <= 1 and abs(pos.height - 4 * small.height) <= 1
    # the value label of the negative bar is under it
    labels = {t.text: t for t in res.document.pages[0].items if isinstance(t, Text)}
    assert labels["-20"].y > neg.y + neg.height


def test_attribute_nodes_are_chart_items(tmp_path):
    rec = '<r><m v="40"/><m v="20"/></r>'
    res = compose(tmp_path, CHART.format(select="$months/@v", value="number(.)", extra=""), rec)
    b = bars(res)
    assert [x.height for x in b][0] == 2 * b[1].height


def test_attribute_chart_items_reach_their_element_with_dotdot(tmp_path):
    """Issue 15's unseen application: ``select="mois/@net"`` labelled with ``../@m`` (a label of
    ``-01`` before: the attribute lost its element)."""
    rec = '<r><mois m="2026-07" net="-120.30"/><mois m="2026-08" net="450"/></r>'
    chart = ('<chart width="80mm" height="40mm" select="mois/@net" value="number(.)" '
             'label="{format-date(concat(../@m, \'-01\'), \'MMM\')}"/>')
    res = compose(tmp_path, chart, rec)
    texts = lines_of(res)
    assert "juil." in texts and "août" in texts


def test_shared_scale_draws_equal_values_equally(tmp_path):
    rec = '<r><m v="100"/><m v="50"/><n v="10"/><n v="5"/></r>'
    flow = (CHART.format(select="m", value="number(@v)", extra='scale="s"')
            + CHART.format(select="n", value="number(@v)", extra='scale="s"'))
    b = bars(compose(tmp_path, flow, rec))
    assert abs(b[0].height - 10 * b[2].height) <= 10
    alone = bars(compose(tmp_path, CHART.format(select="n", value="number(@v)", extra=""), rec))
    assert alone[0].height == b[0].height           # alone, 10 fills the chart like 100 did


def test_gridlines_and_axis_labels(tmp_path):
    rec = '<r><m v="37"/><m v="-12"/></r>'
    extra = 'gridlines="5" axis-label="{format-number($value, \'0\')}"'
    res = compose(tmp_path, CHART.format(select="m", value="number(@v)", extra=extra), rec)
    texts = [t.text for t in res.document.pages[0].items if isinstance(t, Text)]
    for tick in ("-20", "0", "20", "40"):
        assert tick in texts, texts
    grid = [i for i in res.document.pages[0].items if isinstance(i, Rule) and i.thickness == 5]
    assert len(grid) >= 3
    base = axis(res)[0]
    assert base.x > mm(10)                  # the gutter holds the axis labels


def test_dashed_rule_is_drawn_as_dashes(tmp_path):
    res = compose(tmp_path, '<rule length="20mm" dash="2mm 1mm" thickness="0.4pt"/>')
    rules = [i for i in res.document.pages[0].items if isinstance(i, Rule)]
    assert len(rules) == 7                                  # 0, 3, 6 … 18 mm: the last dash is cut
    assert all(r.length == mm(2) for r in rules[:-1])
    assert rules[-1].length == min(mm(2), mm(20) - (rules[-1].x - rules[0].x))
    assert rules[-1].x + rules[-1].length <= rules[0].x + mm(20)
    assert rules[1].x - rules[0].x == mm(3)


def test_typographic_style_reaches_table_cells_and_messages(tmp_path):
    flow = ('<table typographic="true"><column width="60mm"/>'
            '<row><cell>Date d\'échéance</cell></row><row><cell>{@id}</cell></row></table>')
    texts = lines_of(compose(tmp_path, flow, record="<r id=\"l'assuré\"/>"))
    assert texts == ["Date d\u2019échéance", "l\u2019assuré"]
