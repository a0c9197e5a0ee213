"""Layout stage tests: extract paths checked — a name the layout reads that the extract never holds
(``tx/amout``) is a warning of ``validate`` and of the first chunk of ``run``; an ``<extract>``
declaration (paths or an XSD) is checked without records."""
from __future__ import annotations

import shutil

from runjobs import LAYOUT, ROOT, make_extract, run_cli, write_job

from ccm_batch.layout import load_layout
from ccm_batch.layout.paths import check_paths, names_in


def typo_layout(tmp_path, extract=""):
    (tmp_path / "fragments").mkdir(exist_ok=True)
    shutil.copy(ROOT / "layouts" / "fragments" / "bench-footer.xml", tmp_path / "fragments")
    text = LAYOUT.read_text(encoding="utf-8")
    assert "<cell>{amount} €</cell>" in text
    text = text.replace("<cell>{amount} €</cell>", "<cell>{amout} €</cell>", 1)
    if extract:
        text = text.replace('<import href="fragments/bench-footer.xml"/>',
                            '<import href="fragments/bench-footer.xml"/>' + extract, 1)
    path = tmp_path / "typo.xml"
    path.write_text(text, encoding="utf-8")
    return path


def test_names_in_takes_element_and_attribute_steps_only():
    assert names_in("sum(tx[@kind = 'debit']/amout) div count($items) + string-length(text())") == [
        ("element", "tx"), ("attribute", "kind"), ("element", "amout")]
    assert names_in("format-date(@period, 'MMMM') and child::line") == [("attribute", "period"),
                                                                         ("element", "line")]


def test_validate_warns_about_a_path_matching_nothing(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 5)
    good = run_cli("validate", write_job(tmp_path, data))
    assert good.returncode == 0 and "matching nothing" not in good.stdout, good.stdout
    proc = run_cli("validate", write_job(tmp_path, data, layout=typo_layout(tmp_path)))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "amout" in ln)
    assert "typo.xml:" in line and "matches nothing in the sampled records" in line
    assert "no element 'amout'" in line
    assert "1 layout paths matching nothing" in proc.stdout


def test_run_warns_in_its_first_chunk(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 9)
    proc = run_cli("run", write_job(tmp_path, data, layout=typo_layout(tmp_path), formats=("pdf",)))
    assert proc.returncode == 4, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "amout" in ln]
    assert len(warnings) == 1 and "matches nothing" in warnings[0]


def test_declared_extract_paths_and_xsd_are_checked_without_records(tmp_path):
    declared = "<extract><path>customer/@id</path><path>customer/items/item/amount</path></extract>"
    layout = load_layout(typo_layout(tmp_path, declared))
    found = check_paths(layout)
    assert any("'amout'" in w and "the declared extract" in w for w in found)
    xsd = tmp_path / "x.xsd"
    xsd.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="amout"/>'
                   '</xs:schema>', encoding="utf-8")
    layout = load_layout(typo_layout(tmp_path, '<extract xsd="x.xsd"/>'))
    assert not any("'amout'" in w for w in check_paths(layout))
