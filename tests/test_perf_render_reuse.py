"""Render stage tests: what the PDF and AFP backends remember between files gives the same bytes.

The PDF backend keeps, per process, embedded font subsets, text encodings, compressed shared streams
and the content streams of pages just painted (the archive's one PDF/A per document is written before
the print file draws the same page objects). Each test renders the same events twice: once with every
such cache emptied before each file and with fresh page objects (nothing can be reused), once as the
render phase does it (archive first, then the print file, same page objects); the files must be
byte-identical. Pages carry characters outside Latin-1 (recorded without encoding when a page is
reused; one of them only on one document's page) and a character the fonts lack (.notdef: PDF/A
draws "?", the print file does not).
"""
from __future__ import annotations

import io
import random
import struct

from fontTools.ttLib import TTFont

from ccm_batch.archive import ArchivePdfWriter
from ccm_batch.pages import Box, Page, Rule, Text, mm, pt
from ccm_batch.render import pdf, pdffont, pdfwriter
from ccm_batch.render.afp import AfpOptions, AfpRenderer
from ccm_batch.render.base import PieceInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer
from test_archive_support import meta
from test_render_pdf_support import A4, LETTERHEAD, SANS, SANS_BOLD, STREAM


def _pages(doc: int, notdef: bool) -> list[Page]:
    items = [Text(mm(100), mm(50), SANS_BOLD, pt(10), f"Client n° {doc:05d}"),
             Text(mm(100), mm(55), SANS, pt(10), f"Mme Zoë Œdipe-Łukasz {doc}"),
             Text(mm(20), mm(90), SANS, pt(9), "Total — 12,50 €", kerns=((2, -10),)),
             Text(mm(20), mm(95), SANS, pt(9), "mot à mot justifié", word_space=7),
             Text(mm(120), mm(95), SANS, pt(9), f"réf. {chr(0x100 + doc)}"),   # beyond Latin-1, this doc's own
             Rule(mm(20), mm(100), mm(170), pt(0.5)),
             Box(mm(120), mm(105), mm(70), mm(10), fill=(240, 240, 240), stroke=(0, 0, 255))]
    if notdef:
        items.append(Text(mm(20), mm(120), SANS, pt(9), f"中 {doc}"))       # not in Liberation
    back = Page(A4[0], A4[1], (Text(mm(20), mm(280), SANS, pt(8), f"Verso {doc} « ok »"),))
    return [Page(A4[0], A4[1], tuple(items), background=LETTERHEAD), back]


def _forget() -> None:
    pdf._PAINTED.clear()
    pdfwriter._SHARED.clear()
    pdffont._EMBEDDED.clear()
    pdffont._SHARED_CODES.clear()
    pdffont._SHARED_TJ.clear()


def _render(directory, docs, *, fresh: bool) -> dict[str, bytes]:
    """Archive every document, then the print file, the render phase's order; with ``fresh`` every
    cache is emptied before each file and each file gets its own copies of the pages."""
    directory.mkdir()
    archive = ArchivePdfWriter(directory / "archive", job_date="2025-01-31")
    printer = PdfRenderer(PdfOptions(creation_date="2025-01-31"))
    for n, pages in docs:
        if fresh:
            _forget()
            pages = [Page(p.width, p.height, tuple(p.items), background=p.background) for p in pages]
        archive.write_document(meta(n), pages)
    if fresh:
        _forget()
    printer.start_file(str(directory / "print.pdf"), STREAM)
    for n, pages in docs:
        if fresh:
            pages = [Page(p.width, p.height, tuple(p.items), background=p.background) for p in pages]
        printer.start_piece(PieceInfo(f"P{n}", n))
        printer.start_document(meta(n))
        for page in pages:
            printer.page(page)
        printer.end_document()
        printer.end_piece()
    printer.end_file()
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*.pdf"))}


def test_archive_and_print_files_are_the_same_with_and_without_reuse(tmp_path):
    docs = [(n, _pages(n, notdef=n % 3 == 0)) for n in range(1, 8)]
    reused = _render(tmp_path / "reused", docs, fresh=False)
    alone = _render(tmp_path / "alone", docs, fresh=True)
    assert len(reused) == 8
    assert reused.keys() == alone.keys()
    for name in reused:
        assert reused[name] == alone[name], name


def test_pages_are_reused_only_when_the_names_agree(tmp_path):
    """The print file reuses the archive's content for pages without .notdef; a PDF/A file never
    takes the content of a file that is not PDF/A."""
    _forget()
    plain, notdef = _pages(1, notdef=False)[0], _pages(2, notdef=True)[0]
    archive = ArchivePdfWriter(tmp_path / "archive", job_date="2025-01-31")
    archive.write_document(meta(1), [plain])
    archive.write_document(meta(2), [notdef])
    printer = PdfRenderer(PdfOptions())
    printer.start_file(str(tmp_path / "print.pdf"), STREAM)
    printer.start_document(meta(1))
    printer.page(plain)                        # first page of the file: the form is defined here
    assert printer._painted(plain) is not None
    assert printer._painted(notdef) is None    # the archive drew "?" for the missing glyph
    printer.end_document()
    printer.end_file()
    _forget()
    printer = PdfRenderer(PdfOptions())
    printer.start_file(str(tmp_path / "print2.pdf"), STREAM)
    printer.page(plain)
    printer.end_file()
    later = PdfRenderer(PdfOptions(pdfa=True))
    later.start_file(str(tmp_path / "pdfa.pdf"), STREAM)
    later.page(_pages(3, notdef=False)[0])     # defines the same fonts and form, by the same names
    assert later._painted(plain) is None       # its content was painted for a file that is not PDF/A
    later.page(plain)
    assert later._painted(plain) is not None   # painted here: a PDF/A file's own content
    later.end_file()


def test_only_a_missing_glyph_counts_as_a_substitution():
    """PDF/A draws "?" for a character the font lacks, and a page with one is painted again for the
    print file. Hex codes that only contain "0000" across two glyphs ("—" is glyph 0x07e0, the space
    0x0003: "07e00003") are not a substitution: before, every archived bench invoice (its letterhead
    has "Service Clients — TSA") was painted twice."""
    face = pdffont.load_face(SANS)
    assert face.gid("—") & 0xF == 0 and face.gid(" ") < 0x10               # the premise
    resource = pdffont.FontResource(face, "F1", 1, avoid_notdef=True)
    assert resource.encode("Service — TSA") == pdffont.FontResource(face, "F2", 2).encode("Service — TSA")
    assert not resource.substituted
    assert resource.encode("\u4e2d —") == "%04x%04x%04x" % (face.gid("?"), face.gid(" "), face.gid("—"))
    assert resource.substituted


def test_a_missing_glyph_is_substituted_when_its_codes_come_from_the_shared_cache():
    """The process's shared encodings are kept before substitution, with a flag for a .notdef among the
    codes: a PDF/A file that finds a text there (a print file encoded it first) still draws "?"."""
    face = pdffont.load_face(SANS)
    text = "x\u4e2d\u4e2dy — z"                                 # CJK: not in the font
    plain = pdffont.FontResource(face, "F1", 1)
    assert plain.encode(text) == "".join("%04x" % face.gid(c) for c in text)
    assert "0000" in plain.encode(text) and not plain.substituted
    archival = pdffont.FontResource(face, "F2", 2, avoid_notdef=True)
    assert archival.encode(text) == "".join("%04x" % face.gid("?" if c == "\u4e2d" else c) for c in text)
    assert archival.substituted


def test_font_subsets_have_valid_checksums():
    face = pdffont.load_face(SANS)
    rnd = random.Random(7)
    codepoints = sorted(face.cmap)
    for _ in range(20):
        gids = sorted({face.cmap[c] for c in rnd.sample(codepoints, rnd.randint(1, 120))} | {0})
        program, mapping = face.subset(gids)
        font = TTFont(io.BytesIO(program), checkChecksums=2)    # raises on a wrong table checksum
        for tag in font.keys():
            if tag != "GlyphOrder":
                font[tag]                                    # every table decodes
        padded = program + b"\0" * (-len(program) % 4)
        assert sum(struct.unpack(">%dI" % (len(padded) // 4), padded)) & 0xFFFFFFFF == 0xB1B0AFBA
        assert font["maxp"].numGlyphs >= len(gids)                 # composites may add glyphs
        assert len(mapping) == 2 * (gids[-1] + 1)
        new_ids = [int.from_bytes(mapping[2 * g:2 * g + 2], "big") for g in gids]
        assert new_ids[0] == 0 and all(a < b for a, b in zip(new_ids, new_ids[1:]))   # kept in id order
        assert new_ids[-1] < font["maxp"].numGlyphs


def _afp_page(n: int) -> Page:
    return Page(A4[0], A4[1], (Text(1000, 1000, SANS, 200, "Total — œuvre"),
                               Text(1000, 1300, SANS, 200, f"Ligne {n}"),
                               Text(1000, 1400, SANS, 200, "AVANT", kerns=((0, -20), (2, -15))),
                               Text(3000, 1400, SANS, 200, "AVœ", kerns=((0, -20),)),
                               Rule(1000, 1500, 3000, 20), Box(1000, 1600, 3000, 400, fill=(200, 0, 0))))


def test_afp_runs_and_rules_remembered_give_the_same_bytes_and_counts(tmp_path):
    """The same page twice in one file: the second is written from the remembered runs and rules;
    its bytes equal the first's (but for the page name) and every substitution is counted."""
    r = AfpRenderer(AfpOptions())
    path = tmp_path / "f.afp"
    r.start_file(str(path), STREAM)
    r.start_document(meta(1))
    starts = []
    for n in (1, 1, 2):
        starts.append(r._pos)
        r.page(_afp_page(n))
    r.end_document()
    r.end_file()
    data = path.read_bytes()
    first, second = data[starts[0]:starts[1]], data[starts[1]:starts[2]]
    first = first[first.index(b"\xd3\xa8\xaf") - 3:]      # from the BPG: the file's IMM precedes page 1
    assert first.replace("P0000001".encode("cp500"), "P0000002".encode("cp500")) == second
    assert r.stats["substituted"]["—"] == 3 and r.stats["substituted"]["œ"] == 6
    assert ("AVANT", ((0, -20), (2, -15))) in r.kerned        # a kerned run with a substitution
    assert ("AVœ", ((0, -20),)) not in r.kerned               # is encoded (and counted) each time


def _afp_file(path, pages, fonts=(), code_page="T1001140") -> tuple[bytes, dict]:
    r = AfpRenderer(AfpOptions(fonts=fonts, code_page=code_page))
    r.start_file(str(path), STREAM)
    r.start_document(meta(1))
    for page in pages:
        r.page(page)
    r.end_document()
    r.end_file()
    return path.read_bytes(), r.stats


def test_afp_encodings_kept_for_the_next_file_give_the_same_bytes_and_counts(tmp_path):
    """The AFP backend keeps encoded runs, rules and font maps per process and code page for the next
    print file of the run. A file written after others have filled them, in its code page and in
    another one, is byte-identical to the same file written with them empty, and counts the same
    substitutions. Its pages carry code-page runs, kerned runs, runs the code page lacks (kerned and
    not; the euro sign is in code page 1140, not in 500), and UTF-16 runs in a carried font."""
    from ccm_batch.render import afp
    fonts = ((SANS_BOLD, "Œœ’Zoë"),)                 # a carried (Unicode) font besides the resident
    pages = [_afp_page(1), _afp_page(2),
             Page(A4[0], A4[1], (Text(1000, 1000, SANS_BOLD, 200, "l’Œuvre de Zoë", kerns=((1, -12),)),
                                 Text(1000, 1300, SANS_BOLD, 240, "Zoë"),
                                 Text(1000, 1600, SANS, 200, "Total — œuvre", kerns=((2, -5),)),
                                 Text(1000, 1900, SANS, 200, "Total 12,50 €"),
                                 Text(1000, 2200, SANS, 200, "AV 12,50 €", kerns=((0, -20),))))]
    other = [Page(A4[0], A4[1], (Text(900, 900, SANS, 200, f"Ligne {n} — fin"),
                                 Text(1000, 1000, SANS_BOLD, 200, "l’Œuvre de Zoë", kerns=((1, -12),))))
             for n in range(3)]
    for code_page, other_code_page in (("T1V10500", "T1001140"), ("T1001140", "T1V10500")):
        afp._SHARED.clear()
        alone, alone_stats = _afp_file(tmp_path / "alone.afp", pages, fonts, code_page)
        assert afp._SHARED, "nothing was kept: the test would not test the caches"
        _afp_file(tmp_path / "other.afp", other + pages, fonts, other_code_page)
        _afp_file(tmp_path / "same.afp", other + pages[:1], fonts, code_page)
        after, after_stats = _afp_file(tmp_path / "after.afp", pages, fonts, code_page)
        assert after == alone, code_page
        assert after_stats["substituted"] == alone_stats["substituted"]
        assert alone_stats["substituted"]["—"] == 3
        assert alone_stats["substituted"]["€"] == (2 if code_page == "T1V10500" else 0)
        assert "l’".encode("utf-16-be") in alone                  # the UTF-16 run was written
