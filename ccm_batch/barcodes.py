"""Compose/render support: bar code symbols as dark rectangles, so every backend prints the same modules.

Composition sizes a symbol with :func:`measure` and places a :class:`ccm_batch.pages.Barcode`;
renderers turn it into filled rectangles with :func:`rectangles` (page units, 1/1440 in, origin
top-left, y down). Quiet zones are *not* part of the symbol: keep :func:`quiet_zone` clear.

Symbologies and the meaning of ``Barcode.module``:

* ``qr`` — QR Code model 2 (reportlab's ``qrencoder``); ``module`` = cell size. Options:
  ``ecc`` L/M/Q/H (default M), ``version`` 1–40 (default: smallest that fits). Mode: numeric if
  all digits, alphanumeric if all in the QR alphanumeric set, else bytes (UTF-8, no ECI — what
  EPC069-12 and phone readers expect); option ``eci`` true adds an ECI 26 (UTF-8) header
  before byte data, for readers that would otherwise guess Shift JIS.
* ``datamatrix`` — ECC 200 (own encoder: reportlab's only makes 44×44 C40 symbols). ASCII
  encodation (digit pairs, Upper Shift for Latin-1 128–255; other characters are refused),
  Reed-Solomon over GF(256)/0x12D, ISO/IEC 16022 Annex F placement. ``module`` = cell size.
  Options: ``shape`` square (default) | rect | any, ``size`` "RxC" to force a symbol size,
  ``gs1`` true to start with FNC1 (GS1 DataMatrix; separate variable-length fields with GS,
  ``\x1d``).
* ``code128`` — reportlab's ``Code128`` (sets A/B/C chosen by reportlab); ``module`` = X
  dimension (narrowest bar). Option ``height`` (page units); default max(0.15 × length,
  0.25 in).
* ``imb`` — USPS Intelligent Mail barcode (USPS-B-3200), 65 bars, encoded by reportlab's
  ``usps4s`` and checked against the USPS vectors. ``data`` = 20-digit tracking code followed by
  the 0/5/9/11-digit routing code (spaces and dashes ignored). ``module`` = bar **pitch**
  (60–72 units = 20–24 bars/in; 0 → 65). Options: ``bar_width`` (default 29 ≈ 0.020 in),
  ``height`` full-bar height (default 209 ≈ 0.145 in), ``tracker`` (default 69 ≈ 0.048 in).
  Ascenders run from the top to the tracker's bottom, descenders from the tracker's top to the
  bottom, so the tracker is centred on the symbol's axis.

Rectangles are drawn from the Barcode's top-left corner at the natural size for its module;
Code 128 bars stretch to ``Barcode.height`` when it is set. The IMb keeps its USPS-B-3200
geometry (set through its options only) whatever the box, so a roomy box cannot make it
non-compliant. Dark
modules are merged into horizontal runs, and identical runs of consecutive rows into one
rectangle, to keep the count (and print-file size) low. Encodings are cached (LRU).

Also here: :func:`imb_encode` (the 65-letter A/D/F/T string for the mail stage) and
:func:`epc_qr_payload` (EPC069-12 v002 SEPA credit transfer QR content, validated).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple

from .pages import Barcode

__all__ = ["SYMBOLOGIES", "Symbol", "encode", "measure", "rectangles", "quiet_zone",
           "imb_encode", "epc_qr_payload", "iban_is_valid", "rf_reference_is_valid",
           "EPC_QR_OPTIONS"]

SYMBOLOGIES = ("qr", "datamatrix", "code128", "imb")
EPC_QR_OPTIONS = (("ecc", "M"),)

UNITS_PER_INCH = 1440
IMB_PITCH = 65            # 22.15 bars/in (USPS-B-3200: 20–24 bars/in)
IMB_BAR_WIDTH = 29        # 0.020 in (0.015–0.025)
IMB_HEIGHT = 209          # full bar 0.145 in (0.125–0.165)
IMB_TRACKER = 69          # tracker 0.048 in (0.039–0.057)


class Symbol(NamedTuple):
    """An encoded symbol, independent of size.

    ``kind`` is ``matrix`` (``rows``: tuple of tuples of bools, True = dark), ``bars``
    (``bars``: ``(start, width)`` of each bar in modules, ``length`` modules in all) or
    ``fourstate`` (``states``: the IMb string of T/A/D/F letters).
    """
    kind: str
    rows: tuple = ()
    bars: tuple = ()
    length: int = 0
    states: str = ""
    runs: tuple = ()             # matrix: merged dark runs (row, col, length, height)


def _options(options) -> dict:
    if isinstance(options, dict):
        return dict(options)
    return {str(k): v for k, v in options}


def encode(symbology: str, data: str, options=()) -> Symbol:
    """Encode ``data``; raises ``ValueError`` (message names the symbology) when it cannot."""
    opts = tuple(sorted(_options(options).items()))
    return _encode(symbology, data, opts)


@lru_cache(maxsize=4096)
def _encode(symbology: str, data: str, opts: tuple) -> Symbol:
    o = dict(opts)
    if symbology == "qr":
        rows = _qr_matrix(data, str(o.get("ecc", "M")).upper(), o.get("version"),
                          _flag(o.get("eci")))
        return Symbol("matrix", rows=rows, runs=tuple(_merged_runs(rows)))
    if symbology == "datamatrix":
        rows = _dm_matrix(data, str(o.get("shape", "square")), o.get("size"), _flag(o.get("gs1")))
        return Symbol("matrix", rows=rows, runs=tuple(_merged_runs(rows)))
    if symbology == "code128":
        bars, length = _code128_bars(data)
        return Symbol("bars", bars=bars, length=length)
    if symbology == "imb":
        tracking, routing = _imb_split(data)
        return Symbol("fourstate", states=imb_encode(tracking, routing))
    raise ValueError(f"unknown bar code symbology {symbology!r} (use {', '.join(SYMBOLOGIES)})")


def _imb_geometry(module: int, o: dict) -> tuple[int, int, int, int]:
    """``(pitch, bar width, full height, tracker height)`` in page units."""
    pitch = int(module) or IMB_PITCH
    if not 60 <= pitch <= 72:
        raise ValueError(f"imb: bar pitch {pitch} units is outside USPS-B-3200's 20–24 bars/in "
                         "(60–72 units)")
    bar = int(o.get("bar_width", IMB_BAR_WIDTH))
    full = int(o.get("height", IMB_HEIGHT))
    tracker = int(o.get("tracker", round(full * IMB_TRACKER / IMB_HEIGHT)))
    if not 0 < bar < pitch or not 0 < tracker < full:
        raise ValueError("imb: need 0 < bar_width < pitch and 0 < tracker < height")
    return pitch, bar, full, tracker


def measure(symbology: str, data: str, module: int, options=()) -> tuple[int, int]:
    """``(width, height)`` of the symbol in page units, quiet zones excluded."""
    o = _options(options)
    sym = encode(symbology, data, o)
    if sym.kind == "matrix":
        return len(sym.rows[0]) * module, len(sym.rows) * module
    if sym.kind == "bars":
        width = sym.length * module
        height = int(o.get("height", 0)) or max(round(width * 0.15), UNITS_PER_INCH // 4)
        return width, height
    pitch, bar, full, _ = _imb_geometry(module, o)
    return 64 * pitch + bar, full


def quiet_zone(symbology: str, module: int) -> tuple[int, int]:
    """``(horizontal, vertical)`` clear space to keep around the symbol, page units."""
    if symbology == "qr":
        return 4 * module, 4 * module
    if symbology == "datamatrix":
        return module, module
    if symbology == "code128":
        return max(10 * module, UNITS_PER_INCH // 4), 0
    if symbology == "imb":
        return 180, 40            # 0.125 in left/right, 0.028 in above/below
    raise ValueError(f"unknown bar code symbology {symbology!r}")


def rectangles(barcode: Barcode) -> list[tuple[int, int, int, int]]:
    """Dark rectangles ``(x, y, width, height)`` of ``barcode`` in page coordinates.

    Sorted top to bottom, then left to right; deterministic for a given Barcode.
    """
    o = _options(barcode.options)
    sym = encode(barcode.symbology, barcode.data, o)
    x0, y0, m = barcode.x, barcode.y, barcode.module
    if sym.kind == "matrix":
        return [(x0 + c * m, y0 + r * m, n * m, h * m) for r, c, n, h in sym.runs]
    if sym.kind == "bars":
        height = barcode.height or measure(barcode.symbology, barcode.data, m, o)[1]
        return [(x0 + start * m, y0, width * m, height) for start, width in sym.bars]
    pitch, bar, full, tracker = _imb_geometry(m, o)
    top = (full - tracker) // 2
    spans = {"F": (0, full), "A": (0, top + tracker), "D": (top, full - top),
             "T": (top, tracker)}
    out = []
    for k, state in enumerate(sym.states):
        dy, h = spans[state]
        out.append((x0 + k * pitch, y0 + dy, bar, h))
    out.sort(key=lambda r: (r[1], r[0]))
    return out


def _merged_runs(rows: tuple) -> list[tuple[int, int, int, int]]:
    """``(row, col, length, height)`` of dark runs, identical runs of adjacent rows merged."""
    done: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}       # (col, length) -> first row
    for r, row in enumerate(rows):
        runs = set()
        c, n = 0, len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                runs.add((start, c - start))
            else:
                c += 1
        for key in [k for k in open_runs if k not in runs]:
            first = open_runs.pop(key)
            done.append((first, key[0], key[1], r - first))
        for key in runs:
            open_runs.setdefault(key, r)
    for key, first in open_runs.items():
        done.append((first, key[0], key[1], len(rows) - first))
    done.sort()
    return done


# -- QR Code -----------------------------------------------------------------------------------

_QR_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def _qr_version(q, segment, level) -> int:
    """Smallest version 1–40 holding ``segment`` (reportlab's own search stops at 39)."""
    for version in range(1, 41):
        capacity = sum(b.dataCount for b in q.QRRSBlock.getRSBlocks(version, level)) * 8
        if 4 + segment.getLengthBits(version) + segment.bitlength <= capacity:
            return version
    raise ValueError("too much data")


def _flag(value) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _qr_matrix(data: str, ecc: str, version, eci: bool = False) -> tuple:
    from reportlab.graphics.barcode import qrencoder as q
    level = {"L": q.QRErrorCorrectLevel.L, "M": q.QRErrorCorrectLevel.M,
             "Q": q.QRErrorCorrectLevel.Q, "H": q.QRErrorCorrectLevel.H}.get(ecc)
    if level is None:
        raise ValueError(f"qr: error correction level must be L, M, Q or H, not {ecc!r}")
    if not data:
        raise ValueError("qr: no data to encode")
    if data.isdigit() and data.isascii():
        segment = q.QRNumber(data)
    elif all(ch in _QR_ALNUM for ch in data):
        segment = q.QRAlphaNum(data)
    else:
        segment = q.QR8bitByte(data)
    code = q.QRCode(int(version) if version else None, level)
    if eci and isinstance(segment, q.QR8bitByte):
        code.addData(q.QRECI(26))         # ECI 000026: UTF-8
    code.addData(segment)
    try:
        if code.version is None:
            code.version = _qr_version(q, segment, level)
        code.make()
    except Exception as exc:      # reportlab raises bare Exceptions on overflow
        raise ValueError(f"qr: {len(data)} characters do not fit a QR code at level {ecc}"
                         f" ({exc})") from None
    n = code.getModuleCount()
    return tuple(tuple(bool(code.modules[r][c]) for c in range(n)) for r in range(n))


# -- Data Matrix ECC 200 -----------------------------------------------------------------------

# (rows, cols, region rows, region cols, data region rows, data region cols, data cw, ecc cw,
#  interleaved blocks), ISO/IEC 16022 table 7.
_DM_SIZES = (
    (10, 10, 1, 1, 8, 8, 3, 5, 1), (12, 12, 1, 1, 10, 10, 5, 7, 1),
    (14, 14, 1, 1, 12, 12, 8, 10, 1), (16, 16, 1, 1, 14, 14, 12, 12, 1),
    (18, 18, 1, 1, 16, 16, 18, 14, 1), (20, 20, 1, 1, 18, 18, 22, 18, 1),
    (22, 22, 1, 1, 20, 20, 30, 20, 1), (24, 24, 1, 1, 22, 22, 36, 24, 1),
    (26, 26, 1, 1, 24, 24, 44, 28, 1), (32, 32, 2, 2, 14, 14, 62, 36, 1),
    (36, 36, 2, 2, 16, 16, 86, 42, 1), (40, 40, 2, 2, 18, 18, 114, 48, 1),
    (44, 44, 2, 2, 20, 20, 144, 56, 1), (48, 48, 2, 2, 22, 22, 174, 68, 1),
    (52, 52, 2, 2, 24, 24, 204, 84, 2), (64, 64, 4, 4, 14, 14, 280, 112, 2),
    (72, 72, 4, 4, 16, 16, 368, 144, 4), (80, 80, 4, 4, 18, 18, 456, 192, 4),
    (88, 88, 4, 4, 20, 20, 576, 224, 4), (96, 96, 4, 4, 22, 22, 696, 272, 4),
    (104, 104, 4, 4, 24, 24, 816, 336, 6), (120, 120, 6, 6, 18, 18, 1050, 408, 6),
    (132, 132, 6, 6, 20, 20, 1304, 496, 8), (144, 144, 6, 6, 22, 22, 1558, 620, 10),
    (8, 18, 1, 1, 6, 16, 5, 7, 1), (8, 32, 1, 2, 6, 14, 10, 11, 1),
    (12, 26, 1, 1, 10, 24, 16, 14, 1), (12, 36, 1, 2, 10, 16, 22, 18, 1),
    (16, 36, 1, 2, 14, 16, 32, 24, 1), (16, 48, 1, 2, 14, 22, 49, 28, 1),
)

_GF_EXP = [0] * 512
_GF_LOG = [0] * 256
_v = 1
for _i in range(255):
    _GF_EXP[_i] = _v
    _GF_LOG[_v] = _i
    _v <<= 1
    if _v & 0x100:
        _v ^= 0x12D
for _i in range(255, 512):
    _GF_EXP[_i] = _GF_EXP[_i - 255]
del _v, _i


def _gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _GF_EXP[_GF_LOG[a] + _GF_LOG[b]]


@lru_cache(maxsize=None)
def _rs_generator(n: int) -> tuple:
    gen = [1]
    for i in range(1, n + 1):       # (x - a^1)(x - a^2)...(x - a^n), highest degree first
        root = _GF_EXP[i]
        nxt = gen + [0]
        for j in range(len(gen)):
            nxt[j + 1] ^= _gf_mul(gen[j], root)
        gen = nxt
    return tuple(gen)


def _rs_ecc(data: list[int], n: int) -> list[int]:
    """Reed-Solomon check codewords of ``data`` (ECC 200: GF(256)/0x12D, roots a^1..a^n)."""
    gen = _rs_generator(n)
    ecc = [0] * n
    for d in data:
        k = ecc[0] ^ d
        ecc = ecc[1:] + [0]
        if k:
            for j in range(n):
                ecc[j] ^= _gf_mul(gen[j + 1], k)
    return ecc


def _dm_codewords_ascii(data: str) -> list[int]:
    try:
        raw = data.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("datamatrix: only ISO 8859-1 characters can be encoded") from None
    out: list[int] = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if 48 <= b <= 57 and i + 1 < n and 48 <= raw[i + 1] <= 57:
            out.append(130 + (b - 48) * 10 + raw[i + 1] - 48)
            i += 2
            continue
        if b > 127:
            out.append(235)                 # Upper Shift
            b -= 128
        out.append(b + 1)
        i += 1
    return out


def _dm_pad(codewords: list[int], capacity: int) -> list[int]:
    out = list(codewords)
    if len(out) < capacity:
        out.append(129)
    while len(out) < capacity:
        pos = len(out) + 1
        pad = 129 + (149 * pos) % 253 + 1
        out.append(pad - 254 if pad > 254 else pad)
    return out


def _dm_interleave(data: list[int], ecc_total: int, blocks: int) -> list[int]:
    ecc_per = ecc_total // blocks
    ecc = [0] * ecc_total
    for b in range(blocks):
        block_ecc = _rs_ecc(data[b::blocks], ecc_per)
        for j, value in enumerate(block_ecc):
            ecc[j * blocks + b] = value
    return data + ecc


def _dm_place(nrow: int, ncol: int, codewords: list[int]) -> list[list[int]]:
    """ISO/IEC 16022 Annex F: place codeword bits in the ``nrow`` × ``ncol`` mapping matrix."""
    array = [[-1] * ncol for _ in range(nrow)]

    def module(r: int, c: int, k: int, bit: int) -> None:
        if r < 0:
            r += nrow
            c += 4 - ((nrow + 4) % 8)
        if c < 0:
            c += ncol
            r += 4 - ((ncol + 4) % 8)
        array[r][c] = (codewords[k] >> (8 - bit)) & 1

    def utah(r: int, c: int, k: int) -> None:
        for bit, (dr, dc) in enumerate(((-2, -2), (-2, -1), (-1, -2), (-1, -1), (-1, 0),
                                        (0, -2), (0, -1), (0, 0)), 1):
            module(r + dr, c + dc, k, bit)

    def corner(k: int, cells) -> None:
        for bit, (r, c) in enumerate(cells, 1):
            module(r, c, k, bit)

    k, r, c = 0, 4, 0
    while True:
        if r == nrow and c == 0:
            corner(k, ((nrow - 1, 0), (nrow - 1, 1), (nrow - 1, 2), (0, ncol - 2),
                       (0, ncol - 1), (1, ncol - 1), (2, ncol - 1), (3, ncol - 1)))
            k += 1
        if r == nrow - 2 and c == 0 and ncol % 4:
            corner(k, ((nrow - 3, 0), (nrow - 2, 0), (nrow - 1, 0), (0, ncol - 4),
                       (0, ncol - 3), (0, ncol - 2), (0, ncol - 1), (1, ncol - 1)))
            k += 1
        if r == nrow - 2 and c == 0 and ncol % 8 == 4:
            corner(k, ((nrow - 3, 0), (nrow - 2, 0), (nrow - 1, 0), (0, ncol - 2),
                       (0, ncol - 1), (1, ncol - 1), (2, ncol - 1), (3, ncol - 1)))
            k += 1
        if r == nrow + 4 and c == 2 and ncol % 8 == 0:
            corner(k, ((nrow - 1, 0), (nrow - 1, ncol - 1), (0, ncol - 3), (0, ncol - 2),
                       (0, ncol - 1), (1, ncol - 3), (1, ncol - 2), (1, ncol - 1)))
            k += 1
        while True:                                   # sweep upward-right
            if r < nrow and c >= 0 and array[r][c] < 0:
                utah(r, c, k)
                k += 1
            r -= 2
            c += 2
            if not (r >= 0 and c < ncol):
                break
        r += 1
        c += 3
        while True:                                   # sweep downward-left
            if r >= 0 and c < ncol and array[r][c] < 0:
                utah(r, c, k)
                k += 1
            r += 2
            c -= 2
            if not (r < nrow and c >= 0):
                break
        r += 3
        c += 1
        if not (r < nrow or c < ncol):
            break
    if array[nrow - 1][ncol - 1] < 0:
        array[nrow - 1][ncol - 1] = array[nrow - 2][ncol - 2] = 1
        array[nrow - 1][ncol - 2] = array[nrow - 2][ncol - 1] = 0
    return array


def _dm_symbol(size: tuple, codewords: list[int]) -> tuple:
    """Wrap the mapping matrix of ``codewords`` in finder patterns and clock tracks."""
    rows, cols, rreg, creg, rh, rw = size[:6]
    mapping = _dm_place(rreg * rh, creg * rw, codewords)
    out = [[False] * cols for _ in range(rows)]
    for br in range(rreg):
        for bc in range(creg):
            top, left = br * (rh + 2), bc * (rw + 2)
            for i in range(rw + 2):
                out[top][left + i] = i % 2 == 0                   # clock track, top
                out[top + rh + 1][left + i] = True                # finder, bottom
            for i in range(rh + 2):
                out[top + i][left] = True                         # finder, left
                out[top + i][left + rw + 1] = i % 2 == 1          # clock track, right
            for r in range(rh):
                src = mapping[br * rh + r]
                dst = out[top + 1 + r]
                for c in range(rw):
                    dst[left + 1 + c] = src[bc * rw + c] == 1
    return tuple(tuple(row) for row in out)


def _dm_matrix(data: str, shape: str, size, gs1: bool = False) -> tuple:
    if not data:
        raise ValueError("datamatrix: no data to encode")
    codewords = ([232] if gs1 else []) + _dm_codewords_ascii(data)
    if size:
        want = tuple(int(v) for v in str(size).lower().split("x"))
        candidates = [s for s in _DM_SIZES if s[:2] == want]
        if not candidates:
            raise ValueError(f"datamatrix: no ECC 200 symbol of size {size}")
    else:
        if shape not in ("square", "rect", "any"):
            raise ValueError(f"datamatrix: shape must be square, rect or any, not {shape!r}")
        candidates = [s for s in _DM_SIZES if shape == "any" or (s[0] == s[1]) == (shape == "square")]
        candidates.sort(key=lambda s: (s[6], s[0] * s[1]))
    for spec in candidates:
        if len(codewords) <= spec[6]:
            data_cw = _dm_pad(codewords, spec[6])
            # (144x144: data[b::10] gives its 8 blocks of 156 and 2 of 155 data codewords)
            full = _dm_interleave(data_cw, spec[7], spec[8])
            return _dm_symbol(spec, full)
    raise ValueError(f"datamatrix: {len(codewords)} codewords do not fit "
                     f"{'size ' + str(size) if size else 'any ' + shape + ' symbol'}")


# -- Code 128 ----------------------------------------------------------------------------------

def _code128_bars(data: str) -> tuple[tuple, int]:
    from reportlab.graphics.barcode.code128 import Code128
    if not data:
        raise ValueError("code128: no data to encode")
    if any(ord(ch) > 127 and ch not in "\xf1\xf2\xf3\xf4" for ch in data):
        raise ValueError("code128: only ASCII (and FNC1-4 as \\xf1-\\xf4) can be encoded")
    symbol = Code128(data, quiet=0)
    symbol.validate()
    if not getattr(symbol, "valid", 1):
        raise ValueError(f"code128: cannot encode {data!r}")
    symbol.encode()
    bars = []
    pos = 0
    for ch in symbol.decompose():
        width = ord(ch.lower()) - ord("a") + 1
        if ch.isupper():
            bars.append((pos, width))
        pos += width
    return tuple(bars), pos


def code128_values(data: str) -> list[int]:
    """Code 128 symbol values (start, data, check, stop) reportlab encodes for ``data``."""
    from reportlab.graphics.barcode.code128 import Code128
    symbol = Code128(data, quiet=0)
    symbol.validate()
    return list(symbol.encode())


# -- USPS Intelligent Mail barcode ---------------------------------------------------------------

def _imb_split(data: str) -> tuple[str, str]:
    digits = re.sub(r"[\s\-]", "", data)
    if not digits.isdigit() or len(digits) not in (20, 25, 29, 31):
        raise ValueError("imb: data must be 20 tracking digits followed by 0, 5, 9 or 11 "
                         f"routing digits, not {data!r}")
    return digits[:20], digits[20:]


def imb_encode(tracking: str, routing: str = "") -> str:
    """The 65 bar states (T, A, D, F; left to right) of an Intelligent Mail barcode.

    ``tracking``: 20 digits — barcode identifier (2, second digit 0–4), service type id (3),
    mailer id + serial number (15). ``routing``: "", ZIP (5), ZIP+4 (9) or ZIP+4+delivery
    point (11). Raises ``ValueError`` on malformed fields.
    """
    from reportlab.graphics.barcode.usps4s import USPS_4State
    tracking = str(tracking)
    routing = str(routing or "")
    if len(tracking) != 20 or not tracking.isdigit() or not tracking.isascii():
        raise ValueError(f"imb: tracking code must be 20 digits, not {tracking!r}")
    if tracking[1] not in "01234":
        raise ValueError(f"imb: barcode identifier {tracking[:2]} has a second digit above 4")
    if len(routing) not in (0, 5, 9, 11) or (routing and not routing.isdigit()):
        raise ValueError(f"imb: routing code must be 0, 5, 9 or 11 digits, not {routing!r}")
    states = USPS_4State(tracking, routing).barcodes
    if len(states) != 65:
        raise ValueError("imb: encoder did not produce 65 bars")      # pragma: no cover
    return states


# -- EPC069-12 SEPA credit transfer QR ---------------------------------------------------------

# IBAN lengths of the SEPA countries and territories (ISO 13616 registry).
_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22, "AL": 28, "ME": 22, "MD": 24, "MK": 19, "RS": 22,
}
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def _mod97(alnum: str) -> int:
    digits = "".join(str(int(ch, 36)) for ch in alnum)
    return int(digits) % 97


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: format, country length (SEPA countries) and mod-97 check digits."""
    s = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", s):
        return False
    if _IBAN_LENGTHS.get(s[:2], len(s)) != len(s):
        return False
    return _mod97(s[4:] + s[:4]) == 1


def rf_reference_is_valid(reference: str) -> bool:
    """ISO 11649 structured creditor reference ("RF" + 2 check digits + up to 21 alnum)."""
    s = re.sub(r"\s", "", reference).upper()
    if not re.fullmatch(r"RF[0-9]{2}[A-Z0-9]{1,21}", s):
        return False
    return _mod97(s[4:] + s[:4]) == 1


def epc_qr_payload(name: str, iban: str, bic: str, amount, reference: str = "",
                   text: str = "") -> str:
    """The EPC069-12 ("GiroCode"/SCT QR) payload, version 002, UTF-8; print it with ``ecc`` M.

    Lines: ``BCD``, ``002``, ``1`` (UTF-8), ``SCT``, BIC (may be empty in v002), beneficiary
    name (≤70), IBAN, ``EUR`` amount (0.01–999999999.99; ``None`` leaves it to the payer),
    purpose (empty), structured reference (ISO 11649 RF, ≤35) *or* unstructured text (≤140);
    trailing empty lines are left out, lines end with LF. Raises ``ValueError`` naming the field.
    """
    name = " ".join(str(name).split())
    if not name:
        raise ValueError("epc: beneficiary name is required")
    if len(name) > 70:
        raise ValueError(f"epc: beneficiary name longer than 70 characters ({len(name)})")
    iban_c = re.sub(r"\s", "", str(iban)).upper()
    if not iban_is_valid(iban_c):
        raise ValueError(f"epc: invalid IBAN {iban!r}")
    bic_c = re.sub(r"\s", "", str(bic or "")).upper()
    if bic_c and not _BIC.match(bic_c):
        raise ValueError(f"epc: invalid BIC {bic!r}")
    amount_field = ""
    if amount is not None and amount != "":
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise ValueError(f"epc: amount {amount!r} is not a number") from None
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(f"epc: amount {amount!r} has more than 2 decimals")
        if not Decimal("0.01") <= value <= Decimal("999999999.99"):
            raise ValueError(f"epc: amount {amount!r} outside 0.01..999999999.99")
        amount_field = "EUR" + format(value.quantize(Decimal("0.01")), "f")
    reference = re.sub(r"\s", "", str(reference or "")).upper()
    text = " ".join(str(text or "").split())
    if reference and text:
        raise ValueError("epc: give a structured reference or a remittance text, not both")
    if reference and not rf_reference_is_valid(reference):
        raise ValueError(f"epc: reference {reference!r} is not a valid ISO 11649 RF reference "
                         "(put free text in 'text')")
    if len(reference) > 35:
        raise ValueError("epc: reference longer than 35 characters")  # pragma: no cover
    if len(text) > 140:
        raise ValueError(f"epc: remittance text longer than 140 characters ({len(text)})")
    lines = ["BCD", "002", "1", "SCT", bic_c, name, iban_c, amount_field, "", reference, text]
    while lines[-1] == "":
        lines.pop()
    payload = "\n".join(lines)
    if len(payload.encode("utf-8")) > 331:
        raise ValueError("epc: payload longer than 331 bytes")
    return payload
