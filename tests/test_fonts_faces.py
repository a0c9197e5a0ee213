"""Issue 12: fonts from the layout (<fonts>/<font-face>) and the job ([fonts]), fallback chains,
validated at load with file:line; a font file next to the layout is carried into PDF and AFP."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from lxml import etree

from ccm_batch import fonts
from ccm_batch.compose import compose_document
from ccm_batch.errors import ConfigError, LayoutError
from ccm_batch.job import load_job
from ccm_batch.layout import load_layout
from ccm_batch.pages import DocumentMeta
from ccm_batch.records.model import Record
from ccm_batch.render.afp import AfpOptions, AfpRenderer, collect_fonts
from ccm_batch.render.base import StreamInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer

from afp_decode import decode


def make_font(path: Path, family: str, style: str, advance: int) -> Path:
    """A small TrueType font: A B C and space, every glyph a box ``advance`` units wide."""
    names = [".notdef", "space", "A", "B", "C"]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({0x20: "space", 0x41: "A", 0x42: "B", 0x43: "C"})
    glyphs = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name != "space":
            pen.moveTo((50, 0)), pen.lineTo((50, 700)), pen.lineTo((advance - 50, 700))
            pen.lineTo((advance - 50, 0)), pen.closePath()
        glyphs[name] = pen.glyph()
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: (advance if n != "space" else 250, 50) for n in names})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    ps = f"{family.replace(' ', '')}-{style}"
    fb.setupNameTable({"familyName": family, "styleName": style, "psName": ps})
    fb.setupOS2(usWeightClass=700 if style == "Bold" else 400, fsSelection=0x20 if style == "Bold" else 0x40)
    fb.setupPost()
    fb.font["head"].created = fb.font["head"].modified = 3000000000    # same bytes every time
    fb.font["head"].macStyle = 1 if style == "Bold" else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    fb.save(str(path))
    return path


LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r" doc-type="letter">
  <fonts fallback="DejaVu Sans">
    <font-face family="House Face" regular="fonts/house.ttf" bold="fonts/house-bold.ttf"{extra}/>
  </fonts>
  <fields><field name="name" path="name"/></fields>
  <styles><style name="default" font="House Face" size="12pt"/></styles>
  <page-template name="p" size="A4"><body top="20mm" bottom="20mm" left="20mm" right="20mm"/></page-template>
  <pages first="p"/>
  <flow>
    <p>ABC {{$name}}</p>
    <p bold="true">CAB</p>
  </flow>
</layout>
"""


@pytest.fixture
def house(tmp_path):
    make_font(tmp_path / "fonts" / "house.ttf", "House Face", "Regular", 600)
    make_font(tmp_path / "fonts" / "house-bold.ttf", "House Face", "Bold", 700)
    yield tmp_path
    fonts.reset_fallbacks()


def write_layout(directory: Path, extra: str = "", text: str | None = None) -> Path:
    path = directory / "layout.xml"
    path.write_text(text if text is not None else LAYOUT.format(extra=extra), encoding="utf-8")
    return path


def compose(layout, name="Zoë Ω"):
    xml = f"<r><name>{name}</name></r>"
    rec = Record("d.xml", 1, 0, 1, xml.encode(), etree.fromstring(xml), key="K1")
    return compose_document(layout, rec, job="j", job_date="2026-11-23").document


def test_a_layout_registers_fonts_next_to_it_and_prints_them_in_pdf_and_afp(house):
    layout = load_layout(write_layout(house))
    assert fonts.resolve("House Face") == "HouseFace-Regular"
    assert fonts.resolve("house face", bold=True) == "HouseFace-Bold"
    assert str(house / "fonts" / "house.ttf") in layout.files        # part of the run's fingerprint
    doc = compose(layout)
    runs = [(t.text, t.font) for t in doc.pages[0].items]
    # per character: A B C and the space from the house font, the rest from the layout's fallback
    assert runs == [("ABC ", "HouseFace-Regular"), ("Zoë Ω", "DejaVuSans"), ("CAB", "HouseFace-Bold")]
    assert doc.pages[0].items[1].x - doc.pages[0].items[0].x == round((3 * 600 + 250) * 240 / 1000)
    pdf = house / "out.pdf"
    r = PdfRenderer(PdfOptions())
    r.start_file(str(pdf), StreamInfo("j", "s", 1, "2026-11-23"))
    r.start_piece(None)
    r.start_document(doc.meta)
    for page in doc.pages:
        r.page(page)
    r.end_document(), r.end_piece(), r.end_file()
    fonts_listed = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "HouseFace-Regular" in fonts_listed and "HouseFace-Bold" in fonts_listed
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "ABC Zoë Ω" in text and "CAB" in text
    afp = house / "out.afp"
    a = AfpRenderer(AfpOptions(fonts=collect_fonts(doc.pages)))
    a.start_file(str(afp), StreamInfo("j", "s", 1, "2026-11-23"))
    a.start_piece(None)
    a.start_document(doc.meta)
    for page in doc.pages:
        a.page(page)
    a.end_document(), a.end_piece(), a.end_file()
    [page] = decode(afp)
    assert [r.text for r in page] == ["ABC ", "Zoë Ω", "CAB"]
    assert page[0].end_x == pytest.approx(page[1].x, abs=1)         # the carried font's own advances


@pytest.mark.parametrize("extra,needle,message", [
    (' italic="fonts/nowhere.ttf"', "font-face", "italic font file 'fonts/nowhere.ttf' not found"),
    (' italic="layout.xml"', "font-face", "italic file 'layout.xml' is not a usable font"),
    (' fallback="No Such Family 42"', "font-face", "fallback: font family 'No Such Family 42' is neither"),
])
def test_font_problems_are_reported_at_load_with_file_and_line(house, extra, needle, message):
    path = write_layout(house, extra)
    with pytest.raises(LayoutError) as info:
        load_layout(path)
    m = re.match(r"(.+):(\d+): (.*)", str(info.value), re.S)
    assert m and m.group(1) == str(path)
    assert int(m.group(2)) == next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)
    assert message in m.group(3)


def test_a_layout_without_fonts_gets_the_default_chain_back(house):
    load_layout(write_layout(house))
    assert fonts.fallbacks() == ("DejaVu Sans",)
    other = house / "plain"
    other.mkdir()
    load_layout(write_layout(other, text=LAYOUT.replace(LAYOUT[LAYOUT.index("  <fonts"):LAYOUT.index("  <fields")], "")
                             .replace('font="House Face" ', "").format(extra="")))
    assert fonts.fallbacks() == fonts.DEFAULT_FALLBACKS


JOB = """[job]
name = "j"
date = "2026-11-23"
[input]
path = "d.xml"
format = "xml"
record = "r"
[layout]
path = "layout.xml"
{fonts}
"""


def test_job_fonts_section_registers_faces_and_overrides_the_fallback_chain(house):
    from ccm_batch.job import load_job_layout
    write_layout(house)
    (house / "d.xml").write_text("<rs><r><name>x</name></r></rs>", encoding="utf-8")
    make_font(house / "jobfonts" / "other.ttf", "Job Face", "Regular", 500)
    job_path = house / "job.toml"
    job_path.write_text(JOB.format(fonts='[fonts]\nmissing_glyphs = "substitute"\nfallback = ["Liberation Serif"]\n'
                                         '[[fonts.face]]\nfamily = "Job Face"\nregular = "jobfonts/other.ttf"\n'
                                         'fallback = "DejaVu Sans"\n'), encoding="utf-8")
    job = load_job(job_path)
    assert job.missing_glyphs == "substitute" and job.font_fallback == ("Liberation Serif",)
    load_job_layout(job)
    assert fonts.resolve("Job Face") == "JobFace-Regular"
    assert fonts.fallbacks() == ("Liberation Serif",)                 # the job wins over the layout
    assert fonts.fallback_chain("JobFace-Regular") == ("DejaVuSans",)
    assert fonts.fallback_chain("HouseFace-Regular") == ("LiberationSerif",)


@pytest.mark.parametrize("section,message", [
    ('[fonts]\nmissing_glyphs = "drop"\n', 'missing_glyphs: "drop" is not allowed'),     # the job schema, with its line
    ('[[fonts.face]]\nfamily = "X"\nregular = "none.ttf"\n', "regular font file"),
    ('[fonts]\ncolour = 1\n', "unknown key"),
])
def test_job_fonts_section_errors(house, section, message):
    write_layout(house)
    (house / "d.xml").write_text("<rs/>", encoding="utf-8")
    job_path = house / "job.toml"
    job_path.write_text(JOB.format(fonts=section), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job_path)
    assert str(job_path) in str(info.value) and message in str(info.value)


def test_meta_is_untouched_by_fonts():
    assert DocumentMeta("d", "c", "t", "2026-11-23").address == ()
