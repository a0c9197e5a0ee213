"""Issue 12 end to end: the multilingual sample extract through the invoice and statement samples.

Every name prints exactly in the PDF (pdftotext, document by document) and in the AFP (decoded by
tests/afp_decode.py over the PyPI ``afp`` parser, not by ccm-batch's reader); PDF and AFP runs end at
the same x (widths from the fonts each file carries); no .notdef, no ``?``. These runs write AFP too,
which carries no shaped text: the Arabic and Hebrew records are rejected naming the characters, code
points and that reason (tests/test_glyphs_rtl.py prints them in PDF-only runs).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import pytest
from lxml import etree
from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTContainer

from afp_decode import decode
from runjobs import ROOT, run_cli

SAMPLES = ROOT / "samples" / "extra" / "multilingual"
NEEDS_CJK = bool(__import__("ccm_batch.fonts", fromlist=["x"]).find_system_font("Noto Sans CJK JP"))
if not NEEDS_CJK and os.environ.get("CI"):
    raise RuntimeError("CI must install fonts-noto-cjk (the CJK fallback font)")
pytestmark = pytest.mark.skipif(not NEEDS_CJK, reason="fonts-noto-cjk is not installed")

REJECTED = {"C-INTL-AR", "C-INTL-HE", "C-INTL-AR2", "C-INTL-HE2"}   # right to left: not in AFP runs


def _records(kind: str):
    root = etree.parse(str(SAMPLES / f"{kind}s.xml")).getroot()
    return [(el.get("id"), el.findtext("customer/name"), el.find("customer").get("id"),
             [ln.text for ln in el.findall("customer/address/line")]) for el in root.findall(kind)]


@pytest.fixture(scope="module", params=["invoice", "statement"])
def run(request, tmp_path_factory):
    kind = request.param
    d = tmp_path_factory.mktemp(kind)
    job = d / f"{kind}.toml"
    shutil.copy(SAMPLES / f"{kind}-intl.toml", job)
    shutil.copy(SAMPLES / f"{kind}s.xml", d / f"{kind}s.xml")
    text = job.read_text(encoding="utf-8").replace("../../../layouts/", f"{ROOT}/layouts/")
    job.write_text(text, encoding="utf-8")
    proc = run_cli("run", job, "--output", d / "out", "--workers", "1")
    assert proc.returncode == 4, proc.stdout + proc.stderr          # 4: completed with rejects
    out = d / "out"
    [pdf] = out.glob("*_001.pdf")
    [afp] = out.glob("*_001.afp")
    return kind, out, pdf, afp


def _index(out, fmt):
    [path] = out.glob(f"*_001.{fmt}.index.csv")
    with open(path, newline="", encoding="utf-8") as f:
        return {row["customer_id"]: row for row in csv.DictReader(f)}


def _pdftotext(pdf, first, count) -> str:
    return subprocess.run(["pdftotext", "-f", str(first), "-l", str(first + count - 1), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def test_every_name_and_address_prints_exactly_in_each_pdf_document(run):
    kind, out, pdf, _ = run
    index = _index(out, "pdf")
    printed = 0
    for doc_id, name, customer, lines in _records(kind):
        if customer in REJECTED:
            assert customer not in index
            continue
        row = index[customer]
        text = _pdftotext(pdf, int(row["first_page"]), int(row["page_count"]))
        assert name in text, f"{doc_id}: {name!r} not in its pages"
        assert lines[0] in text, f"{doc_id}: address line {lines[0]!r} not in its pages"
        printed += 1
    assert printed == 10


def test_the_afp_decoded_independently_holds_the_same_names(run):
    kind, out, _, afp = run
    pages = decode(afp)
    index = _index(out, "afp")
    for doc_id, name, customer, lines in _records(kind):
        if customer in REJECTED:
            continue
        row = index[customer]
        first, count = int(row["first_page"]), int(row["page_count"])
        text = "\n".join(r.text for page in pages[first - 1:first - 1 + count] for r in page)
        assert name in text.replace("\u00a0", " "), f"{doc_id}: {name!r} not in the AFP pages"
        assert lines[0] in text.replace("\u00a0", " ")
    # zero '?' substitutions: every '?' the AFP prints is one the PDF prints too
    afp_q = sum(r.text.count("?") for page in pages for r in page)
    pdf_q = subprocess.run(["pdftotext", str(run[2]), "-"], capture_output=True, text=True).stdout.count("?")
    assert afp_q <= pdf_q
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["render_notes"] == {}


def _pdf_lines(pdf):
    """Per page: {baseline y (1/1440 in): [(x0, x1, char)]} from pdfminer."""
    pages = []
    for layout in extract_pages(str(pdf), laparams=LAParams(all_texts=True)):
        height = layout.height
        lines: dict = {}

        def walk(obj):
            if isinstance(obj, LTChar):
                y = round((height - obj.matrix[5]) * 20)
                lines.setdefault(y, []).append((obj.matrix[4] * 20, obj.x1 * 20, obj.get_text()))
            elif isinstance(obj, LTContainer):
                for child in obj:
                    walk(child)
        walk(layout)
        pages.append(lines)
    return pages


def test_runs_end_at_the_same_x_in_pdf_and_afp(run):
    """Widths: each AFP run's end (start + the carried or resident font's advances + RMI moves)
    is where the PDF's glyphs of that run end, within 1/360 inch (4 units: rounding of long justified
    lines) — right-aligned amounts and names included."""
    kind, _, pdf, afp = run
    afp_pages = decode(afp)
    pdf_pages = _pdf_lines(pdf)
    assert len(afp_pages) == len(pdf_pages)
    compared = unicode_runs = 0
    for afp_runs, lines in zip(afp_pages, pdf_pages):
        for r in afp_runs:
            text = r.text.rstrip()
            if not text.strip():
                continue
            line = sorted(g for y, v in lines.items() if abs(y - r.y) <= 2 for g in v)
            start = next((i for i, g in enumerate(line) if abs(g[0] - r.x) <= 2), None)
            assert start is not None, f"{r.text!r} at ({r.x}, {r.y}) not in the PDF"
            glyphs = "".join(g[2] for g in line[start:start + len(text)])
            assert glyphs == text, f"PDF has {glyphs!r} where the AFP has {text!r}"
            if r.text != text:            # trailing blanks: the end is past the last glyph
                continue
            pdf_end, afp_end = line[start + len(text) - 1][1], r.end_x
            assert abs(pdf_end - afp_end) <= 4, f"{text!r}: ends at {afp_end:.1f} in AFP, {pdf_end:.1f} in PDF"
            compared += 1
            unicode_runs += not text.isascii()
    assert compared > 100 and unicode_runs > 10


def test_no_notdef_glyph_and_every_font_embedded(run):
    _, _, pdf, _ = run
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows and all(" yes yes yes " in row for row in rows), fonts
    assert any("NotoSansCJK" in row for row in rows)
    for layout in extract_pages(str(pdf)):
        def walk(obj):
            if isinstance(obj, LTChar):
                assert not obj.get_text().startswith("(cid:"), "a glyph without a character: .notdef"
            elif isinstance(obj, LTContainer):
                for child in obj:
                    walk(child)
        walk(layout)


def test_arabic_and_hebrew_records_are_rejected_naming_the_characters(run):
    kind, out, _, _ = run
    [reasons] = out.glob("*.reasons.csv")
    with open(reasons, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    arabic, hebrew, arabic2, hebrew2 = rows
    assert "'\u0645' (U+0645, needs shaping)" in arabic["message"]
    assert "'\u05d3' (U+05D3, needs shaping)" in hebrew["message"]
    assert all("shaping is not supported in AFP output" in row["message"] for row in rows)
    assert "U+0635" in arabic2["message"] and "U+05E9" in hebrew2["message"]


def test_afp_is_clean_under_inspect_check(run):
    _, _, _, afp = run
    proc = run_cli("inspect", "--check", afp)
    assert proc.returncode == 0, proc.stdout
    text = run_cli("inspect", "--text", afp).stdout
    assert "Αλέξανδρος Παπαδόπουλος" in text and "王小明" in text


def test_substitute_policy_prints_question_marks_and_lists_the_records(tmp_path):
    job = tmp_path / "invoice.toml"
    shutil.copy(SAMPLES / "invoices.xml", tmp_path / "invoices.xml")
    text = (SAMPLES / "invoice-intl.toml").read_text(encoding="utf-8").replace("../../../layouts/", f"{ROOT}/layouts/")
    job.write_text(text.replace('missing_glyphs = "reject"', 'missing_glyphs = "substitute"'), encoding="utf-8")
    proc = run_cli("run", job, "--output", tmp_path / "out", "--workers", "1")
    assert proc.returncode == 4, proc.stdout + proc.stderr             # 4: warnings
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["records_rejected"] == 0 and report["documents_produced"] == 14
    listed = report["glyph_substitutions"]["records"]
    assert [(r["record"], r["key"]) for r in listed] == [(10, "FAC-2026-0000010"), (11, "FAC-2026-0000011"),
                                                         (13, "FAC-2026-0000013"), (14, "FAC-2026-0000014")]
    assert any("U+0645" in m for m in listed[0]["messages"])
    assert any("U+05D3" in m for m in listed[1]["messages"])
    assert "records printed with '?'" in (tmp_path / "out" / "report.txt").read_text(encoding="utf-8")
    index = _index(tmp_path / "out", "pdf")
    [pdf] = (tmp_path / "out").glob("*_001.pdf")
    row = index["C-INTL-HE"]
    assert "?? ???" in _pdftotext(pdf, int(row["first_page"]), int(row["page_count"]))
