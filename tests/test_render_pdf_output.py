"""Render stage tests (PDF backend): file structure, page sizes, facts, bookmarks, resources, determinism."""
from __future__ import annotations

import re

import pytest
from pypdf import PdfReader

from ccm_batch.errors import ConfigError, OutputError
from ccm_batch.pages import Box, Image, Page, Text, mm
from ccm_batch.render.base import StreamInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer, bookmark_title
from ccm_batch.render.pdfwriter import PAGES_PER_NODE, num, pdf_name, pdf_string
from test_render_pdf_support import (A4, LETTERHEAD, SANS, STREAM, make_images, meta, pdftotext,
                                     qpdf_check, raw_objects, render, sample_page, stream_data)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("img"))


def test_qpdf_check_and_facts(tmp_path, images):
    path = tmp_path / "out.pdf"
    blank = Page(A4[0], A4[1], (), side="back", blank=True)
    file_facts, facts = render(path, [
        (meta("D1", duplex=True), [sample_page(images, 1), blank]),
        (meta("D2"), [sample_page(images, 3)]),
        (meta("D3", duplex=True), [sample_page(images, 4), sample_page(images, 5),
                                   sample_page(images, 6)]),
    ])
    qpdf_check(path)
    assert [tuple(f) for f in facts] == [("D1", 1, 2, 1, 0, 0), ("D2", 3, 1, 1, 0, 0),
                                         ("D3", 4, 3, 2, 0, 0)]
    assert file_facts.path == str(path)
    assert (file_facts.pages, file_facts.documents) == (6, 3)
    assert file_facts.size == path.stat().st_size
    assert len(PdfReader(path).pages) == 6


def test_page_sizes_from_page_model(tmp_path):
    path = tmp_path / "sizes.pdf"
    letter = Page(12240, 15840, (Text(1440, 1440, SANS, 200, "Letter"),))
    landscape = Page(A4[1], A4[0], (Text(1440, 1440, SANS, 200, "Paysage"),))
    render(path, [(meta("D1"), [Page(A4[0], A4[1], ()), letter, landscape])])
    boxes = [tuple(float(v) for v in p.mediabox) for p in PdfReader(path).pages]
    assert boxes[0] == pytest.approx((0, 0, 595.3, 841.9), abs=0.01)     # 11906 x 16838 units
    assert boxes[1] == (0, 0, 612, 792)
    assert boxes[2] == pytest.approx((0, 0, 841.9, 595.3), abs=0.01)


def test_blank_page_is_empty(tmp_path, images):
    path = tmp_path / "blank.pdf"
    blank = Page(A4[0], A4[1], (), side="back", background=LETTERHEAD, blank=True)
    render(path, [(meta("D1", duplex=True), [sample_page(images), blank])])
    reader = PdfReader(path)
    assert "/Contents" in reader.pages[0]
    assert "/Contents" not in reader.pages[1]        # no background either
    assert reader.pages[1].extract_text() == ""


def test_bookmark_per_document(tmp_path, images):
    path = tmp_path / "bm.pdf"
    page = Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, "x"),))
    render(path, [(meta("F-001", "C042", "Zoé Hélène"), [page, page]),
                  (meta("F-002", "C043"), [page]),
                  (meta("F-003", "", ""), [page, page, page])])
    reader = PdfReader(path)
    outline = reader.outline
    assert [item.title for item in outline] == ["C042 Zoé Hélène / F-001", "C043 / F-002", "F-003"]
    assert [reader.get_destination_page_number(item) for item in outline] == [0, 2, 3]
    assert reader.trailer["/Root"]["/PageMode"] == "/UseOutlines"


def test_bookmarks_can_be_switched_off(tmp_path):
    path = tmp_path / "nobm.pdf"
    page = Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, "x"),))
    render(path, [(meta("D1"), [page])], PdfOptions(bookmarks=False))
    assert PdfReader(path).outline == []
    qpdf_check(path)


def test_bookmark_title_parts():
    assert bookmark_title(meta("D9", "C1", "Jean")) == "C1 Jean / D9"
    assert bookmark_title(meta("D9", "", "Jean")) == "Jean / D9"
    assert bookmark_title(meta("D9", "", "")) == "D9"


def test_image_stored_once_for_fifty_pages(tmp_path, images):
    path = tmp_path / "img.pdf"
    pages = [Page(A4[0], A4[1], (Image(mm(20), mm(20), mm(30), mm(30), images["jpeg"]),
                                 Image(mm(80), mm(20), mm(30), mm(15), images["png"]),
                                 Text(mm(20), mm(60), SANS, 200, f"page {i}")))
             for i in range(50)]
    render(path, [(meta(f"D{i}"), pages[i:i + 10]) for i in range(0, 50, 10)])
    qpdf_check(path)
    data = path.read_bytes()
    assert data.count(b"/Subtype/Image") == 2
    reader = PdfReader(path)
    refs = {(name, obj.idnum) for p in reader.pages
            for name, obj in p["/Resources"]["/XObject"].items() if name.startswith("/Im")}
    assert len(refs) == 2
    for page in reader.pages[::7]:
        content = page.get_contents().get_data()
        assert content.count(b"/Im1 Do") == 1 and content.count(b"/Im2 Do") == 1


def test_jpeg_passed_through_png_flate(tmp_path, images):
    path = tmp_path / "img.pdf"
    page = Page(A4[0], A4[1], (Image(0, 0, 1440, 1440, images["jpeg"]),
                               Image(0, 2000, 1440, 720, images["png"])))
    render(path, [(meta("D1"), [page])])
    objects = [body for body in raw_objects(path).values() if b"/Subtype/Image" in body]
    jpeg = next(b for b in objects if b"/DCTDecode" in b)
    with open(images["jpeg"], "rb") as handle:
        assert stream_data(jpeg) == handle.read()
    png = next(b for b in objects if b"/FlateDecode" in b)
    assert b"/Width 40/Height 20/ColorSpace/DeviceRGB" in png
    assert stream_data(png) == bytes((0, 160, 0)) * 800


def test_alpha_png_gets_soft_mask(tmp_path, images):
    path = tmp_path / "alpha.pdf"
    render(path, [(meta("D1"), [Page(A4[0], A4[1], (Image(0, 0, 1600, 800, images["alpha"]),))])])
    objects = raw_objects(path)
    image = next(b for b in objects.values() if b"/SMask" in b)
    mask = objects[int(re.search(rb"/SMask (\d+) 0 R", image).group(1))]
    alpha = stream_data(mask)
    assert len(alpha) == 80 * 40 and alpha[0] == 0 and alpha[20 * 80 + 40] == 255


def test_background_form_stored_once(tmp_path, images):
    path = tmp_path / "form.pdf"
    pages = [sample_page(images, i) for i in range(30)]
    render(path, [(meta("D1"), pages[:15]), (meta("D2"), pages[15:])])
    qpdf_check(path)
    data = path.read_bytes()
    assert data.count(b"/Subtype/Form") == 1
    reader = PdfReader(path)
    for page in reader.pages:
        assert page.get_contents().get_data().count(b"/Fm1 Do") == 1
    assert "Énergie Dupont SA" in pdftotext(path, "-f", "30", "-l", "30")
    form = next(b for b in raw_objects(path).values() if b"/Subtype/Form" in b)
    assert b"/BBox[0 0 11906 16838]" in form
    assert b"re f" in stream_data(form)


def test_identical_bytes_twice(tmp_path, images):
    docs = [(meta(f"D{i}", name="Noël"), [sample_page(images, i), sample_page(images, i + 1)])
            for i in range(5)]
    first, second = tmp_path / "a" / "x.pdf", tmp_path / "b" / "x.pdf"
    first.parent.mkdir()
    second.parent.mkdir()
    render(first, docs)
    render(second, docs)
    assert first.read_bytes() == second.read_bytes()
    trailer = first.read_bytes()[-300:]
    assert re.search(rb"/ID\[<[0-9A-F]{32}><[0-9A-F]{32}>\]", trailer)


def test_different_content_different_id(tmp_path):
    ids = []
    for word in ("un", "deux"):
        path = tmp_path / f"{word}.pdf"
        render(path, [(meta("D1"), [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, word),))])])
        ids.append(re.search(rb"/ID\[<([0-9A-F]{32})>", path.read_bytes()).group(1))
    assert ids[0] != ids[1]


def test_info_dictionary(tmp_path):
    path = tmp_path / "info.pdf"
    render(path, [(meta("D1"), [Page(A4[0], A4[1], ())])],
           PdfOptions(title="Relevés de compte", author="Banque Exemple", creation_date="2025-03-04"))
    info = PdfReader(path).metadata
    assert info["/Title"] == "Relevés de compte"
    assert info["/Author"] == "Banque Exemple"
    assert info["/CreationDate"] == "D:20250304000000+00'00'"
    assert info["/Producer"].startswith("ccm-batch")


def test_title_and_date_default_from_stream(tmp_path):
    path = tmp_path / "info.pdf"
    stream = StreamInfo(job="J", stream="S", seq=2, title="", job_date="2024-12-31")
    render(path, [(meta("D1"), [Page(A4[0], A4[1], ())])], PdfOptions(), stream=stream)
    info = PdfReader(path).metadata
    assert info["/Title"] == "J S 2"
    assert info["/CreationDate"] == "D:20241231000000+00'00'"


def test_page_tree_is_balanced_for_many_pages(tmp_path):
    path = tmp_path / "tree.pdf"
    count = PAGES_PER_NODE * 2 + 5
    pages = [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, f"p{i}"),)) for i in range(count)]
    render(path, [(meta("D1"), pages)])
    qpdf_check(path)
    reader = PdfReader(path)
    root = reader.trailer["/Root"]["/Pages"]
    assert root["/Count"] == count
    assert [kid.get_object()["/Count"] for kid in root["/Kids"]] == [PAGES_PER_NODE,
                                                                       PAGES_PER_NODE, 5]
    assert reader.pages[count - 1].extract_text() == f"p{count - 1}"


def test_uncompressed_option(tmp_path):
    path = tmp_path / "raw.pdf"
    render(path, [(meta("D1"), [Page(A4[0], A4[1], (Box(100, 100, 200, 300, fill=(255, 0, 0)),))])],
           PdfOptions(compress=False))
    assert b"100 100 200 300 re B" in path.read_bytes()
    qpdf_check(path)


def test_box_fill_and_stroke_operators(tmp_path):
    path = tmp_path / "box.pdf"
    items = (Box(10, 20, 30, 40, fill=(255, 0, 0), stroke=None),
             Box(11, 21, 31, 41, fill=None, stroke=(0, 0, 255), stroke_width=10),
             Box(12, 22, 32, 42, fill=(0, 255, 0), stroke=(0, 0, 255), stroke_width=10),
             Box(13, 23, 33, 43, fill=None, stroke=None))
    render(path, [(meta("D1"), [Page(A4[0], A4[1], items)])], PdfOptions(compress=False))
    content = PdfReader(path).pages[0].get_contents().get_data().decode()
    assert "1 0 0 rg\n10 20 30 40 re f\n" in content
    assert "0 0 1 RG\n10 w\n11 21 31 41 re S\n" in content
    assert "0 1 0 rg\n12 22 32 42 re B\n" in content         # stroke state not repeated
    assert "13 23 33 43" not in content


def test_missing_image_is_a_config_error(tmp_path):
    renderer = PdfRenderer()
    renderer.start_file(str(tmp_path / "x.pdf"), STREAM)
    renderer.start_document(meta("D1"))
    with pytest.raises(ConfigError, match="image resource not found"):
        renderer.page(Page(A4[0], A4[1], (Image(0, 0, 10, 10, str(tmp_path / "nope.png")),)))
    renderer.abort()


def test_unknown_font_is_a_config_error(tmp_path):
    renderer = PdfRenderer()
    renderer.start_file(str(tmp_path / "x.pdf"), STREAM)
    renderer.start_document(meta("D1"))
    with pytest.raises(ConfigError, match="NoSuchFont"):
        renderer.page(Page(A4[0], A4[1], (Text(0, 0, "NoSuchFont", 200, "x"),)))
    renderer.abort()


def test_unwritable_path_is_an_output_error(tmp_path):
    with pytest.raises(OutputError):
        PdfRenderer().start_file(str(tmp_path / "missing-dir" / "x.pdf"), STREAM)


def test_writer_helpers():
    assert num(12) == "12" and num(12.0) == "12" and num(0.05) == "0.05" and num(1 / 3) == "0.333"
    assert num(-0.0001) == "0"
    assert pdf_string("a(b)\\") == b"(a\\(b\\)\\\\)"
    assert pdf_string("é") == b"<FEFF00E9>"
    assert pdf_name("F 1/#") == b"/F#201#2F#23"


def test_rule_centred_on_axis(tmp_path):
    from ccm_batch.pages import Rule
    path = tmp_path / "rule.pdf"
    items = (Rule(100, 200, 300, 20), Rule(100, 200, 300, 15, "v"))
    render(path, [(meta("D1"), [Page(A4[0], A4[1], items)])], PdfOptions(compress=False))
    content = PdfReader(path).pages[0].get_contents().get_data().decode()
    assert "100 190 300 20 re f\n" in content
    assert "92.5 200 15 300 re f\n" in content


def test_changed_image_file_is_read_again(tmp_path):
    """Encoded images are cached per process, keyed by path, modification time and size."""
    from PIL import Image as PILImage
    picture = tmp_path / "pic.png"
    colours = []
    for n, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        PILImage.new("RGB", (4 + n, 4), colour).save(picture)
        path = tmp_path / f"pic{n}.pdf"
        render(path, [(meta("D1"), [Page(A4[0], A4[1], (Image(0, 0, 100, 100, str(picture)),))])])
        body = next(b for b in raw_objects(path).values() if b"/Subtype/Image" in b)
        colours.append(stream_data(body)[:3])
    assert colours == [bytes((255, 0, 0)), bytes((0, 0, 255))]
