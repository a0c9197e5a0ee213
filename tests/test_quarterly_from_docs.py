"""Issue 15's check, rehearsed: a quarterly statement written from docs/layout-language.md alone (an
extract schema no sample uses; ``tests/fixtures/quarterly``) — QR code beside the heading, a one-account
page template, a chart of monthly net movements (negative months) on a scale shared by the document's
charts, hyphenated justified French text — checked from ``pdftotext -bbox-layout`` and ``zbarimg``."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from runjobs import run_cli

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "quarterly"
NS = {"h": "http://www.w3.org/1999/xhtml"}


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    work = tmp_path_factory.mktemp("quarterly")
    for name in ("job.toml", "releve.xml", "releves.xml"):
        shutil.copy(FIXTURE / name, work / name)
    proc = run_cli("run", work / "job.toml", "--workers", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return next((work / "out").glob("*.pdf"))


def pages(pdf: Path):
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, check=True).stdout
    root = etree.fromstring(xml, etree.XMLParser(recover=True))
    out = []
    for page in root.iterfind(".//h:page", NS):
        lines = []
        for line in page.iterfind(".//h:line", NS):
            words = [w.text for w in line.iterfind("h:word", NS)]
            lines.append((" ".join(words), float(line.get("xMin")), float(line.get("yMin")), float(line.get("xMax"))))
        out.append(lines)
    return out


def find(lines, text):
    hits = [line for line in lines if text in line[0]]
    assert hits, f"{text!r} not on the page"
    return hits[0]


def row(lines, label):
    """The texts on the line of ``label`` (same baseline band), left to right, joined."""
    y = find(lines, label)[2]
    return " ".join(t for t, x, yy, _ in sorted(lines, key=lambda line: line[1]) if abs(yy - y) < 2)


def test_balances_and_formats(pdf):
    one, multi = pages(pdf)[0], pages(pdf)[1]
    assert row(one, "Solde au 30 septembre 2026").endswith(" -340,30 €")     # 1 200,50 − 120,30 + 450 − 1 870,50
    assert row(one, "Mouvements nets, septembre 2026").endswith(" -1 870,50 €")
    closing = sorted(yy for t, x, yy, _ in multi if t == "Solde au 30 septembre 2026")
    amounts = [[t for t, x, yy, _ in multi if abs(yy - y) < 2 and t.endswith("€")] for y in closing]
    assert amounts == [["17 320,00 €"], ["4 200,00 €"]]                        # current account, Livret A


def test_qr_code_beside_the_heading(pdf, tmp_path):
    heading = find(pages(pdf)[0], "Votre relevé trimestriel")
    subprocess.run(["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "p")], check=True)
    png = next(tmp_path.glob("p*.png"))
    out = subprocess.run(["zbarimg", "--xml", "-q", str(png)], capture_output=True, text=True, check=True).stdout
    assert "https://banque.example/r/Q-0001" in out
    root = etree.fromstring(out.encode())
    pts = [(int(p.get("x")), int(p.get("y"))) for p in root.iter() if p.tag.endswith("point")] or None
    if pts:                                   # zbar's corner points (pixels at 150 dpi) -> points
        xs, ys = [x * 72 / 150 for x, _ in pts], [y * 72 / 150 for _, y in pts]
        assert min(xs) > heading[3]                                    # right of the heading
        assert min(ys) - 20 < heading[2] < max(ys)                     # in the heading's band


def test_one_account_template_starts_higher(pdf):
    one, multi = pages(pdf)[0], pages(pdf)[1]
    y_one, y_multi = find(one, "Votre relevé")[2], find(multi, "Votre relevé")[2]
    assert abs((y_multi - y_one) - 15 * 72 / 25.4) < 1.0              # body top 75 mm instead of 90 mm


def test_negative_months_hang_below_a_shared_zero_axis(pdf):
    multi = pages(pdf)[1]
    zeros = [line for line in multi if line[0] == "0"]
    assert len(zeros) == 2                                             # one axis label per chart
    exact = {t: line for line in multi for t in [line[0]]}
    minus_300, minus_4000, plus_2500 = exact["-300"], exact["-4 000"], exact["2 500"]
    assert minus_300[2] > zeros[0][2] and plus_2500[2] < zeros[0][2]  # below / above chart 1's zero
    assert minus_4000[2] > zeros[1][2]
    # one scale for both charts: the same axis labels, at the same distances from each zero
    ticks = [sorted(line[2] - zero[2] for line in multi if line[0] in ("4 000", "-4 000") and
                    0 < abs(line[2] - zero[2]) < 150) for zero in zeros]
    assert ticks[0] and [round(t) for t in ticks[0]][:1] == [round(t) for t in ticks[1]][:1]


def test_justified_french_text_is_hyphenated(pdf):
    one = pages(pdf)[0]
    start = [i for i, line in enumerate(one) if line[0].startswith("Conformément")][0]
    para = [line for line in one[start:start + 5]]
    assert any(t.endswith("-") and t[-2].isalpha() for t, *_ in para)          # a word hyphenated at a line end
    right = [x_max for *_, x_max in para[:-1]]
    assert max(right) - min(right) < 1.0                                       # justified: flush right edges
