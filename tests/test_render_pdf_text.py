"""Render stage tests (PDF backend): text extraction, positions, word spacing, kerning, embedded subsets."""
from __future__ import annotations

import io
import re
import subprocess

import pytest
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from ccm_batch.fonts import get_font
from ccm_batch.pages import Page, Text, mm, pt
from ccm_batch.render.pdf import PdfOptions
from ccm_batch.render.pdffont import FontResource, load_face
from test_render_pdf_support import (A4, SANS, SANS_BOLD, SERIF_ITALIC, make_images, meta,
                                     pdftotext, qpdf_check, raw_objects, render, sample_page,
                                     stream_data, word_boxes)

FRENCH = [
    "Facture n° 2025-0042 — échéance le 15 février",
    "« Ça coûte 1 234,56 € », dit l’élève à Noël ; Œuvre, cœur, sœur",
    "ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ àâäçéèêëîïôöùûüÿ æÆ ‰ … • ™",
]


def baselines(path, page=0):
    """``(text, x_pt, y_pt from top)`` of every text-showing operation on a page (via pypdf)."""
    reader = PdfReader(path)
    height = float(reader.pages[page].mediabox.height)
    out = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            out.append((text, x, height - y))

    reader.pages[page].extract_text(visitor_text=visit)
    return out


def test_french_text_extracts_exactly(tmp_path):
    path = tmp_path / "fr.pdf"
    items = tuple(Text(mm(20), mm(30 + 10 * i), font, pt(10), line)
                  for i, (line, font) in enumerate(zip(FRENCH, (SANS, SERIF_ITALIC, SANS_BOLD))))
    render(path, [(meta("D1"), [Page(A4[0], A4[1], items)])])
    qpdf_check(path)
    lines = [line.strip() for line in pdftotext(path, "-layout").splitlines() if line.strip()]
    assert lines == FRENCH


def test_text_lands_at_its_baseline_point(tmp_path):
    path = tmp_path / "pos.pdf"
    items = (Text(mm(100), mm(50), SANS, pt(10), "Destinataire"),
             Text(1441, 3001, SERIF_ITALIC, pt(12), "Impair"),
             Text(mm(20), mm(280), SANS_BOLD, pt(8), "Bas"))
    render(path, [(meta("D1"), [Page(A4[0], A4[1], items)])])
    found = {text: (x, y) for text, x, y in baselines(path)}
    for item in items:
        x, y = found[item.text]
        assert x == pytest.approx(item.x / 20, abs=0.5)
        assert y == pytest.approx(item.y / 20, abs=0.5)
    boxes = {w[0]: w for w in word_boxes(path)}
    for item in items:
        word, x_min, _y_min, _x_max, y_max = boxes[item.text]
        descent = -load_face(item.font).descent / 1000 * item.size / 20
        assert x_min == pytest.approx(item.x / 20, abs=0.5)
        assert y_max - descent == pytest.approx(item.y / 20, abs=0.5)


def test_glyph_advances_match_font_metrics(tmp_path):
    """The word after a space starts where composition measured it (no drift along the line)."""
    path = tmp_path / "adv.pdf"
    text = "Consommation électricité heures pleines TTC"
    size = pt(9)
    render(path, [(meta("D1"), [Page(A4[0], A4[1], (Text(mm(20), mm(40), SANS, size, text),))])])
    words = word_boxes(path)
    metrics = get_font(SANS)
    for word, x_min, *_ in words[1:]:
        prefix = text[:text.index(word)]
        expected = (mm(20) + metrics.width(prefix, size)) / 20
        assert x_min == pytest.approx(expected, abs=0.5)


def test_word_space_widens_every_space(tmp_path):
    path = tmp_path / "ws.pdf"
    text = "Texte justifié sur la ligne"
    size, extra = pt(10), pt(6)
    render(path, [(meta("D1"), [Page(A4[0], A4[1],
                                     (Text(mm(20), mm(40), SANS, size, text, word_space=extra),))])])
    metrics = get_font(SANS)
    words = word_boxes(path)
    assert [w[0] for w in words] == text.split()
    for n, (word, x_min, *_rest) in enumerate(words):
        prefix = " ".join(text.split()[:n]) + (" " if n else "")
        expected = (mm(20) + metrics.width(prefix, size) + n * extra) / 20
        assert x_min == pytest.approx(expected, abs=0.5)


def test_kerns_shift_following_characters(tmp_path):
    path = tmp_path / "kern.pdf"
    text = "AV Wagon"
    size = pt(20)
    kerns = ((0, -60), (2, 100))          # tighten A|V, widen after the space
    render(path, [(meta("D1"), [Page(A4[0], A4[1],
                                     (Text(mm(20), mm(40), SANS, size, text, kerns=kerns),))])],
           PdfOptions(compress=False))
    metrics = get_font(SANS)
    words = {w[0]: w for w in word_boxes(path)}
    av_end = (mm(20) + metrics.width("AV", size) - 60) / 20
    assert words["AV"][3] == pytest.approx(av_end, abs=0.6)
    wagon = (mm(20) + metrics.width("AV ", size) - 60 + 100) / 20
    assert words["Wagon"][1] == pytest.approx(wagon, abs=0.5)
    content = PdfReader(path).pages[0].get_contents().get_data().decode()
    # TJ adjustments are -delta * 1000 / size: -(-60) -> 150, -(100) -> -250
    assert re.search(r"\[<[0-9a-f]{4}>150<[0-9a-f]{8}>-250<[0-9a-f]{20}>\]TJ", content)


def test_fonts_are_embedded_cid_subsets(tmp_path):
    images = make_images(tmp_path / "img")
    path = tmp_path / "fonts.pdf"
    render(path, [(meta("D1"), [sample_page(images)])])
    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    assert len(listing) == 3                       # Sans, Sans-Bold (letterhead), Serif-Italic
    for row in listing:
        assert re.match(r"[A-Z]{6}\+Liberation\S+\s+CID TrueType\s+Identity-H\s+yes yes yes", row), row


def _embedded_font(path):
    """(font program, CIDToGIDMap bytes, CIDFontType2 dictionary) of the only font of ``path``."""
    objects = raw_objects(path)
    cid_font = next(b for b in objects.values() if b"/CIDFontType2" in b)
    mapping = int(re.search(rb"/CIDToGIDMap (\d+) 0 R", cid_font).group(1))
    program = next(stream_data(b) for b in objects.values() if b"/Length1" in b)
    return program, stream_data(objects[mapping]), cid_font


def _outline(glyph_set, name):
    pen = DecomposingRecordingPen(glyph_set)
    glyph_set[name].draw(pen)
    return pen.value


def test_subset_is_compact_unhinted_and_mapped_from_the_original_ids(tmp_path):
    path = tmp_path / "subset.pdf"
    text = "Été 2025 €"
    render(path, [(meta("D1"), [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, text),))])])
    program, mapping, cid_font = _embedded_font(path)
    font = TTFont(io.BytesIO(program), checkChecksums=2)          # raises on a wrong table checksum
    face = load_face(SANS)
    source = TTFont(face.path)
    order, source_order = font.getGlyphOrder(), source.getGlyphOrder()
    glyphs, source_glyphs = font.getGlyphSet(), source.getGlyphSet()

    def new_id(cid):                                              # CIDs are the face's glyph ids
        return int.from_bytes(mapping[2 * cid:2 * cid + 2], "big")

    ascii_ids = {face.gid(chr(c)) for c in range(0x20, 0x7F)} - {0}
    drawn = {face.gid(c) for c in text}
    for cid in drawn | ascii_ids:                                 # the same outline and metrics
        gid = new_id(cid)
        assert gid, cid
        assert _outline(glyphs, order[gid]) == _outline(source_glyphs, source_order[cid]), cid
        assert font["hmtx"][order[gid]] == source["hmtx"][source_order[cid]], cid
    assert new_id(face.gid("ß")) == 0                              # neither drawn nor ASCII: left out
    count = font["maxp"].numGlyphs                                  # renumbered: no empty slots
    assert len(drawn | ascii_ids) < count <= len(drawn | ascii_ids) + 8    # .notdef, É's components
    assert len(mapping) == 2 * (face.gid("€") + 1)                  # up to the highest CID drawn
    empty = [name for name in order[1:] if not font["glyf"][name].numberOfContours]
    assert empty == [order[new_id(face.gid(" "))]]                 # the space only
    for name in order:                                              # no hinting: no instructions
        glyph = font["glyf"][name]
        assert not hasattr(glyph, "program") or not glyph.program.getBytecode(), name
    assert not {"fpgm", "prep", "cvt "} & set(font.keys())
    assert len(program) < 12_000
    total = sum(int.from_bytes(program[i:i + 4].ljust(4, b"\0"), "big")
                for i in range(0, len(program), 4))
    assert total & 0xFFFFFFFF == 0xB1B0AFBA                          # head.checkSumAdjustment
    e_acute = face.gid("É")
    advance = source["hmtx"][source_order[e_acute]][0] * 1000 / font["head"].unitsPerEm   # 1366/2048 em
    assert b" %d[%s]" % (e_acute, b"%g" % round(advance, 2)) in cid_font


def test_documents_drawing_the_same_non_ascii_characters_share_one_font_program(tmp_path):
    """Every subset holds the face's printable ASCII: the archive's one PDF per document embeds
    the same program for documents whose names and amounts differ (prepared once per process)."""
    programs = []
    for n, line in enumerate(("Montant dû : 12,50 €", "Total dû : 981,07 € HT", "Échéance : 12,50 €")):
        path = tmp_path / f"d{n}.pdf"
        render(path, [(meta(f"D{n}"), [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, line),))])])
        assert pdftotext(path).strip() == line
        programs.append(_embedded_font(path)[:2])
    assert programs[0] == programs[1]
    assert programs[2] != programs[0]                              # É: one more glyph
    path = tmp_path / "accents.pdf"                                # no ASCII drawn: not padded
    render(path, [(meta("E"), [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, "éÉ"),))])])
    assert TTFont(io.BytesIO(_embedded_font(path)[0]))["maxp"].numGlyphs < 8    # .notdef, é, É, parts


def test_tounicode_maps_every_glyph_back(tmp_path):
    path = tmp_path / "tu.pdf"
    text = "œuvre « € » l’été"
    render(path, [(meta("D1"), [Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, text),))])])
    cmap = next(stream_data(b) for b in raw_objects(path).values()
                if b"/Length" in b and b"beginbfchar" in stream_data(b) if b"stream" in b)
    face = load_face(SANS)
    for char in set(text):
        line = b"<%04X> <%s>" % (face.gid(char), char.encode("utf-16-be").hex().upper().encode())
        assert line in cmap, char


def test_missing_glyph_is_notdef_or_question_mark_in_pdfa(tmp_path):
    char = "\u4e2d"                                   # CJK: not in Liberation
    face = load_face(SANS)
    assert face.gid(char) == 0
    plain = FontResource(face, "F1", 1)
    assert plain.encode(f"a{char}") == "%04x0000" % face.gid("a")
    archival = FontResource(face, "F1", 1, avoid_notdef=True)
    assert archival.encode(f"a{char}") == "%04x%04x" % (face.gid("a"), face.gid("?"))
    assert archival.encode("\x01b") == "%04x%04x" % (face.gid("?"), face.gid("b"))


def test_encoding_of_latin1_and_other_characters():
    """Latin-1 characters go through the translate tables, the others are patched in."""
    face = load_face(SERIF_ITALIC)
    for text in ("Ça coûte déjà ½ ¿ ÿ", "?€ l’œuvre ? «1\u202f234,56\xa0€» 𝄞?", "", "€"):
        resource = FontResource(face, "F1", 1)
        assert resource.encode(text) == "".join("%04x" % face.gid(c) for c in text)
        assert set(text) <= resource.used_chars() <= set(text) | {"?"}


def test_colour_and_font_switches(tmp_path):
    path = tmp_path / "col.pdf"
    items = (Text(1000, 1000, SANS, 200, "noir"),
             Text(1000, 1300, SANS, 200, "rouge", color=(255, 0, 0)),
             Text(1000, 1600, SANS, 240, "rouge grand", color=(255, 0, 0)),
             Text(1000, 1900, SANS_BOLD, 240, "gras", color=(0, 0, 0)))
    render(path, [(meta("D1"), [Page(A4[0], A4[1], items)])], PdfOptions(compress=False))
    content = PdfReader(path).pages[0].get_contents().get_data().decode()
    ops = [line for line in content.splitlines() if not line.startswith("1 0 0 -1")]
    assert ops == ["0.05 0 0 -0.05 0 841.9 cm", "BT", "/F1 200 Tf", "1 0 0 rg", "/F1 240 Tf",
                   "/F2 240 Tf", "0 0 0 rg", "ET"]


def test_colours_given_as_lists(tmp_path):
    """Colours read back from JSON are lists: drawn the same as tuples."""
    path = tmp_path / "list.pdf"
    items = (Text(1000, 1000, SANS, 200, "a", color=[0, 0, 255]),)
    render(path, [(meta("D1"), [Page(A4[0], A4[1], items)])], PdfOptions(compress=False))
    assert "0 0 1 rg\n" in PdfReader(path).pages[0].get_contents().get_data().decode()
