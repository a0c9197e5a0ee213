"""Tests of ccm_batch.afp.inspect: damaged files are reported at the right byte offset, grammar errors are
found, third-party AFP (Apache FOP 2.8, tests/fixtures/afp/fop_invoice.afp) is read without crashing."""
from pathlib import Path

import pytest

from ccm_batch.afp import fields as F, ptoca
from ccm_batch.afp import reader as R
from ccm_batch.afp.inspect import check, list_fields, page_texts
from ccm_batch.pages import DocumentMeta, Image, Page, Rule, Text, mm
from ccm_batch.render.afp import AfpOptions, AfpRenderer
from ccm_batch.render.base import PieceInfo, StreamInfo

FIXTURES = Path(__file__).parent / "fixtures" / "afp"
FOP = FIXTURES / "fop_invoice.afp"
LOGO = str(FIXTURES / "logo.png")
W, H = mm(210), mm(297)


def equivalent_page() -> Page:
    """Our page closest to the first page of fop_invoice.fo: text lines, a rule, a filled band, the logo."""
    return Page(W, H, (
        Text(mm(20), mm(26), "LiberationSans-Regular", 200, "Facture 2024-001 du 23/11/2024"),
        Text(mm(20), mm(31), "LiberationSans-Regular", 200, "Total : 123,45 EUR"),
        Rule(mm(20), mm(32), mm(170), 20),
        Text(mm(20), mm(40), "LiberationSans-Regular", 240, "Bandeau", color=(255, 255, 255)),
        Image(mm(20), mm(42), mm(32), mm(16), LOGO),
    ))


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    path = tmp_path_factory.mktemp("insp") / "ours.afp"
    r = AfpRenderer(AfpOptions(images=(LOGO,)))
    r.start_file(str(path), StreamInfo("job", "main", 1, "", "2024-11-23"))
    r.start_piece(PieceInfo("P1", 1))
    facts = []
    for n in (1, 2):
        r.start_document(DocumentMeta(f"D{n}", f"C000{n}", "INVOICE", "2024-11-23"))
        for _ in range(n):
            r.page(equivalent_page())
        facts.append(r.end_document())
    r.end_piece()
    r.end_file()
    return path, facts


def offsets(path, abbr):
    return [f.offset for f in R.read_fields(str(path)) if f.abbr == abbr]


def test_listing_shows_nesting_tles_and_page_counts(ours):
    path, _ = ours
    lines = list(list_fields(path))
    assert lines[0].split() == ["0", "BRG", "RG000001"]
    tle = next(l for l in lines if "TLE" in l and "CustomerId" in l)
    assert tle.split(None, 1)[1] == "TLE   CustomerId = 'C0001'"
    bng = next(l for l in lines if " BNG " in l)
    assert tle.index("TLE") == bng.index("BNG") + 2                  # one nesting level deeper
    engs = [l for l in lines if " ENG " in l]
    assert [l.split("(")[-1] for l in engs] == ["1 page)", "2 pages)"]
    assert lines[-1].split() == [lines[-1].split()[0], "EDT", "DOC00001", "(2", "page", "groups,", "3", "pages)"]
    # nesting: PTX is inside BPT inside BPG inside BNG inside BDT → 4 levels of 2 spaces
    ptx = next(l for l in lines if " PTX " in l)
    assert ptx[12:].startswith(" " * 8 + "PTX")


def test_truncated_file_is_reported_at_the_cut_field(ours, tmp_path):
    path, _ = ours
    data = path.read_bytes()
    cut_field = offsets(path, "PTX")[1]
    bad = tmp_path / "cut.afp"
    bad.write_bytes(data[:cut_field + 30])
    problems = check(bad)
    assert problems[0].offset <= cut_field
    assert any(p.offset == cut_field and "truncated" in p.message for p in problems)
    assert any("never ended" in p.message for p in problems)          # BPT/BPG/BNG/BDT left open


@pytest.mark.parametrize("abbr, which", [("TLE", 2), ("MCF", 0), ("IPD", 0), ("PTX", 1)])
def test_flipped_length_byte_is_reported_at_that_field(ours, tmp_path, abbr, which):
    path, _ = ours
    data = bytearray(path.read_bytes())
    at = offsets(path, abbr)[which]
    data[at + 2] ^= 0x5F
    bad = tmp_path / "flip.afp"
    bad.write_bytes(bytes(data))
    problems = check(bad)
    assert problems, "a wrong length must be noticed"
    assert problems[0].offset == at and "length" in problems[0].message
    # the reader resynchronises: fields after the damage are still listed
    lines = list(list_fields(bad))
    assert lines[-1].split()[1] == "EDT"


def test_missing_end_page_is_a_nesting_error(ours, tmp_path):
    path, _ = ours
    data = path.read_bytes()
    epg = offsets(path, "EPG")[0]
    length = int.from_bytes(data[epg + 1:epg + 3], "big")
    bad = tmp_path / "noepg.afp"
    bad.write_bytes(data[:epg] + data[epg + 1 + length:])
    messages = [p.message for p in check(bad)]
    assert any("ENG without a matching Begin" in m for m in messages)
    assert any("BPG" in m and "never ended" in m for m in messages)


def test_unmapped_font_unclosed_chain_and_misplaced_fields(tmp_path):
    page = (F.begin(F.BPG, "P1") + F.begin(F.BAG) + F.mcf([F.mcf_group_outline("CZH200", "T1001140", 1, 200)])
            + F.pgd(W, H) + F.ptd(W, H) + F.begin(F.EAG) + F.begin(F.BPT)
            + F.sf(F.PTX, ptoca.ESCAPE + ptoca.scfl(2) + ptoca.trn(b"\xc1"))        # LID 2 unmapped, chain open
            + F.begin(F.EPT) + F.tle(b"\xc1", b"\xc2") + F.begin(F.EPG, "P1"))
    data = (F.bdt("DOC1", 500) + F.begin(F.BNG, "G1") + F.imm("MM1") + F.tle(b"\xc1", b"\xc2") + page
            + F.sf(F.PGD, bytes(15)) + F.begin(F.ENG, "G2") + F.begin(F.EDT, "DOC1"))
    path = tmp_path / "bad.afp"
    path.write_bytes(data)
    problems = check(path)
    msgs = [p.message for p in problems]
    assert any("SCFL selects font LID 2" in m for m in msgs)
    assert any("chain still open" in m for m in msgs)
    assert any(m.startswith("TLE after IMM") for m in msgs)                      # group TLEs come first
    assert any(m.startswith("PGD is not allowed in BNG") for m in msgs)
    assert any("ENG name 'G2' does not match BNG 'G1'" in m for m in msgs)
    assert not any("TLE is not allowed" in m for m in msgs)                      # page-level TLE is fine
    scfl = next(p for p in problems if "SCFL" in p.message)
    assert scfl.offset == offsets(path, "PTX")[0]


def test_unknown_structured_fields_are_listed_not_reported(ours, tmp_path):
    path, _ = ours
    data = path.read_bytes()
    at = offsets(path, "EPG")[0]
    odd = b"\x5a\x00\x0c\xd3\xee\x77\x00\x00\x00" + b"\x01\x02\x03\x04"       # D3EE77: not in our table
    bad = tmp_path / "unknown.afp"
    bad.write_bytes(data[:at] + odd + data[at:])
    assert check(bad) == []
    assert any(line.split()[1:3] == ["?", "unknown"] for line in list_fields(bad))


def test_fop_output_is_listed_checked_and_its_text_read():
    lines = list(list_fields(FOP))
    assert len([l for l in lines if "!!" not in l]) == len(list(R.read_fields(str(FOP)))) == 56
    assert any("TLE   CustomerId = 'C0002'" in l for l in lines)
    assert [l.split("(")[-1] for l in lines if " ENG " in l] == ["1 page)", "2 pages)"]
    problems = check(FOP)
    # FOP writes IMM before the group's TLEs (afp.md §4 notes it); nothing else is wrong.
    assert [p.message.split(":")[0] for p in problems] == ["TLE after IMM in BNG 'PGP00001'"] * 2
    pages = list(page_texts(FOP))
    assert [p.units_per_inch for p in pages] == [240.0] * 3
    assert [r.text for r in pages[0].runs] == ["Facture 2024-001 du 23/11/2024", "Total : 123,45 EUR", "Bandeau"]
    assert (pages[0].runs[0].x, pages[0].runs[0].y) == (189, 217)        # 20 mm margin at 240/in
    assert [r.text for r in pages[2].runs] == ["Page deux"]
    assert pages[0].rules and pages[0].rules[0].length == 1606


def _first_page_sequence(path) -> list[str]:
    out, inside = [], False
    for f in R.read_fields(str(path)):
        if f.abbr == "BNG":
            inside = True
        if inside and f.abbr != "NOP":
            out.append(f.abbr)
        if f.abbr == "ENG":
            return out
    return out


def test_field_order_matches_fop_on_an_equivalent_page(ours):
    """Compare the SF order of one page group with FOP's (afp.md §13); differences are listed in
    ccm_batch/render/afp.py's docstring."""
    path, _ = ours
    mine, fop = _first_page_sequence(path), _first_page_sequence(FOP)
    skeleton = ["BNG", "TLE", "BPG", "BAG", "MCF", "PGD", "PTD", "EAG", "BPT", "PTX", "EPT", "IOB", "EPG", "ENG"]

    def has_subsequence(seq, sub):
        it = iter(seq)
        return all(any(x == s for x in it) for s in sub)
    assert has_subsequence(mine, skeleton) and has_subsequence(fop, skeleton)
    # documented difference: FOP invokes the medium map before the TLEs, we after them (grammar order)
    assert fop.index("IMM") < fop.index("TLE")
    assert mine.index("IMM") > max(i for i, a in enumerate(mine) if a == "TLE")
    # same page environment and objects once the group's preamble is skipped
    assert mine[mine.index("BPG"):] == fop[fop.index("BPG"):]


def test_document_offsets_seek_to_bng_with_its_tles(ours):
    path, facts = ours
    lines = list(list_fields(path))
    for f in facts:
        bng = next(l for l in lines if l.split()[0] == str(f.offset))
        assert bng.split()[1] == "BNG"
        tles = [l for l in lines if l.split()[1] == "TLE" and f.offset < int(l.split()[0]) < f.offset + f.length]
        assert f"DocId = '{f.doc_id}'" in tles[0]
        end = next(l for l in lines if " ENG " in l and f.offset < int(l.split()[0]) < f.offset + f.length)
        assert int(end.split()[0]) + 17 == f.offset + f.length             # ENG is the group's last field


def test_page_text_prints_as_readable_lines():
    page = next(page_texts(FOP))
    lines = str(page).splitlines()
    assert lines[0] == "--- page 1 PGN00001 in group PGP00001: 1984 x 2806 at 240/in"
    assert lines[1] == "(   189,    217)  Facture 2024-001 du 23/11/2024"
    assert lines[-1] == "(   189,    299)  [rule I length 1606 width 48]"


def _letter_file(path, medium):
    """One US Letter page in a print file whose form map declares ``medium``."""
    r = AfpRenderer(AfpOptions(medium_size=medium))
    r.start_file(str(path), StreamInfo("job", "main", 1, "", "2024-11-23"))
    r.start_piece(PieceInfo("P1", 1))
    r.start_document(DocumentMeta("D1", "C1", "STATEMENT", "2024-11-23"))
    r.page(Page(12240, 15840, (Text(1440, 1440, "LiberationSans-Regular", 200, "Letter page"),)))
    r.end_document()
    r.end_piece()
    r.end_file()
    return path


def test_check_flags_a_page_larger_than_its_medium(tmp_path):
    """Issue 11 item 3: 8.5 x 11 in pages on an A4 sheet (8.27 in wide) are cut off by the printer."""
    problems = check(_letter_file(tmp_path / "a4.afp", (11906, 16838)))
    assert len(problems) == 1
    assert "page 1 (8.50 x 11.00 in) is larger than the medium of medium map 'MMSIMPLX' (8.27 x 11.69 in)" \
        in problems[0].message
    assert check(_letter_file(tmp_path / "letter.afp", (12240, 15840))) == []
