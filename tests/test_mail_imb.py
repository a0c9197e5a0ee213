"""USPS Intelligent Mail barcode (issue 11 item 5): the routing code carries the delivery point (11 digits)
when the extract gives it, and a piece without a valid 11-digit code is not priced at automation rates.

The printed bars are read back from the rendered PDF (pdftoppm raster, bars measured in pixels) and
decoded by a decoder written here from USPS-B-3200 (no IMb decoder is on PyPI); its tables come from
reportlab's independent encoder (``reportlab.graphics.barcode.usps4s``), not from ccm_batch."""
from __future__ import annotations

import csv
import re
import sqlite3
import subprocess

import pytest
from PIL import Image
from reportlab.graphics.barcode.usps4s import USPS_4State, _crc11

from ccm_batch import mail
from ccm_batch.mail.sample import document_row, insert_documents
from runjobs import ROOT, run_cli

DATE = "2026-01-15"
_DARK = bytes(1 if v < 128 else 0 for v in range(256))


# ---------------------------------------------------------------------------------------- decoder

def decode_imb(bars: str) -> tuple[str, str]:
    """(tracking, routing) of a 65-bar string of T/A/D/F (USPS-B-3200 decoding, checked by the FCS)."""
    assert len(bars) == 65 and set(bars) <= set("TADF"), bars
    ref = USPS_4State()
    table1, table2, table4 = ref.table1, ref.table2, USPS_4State.table4
    chars = [0] * 10
    for bar, (dc, db, ac, ab) in zip(bars, table4):
        if bar in "DF":
            chars[dc] |= 1 << db
        if bar in "AF":
            chars[ac] |= 1 << ab
    fcs, codewords = 0, []
    for i, c in enumerate(chars):
        ones = bin(c).count("1")
        if ones in (8, 11):                      # an inverted character carries FCS bit i
            fcs |= 1 << i
            c ^= 0x1FFF
        codewords.append(table1.index(c) if bin(c).count("1") == 5 else 1287 + table2.index(c))
    a, j = codewords[0], codewords[9]
    if a >= 659:
        fcs |= 1 << 10
        a -= 659
    assert j % 2 == 0, "codeword J must be even"
    value = a
    for cw in codewords[1:9]:
        value = value * 1365 + cw
    value = value * 636 + j // 2
    assert _crc11(value) == fcs, "frame check sequence mismatch"
    digits = ""
    for _ in range(18):
        value, d = divmod(value, 10)
        digits = str(d) + digits
    value, bi1 = divmod(value, 5)
    value, bi0 = divmod(value, 10)
    tracking = f"{bi0}{bi1}" + digits
    if value == 0:
        routing = ""
    elif value <= 100000:
        routing = f"{value - 1:05d}"
    elif value <= 1000100000:
        routing = f"{value - 100001:09d}"
    else:
        routing = f"{value - 1000100001:011d}"
    return tracking, routing


def test_decoder_reads_the_usps_vectors():
    assert decode_imb("AADTFFDFTDADTAADAATFDTDDAAADDTDTTDAFADADDDTFFFDDTTTADFAAADFTDAADA") == \
        ("01234567094987654321", "01234567891")
    assert decode_imb("DDADATADTAATDTTTDFDTTFTFFADTFTDFTATAAFTTFATDAATATDATATFADAADDTFDT") == \
        ("23270592831482031240", "96713024817")


def read_bars(png) -> str:
    """The 4-state bars of the one IMb on a page image: the longest row of evenly spaced dark runs
    (the tracker band crosses all 65 bars), then each bar's top and bottom against the tracker's."""
    img = Image.open(png).convert("L")
    w, h = img.size
    data = img.tobytes().translate(_DARK)
    best = (0, None, [])
    for y in range(h):
        runs = [m.span() for m in re.finditer(rb"\x01+", data[y * w:(y + 1) * w])]
        chains, chain = [], []
        for r in runs:                     # chains of runs at a constant pitch (±20 %)
            if len(chain) >= 2 and not 0.8 * pitch < r[0] - chain[-1][0] < 1.2 * pitch:
                chains.append(chain)
                chain = []
            if len(chain) == 1:
                pitch = r[0] - chain[0][0]
            chain.append(r)
        chains.append(chain)
        longest = max(chains, key=len)
        if len(longest) > best[0]:
            best = (len(longest), y, longest)
    px = img.load()
    count, y, bars = best
    assert count == 65, f"found {count} bars"
    extents = []
    for x0, x1 in bars:
        x = (x0 + x1) // 2
        top = y
        while top > 0 and px[x, top - 1] < 128:
            top -= 1
        bottom = y
        while bottom < h - 1 and px[x, bottom + 1] < 128:
            bottom += 1
        extents.append((top, bottom))
    t_top = max(t for t, _ in extents)              # the tracker is the shortest bar
    t_bottom = min(b for _, b in extents)
    slack = (t_bottom - t_top) // 2
    return "".join({(False, False): "T", (True, False): "A", (False, True): "D", (True, True): "F"}[
        (top < t_top - slack, bottom > t_bottom + slack)] for top, bottom in extents)


# ---------------------------------------------------------------------------------------- the run

@pytest.fixture(scope="module")
def us_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("us")
    proc = run_cli("run", ROOT / "samples" / "us-statement.toml", "--output", out, "--workers", "1", "-f", "pdf")
    assert proc.returncode in (0, 4), proc.stderr
    return out


def test_printed_imb_carries_the_delivery_point_routing_code(us_run, tmp_path):
    extract = {row[1]: row for row in csv.reader(open(ROOT / "samples" / "data" / "us-statements.csv"))
               if row[0] == "H"}
    pieces = list(csv.DictReader(open(us_run / "us-statement.mailrun.csv")))
    usps = [p for p in pieces if p["imb_tracking"]]
    assert usps
    for piece in usps:
        account = piece["doc_ids"].split()[0].split("-")[1]
        h = extract[account]
        expected = h[10] + h[11] + h[12]                                     # zip5 + zip4 + delivery point
        assert len(expected) == 11 and piece["imb_routing"] == expected
        page = int(piece["first_page"])
        stem = tmp_path / f"p{page}"
        subprocess.run(["pdftoppm", "-r", "400", "-gray", "-f", str(page), "-l", str(page), "-png", "-singlefile",
                        "-y", "0", "-H", "2000", "-W", "3400",         # the upper part: address block and IMb
                        str(us_run / piece["print_file"]), str(stem)], check=True)
        tracking, routing = decode_imb(read_bars(f"{stem}.png"))
        assert (tracking, routing) == (piece["imb_tracking"], expected), piece["piece_id"]


# ---------------------------------------------------------------------------------------- pricing

def test_automation_prices_need_the_11_digit_routing_code():
    rows = []
    for seq in range(1, 601):            # 600 pieces to one ZIP: a 5-digit presort; every 4th without DP
        pc = f"10001-{seq:04d}" + ("" if seq % 4 == 0 else f"-{seq % 97:02d}")
        rows.append(document_row(seq, country="US", postcode=pc, recipient_name=f"JOHN DOE {seq}",
                                 address=[f"JOHN DOE {seq}", f"{seq} MAIN ST", f"NEW YORK NY {pc[:10]}"],
                                 page_width=12240, page_height=15840))
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    mail.plan_mail(db, mail.MailConfig.from_dict({"enabled": True, "imb": {"enabled": True}}, "."), "T", DATE)
    got = db.execute("SELECT length(imb_routing), rate_level, price, level FROM mail_piece").fetchall()
    auto = [g for g in got if g[0] == 11]
    other = [g for g in got if g[0] != 11]
    assert len(auto) == 450 and len(other) == 150
    assert {g[1] for g in auto} == {"5D"} and {g[2] for g in auto} == {0.398}
    assert {g[1] for g in other} == {"NONAUTO"} and {g[2] for g in other} == {0.46}
    assert {g[3] for g in other} == {"5D"}              # still sorted and trayed with the others
