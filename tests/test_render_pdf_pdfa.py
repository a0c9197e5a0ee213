"""Render stage tests (PDF backend): PDF/A-2b structure (veraPDF is not available here).

Checks what ISO 19005-2 asks of a 2b file that can be seen structurally: header, /ID, XMP packet
(unfiltered, pdfaid part 2 / conformance B, consistent with the Info dictionary), sRGB output
intent with an embedded ICC profile, /Lang, every font embedded, no transparency.
"""
from __future__ import annotations

import re
import subprocess

import pytest
from lxml import etree
from pypdf import PdfReader

from ccm_batch.pages import Image, Page, Text
from ccm_batch.render.pdf import PdfOptions
from ccm_batch.render.pdfresources import parse_date, pdf_date, srgb_icc_profile, xmp_date
from test_render_pdf_support import (A4, SANS, make_images, meta, qpdf_check, raw_objects, render,
                                     sample_page, stream_data)

NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "dc": "http://purl.org/dc/elements/1.1/",
      "xmp": "http://ns.adobe.com/xap/1.0/", "pdf": "http://ns.adobe.com/pdf/1.3/"}


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """One archived document in PDF/A mode, with an alpha image on its second page."""
    directory = tmp_path_factory.mktemp("pdfa")
    images = make_images(directory / "img")
    path = directory / "doc.pdf"
    second = Page(A4[0], A4[1], (Image(0, 0, 1600, 800, images["alpha"]),
                                 Text(1000, 3000, SANS, 200, "Relevé n° 2 — 45,00 €")))
    render(path, [(meta("F-0001", "C042", "Zoé", language="fr"), [sample_page(images), second])],
           PdfOptions(pdfa=True, title="INVOICE F-0001", author="ccm-batch",
                      creation_date="2025-01-31T10:20:30"))
    return path


def test_structure_checks(archived):
    qpdf_check(archived)
    data = archived.read_bytes()
    assert data.startswith(b"%PDF-1.7\n%")
    assert all(b > 127 for b in data[10:14])                       # binary comment line
    assert re.search(rb"trailer\n<<.*/ID\[<[0-9A-F]{32}><[0-9A-F]{32}>\]", data)
    assert data.endswith(b"%%EOF\n")
    assert b"/Encrypt" not in data


def test_xmp_declares_pdfa_2b_and_matches_info(archived):
    reader = PdfReader(archived)
    root = reader.trailer["/Root"]
    metadata = root["/Metadata"].get_object()
    assert metadata["/Type"] == "/Metadata" and metadata["/Subtype"] == "/XML"
    assert "/Filter" not in metadata                              # PDF/A: unfiltered
    packet = metadata.get_data()
    assert packet.startswith(b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert packet.rstrip().endswith(b'<?xpacket end="w"?>')
    xmp = etree.fromstring(packet[packet.index(b"<x:xmpmeta"):packet.rindex(b"<?xpacket")])
    assert xmp.findtext(".//pdfaid:part", namespaces=NS) == "2"
    assert xmp.findtext(".//pdfaid:conformance", namespaces=NS) == "B"
    info = reader.metadata
    assert xmp.findtext(".//dc:title/rdf:Alt/rdf:li", namespaces=NS) == info["/Title"] == "INVOICE F-0001"
    assert xmp.findtext(".//dc:creator/rdf:Seq/rdf:li", namespaces=NS) == info["/Author"]
    assert xmp.findtext(".//pdf:Producer", namespaces=NS) == info["/Producer"]
    assert xmp.findtext(".//xmp:CreatorTool", namespaces=NS) == info["/Creator"]
    assert xmp.findtext(".//xmp:CreateDate", namespaces=NS) == "2025-01-31T10:20:30+00:00"
    assert info["/CreationDate"] == "D:20250131102030+00'00'" == info["/ModDate"]
    assert xmp.findtext(".//xmp:ModifyDate", namespaces=NS) == "2025-01-31T10:20:30+00:00"


def test_srgb_output_intent_with_icc_profile(archived):
    root = PdfReader(archived).trailer["/Root"]
    intents = root["/OutputIntents"]
    assert len(intents) == 1
    intent = intents[0].get_object()
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"
    profile = intent["/DestOutputProfile"].get_object()
    assert profile["/N"] == 3
    icc = profile.get_data()
    assert icc == srgb_icc_profile()
    assert int.from_bytes(icc[:4], "big") == len(icc)
    assert icc[36:40] == b"acsp" and icc[12:20] == b"mntrRGB "
    assert root["/Lang"] == "fr"


def test_icc_profile_is_deterministic():
    srgb_icc_profile.cache_clear()
    first = srgb_icc_profile()
    srgb_icc_profile.cache_clear()
    assert srgb_icc_profile() == first
    assert first[24:36] == bytes.fromhex("07d0 0001 0001 0000 0000 0000".replace(" ", ""))


def test_fonts_embedded_and_no_transparency(archived):
    listing = subprocess.run(["pdffonts", str(archived)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    assert listing and all(" yes yes yes " in row for row in listing)
    objects = raw_objects(archived)
    assert not any(b"/SMask" in body for body in objects.values())
    assert not any(re.search(rb"/(CA|ca) ", body) for body in objects.values())
    assert not any(b"/Interpolate true" in body for body in objects.values())
    alpha_image = next(b for b in objects.values() if b"/Width 80/Height 40" in b)
    samples = stream_data(alpha_image)
    assert samples[:3] == b"\xff\xff\xff"                       # transparent corner → white
    centre = (20 * 80 + 40) * 3
    assert samples[centre:centre + 3] == bytes((200, 30, 30))


def test_no_notdef_shown_in_pdfa(tmp_path):
    path = tmp_path / "notdef.pdf"
    render(path, [(meta("D1"), [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, "a\u4e2db"),))])],
           PdfOptions(pdfa=True))
    content = PdfReader(path).pages[0].get_contents().get_data()
    hexes = re.findall(rb"<([0-9a-f]+)>Tj", content)
    assert hexes and all(b"0000" not in [h[i:i + 4] for i in range(0, len(h), 4)] for h in hexes)


def test_language_defaults_to_first_document(tmp_path):
    path = tmp_path / "de.pdf"
    render(path, [(meta("D1", language="de"), [Page(A4[0], A4[1], ())]),
                  (meta("D2", language="fr"), [Page(A4[0], A4[1], ())])], PdfOptions(pdfa=True))
    assert PdfReader(path).trailer["/Root"]["/Lang"] == "de"


def test_pdfa_bytes_are_deterministic(tmp_path):
    images = make_images(tmp_path / "img")
    paths = [tmp_path / "one.pdf", tmp_path / "two.pdf"]
    for path in paths:
        render(path, [(meta("D1"), [sample_page(images)])],
               PdfOptions(pdfa=True, title="T", creation_date="2025-01-31"))
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_dates():
    moment = parse_date("2025-01-31")
    assert pdf_date(moment) == "D:20250131000000+00'00'"
    assert xmp_date(moment) == "2025-01-31T00:00:00+00:00"
    paris = parse_date("2025-07-01T08:00:00+02:00")
    assert pdf_date(paris) == "D:20250701080000+02'00'"
    assert xmp_date(paris) == "2025-07-01T08:00:00+02:00"
    assert parse_date("") is None
    assert xmp_date(parse_date("2025-01-31T23:59:59Z")) == "2025-01-31T23:59:59+00:00"
