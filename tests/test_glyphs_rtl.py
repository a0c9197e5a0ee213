"""Issue 12 item 5 end to end: Arabic and Hebrew names shaped and right to left, in PDF-only runs.

The multilingual sample extract (14 records: two Arabic and two Hebrew customers, one with Latin
letters and digits inside an Arabic address line, a hyphenated Hebrew name) through the invoice and
statement samples with ``--format pdf --format debug`` (no AFP: AFP runs reject these records, see
tests/test_glyphs_multilingual.py). Checked with tools we did not write: ``pdftotext`` gives every
name exactly as in the extract, ``pdftotext -bbox`` puts them where the layout places names and the
right-aligned amounts end at the same x as in the Latin documents, ``pdftoppm`` shows ink where the
names are, ``pdffonts`` shows the Noto fonts embedded; the debug output shows joined forms and
ligatures (fewer glyphs than letters, glyph ids other than the nominal ones) and no ``.notdef``.
"""
from __future__ import annotations

import os

import csv
import json
import re
import shutil
import subprocess
from xml.etree import ElementTree

import pytest
from lxml import etree

from runjobs import ROOT, run_cli

SAMPLES = ROOT / "samples" / "extra" / "multilingual"
HAVE_NOTO = bool(__import__("ccm_batch.fonts", fromlist=["x"]).find_system_font("Noto Sans Arabic"))
if not HAVE_NOTO and os.environ.get("CI"):
    raise RuntimeError("CI must install fonts-noto-core (Noto Sans Arabic / Hebrew, the fallback fonts)")
pytestmark = pytest.mark.skipif(not HAVE_NOTO, reason="fonts-noto-core is not installed")

RTL = ("C-INTL-AR", "C-INTL-HE", "C-INTL-AR2", "C-INTL-HE2")


def _records(kind: str):
    root = etree.parse(str(SAMPLES / f"{kind}s.xml")).getroot()
    return [(el.find("customer").get("id"), el.findtext("customer/name"),
             [ln.text for ln in el.findall("customer/address/line")]) for el in root.findall(kind)]


@pytest.fixture(scope="module", params=["invoice", "statement"])
def run(request, tmp_path_factory):
    kind = request.param
    d = tmp_path_factory.mktemp(f"rtl-{kind}")
    job = d / f"{kind}.toml"
    shutil.copy(SAMPLES / f"{kind}s.xml", d / f"{kind}s.xml")
    text = (SAMPLES / f"{kind}-intl.toml").read_text(encoding="utf-8")
    job.write_text(text.replace("../../../layouts/", f"{ROOT}/layouts/"), encoding="utf-8")
    proc = run_cli("run", job, "--output", d / "out", "--workers", "1", "-f", "pdf", "-f", "debug")
    assert proc.returncode in (0, 4), proc.stdout + proc.stderr
    out = d / "out"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["records_rejected"] == 0 and report["documents_produced"] == 14
    [pdf] = out.glob("*_001.pdf")
    [debug] = out.glob("*_001.jsonl")
    [index] = out.glob("*_001.pdf.index.csv")
    with open(index, newline="", encoding="utf-8") as f:
        rows = {row["customer_id"]: row for row in csv.DictReader(f)}
    return kind, pdf, debug, rows


def _pages(row) -> tuple[int, int]:
    first = int(row["first_page"])
    return first, first + int(row["page_count"]) - 1


def _pdftotext(pdf, first, last) -> str:
    text = subprocess.run(["pdftotext", "-f", str(first), "-l", str(last), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    return text.translate({0x202A: None, 0x202B: None, 0x202C: None})   # poppler's embedding marks


def _bbox(pdf, page) -> list[tuple[float, float, float, float, str]]:
    """(xMin, yMin, xMax, yMax, word) of a page, from ``pdftotext -bbox``."""
    html = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    ns = "{http://www.w3.org/1999/xhtml}"
    return [(float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")), float(w.get("yMax")), w.text or "")
            for w in ElementTree.fromstring(html).iter(f"{ns}word")]


def _is_rtl(text: str) -> bool:
    return any("\u0590" <= c <= "\u08ff" for c in text)


def test_pdftotext_gives_every_name_exactly_as_in_the_extract(run):
    kind, pdf, _, rows = run
    for customer, name, lines in _records(kind):
        text = _pdftotext(pdf, *_pages(rows[customer]))
        assert name in text, f"{customer}: {name!r} not in {text[:400]!r}"
        assert lines[0] in text, f"{customer}: first address line {lines[0]!r}"
    names = [n for c, n, _ in _records(kind) if c in RTL]
    assert len(names) == 4 and all(_is_rtl(n) for n in names)


def test_names_sit_where_the_latin_names_sit_and_amounts_end_at_the_same_x(run):
    """-bbox: the Arabic/Hebrew first address line starts at the address block's x, like the
    Latin ones; the right-aligned amounts of every document end at one x."""
    kind, pdf, _, rows = run
    starts, ends = {}, {}
    for customer, name, lines in _records(kind):
        first, _ = _pages(rows[customer])
        words = _bbox(pdf, first)
        first_word = lines[0].split()[0] if not _is_rtl(lines[0]) else None
        found = [w for w in words if (first_word and w[4] == first_word) or
                 (first_word is None and _is_rtl(w[4]) and len(w[4]) >= len(lines[0]) - 1)]
        assert found, f"{customer}: address line {lines[0]!r} not found in -bbox"
        starts[customer] = round(min(w[0] for w in found), 2)
        amounts = [w[2] for w in words if re.fullmatch(r"€?-?[\d.,]*\d[\d.,]*€?|€", w[4])]
        ends[customer] = max(amounts)
    latin_start = {v for c, v in starts.items() if c not in RTL}
    assert {starts[c] for c in RTL} <= latin_start, (starts, latin_start)
    assert max(ends.values()) - min(ends.values()) <= 0.05, ends        # pdftotext's rounding


def test_rtl_name_inside_a_left_to_right_sentence(run):
    """A line with the name between Latin words (invoice: payment slip, "… — client C-INTL-AR2,
    compte …"; statement: running head, "Relevé de compte — … — Compte …"): the name extracts
    exactly, and its right-to-left block sits between the Latin words before and after it."""
    kind, pdf, debug, rows = run
    customer = "C-INTL-AR2"
    name = next(n for c, n, _ in _records(kind) if c == customer)
    first, last = _pages(rows[customer])
    mixed = [ln for ln in _pdftotext(pdf, first, last).splitlines()
             if name in ln and re.search("[A-Za-z]{4}", ln)]
    assert mixed, "no line holds the name and Latin words"
    checked = 0
    for page in range(first, last + 1):
        words = _bbox(pdf, page)
        for w in words:
            if not _is_rtl(w[4]) or len(w[4]) < len(name):
                continue
            line = [v for v in words if abs(v[1] + v[3] - w[1] - w[3]) < 8 and not _is_rtl(v[4])
                    and re.search("[A-Za-z]", v[4])]
            left = [v for v in line if v[2] <= w[0] + 0.5]
            right = [v for v in line if v[0] >= w[2] - 0.5]
            # Latin words before it on its line (a label, or the sentence's start) and the sentence
            # going on right after it ("… — customer C-INTL-AR2, account …")
            if left and right and min(v[0] for v in right) < w[2] + 40:
                checked += 1
    assert checked, "the name is not set between the Latin words of its line"


def test_glyphs_are_shaped_joined_and_never_notdef(run):
    """Debug output: each right-to-left name is one Glyphs item with the logical text; Arabic
    letters are joined (glyph ids other than the font's nominal ones) and lam-alef / Allah are
    ligatures (fewer glyphs than letters); no glyph 0 anywhere."""
    from ccm_batch import fonts
    fonts.fallback_chain(fonts.resolve("sans"))             # registers the system fallback fonts
    kind, _, debug, _ = run
    glyph_items = []
    for line in debug.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "page":
            glyph_items += [fields for k, fields in event["items"] if k == "Glyphs"]
    texts = {g["text"] for g in glyph_items}
    for customer, name, _ in _records(kind):
        if customer in RTL:
            assert name in texts, f"{name!r} is not one Glyphs item"
    for g in glyph_items:
        assert all(glyph[0] != 0 for run in g["runs"] for glyph in run[4]), g["text"]
        assert sum(run[3] for run in g["runs"]) == g["width"]
    arabic = next(g for g in glyph_items if g["text"] == "صلاح الدين عبد الله")
    [run_] = [r for r in arabic["runs"] if r[0].startswith("NotoSansArabic")]
    letters = [c for c in arabic["text"] if not c.isspace()]
    glyphs = [gl for gl in run_[4] if gl[0] != fonts.get_font(run_[0]).glyph_id(" ")]
    assert len(glyphs) < len(letters)                       # lam-alef (صلاح), Allah (الله)
    nominal = set(fonts.get_font(run_[0]).glyph_ids(arabic["text"]))
    assert any(gl[0] not in nominal for gl in glyphs)       # initial / medial / final forms


def test_noto_fonts_embedded_and_pages_show_the_names(run, tmp_path):
    kind, pdf, _, rows = run
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows_ = fonts.splitlines()[2:]
    assert all(" yes yes yes " in row for row in rows_), fonts
    assert any("NotoSansArabic" in row for row in rows_)
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0
    # ink where pdftotext -bbox says the Arabic name is (pdftoppm at 72 dpi: 1 px = 1 pt)
    customer = "C-INTL-AR2"
    first, _ = _pages(rows[customer])
    box = next(w for w in _bbox(pdf, first) if w[4] and _is_rtl(w[4]))
    subprocess.run(["pdftoppm", "-f", str(first), "-l", str(first), "-r", "72", "-gray",
                    str(pdf), str(tmp_path / "p")], check=True)
    [pgm] = tmp_path.glob("p*.pgm")
    data = pgm.read_bytes()
    header = data.split(b"\n", 3)
    width, height = map(int, header[1].split())
    pixels = header[3]
    x0, y0, x1, y1 = (int(v) for v in box[:4])
    dark = sum(1 for y in range(y0, min(y1 + 1, height)) for x in range(x0, min(x1 + 1, width))
               if pixels[y * width + x] < 128)
    assert dark > 50, f"no ink where the name {box[4]!r} is"
