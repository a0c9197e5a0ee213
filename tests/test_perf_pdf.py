"""Render stage (PDF backend): the speed-ups change no byte — cache sizes, the inline Box path, PDF/A."""
from __future__ import annotations

import subprocess

import pytest

from ccm_batch.pages import Box, DocumentMeta, Page, Rule, Text
from ccm_batch.render import pdf as pdf_module
from ccm_batch.render import pdffont
from ccm_batch.render.base import PieceInfo, StreamInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer

A4 = (11906, 16838)
STREAM = StreamInfo(job="J", stream="S", seq=1, job_date="2026-11-23")


def _pages(count: int) -> list[Page]:
    """Pages whose texts are mostly distinct (amounts, names), some repeated (labels), some kerned
    or justified, with characters outside Latin-1 and boxes in every stroke/fill combination."""
    pages = []
    for n in range(count):
        items = [Text(1000, 1000, "LiberationSans-Bold", 200, "Facture — récapitulatif"),
                 Text(1000, 1400, "LiberationSans", 180, f"Client n° {n:05d} Œuvre “{n % 7}”"),
                 Box(900, 1500, 5000, 400, fill=(240, 240, 240), stroke=None),
                 Box(900, 2000, 5000, 400, fill=None, stroke=(0, 0, 255), stroke_width=10),
                 Box(900, 2500, 5000, 400, fill=(255, 255, 0), stroke=(0, 0, 0)),
                 Box(900, 3000, 5000, 400, fill=None, stroke=None),
                 Rule(900, 3500, 5000, 10)]
        for row in range(12):
            y = 4000 + 300 * row
            items.append(Text(1000, y, "LiberationSans", 180, f"Ligne {row} article {n * 13 + row}"))
            items.append(Text(8000, y, "LiberationSans", 180, f"{(n * 17 + row) / 100:.2f} €",
                              kerns=((1, -12),) if row % 3 == 0 else ()))
            items.append(Text(1000, y + 150, "LiberationSerif-Italic", 160, "a b c détail",
                              (200, 0, 0), word_space=30 * (row % 2)))
        pages.append(Page(A4[0], A4[1], tuple(items)))
    return pages


def _render(path, pages, **options) -> bytes:
    renderer = PdfRenderer(PdfOptions(creation_date="2026-11-23", **options))
    renderer.start_file(str(path), STREAM)
    for i in range(0, len(pages), 2):
        renderer.start_piece(PieceInfo(f"P{i}", i + 1))
        renderer.start_document(DocumentMeta(f"D{i}", f"C{i}", "invoice", "2026-11-23"))
        for page in pages[i:i + 2]:
            renderer.page(page)
        renderer.end_document()
        renderer.end_piece()
    renderer.end_file()
    return path.read_bytes()


@pytest.mark.parametrize("pdfa", [False, True])
def test_output_does_not_depend_on_the_text_cache_size(tmp_path, monkeypatch, pdfa):
    pages = _pages(120)
    big = _render(tmp_path / "big.pdf", pages, pdfa=pdfa, compress=False)
    monkeypatch.setattr(pdffont, "TEXT_CACHE_LIMIT", 5)       # rotates every few strings
    monkeypatch.setattr(pdf_module, "TEXT_CACHE_LIMIT", 5)
    small = _render(tmp_path / "small.pdf", pages, pdfa=pdfa, compress=False)
    assert small == big
    assert small.count(b"/Type/Page/") == 120


def test_cache_rotation_keeps_every_character_for_text_extraction(tmp_path, monkeypatch):
    monkeypatch.setattr(pdffont, "TEXT_CACHE_LIMIT", 3)
    monkeypatch.setattr(pdf_module, "TEXT_CACHE_LIMIT", 3)
    path = tmp_path / "rot.pdf"
    _render(path, _pages(30))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    for n in (0, 17, 29):
        assert f"Client n° {n:05d} Œuvre “{n % 7}”" in text
        assert f"{(n * 17 + 11) / 100:.2f} €" in text
    assert text.count("Facture — récapitulatif") == 30


def test_encode_matches_the_font_cmap():
    face = pdffont.load_face("LiberationSans")
    resource = pdffont.FontResource(face, "F1", 5)
    for text in ("Hélène", "12,50 €", "œ“”—", "?", "a?€", "", "\u4e2d"):
        expected = "".join("%04x" % face.cmap.get(ord(c), 0) for c in text)
        assert resource.encode(text) == expected
        assert resource.encode(text) == expected                 # second time from a cache
    assert {"€", "œ", "“", "”", "—", "H", "é", "?"} <= resource.used_chars()


def test_inline_box_path_writes_the_same_operators(tmp_path):
    page = Page(A4[0], A4[1], (
        Box(10, 20, 30, 40, fill=(255, 0, 0), stroke=None),
        Box(11, 21, 31, 41, fill=None, stroke=(0, 0, 255), stroke_width=5),
        Box(12, 22, 32, 42, fill=(0, 255, 0), stroke=(0, 0, 255), stroke_width=5),
        Box(13, 23, 33, 43, fill=None, stroke=None),
        Text(100, 200, "LiberationSans", 200, "x"),
        Box(14, 24, 34, 44),
    ))
    data = _render(tmp_path / "box.pdf", [page], compress=False)
    content = data[data.index(b"0.05 0 0 -0.05 0"):]
    content = content[:content.index(b"endstream")]
    assert content.decode("ascii").strip().split("\n")[1:] == [
        "1 0 0 rg", "10 20 30 40 re f",
        "0 0 1 RG", "5 w", "11 21 31 41 re S",
        "0 1 0 rg", "12 22 32 42 re B",
        "BT", "/F1 200 Tf", "0 0 0 rg", "1 0 0 -1 100 200 Tm<005b>Tj", "ET",
        "0 0 0 RG", "20 w", "14 24 34 44 re S",
    ]


def test_cached_dates_keep_each_moments_own_offset():
    """Dates are formatted once per process; two aware datetimes of one instant compare equal, so the
    cache must not hand the first one's string to the other."""
    import datetime as dt

    from ccm_batch.render.pdfresources import pdf_date, xmp_date
    paris = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    utc = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.timezone.utc)
    assert paris == utc
    assert (pdf_date(paris), pdf_date(utc)) == ("D:20261123120000+01'00'", "D:20261123110000+00'00'")
    assert (xmp_date(utc), xmp_date(paris)) == ("2026-11-23T11:00:00+00:00", "2026-11-23T12:00:00+01:00")
    newfoundland = dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30)))
    assert pdf_date(newfoundland) == "D:20261123073000-03'30'"
