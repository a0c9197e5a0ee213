"""Tests of the AFP format layer: structured-field framing, PTOCA, code pages, IOCA, BCOCA, reader."""
from pathlib import Path

import pytest

from ccm_batch.afp import bcoca, fields as F, ioca, ptoca, reader as R

FIXTURES = Path(__file__).parent / "fixtures" / "afp"


def test_structured_field_framing():
    rec = F.sf(F.BPG, F.name8("P1"))
    assert rec[:1] == b"\x5a"
    assert int.from_bytes(rec[1:3], "big") == 8 + 8 == len(rec) - 1
    assert rec[3:6] == bytes.fromhex("D3A8AF")
    assert rec[6:9] == b"\x00\x00\x00"
    assert rec[9:] == "P1".encode("cp500") + b"\x40" * 6


def test_structured_field_too_long_is_refused():
    F.sf(F.NOP, bytes(F.MAX_SF_DATA))
    with pytest.raises(ValueError):
        F.sf(F.NOP, bytes(F.MAX_SF_DATA + 1))


def test_bdt_has_ccsid_triplet_and_tle_matches_ibm_example():
    bdt = F.bdt("DOC00001", 500)
    assert bdt.hex().upper() == "5A0018D3A8A8000000C4D6C3F0F0F0F0F1000006010000" + "01F4"
    tle = F.tle("Customer Name".encode("cp500"), "Bob Smith".encode("cp500"))
    assert tle == bytes.fromhex("5A 00 26 D3 A0 90 00 00 00 11 02 0B 00 C3 A4 A2 A3 96 94 85 99 40 D5 81 94 85"
                                " 0D 36 00 00 C2 96 82 40 E2 94 89 A3 88")


def test_pgd_ptd_use_1440_units():
    pgd = F.pgd(11906, 16838)
    assert pgd[9:] == bytes.fromhex("00 00 38 40 38 40 00 2E 82 00 41 C6 00 00 00")
    ptd = F.ptd(11906, 16838)
    assert ptd[9:21] == pgd[9:21] and ptd[21:] == b"\x00\x00"


def test_trn_runs_are_split_at_253_bytes():
    blob = ptoca.trn(bytes(600))
    seqs = list(R.PtocaParser().feed(ptoca.ESCAPE + blob + ptoca.END_CHAIN))
    trns = [s for s in seqs if s.name == "TRN"]
    assert [len(s.params) for s in trns] == [253, 253, 94]


def test_ptx_packer_makes_self_contained_fields():
    packer = ptoca.PtxPacker()
    item = ptoca.amb(100) + ptoca.ami(200) + ptoca.trn(b"\xc1" * 200)
    for _ in range(100):
        packer.add(item)
    out = packer.take()
    fields = list(R.read_fields(out))
    assert len(fields) == 3
    for f in fields:
        assert f.abbr == "PTX" and len(f.data) <= 8192
        assert f.data[:2] == b"\x2b\xd3" and f.data[-2:] == b"\x02\xf8"
        parser = R.PtocaParser()
        list(parser.feed(f.data))
        assert not parser.chained and not parser.problems
    total = sum(len(f.data) - 4 for f in fields)
    assert total == 100 * len(item)


def test_split_sequences_keeps_control_sequences_whole():
    blob = b"".join(ptoca.trn(bytes([0xC1 + i % 9]) * 100) for i in range(10))
    pieces = ptoca.split_sequences(blob, 250)
    assert b"".join(pieces) == blob
    assert [len(p) for p in pieces] == [204] * 5        # two whole 102-byte TRNs per piece


def test_code_page_1140_encodes_french_and_euro():
    enc = ptoca.TextEncoder("cp1140")
    assert enc.encode("€") == b"\x9f"
    assert enc.encode("«été»") == "«été»".encode("cp037")
    assert enc.encode("cœur") == "coeur".encode("cp1140")
    assert enc.encode("l’œil — fin…") == "l'oeil - fin...".encode("cp1140")
    assert enc.substituted == {"œ": 2, "’": 1, "—": 1, "…": 1}


def test_derived_cp1148_is_cp500_with_euro():
    assert "€".encode("ccm-cp1148") == b"\x9f"
    assert "[]!".encode("ccm-cp1148") == "[]!".encode("cp500")
    assert b"\x9f\x4a".decode("ccm-cp1148") == "€["
    assert ptoca.codec_for("T1001148") == "ccm-cp1148"
    assert ptoca.codec_for("T1V10500") == "cp500"


def test_unknown_characters_become_question_marks_and_are_counted():
    enc = ptoca.TextEncoder("cp500")
    assert enc.encode("a€☃") == "aEUR?".encode("cp500")
    assert enc.substituted == {"€": 1, "☃": 1}


def test_outline_font_mapping_group():
    group = F.mcf_group_outline("CZH200", "T1001140", 3, 200)
    fonts = R.mcf_fonts(group)
    assert fonts == [{"lid": 3, "charset": "CZH200", "code_page": "T1001140", "coded_font": "", "size": 200}]


def test_ioca_bilevel_image_is_inverted_and_row_padded():
    img = ioca.load_image(str(FIXTURES / "logo.png"))
    assert (img.width, img.height, img.function_set) == (32, 16, ioca.FS10)
    assert len(img.data) == 16 * 4
    # logo.png: white background, black frame from (2,2) to (29,13): row 0 blank, row 2 has ink.
    assert img.data[0:4] == b"\x00\x00\x00\x00"
    assert img.data[8] & 0x20            # pixel (2, 2) is black → bit set
    obj = ioca.image_object("IMG00001", img)
    abbrs = [f.abbr for f in R.read_fields(obj)]
    assert abbrs == ["BIM", "BOG", "OBD", "OBP", "MIO", "IDD", "EOG", "IPD", "EIM"]
    ipd = [f for f in R.read_fields(obj) if f.abbr == "IPD"][0].data
    assert ipd.startswith(b"\x70\x00\x91\x01\xff\x94\x09\x00") and ipd.endswith(b"\x93\x00\x71\x00")


def test_ioca_large_image_is_split_into_ipd_chunks(tmp_path):
    from PIL import Image as PILImage
    path = tmp_path / "big.png"
    PILImage.new("RGB", (400, 300), (10, 200, 30)).save(path)
    img = ioca.load_image(str(path), mode="color")
    assert img.function_set == ioca.FS11 and len(img.data) == 400 * 300 * 3
    ipds = [f for f in R.read_fields(ioca.image_object("IMG", img)) if f.abbr == "IPD"]
    assert len(ipds) > 40 and all(len(f.data) <= 8192 for f in ipds)
    seg = b"".join(f.data for f in ipds)
    assert seg.count(b"\xfe\x92") >= 6          # image data cut into ≤ 65,535-byte parameters


def test_bcoca_descriptor_and_data_layouts():
    obj = bcoca.barcode_object("BC000001", "code128", "ABC-12345", 1440, 2880, 2000, 400, 20)
    by = {f.abbr: f.data for f in R.read_fields(obj)}
    bdd = by["BDD"]
    assert len(bdd) == 23
    assert bdd[12:14] == b"\x11\x02" and bdd[17] == 14 and int.from_bytes(bdd[18:20], "big") == 400
    bda = by["BDA"]
    assert bda[0] == 0x80                                   # no HRI
    left, top = int.from_bytes(bda[1:3], "big"), int.from_bytes(bda[3:5], "big")
    assert left == 200 and top == 20                        # 10-module quiet zone on the left
    assert bda[5:] == "ABC-12345".encode("cp500")
    obp = by["OBP"]
    assert R.sb3(obp, 2) + left == 1440 and R.sb3(obp, 5) + top == 2880


def test_bcoca_qr_and_datamatrix_special_functions():
    qr = {f.abbr: f.data for f in R.read_fields(
        bcoca.barcode_object("Q", "qr", "https://x.fr/é", 100, 100, 25 * 10, 25 * 10, 10, (("ecc", "Q"),)))}
    assert qr["BDD"][12:14] == b"\x20\x02"
    assert qr["BDA"][5:14] == bytes((0x40, 0, 2, 2, 0, 0, 0, 0, 0))   # version 2 (25 modules), ECC Q
    assert qr["BDA"][14:] == "https://x.fr/é".encode("utf-8")
    dm = {f.abbr: f.data for f in R.read_fields(
        bcoca.barcode_object("D", "datamatrix", "ARLAPOSTE;01", 100, 100, 160, 160, 10))}
    assert dm["BDD"][12:14] == b"\x1c\x00"
    assert dm["BDA"][5:15] == b"\x40\x00\x10\x00\x10\x00\x00\x00\x00\x00"  # 16 × 16
    imb = {f.abbr: f.data for f in R.read_fields(
        bcoca.barcode_object("I", "imb", "01234567094987654321-01234567891", 500, 500, 4000, 200, 20))}
    assert imb["BDD"][12:14] == b"\x22\x00"
    assert imb["BDA"][5:] == "0123456709498765432101234567891".encode("cp500")


def test_reader_triplets_and_chain_across_ptx_fields():
    assert R.triplets(b"\x04\x24\x05\x01\x03\x26") == [(0x24, b"\x05\x01")]
    assert not R.triplets_ok(b"\x04\x24\x05\x01\x03\x26")
    parser = R.PtocaParser()
    first = list(parser.feed(b"\x2b\xd3\x04\xc7\x00\x10\x05\xdb\xc1\xc2\xc3"))
    assert parser.chained                       # chain continues into the next PTX (FOP does this)
    second = list(parser.feed(b"\x02\xf8\xc4\xc5"))
    assert not parser.chained
    assert [s.name for s in first + second] == ["AMI", "TRN", "NOP", "TEXT"]
    assert second[-1].params == b"\xc4\xc5"
