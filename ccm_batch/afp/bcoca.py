"""Render stage (AFP format layer): BCOCA bar code objects (BBC … EBC) — Code 128, Data Matrix, QR, IMb.

The printer generates the symbol from the data (afp.md §8), so the object only describes it:

==========  =====  ========  ================================================================
symbology   type   modifier  data / special-function parameters
==========  =====  ========  ================================================================
code128     X'11'  X'02'     EBCDIC (cp500; Code 128 code page 1303 agrees on letters, digits,
                             space and hyphen — other punctuation is a §15 "check" item)
datamatrix  X'1C'  X'00'     10 bytes (escape handling off, row size / rows from the composed
                             symbol when they are valid, auto encodation) + ISO 8859-1 data
qr          X'20'  X'02'     9 bytes (escape handling off, version from the composed symbol,
                             ECC level from ``options["ecc"]`` L/M/Q/H, default M) + UTF-8
                             data without ECI (as :mod:`ccm_batch.barcodes` encodes it)
imb         X'22'  X'00'     USPS Intelligent Mail 4-state: the 20-digit tracking code plus a
                             0/5/9/11-digit routing code, as EBCDIC digits (other characters
                             such as '-' are dropped)
==========  =====  ========  ================================================================

The printer adds no quiet zone, so the object area extends a quiet zone around the symbol (10
modules for Code 128, 4 for QR, 1 for Data Matrix, 1/8 in for IMb), clipped at the page edge; the
symbol origin (BDA X/Y offsets, ≥ 1) lands exactly on the composed top-left corner. Human-readable
interpretation is suppressed (composition prints its own text). Module width is given in mils
(1/1000 in, rounded from L-units); for IMb the printer's USPS defaults are used (X'FF').

The printer, not :mod:`ccm_batch.barcodes`, encodes the symbol: QR/Data Matrix keep the composed
size (version / rows × columns are requested), but a Code 128 may come out a few modules wider or
narrower if the printer picks other code sets. Where exact geometry matters, render bar codes with
``AfpOptions(barcode_mode="rules")`` (rectangles from :func:`ccm_batch.barcodes.rectangles`).
"""
from __future__ import annotations

from . import fields as F

SYMBOLOGIES: dict[str, tuple[int, int]] = {
    "code128": (0x11, 0x02),
    "datamatrix": (0x1C, 0x00),
    "qr": (0x20, 0x02),
    "imb": (0x22, 0x00),
}
_QUIET_MODULES = {"code128": 10, "datamatrix": 1, "qr": 4}
_IMB_QUIET = 180                      # 0.125 in
_ECC = {"L": 0, "M": 1, "Q": 2, "H": 3}
BLACK = b"\x00\x08"


def module_mils(module: int) -> int:
    """Module width in mils (1..254) from L-units."""
    return max(1, min(254, round(module * 1000 / 1440)))


def _options(options) -> dict:
    try:
        return {str(k).lower(): v for k, v in options}
    except (TypeError, ValueError):
        return {}


def symbol_data(symbology: str, data: str, width: int, height: int, module: int, options=()) -> bytes:
    """Special-function parameters (if any) followed by the encoded data, for the BDA."""
    opts = _options(options)
    if symbology == "code128":
        return data.encode("cp500", "replace")
    if symbology == "imb":
        return "".join(ch for ch in data if ch.isdigit()).encode("cp500")
    payload = data.encode("utf-8") if symbology == "qr" else _latin1_or_utf8(data)
    modules_x = round(width / module) if module else 0
    modules_y = round(height / module) if module else 0
    if symbology == "datamatrix":
        cols = modules_x if modules_x >= 8 and modules_x % 2 == 0 and modules_x <= 144 else 0
        rows = modules_y if cols and modules_y >= 8 and modules_y % 2 == 0 and modules_y <= 144 else 0
        if not rows:
            cols = 0
        return (b"\x40" + cols.to_bytes(2, "big") + rows.to_bytes(2, "big") + b"\x00\x00\x00\x00"
                + b"\x00" + payload)
    if symbology == "qr":
        version = (modules_x - 17) // 4 if modules_x >= 21 and (modules_x - 17) % 4 == 0 else 0
        version = version if 1 <= version <= 40 else 0
        ecc = _ECC.get(str(opts.get("ecc", "M")).upper()[:1], 1)
        return bytes((0x40, 0x00, version, ecc, 0, 0, 0, 0, 0)) + payload
    raise ValueError(f"unknown bar code symbology {symbology!r}")


def _latin1_or_utf8(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def barcode_object(name: str, symbology: str, data: str, x: int, y: int, width: int, height: int,
                   module: int, options=(), page_width: int | None = None,
                   page_height: int | None = None) -> bytes:
    """BBC … EBC placing one symbol with its top-left corner at page position (x, y)."""
    btype, modifier = SYMBOLOGIES[symbology]
    if symbology == "imb":
        qz_x = qz_y = _IMB_QUIET
        mils, bar_height = 0xFF, 0xFFFF
    else:
        qz_x = _QUIET_MODULES[symbology] * max(1, module)
        qz_y = qz_x if symbology != "code128" else max(1, module)
        mils = module_mils(module)
        bar_height = max(1, min(0x7FFF, height)) if symbology == "code128" else 0xFFFF
    left = max(1, min(qz_x, x))
    top = max(1, min(qz_y, y))
    right = qz_x if page_width is None else max(0, min(qz_x, page_width - x - width))
    bottom = qz_y if page_height is None else max(0, min(qz_y, page_height - y - height))
    area_w = min(0x7FFF, left + width + right)
    area_h = min(0x7FFF, top + height + bottom)
    bdd = (b"\x00\x00" + F.UNITS_PER_10IN.to_bytes(2, "big") * 2 + area_w.to_bytes(2, "big")
           + area_h.to_bytes(2, "big") + b"\x00\x00" + bytes((btype, modifier, 0xFF)) + BLACK
           + bytes((mils,)) + bar_height.to_bytes(2, "big") + b"\x01\x00\x00")
    oeg = (F.begin(F.BOG) + F.obd(area_w, area_h) + F.obp(x - left, y - top, 0x01)
           + F.sf(F.MBC, b"\x00\x05\x03\x04\x00") + F.sf(F.BDD, bdd) + F.begin(F.EOG))
    bda = (b"\x80" + left.to_bytes(2, "big") + top.to_bytes(2, "big")
           + symbol_data(symbology, data, width, height, module, options))
    return F.begin(F.BBC, name) + oeg + F.sf(F.BDA, bda) + F.begin(F.EBC, name)
