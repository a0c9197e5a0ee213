"""Render stage tests (PDF backend): the sample page rasterised by pdftoppm, pixels where items are.

At 72 dpi one pixel is one point, so page units / 20 give pixel coordinates from the top-left.
"""
from __future__ import annotations

import pytest

from ccm_batch.barcodes import rectangles
from ccm_batch.pages import Barcode, mm
from test_render_pdf_support import PHOTO_RGB, make_images, meta, render, render_png, sample_page


@pytest.fixture(scope="module")
def raster(tmp_path_factory):
    directory = tmp_path_factory.mktemp("raster")
    images = make_images(directory / "img")
    path = directory / "sample.pdf"
    render(path, [(meta("D1"), [sample_page(images)])])
    return render_png(path, directory / "sample", dpi=72)


def px(image, x_units, y_units):
    return image.getpixel((int(x_units / 20), int(y_units / 20)))


def close(actual, expected, tolerance=12):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected))


def test_page_size_in_pixels(raster):
    assert raster.size == (595, 841) or raster.size == (596, 842)


def test_box_fill_and_stroke(raster):
    assert close(px(raster, mm(45), mm(170)), (255, 255, 0))           # inside the yellow box
    assert close(px(raster, mm(20), mm(170)), (0, 0, 255), 60)          # its blue left edge
    assert close(px(raster, mm(80), mm(170)), (255, 255, 255))          # outside


def test_rules(raster):
    assert close(darkest(raster, mm(100), mm(120)), (0, 0, 0), 60)      # horizontal, 1 pt black
    assert close(px(raster, mm(100), mm(125)), (255, 255, 255))
    assert close(px(raster, mm(20), mm(140)), (0, 128, 0), 40)          # vertical, 2 pt green


def test_image_placed_in_its_box(raster):
    assert close(px(raster, mm(160), mm(170)), PHOTO_RGB, 10)
    assert close(px(raster, mm(148), mm(170)), (255, 255, 255))
    assert close(px(raster, mm(160), mm(182)), (255, 255, 255))


def test_background_form_drawn(raster):
    assert close(px(raster, mm(150), mm(20)), (230, 230, 240), 4)


def darkest(image, x_units, y_units):
    """The darkest of the three pixels around a 1 pt line (anti-aliasing may split it)."""
    x, y = int(x_units / 20), int(y_units / 20)
    return min((image.getpixel((x, y + d)) for d in (-1, 0, 1)), key=sum)


def test_omr_marks(raster):
    x = mm(10)
    assert close(darkest(raster, x, mm(200)), (0, 0, 0), 60)
    assert close(darkest(raster, x, mm(204)), (255, 255, 255))          # bit 1 is 0
    assert close(darkest(raster, x, mm(208)), (0, 0, 0), 60)
    assert close(darkest(raster, x, mm(212)), (0, 0, 0), 60)


def test_barcode_modules(raster):
    symbol = Barcode(mm(20), mm(220), mm(25), mm(25), "qr", "https://example.org/f/0001", mm(1))
    rects = rectangles(symbol)
    x0, y0, w0, h0 = rects[0]                                 # top-left finder pattern row
    assert close(px(raster, x0 + w0 // 2, y0 + h0 // 2), (0, 0, 0), 60)
    right = max(x + w for x, y, w, h in rects)
    bottom = max(y + h for x, y, w, h in rects)
    dark = total = 0
    for gx in range(int(x0 / 20) + 1, int(right / 20) - 1):
        for gy in range(int(y0 / 20) + 1, int(bottom / 20) - 1):
            total += 1
            dark += sum(raster.getpixel((gx, gy))) < 384
    assert 0.3 < dark / total < 0.7
    # the finder pattern's white ring, one module in from the corner
    assert close(px(raster, x0 + mm(1) * 1.5, y0 + mm(1) * 1.5), (255, 255, 255), 60)


def test_red_text_drawn_in_red(raster):
    reds = [raster.getpixel((x, y)) for x in range(int(mm(100) / 20), int(mm(170) / 20))
            for y in range(int(mm(52) / 20), int(mm(56) / 20))]
    assert sum(1 for r, g, b in reds if r > 150 and g < 90 and b < 90) > 30
