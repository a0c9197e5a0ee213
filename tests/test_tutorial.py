"""Docs tests: the tutorial (docs/tutorial-first-layout.md) stays true — its minimal layout loads and
composes, and the finished statement is two pages with the balance carried over for the busy account,
one English page for the other."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.layout import load_layout
from ccm_batch.pages import Text
from ccm_batch.records.model import Record

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "tutorial-first-layout.md"
TUT = ROOT / "docs" / "tutorial"


def accounts():
    tree = etree.parse(str(TUT / "accounts.xml"))
    return [Record("accounts.xml", i, 0, 1, etree.tostring(a), a, key=a.get("id"))
            for i, a in enumerate(tree.getroot().findall("account"), 1)]


def words(doc, page=None):
    pages = doc.pages if page is None else [doc.pages[page]]
    return [t.text for p in pages for t in p.items if isinstance(t, Text)]


def test_the_minimal_layout_of_step_2_composes(tmp_path):
    blocks = re.findall(r"```xml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    minimal = next(b for b in blocks if b.startswith("<?xml"))
    path = tmp_path / "minimal.xml"
    path.write_text(minimal, encoding="utf-8")
    doc = compose_document(load_layout(path), accounts()[0], job="t", job_date="2026-11-30").document
    assert words(doc) == ["Relevé de compte de Mme Lucie Martin"]


def test_the_finished_statement(tmp_path):
    layout = load_layout(TUT / "first-statement.xml")
    busy, quiet = accounts()
    doc = compose_document(layout, busy, job="t", job_date="2026-11-30").document
    assert len(doc.pages) == 2
    first, second = words(doc, 0), words(doc, 1)
    assert "Solde à reporter" in first and "Solde reporté" in second
    assert "Page 1 sur 2" in first and "Page 2 sur 2" in second
    opening = Decimal(busy.tree.findtext("opening"))
    closing = opening + sum(Decimal(t.findtext("amount")) for t in busy.tree.findall("tx"))
    shown = f"{closing:,.2f}".replace(",", "\u00a0").replace(".", ",").replace("-", "-") + "\u00a0€"
    assert shown in second and "Nouveau solde" in second
    doc = compose_document(layout, quiet, job="t", job_date="2026-11-30").document
    assert len(doc.pages) == 1 and "Account statement" in words(doc) and "Page 1 of 1" in words(doc)
