"""Same content in both formats: the AFP and PDF of one job carry the same pages, the same text at the same
places (within 1/100 inch), page by page."""
from __future__ import annotations

import pytest

from ccm_batch.afp.inspect import page_texts
from runjobs import make_extract, run_cli, write_job
from twins import pdf_glyphs, run_found

TOLERANCE = 1440 / 100      # 1/100 inch in page units


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    d = tmp_path_factory.mktemp("twins")
    data = make_extract(d / "invoices.xml", 12)
    job = write_job(d, data)
    proc = run_cli("run", job)
    assert proc.returncode == 0, proc.stderr
    return d / "out" / "inv_main_001.pdf", d / "out" / "inv_main_001.afp"


def test_afp_and_pdf_have_the_same_pages_and_text_at_the_same_places(twins):
    pdf, afp = twins
    pdf_pages = pdf_glyphs(pdf)
    afp_pages = list(page_texts(afp))
    assert len(afp_pages) == len(pdf_pages) > 12
    checked = 0
    for number, (afp_page, glyphs) in enumerate(zip(afp_pages, pdf_pages), 1):
        assert afp_page.runs, f"page {number}: no text in the AFP"
        for run in afp_page.runs:
            assert run_found(run, glyphs, TOLERANCE), \
                f"page {number}: AFP run {run.text!r} at ({run.x}, {run.y}) is not in the PDF at that place"
            checked += 1
        afp_chars = sum(len("".join(r.text.split())) for r in afp_page.runs)
        pdf_chars = sum(1 for c, _, _ in glyphs if c.strip())
        # the PDF also holds the page background (an AFP overlay): never fewer glyphs than the AFP page
        assert pdf_chars >= afp_chars
    assert checked > 300


def test_a_moved_run_would_be_detected(twins):
    pdf, afp = twins
    glyphs = pdf_glyphs(pdf)[0]
    run = list(page_texts(afp))[0].runs[0]
    assert run_found(run, glyphs, TOLERANCE)
    assert not run_found(run._replace(x=run.x + 30), glyphs, TOLERANCE)
    assert not run_found(run._replace(y=run.y + 30), glyphs, TOLERANCE)
