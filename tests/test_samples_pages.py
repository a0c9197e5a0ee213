"""Issue 15's "How it will be checked" on the sample applications (smaller N than the by-hand run of
``tests/page_checks.py --records 1000``): no near-empty page unless the layout says so, no line break
inside an identifier or a number + unit pair (read back with ``pdftotext -bbox-layout``) — and each
check shown to catch what it is meant to catch."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ccm_batch.compose.fill import page_fills
from ccm_batch.layout import load_layout
from ccm_batch.records.model import Record
from ccm_batch.samples import write_samples
from page_checks import ROOT, SAMPLE_JOBS, bad_line_breaks, near_empty_pages, run_job

N = 40


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("pagechecks")
    write_samples(out, N, seed=11)
    return out


@pytest.mark.parametrize("name", sorted(SAMPLE_JOBS))
def test_no_near_empty_page_in_the_samples(name, data):
    job, data_file = SAMPLE_JOBS[name]
    measured, findings = near_empty_pages(ROOT / "layouts" / f"{name}.xml", ROOT / "samples" / job,
                                          data / data_file)
    assert measured >= N
    assert findings == []


def test_no_near_empty_page_in_the_mutuelle_statements():
    base = ROOT / "samples" / "extra" / "mutuelle"
    measured, findings = near_empty_pages(ROOT / "layouts" / "mutuelle.xml", base / "mutuelle.toml",
                                          base / "decomptes.xml")
    assert measured >= 15 and findings == []


@pytest.mark.parametrize("name", ["invoice", "statement", "letter"])
def test_no_line_break_inside_an_identifier_or_number_and_unit(name, data, tmp_path):
    job, data_file = SAMPLE_JOBS[name]
    pdfs = run_job(ROOT / "samples" / job, data / data_file, tmp_path / name)
    assert pdfs
    seen = 0
    for pdf in pdfs:
        n, findings = bad_line_breaks(pdf)
        seen += n
        assert findings == []
    assert seen > 100            # the check did look at line breaks


FLOW = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r" language="'fr'">
  <fields><field name="n" path="@n" type="integer"/></fields>
  <page-template name="p" size="A5" {sparse}>
    <body top="20mm" bottom="20mm" left="15mm" right="15mm"/>
  </page-template>
  <pages first="p"/>
  <meta doc-id="'D1'" customer-id="'C1'" date="'2026-11-23'"/>
  <flow>
    <p>Puissance souscrite 12<br/>kVA, mandat RUM-<br/>C000006-11, contrat n°<br/>SAN-2026-7907560.</p>
    <p>{fill}</p>
    <page-break/>
    <p>Une ligne seule en page 2 ?</p>
  </flow>
</layout>
"""
FILL = "Texte de remplissage pour la première page. " * 40


def test_the_checks_catch_a_near_empty_page_and_forced_breaks(tmp_path):
    """Positive controls: forced breaks (``<br/>``) inside the three kinds of pairs are all found, and
    a page holding one line is near-empty unless its template says ``sparse="true"``."""
    (tmp_path / "t.xml").write_text(FLOW.format(sparse="", fill=FILL), encoding="utf-8")
    layout = load_layout(tmp_path / "t.xml")
    rec = Record("r.xml", 1, 0, 1, b'<r n="1"/>', etree.fromstring('<r n="1"/>'), key="K1")
    fills = page_fills(layout, rec)
    assert [f.page for f in fills if f.near_empty] == [2]
    (tmp_path / "t.xml").write_text(FLOW.format(sparse='sparse="true"', fill=FILL), encoding="utf-8")
    assert not any(f.near_empty for f in page_fills(load_layout(tmp_path / "t.xml"), rec))

    (tmp_path / "r.xml").write_text('<rs><r n="1"/></rs>', encoding="utf-8")
    (tmp_path / "job.toml").write_text(
        '[job]\nname = "t"\ndate = "2026-11-23"\n[input]\npath = "r.xml"\nformat = "xml"\nrecord = "r"\n'
        '[layout]\npath = "t.xml"\n[output]\ndir = "out"\n', encoding="utf-8")
    pdfs = run_job(tmp_path / "job.toml", None, tmp_path / "out")
    _, findings = bad_line_breaks(pdfs[0])
    whys = {f.rsplit("(", 1)[1] for f in findings}
    assert len(findings) == 3 and whys == {"identifier or URL at a hyphen)", "n° and identifier)",
                                           "number and unit)"}, findings


def test_pages_without_a_body_and_filler_backs_are_not_measured(tmp_path):
    layout = load_layout(ROOT / "layouts" / "statement.xml")
    data = ROOT / "samples" / "data" / "statements.xml"
    tree = etree.parse(str(data)).getroot()[0]
    rec = Record(str(data), 1, 0, 1, etree.tostring(tree), tree, key="K")
    fills = page_fills(layout, rec)
    assert fills and 2 not in [f.page for f in fills]           # the terms on the back of sheet 1
