"""Bar codes: IMb vectors (postal.md 4.3), Data Matrix against ISO and reportlab, QR, Code 128."""
import shutil
import subprocess

import pytest

from ccm_batch import barcodes as bc
from ccm_batch.pages import Barcode

IMB_VECTORS = [
    ("01234567094987654321", "01234567891",
     "AADTFFDFTDADTAADAATFDTDDAAADDTDTTDAFADADDDTFFFDDTTTADFAAADFTDAADA"),
    ("01234567094987654321", "",
     "ATTFATTDTTADTAATTDTDTATTDAFDDFADFDFTFFFFFTATFAAAATDFFTDAADFTFDTDT"),
    ("01234567094987654321", "01234",
     "DTTAFADDTTFTDTFTFDTDDADADAFADFATDDFTAAAFDTTADFAAATDFDTDFADDDTDFFT"),
    ("01234567094987654321", "012345678",
     "ADFTTAFDTTTTFATTADTAAATFTFTATDAAAFDDADATATDTDTTDFDTDATADADTDFFTFA"),
    ("23" + "270" + "592831" + "482031240", "96713024817",
     "DDADATADTAATDTTTDFDTTFTFFADTFTDFTATAAFTTFATDAATATDATATFADAADDTFDT"),
]


@pytest.mark.parametrize("tracking,routing,expected", IMB_VECTORS)
def test_imb_encode_matches_usps_vectors(tracking, routing, expected):
    assert bc.imb_encode(tracking, routing) == expected


@pytest.mark.parametrize("tracking,routing", [
    ("0123456709498765432", ""),          # 19 digits
    ("05234567094987654321", ""),         # barcode identifier second digit 5
    ("01234567094987654321", "1234"),     # 4-digit routing
    ("0123456709498765432X", ""),
])
def test_imb_encode_rejects_bad_fields(tracking, routing):
    with pytest.raises(ValueError, match="imb"):
        bc.imb_encode(tracking, routing)


def test_imb_geometry_and_rectangles():
    data = "01234567094987654321-01234567891"
    w, h = bc.measure("imb", data, 65)
    assert (w, h) == (64 * 65 + 29, 209)
    assert 2.667 <= w / 1440 <= 3.225          # USPS-B-3200 overall length
    rects = bc.rectangles(Barcode(1000, 2000, w, h, "imb", data, 65))
    assert len(rects) == 65
    states = IMB_VECTORS[0][2]
    by_x = sorted(rects)
    tracker_top = (209 - 69) // 2
    for k, ((x, y, rw, rh), state) in enumerate(zip(by_x, states)):
        assert x == 1000 + 65 * k and rw == 29
        top, bottom = y - 2000, y - 2000 + rh
        assert {"F": (0, 209), "A": (0, tracker_top + 69), "D": (tracker_top, 209),
                "T": (tracker_top, tracker_top + 69)}[state] == (top, bottom)
    with pytest.raises(ValueError, match="pitch"):
        bc.measure("imb", data, 40)


def test_datamatrix_iso_example_codewords():
    # ISO/IEC 16022 example: "123456" -> data 142 164 186, check 114 25 5 88 102 (10x10)
    assert bc._dm_codewords_ascii("123456") == [142, 164, 186]
    assert bc._rs_ecc([142, 164, 186], 5) == [114, 25, 5, 88, 102]
    assert bc.measure("datamatrix", "123456", 10) == (100, 100)


def test_datamatrix_agrees_with_reportlab_44x44():
    from reportlab.graphics.barcode.ecc200datamatrix import ECC200DataMatrix
    ref = ECC200DataMatrix("HELLO WORLD 12345 ROYAL MAIL")
    ref.validate()
    data = ref._encode_c40(ref.validated)
    ecc = ref._get_reed_solomon_code(data, 56)
    assert bc._rs_ecc(data, 56) == ecc
    rows = [list(r) for r in ref.encode()][::-1]      # reportlab's rows run bottom-up
    spec = next(s for s in bc._DM_SIZES if s[0] == 44)
    ours = bc._dm_symbol(spec, data + ecc)
    assert [[bool(v) for v in r] for r in rows] == [list(r) for r in ours]


@pytest.mark.parametrize("data,size", [("A", (10, 10)), ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (22, 22)),
                                       ("0" * 88, (26, 26)), ("0" * 90, (32, 32)),
                                       ("é" * 60, (44, 44))])
def test_datamatrix_smallest_square_size(data, size):
    rows = bc.encode("datamatrix", data).rows
    assert (len(rows), len(rows[0])) == size
    n = size[0]
    assert all(rows[r][0] for r in range(n)) and all(rows[n - 1])        # L finder
    assert [rows[0][c] for c in range(n)] == [c % 2 == 0 for c in range(n)]  # clock track


def test_datamatrix_shapes_and_limits():
    assert len(bc.encode("datamatrix", "x" * 40, {"shape": "rect"}).rows[0]) == 48
    rows = bc.encode("datamatrix", "123", {"size": "16x48"}).rows
    assert (len(rows), len(rows[0])) == (16, 48)
    with pytest.raises(ValueError, match="do not fit"):
        bc.encode("datamatrix", "x" * 20, {"size": "10x10"})
    with pytest.raises(ValueError, match="8859-1"):
        bc.encode("datamatrix", "\u20ac")


def test_qr_version_from_data():
    assert len(bc.encode("qr", "HELLO WORLD").rows) == 21                   # version 1-M
    assert len(bc.encode("qr", "HELLO WORLD", {"ecc": "Q"}).rows) == 21    # 1-Q: 16 alnum
    assert len(bc.encode("qr", "HELLO WORLD", {"ecc": "H"}).rows) == 25    # 1-H: 10 alnum
    assert len(bc.encode("qr", "x" * 100, {"ecc": "L"}).rows) == 17 + 4 * 5  # 106 bytes max: v5
    assert len(bc.encode("qr", "x" * 100, {"ecc": "H"}).rows) == 17 + 4 * 10  # v9-H: 84 bytes
    assert len(bc.encode("qr", "12", {"version": 3}).rows) == 29
    assert len(bc.encode("qr", "x" * 2900, {"ecc": "L"}).rows) == 177        # v40-L: 2953 bytes
    with pytest.raises(ValueError, match="do not fit"):
        bc.encode("qr", "x" * 2954, {"ecc": "L"})
    with pytest.raises(ValueError, match="error correction"):
        bc.encode("qr", "x", {"ecc": "Z"})


def test_qr_finder_patterns():
    rows = bc.encode("qr", "https://example.org/facture/2024-000123").rows
    n = len(rows)
    finder = [[r in (0, 6) or c in (0, 6) or (2 <= r <= 4 and 2 <= c <= 4) for c in range(7)]
              for r in range(7)]
    for r0, c0 in ((0, 0), (0, n - 7), (n - 7, 0)):
        assert [[rows[r0 + r][c0 + c] for c in range(7)] for r in range(7)] == finder
    assert [rows[6][c] for c in range(8, n - 8)] == [c % 2 == 0 for c in range(8, n - 8)]


def test_code128_values_and_width():
    # all digits: start C, 12 34 56, check (105 + 12 + 2*34 + 3*56) % 103 = 44, stop
    assert bc.code128_values("123456") == [105, 12, 34, 56, 44, 106]
    sym = bc.encode("code128", "123456")
    assert sym.length == 5 * 11 + 13
    assert len(sym.bars) == 3 * 5 + 4        # 3 bars per symbol, 4 in the stop pattern
    assert sym.bars[:3] == ((0, 2), (3, 1), (6, 3))   # start C = 211232
    w, h = bc.measure("code128", "123456", 20)
    assert (w, h) == (68 * 20, 360)
    assert bc.measure("code128", "123456", 20, {"height": 500}) == (1360, 500)


def test_rectangles_inside_bounding_box_and_merged():
    cases = [("qr", bc.epc_qr_payload("ACME", "FR7630006000011234567890189", "", "10"),
              bc.EPC_QR_OPTIONS, 15),
             ("datamatrix", "ccm-batch 0123456789", (), 20),
             ("code128", "CCM-0001-7", (), 14),
             ("imb", "00040123456200800001987654321", (), 66)]
    for sym, data, opts, module in cases:
        w, h = bc.measure(sym, data, module, opts)
        b = Barcode(500, 700, w, h, sym, data, module, opts)
        rects = bc.rectangles(b)
        assert rects and rects == sorted(rects, key=lambda r: (r[1], r[0]))
        for x, y, rw, rh in rects:
            assert rw > 0 and rh > 0
            assert 500 <= x and x + rw <= 500 + w and 700 <= y and y + rh <= 700 + h
    # dark area equals the dark module count (no overlap, nothing lost by merging)
    rows = bc.encode("qr", "HELLO WORLD").rows
    rects = bc.rectangles(Barcode(0, 0, 210, 210, "qr", "HELLO WORLD", 10))
    assert sum(w * h for _, _, w, h in rects) == 100 * sum(map(sum, rows))
    assert len(rects) < sum(map(sum, rows)) // 2


def test_unknown_symbology():
    with pytest.raises(ValueError, match="symbology"):
        bc.measure("pdf417", "x", 10)


# -- optional round trip through real decoders (installed on dev machines: zbar-tools, dmtx-utils)

def _png(path, barcode: Barcode, quiet: int) -> None:
    from PIL import Image, ImageDraw
    img = Image.new("L", (barcode.width + 2 * quiet, barcode.height + 2 * quiet), 255)
    draw = ImageDraw.Draw(img)
    for x, y, w, h in bc.rectangles(barcode):
        draw.rectangle([x + quiet, y + quiet, x + quiet + w - 1, y + quiet + h - 1], fill=0)
    img.save(path)


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg not installed")
@pytest.mark.parametrize("sym,data,opts", [
    ("qr", "BCD\n002\n1\nSCT\n\nACME\nFR7630006000011234567890189\nEUR10.00", bc.EPC_QR_OPTIONS),
    ("qr", "Élise Müller 12,50 €", (("eci", "true"),)),
    ("code128", "Hello-123456789", ()),
])
def test_decode_with_zbar(tmp_path, sym, data, opts):
    w, h = bc.measure(sym, data, 4, opts)
    _png(tmp_path / "s.png", Barcode(0, 0, w, h, sym, data, 4, opts), 48)
    out = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "s.png")],
                         capture_output=True, timeout=30).stdout.decode("utf-8")
    assert out.rstrip("\n") == data


@pytest.mark.skipif(shutil.which("dmtxread") is None, reason="dmtxread not installed")
@pytest.mark.parametrize("data,opts", [("Hello, World! ÉàÇ 0123456789", ()),
                                       ("x" * 40, (("shape", "rect"),)),
                                       ("0123456789" * 60, ())])
def test_decode_datamatrix_with_libdmtx(tmp_path, data, opts):
    w, h = bc.measure("datamatrix", data, 4, opts)
    _png(tmp_path / "s.png", Barcode(0, 0, w, h, "datamatrix", data, 4, opts), 16)
    out = subprocess.run(["dmtxread", "-N1", str(tmp_path / "s.png")],
                         capture_output=True, timeout=60).stdout.decode("latin-1")
    assert out == data


def test_imb_options_and_box_independence():
    data = "01234567094987654321"
    opts = (("height", 230), ("tracker", 72), ("bar_width", 30))
    w, h = bc.measure("imb", data, 68, opts)
    assert (w, h) == (64 * 68 + 30, 230)
    roomy = bc.rectangles(Barcode(0, 0, w + 500, 400, "imb", data, 68, opts))
    exact = bc.rectangles(Barcode(0, 0, w, h, "imb", data, 68, opts))
    assert roomy == exact
    assert max(y + rh for _, y, _, rh in exact) == 230
    assert {rw for _, _, rw, _ in exact} == {30}


def test_code128_bars_stretch_to_box_height():
    rects = bc.rectangles(Barcode(10, 20, 68 * 15, 700, "code128", "123456", 15))
    assert {(y, h) for _, y, _, h in rects} == {(20, 700)}
    assert rects[0][0] == 10 and rects[0][2] == 2 * 15


def test_datamatrix_gs1_starts_with_fnc1():
    plain = bc.encode("datamatrix", "0109501101020917").rows
    gs1 = bc.encode("datamatrix", "0109501101020917", {"gs1": "true"}).rows
    assert plain != gs1
    spec = next(s for s in bc._DM_SIZES if s[0] == len(gs1) and s[1] == len(gs1[0]))
    data = bc._dm_pad([232] + bc._dm_codewords_ascii("0109501101020917"), spec[6])
    assert bc._dm_symbol(spec, bc._dm_interleave(data, spec[7], spec[8])) == gs1
