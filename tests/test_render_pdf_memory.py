"""Render stage tests (PDF backend): memory stays flat with the page count (streaming writer).

Peak traced memory (tracemalloc) while rendering 1,000 and 20,000 pages must differ by no more
than the xref offsets (8 bytes per object, two objects per page) plus a small margin. The pages
carry enough distinct text that the bounded per-font caches are full at 1,000 pages already.
"""
from __future__ import annotations

import tracemalloc

from ccm_batch.pages import Box, Image, Page, Rule, Text, mm, pt
from ccm_batch.render.base import PieceInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer
from test_render_pdf_support import A4, LETTERHEAD, SANS, SANS_BOLD, STREAM, make_images, meta


def pages_of(doc: int, images) -> list[Page]:
    """Two pages of a small invoice, with texts that differ from document to document."""
    items = [Text(mm(100), mm(50), SANS_BOLD, pt(10), f"Client n° {doc:07d}"),
             Text(mm(100), mm(55), SANS_BOLD, pt(10), f"M. Jean DUPONT {doc}"),
             Text(mm(100), mm(60), SANS_BOLD, pt(10), f"{doc % 97} rue de l’Église"),
             Text(mm(100), mm(65), SANS_BOLD, pt(10), f"{75000 + doc % 999} PARIS"),
             Image(mm(160), mm(12), mm(30), mm(15), images["png"])]
    for row in range(8):
        items.append(Text(mm(20), mm(100 + 6 * row), SANS, pt(9), f"Ligne {row} — {doc * 7 + row}"))
        items.append(Text(mm(160), mm(100 + 6 * row), SANS, pt(9), f"{(doc * 13 + row) / 100:.2f} €"))
    items += [Rule(mm(20), mm(160), mm(170), pt(0.5)),
              Box(mm(120), mm(165), mm(70), mm(10), fill=(240, 240, 240), stroke=None)]
    front = Page(A4[0], A4[1], tuple(items), background=LETTERHEAD)
    back = Page(A4[0], A4[1], (Text(mm(20), mm(280), SANS, pt(8), f"Verso {doc}"),), side="back")
    return [front, back]


def render_pages(path, count: int, images) -> int:
    renderer = PdfRenderer(PdfOptions(creation_date="2025-01-31"))
    renderer.start_file(str(path), STREAM)
    for doc in range(count // 2):
        renderer.start_piece(PieceInfo(f"P{doc}", doc + 1))
        renderer.start_document(meta(f"D{doc:07d}", f"C{doc:07d}", duplex=True))
        for page in pages_of(doc, images):
            renderer.page(page)
        renderer.end_document()
        renderer.end_piece()
    return renderer.end_file().pages


def peak(path, count: int, images) -> int:
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    assert render_pages(path, count, images) == count
    return tracemalloc.get_traced_memory()[1] - before


def test_memory_flat_from_1000_to_20000_pages(tmp_path):
    images = make_images(tmp_path / "img")
    render_pages(tmp_path / "warm.pdf", 10, images)        # fonts and caches loaded once per process
    tracemalloc.start()
    try:
        small = peak(tmp_path / "small.pdf", 1_000, images)
        large = peak(tmp_path / "large.pdf", 20_000, images)
    finally:
        tracemalloc.stop()
    xref = 19_000 * 2 * 8 * 1.15                            # offsets of the extra objects (+ slack)
    assert large - small < xref + 256 * 1024, (small, large)
    assert (tmp_path / "large.pdf").stat().st_size > 15 * (tmp_path / "small.pdf").stat().st_size
