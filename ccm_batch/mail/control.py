"""Mail stage, inserter control: OMR ladders, 2D control codes, USPS IMb payloads and separator sheets.

Marks are computed per *sheet* and drawn on the sheet's front page (the first page of a duplex sheet;
every page in simplex). Sequence counters run over the sheets of one print file (``PlannedPiece.
sheet_offset`` + sheet number in the piece), so banner/separator sheets are not counted: they are
pulled from the stack before the inserter (documented decision).

**OMR** (postal.md §4.1): the :class:`~ccm_batch.mail.config.OmrScheme` lists mark functions top to
bottom. Per sheet: benchmark/safety/``on`` = 1, ``off`` = 0, ``eoc`` on the last sheet of the piece
(``not_eoc`` inverted), ``boc`` on the first (``not_boc`` inverted), ``seqN`` = bit N-1 of the file's
sheet counter modulo 2^bits (wrap-around sequence, continuous over the file, starting at 1), ``sfN`` =
feeder N selected (on the last sheet only, or every sheet), ``parity`` set so the count of marks is
even (or odd). Drawn as a :class:`pages.Marks` ladder.

**2D control code** (postal.md §4.2), fixed-width ASCII in a DataMatrix ECC200, no personal data::

    V(1) JOB(6) PIECE(8) PAGE(3) TOTAL(3) SELECT(2 hex) FLAGS(1 hex) CHK(2)

JOB = base-36 of CRC-32 of the job name; PIECE = the piece id (digits); PAGE/TOTAL = sheet n of m
(PAGE == TOTAL is the end of collation); SELECT bit k-1 = feeder k; FLAGS bit 0 = last sheet, bit 1 =
divert, bit 2 = stop; CHK = Σ (position × character code) mod 97 over the 24 preceding characters.
:func:`decode_control` checks and parses it.

**IMb** (postal.md §4.3): tracking = barcode id (2) + service type (3) + mailer id (6|9) + serial
(9|6 digits, :func:`imb_serial`); routing = the ZIP, ZIP+4 or ZIP+4+DP digits. USPS wants a serial
unique per mailer id for 45 days: piece numbers are unique within a run and its reprints (a reprint
numbers its pieces after every piece id of the run and of earlier reprints, ``[mail] piece_id_start``),
and the default ``job_date`` serial scheme puts the job date's day number in the serial's first digits,
so runs on different days never share a serial. Two jobs mailed under one mailer id with the same job
date must be given disjoint ``serial_start`` blocks (e.g. 0 and 500000). The page gets a ``Barcode(symbology="imb", data=tracking + routing)``: an ``imb`` barcode
already placed by the layout on the piece's first page gets this data; otherwise one is added at the
configured position. The 65-bar encoding is :func:`ccm_batch.barcodes.imb_encode` (render side).
"""
from __future__ import annotations

import datetime as _dt
import zlib
from typing import NamedTuple

from ..pages import Barcode, Box, Form, Glyphs, Marks, Page, Rule, Text, mm, pt

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAYLOAD_LENGTH = 26
IMB_WIDTH = round(65 * 1440 / 22)       # 65 bars at 22 bars per inch
IMB_HEIGHT = round(0.145 * 1440)
IMB_PITCH = round(1440 / 22)


# ------------------------------------------------------------------------------------------------ OMR

def omr_bits(scheme, sheet: int, sheets: int, counter: int, feeders) -> tuple:
    """The ladder bits (top to bottom) for sheet ``sheet`` of ``sheets``, file sheet counter ``counter``."""
    last, first = sheet == sheets, sheet == 1
    seq_bits = scheme.seq_bits              # a property counting the positions: asked once
    wrap = counter % (1 << seq_bits) if seq_bits else 0
    feeders = set(feeders)
    bits = []
    for p in scheme.positions:
        if p in ("benchmark", "safety", "on"):
            bits.append(True)
        elif p == "off":
            bits.append(False)
        elif p == "eoc":
            bits.append(last)
        elif p == "not_eoc":
            bits.append(not last)
        elif p == "boc":
            bits.append(first)
        elif p == "not_boc":
            bits.append(not first)
        elif p.startswith("seq"):
            bits.append(bool((wrap >> (int(p[3:]) - 1)) & 1))
        elif p.startswith("sf"):
            bits.append(int(p[2:]) in feeders and (last or scheme.select_feed_on == "every"))
        else:                                   # parity, filled below
            bits.append(False)
    if "parity" in scheme.positions:
        count = sum(bits)
        want_odd = scheme.parity == "odd"
        bits[scheme.positions.index("parity")] = (count % 2 == 0) == want_odd
    return tuple(bits)


def omr_marks(scheme, sheet: int, sheets: int, counter: int, feeders) -> Marks:
    """The :class:`pages.Marks` ladder for one sheet."""
    return Marks(scheme.x, scheme.y, scheme.length, scheme.thickness, scheme.pitch,
                 omr_bits(scheme, sheet, sheets, counter, feeders), tuple(scheme.positions))


class OmrReading(NamedTuple):
    """What an inserter reads from one ladder."""
    benchmark: bool
    safety: bool
    eoc: bool
    boc: bool
    counter: int
    feeders: tuple
    parity_ok: bool


def decode_omr(bits, scheme) -> OmrReading:
    """Read a ladder (bits or a :class:`pages.Marks`) as the inserter would."""
    if isinstance(bits, Marks):
        bits = bits.bits
    named = dict(zip(scheme.positions, bits))
    counter = sum(1 << (int(p[3:]) - 1) for p, b in named.items() if p.startswith("seq") and b)
    eoc = named.get("eoc", not named.get("not_eoc", True))
    boc = named.get("boc", not named.get("not_boc", True))
    parity_ok = True
    if "parity" in named:
        parity_ok = (sum(bits) % 2 == 1) == (scheme.parity == "odd")
    return OmrReading(named.get("benchmark", False), named.get("safety", True), bool(eoc), bool(boc), counter,
                      tuple(sorted(int(p[2:]) for p, b in named.items() if p.startswith("sf") and b)), parity_ok)


# ------------------------------------------------------------------------------------------------ 2D code

def job_code(job: str) -> str:
    """Six base-36 characters identifying the job (CRC-32 of its name)."""
    n = zlib.crc32(job.encode("utf-8")) % (36 ** 6)
    out = ""
    for _ in range(6):
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out


def _checksum(body: str) -> str:
    return f"{sum((i + 1) * ord(c) for i, c in enumerate(body)) % 97:02d}"


def control_payload(job: str, piece_id, page: int, total: int, feeders=(), divert: bool = False,
                    stop: bool = False, version: str = "1") -> str:
    """The 26-character 2D control payload (see the module docstring)."""
    piece = int(piece_id)
    if not (0 <= piece < 10 ** 8 and 1 <= page <= total <= 999):
        raise ValueError(f"control code out of range: piece {piece_id}, sheet {page} of {total}")
    select = sum(1 << (f - 1) for f in set(feeders) if 1 <= f <= 8)
    flags = (1 if page == total else 0) | (2 if divert else 0) | (4 if stop else 0)
    body = f"{version[:1]}{job_code(job)}{piece:08d}{page:03d}{total:03d}{select:02X}{flags:X}"
    return body + _checksum(body)


class ControlCode(NamedTuple):
    """A decoded 2D control payload."""
    version: str
    job: str
    piece: int
    page: int
    total: int
    feeders: tuple
    last: bool
    divert: bool
    stop: bool


def decode_control(payload: str) -> ControlCode:
    """Parse and check a 2D control payload; raises ``ValueError`` when malformed or corrupted."""
    if len(payload) != PAYLOAD_LENGTH:
        raise ValueError(f"control code of {len(payload)} characters, expected {PAYLOAD_LENGTH}")
    body, chk = payload[:-2], payload[-2:]
    if _checksum(body) != chk:
        raise ValueError(f"control code checksum {chk} does not match {_checksum(body)}")
    select, flags = int(body[21:23], 16), int(body[23], 16)
    return ControlCode(body[0], body[1:7], int(body[7:15]), int(body[15:18]), int(body[18:21]),
                       tuple(k + 1 for k in range(8) if select >> k & 1), bool(flags & 1), bool(flags & 2),
                       bool(flags & 4))


def _symbol_size(symbology: str, data: str, module: int, default: tuple) -> tuple:
    try:
        from .. import barcodes
        return tuple(barcodes.measure(symbology, data, module))
    except Exception:                                      # barcodes module absent or symbology unknown
        return default


# ------------------------------------------------------------------------------------------------ IMb

def imb_serial(piece_number: int, imb, job_date: str = "") -> int:
    """The IMb serial of a piece (see the module docstring); ``ValueError`` when it does not fit.

    ``job_date`` scheme (the default when a job date is given): the first 3 digits of a 9-digit serial
    (2 of a 6-digit one) are the job date's day number modulo 1000 (100), the rest ``serial_start`` +
    piece number — serials of runs on different days never meet within 1000 (100) days, far beyond
    the 45 days USPS asks. ``piece`` scheme: ``serial_start`` + piece number.
    """
    width = 15 - len(imb.mailer_id)
    number = imb.serial_start + piece_number
    if getattr(imb, "serial_scheme", "piece") == "job_date" and job_date:
        day_digits = 3 if width >= 9 else 2
        room = width - day_digits
        if number >= 10 ** room:
            raise ValueError(f"IMb serial: piece number {number} does not fit in the {room} digits a job-date "
                             f"serial leaves (mailer id {imb.mailer_id}); use serial_scheme = \"piece\" "
                             "with serial_start blocks")
        day = _dt.date.fromisoformat(job_date).toordinal() % 10 ** day_digits
        return day * 10 ** room + number
    if number >= 10 ** width:
        raise ValueError(f"IMb serial {number} does not fit in {width} digits (mailer id {imb.mailer_id})")
    return number


def imb_fields(piece_number: int, routing_digits: str, imb, job_date: str = "") -> tuple[str, str]:
    """(tracking, routing) of a US piece; raises ``ValueError`` when the serial does not fit."""
    width = 15 - len(imb.mailer_id)
    serial = imb_serial(piece_number, imb, job_date)
    tracking = f"{imb.barcode_id}{imb.service_type}{imb.mailer_id}{serial:0{width}d}"
    routing = routing_digits if len(routing_digits) in (5, 9, 11) and routing_digits.isdigit() else ""
    return tracking, routing


def parse_imb(data: str) -> dict:
    """Split an ``imb`` barcode's data (tracking + routing) into its fields (6-digit mailer ids)."""
    t, r = data[:20], data[20:]
    return {"barcode_id": t[:2], "service_type": t[2:5], "mailer_id": t[5:11], "serial": t[11:20],
            "zip": r[:5], "zip4": r[5:9], "delivery_point": r[9:11]}


def _with_imb(page: Page, data: str, imb) -> Page:
    items = list(page.items)
    for i, item in enumerate(items):
        if isinstance(item, Barcode) and item.symbology == "imb":
            items[i] = item._replace(data=data)
            return page._replace(items=tuple(items))
    w, h = _symbol_size("imb", data, IMB_PITCH, (IMB_WIDTH, IMB_HEIGHT))
    return page.with_items([Barcode(imb.x, imb.y, w, h, "imb", data, IMB_PITCH)])


# ------------------------------------------------------------------------------------------------ pages

def mark_pages(piece, pages: list, config) -> list:
    """The piece's pages with inserter control on each sheet's front page; on the first page the IMb
    and, for a part of a split household, the ``part_label`` ("PLI 1/2").

    Returns a list of the same length (separator sheets come from :func:`separator_pages`). Raises
    ``ValueError`` when the pages hold a different number of sheets than the plan.
    """
    if not config.enabled:
        return list(pages)
    out = list(pages)
    fronts = [i for i, p in enumerate(out) if p.side != "back"]
    if len(fronts) != piece.sheets and piece.duplex and len(out) == 2 * piece.sheets:
        fronts = list(range(0, len(out), 2))            # duplex pages without side marks: even pages
    if len(fronts) != piece.sheets:
        raise ValueError(f"piece {piece.piece_id}: {len(fronts)} sheets in the pages, {piece.sheets} planned")
    n = len(fronts)
    for k, idx in enumerate(fronts, 1):
        if config.control == "omr":
            extra = omr_marks(config.omr, k, n, piece.sheet_offset + k, piece.feeders)
        elif config.control == "datamatrix":
            spec = config.datamatrix
            data = control_payload(piece.job, piece.piece_id, k, n, piece.feeders, version=spec.version)
            w, h = _symbol_size("datamatrix", data, spec.module, (22 * spec.module, 22 * spec.module))
            extra = Barcode(spec.x, spec.y, w, h, "datamatrix", data, spec.module)
        else:
            continue
        out[idx] = out[idx].with_items([extra])
    if piece.imb_tracking and out:
        out[0] = _with_imb(out[0], piece.imb_tracking + piece.imb_routing, config.imb)
    if config.part_label and piece.parts > 1 and out:
        x, y, size, text = config.part_label
        out[0] = out[0].with_items([Text(x, y, "LiberationSans-Regular", size,
                                         text.format(part=piece.part, parts=piece.parts))])
    return out


SEPARATOR_MARK = "SEPARATOR SHEET - NOT FOR MAILING"   # archive index verify recognises these pages


def separator_pages(piece, config, width: int, height: int) -> list:
    """Banner (first piece of a print file) or tray separator sheet to print before ``piece``.

    Empty unless ``separators`` is on and the piece starts a file or a tray. A duplex piece gets a
    blank back so the separator is one full sheet.
    """
    if not (config.enabled and config.separators and (piece.file_break or piece.tray_break)):
        return []
    bold, regular = "LiberationSans-Bold", "LiberationSans-Regular"
    x, y = mm(25), mm(40)
    lines = []
    if piece.file_break:
        lines.append((bold, 28, f"{piece.job}  {piece.stream}  file {piece.file_seq:03d}"))
    if piece.tray is not None:
        lines.append((bold, 22, f"TRAY {piece.tray}  {piece.level}"))
        if piece.tray_label:
            lines.append((regular, 16, piece.tray_label))
    lines.append((regular, 14, f"first piece {piece.piece_id}  seq {piece.seq}  envelope {piece.envelope}"))
    lines.append((bold, 14, SEPARATOR_MARK))
    items = [Box(width - mm(15), 0, mm(15), height, fill=(0, 0, 0), stroke=None)]
    for font, size, text in lines:
        y += pt(size * 1.6)
        items.append(Text(x, y, font, pt(size), text))
    out = [Page(width, height, tuple(items))]
    if piece.duplex:
        out.append(Page(width, height, (), side="back", blank=True))
    return out


def clear_zone_conflicts(page: Page, scheme, margin_mm: float = 3.0) -> list:
    """Items of ``page`` (other than marks; its background Form's included) drawn inside the OMR
    clear zone (± ``margin_mm``). Text extents are estimated (0.6 em per character)."""
    m = mm(margin_mm)
    zone = (scheme.x - m, scheme.x + scheme.length + m,
            scheme.y - m, scheme.y + (len(scheme.positions) - 1) * scheme.pitch + scheme.thickness + m)
    hits: list = []
    _zone_hits(page.items, zone, hits)
    if page.background is not None:
        _zone_hits(page.background.items, zone, hits)
    return hits


def _zone_hits(items, zone, hits: list) -> None:
    x0, x1, y0, y1 = zone
    for item in items:
        kind = type(item)
        if kind is Form:
            _zone_hits(item.items, zone, hits)
            continue
        if kind is Marks or item.x >= x1:           # every item extends rightwards from its x
            continue
        if kind is Text:
            bx0, by0 = item.x, item.y - item.size
            bx1, by1 = item.x + int(item.size * 0.6 * len(item.text)), item.y + item.size // 4
        elif kind is Glyphs:
            size = max((run[1] for run in item.runs), default=0)
            bx0, by0, bx1, by1 = item.x, item.y - size, item.x + item.width, item.y + size // 4
        elif kind is Rule:
            length = item.length
            bx0, by0 = item.x, item.y - item.thickness // 2
            bx1, by1 = (item.x + length, item.y + item.thickness) if item.direction == "h" else \
                (item.x + item.thickness, item.y + length)
        else:                                       # Box, Image, Barcode
            bx0, by0, bx1, by1 = item.x, item.y, item.x + item.width, item.y + item.height
        if bx0 < x1 and bx1 > x0 and by0 < y1 and by1 > y0:
            hits.append(item)
