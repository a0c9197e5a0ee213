"""Render stage test support (PDF backend): sample pages, a render helper, PDF inspection helpers.

Imported by the ``test_render_pdf_*`` modules; holds no tests itself.
"""
from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path

from PIL import Image as PILImage, ImageDraw

from ccm_batch.pages import (Barcode, Box, DocumentMeta, Form, Image, Marks, Page, Rule, Text, mm,
                             pt)
from ccm_batch.render.base import PieceInfo, StreamInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer

A4 = (mm(210), mm(297))
SANS = "LiberationSans"
SANS_BOLD = "LiberationSans-Bold"
SERIF_ITALIC = "LiberationSerif-Italic"
STREAM = StreamInfo(job="JOB1", stream="PRINT", seq=1, title="Factures", job_date="2025-01-31")
PHOTO_RGB = (30, 120, 200)


def make_images(directory: Path) -> dict[str, str]:
    """A JPEG (flat blue), an RGB PNG (flat green) and a PNG with alpha (red disc), by name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"jpeg": directory / "photo.jpg", "png": directory / "green.png",
             "alpha": directory / "logo.png"}
    PILImage.new("RGB", (64, 64), PHOTO_RGB).save(paths["jpeg"], quality=95)
    PILImage.new("RGB", (40, 20), (0, 160, 0)).save(paths["png"])
    logo = PILImage.new("RGBA", (80, 40), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((0, 0, 79, 39), fill=(200, 30, 30, 255))
    logo.save(paths["alpha"])
    return {name: str(path) for name, path in paths.items()}


LETTERHEAD = Form("letterhead", (
    Box(mm(10), mm(10), mm(190), mm(20), fill=(230, 230, 240), stroke=None),
    Text(mm(15), mm(22), SANS_BOLD, pt(14), "Énergie Dupont SA"),
))


def sample_page(images: dict[str, str], number: int = 1) -> Page:
    """A page with one item of every kind, at known positions."""
    items = (
        Text(mm(100), mm(50), SANS, pt(10), "M. François LEFÈVRE"),
        Text(mm(100), mm(55), SERIF_ITALIC, pt(10), "12 rue de l’Église « œuvre » 123,45 €",
             color=(200, 0, 0)),
        Rule(mm(20), mm(120), mm(170), pt(1)),
        Rule(mm(20), mm(125), mm(30), pt(2), "v", (0, 128, 0)),
        Box(mm(20), mm(160), mm(50), mm(20), fill=(255, 255, 0), stroke=(0, 0, 255),
            stroke_width=pt(2)),
        Image(mm(150), mm(160), mm(20), mm(20), images["jpeg"]),
        Marks(mm(5), mm(200), mm(10), pt(1), mm(4), (True, False, True, True)),
        Barcode(mm(20), mm(220), mm(25), mm(25), "qr", "https://example.org/f/0001", mm(1)),
        Text(mm(20), mm(280), SANS, pt(8), f"Page {number}"),
    )
    return Page(A4[0], A4[1], items, background=LETTERHEAD)


def meta(doc_id: str, customer: str = "C001", name: str = "", duplex: bool = False,
         language: str = "fr") -> DocumentMeta:
    return DocumentMeta(doc_id=doc_id, customer_id=customer, doc_type="INVOICE", date="2025-01-31",
                        recipient_name=name, duplex=duplex, language=language)


def render(path: Path, documents, options: PdfOptions | None = None, stream: StreamInfo = STREAM):
    """Render ``documents`` (a list of ``(DocumentMeta, [Page, ...])``), one piece each.

    Returns ``(FileFacts, [DocumentFacts, ...])``.
    """
    renderer = PdfRenderer(options or PdfOptions(creation_date="2025-01-31"))
    renderer.start_file(str(path), stream)
    facts = []
    for seq, (doc_meta, pages) in enumerate(documents, 1):
        renderer.start_piece(PieceInfo(piece_id=f"P{seq}", seq=seq, doc_ids=(doc_meta.doc_id,)))
        renderer.start_document(doc_meta)
        for page in pages:
            renderer.page(page)
        facts.append(renderer.end_document())
        renderer.end_piece()
    return renderer.end_file(), facts


def qpdf_check(path: Path) -> str:
    """``qpdf --check`` output; fails the test if qpdf reports a problem."""
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors" in result.stdout
    return result.stdout


def pdftotext(path: Path, *args: str) -> str:
    result = subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def word_boxes(path: Path, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """``(word, xMin, yMin, xMax, yMax)`` in points from the top-left, from ``pdftotext -bbox``."""
    html = pdftotext(path, "-bbox", "-f", str(page), "-l", str(page))
    return [(m.group(5), float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)))
            for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                                 r'yMax="([\d.]+)">([^<]*)</word>', html)]


def raw_objects(path: Path) -> dict[int, bytes]:
    """Every ``n 0 obj … endobj`` of an uncompressed-structure PDF, by object number."""
    data = path.read_bytes()
    return {int(m.group(1)): m.group(2)
            for m in re.finditer(rb"(?m)^(\d+) 0 obj\n(.*?)\nendobj\n", data, re.S)}


def stream_data(body: bytes) -> bytes:
    """The decoded data of a stream object body (Flate or none)."""
    head, _, rest = body.partition(b"stream\n")
    data = rest[:rest.rindex(b"\nendstream")]
    return zlib.decompress(data) if b"/FlateDecode" in head else data


def render_png(path: Path, out_prefix: Path, dpi: int = 72, page: int = 1) -> PILImage.Image:
    """Page ``page`` rasterised by pdftoppm, as an RGB Pillow image."""
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-f", str(page), "-l", str(page),
                    "-singlefile", str(path), str(out_prefix)], check=True)
    return PILImage.open(f"{out_prefix}.png").convert("RGB")
