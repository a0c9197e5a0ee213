"""Render stage (AFP format layer): a tolerant structured-field reader for AFP files, ours or anyone's.

:func:`read_fields` memory-maps the file (flat memory on any size) and yields :class:`Field` records.
Framing errors do not stop it: each is appended to ``problems`` as ``(offset, message)`` and the
reader resynchronises on the next plausible structured field (X'5A', class X'D3', a length that lands
on another X'5A' or on the end of the file). A wrong length is reported at the offset of the field
that carries it; a truncated file at the offset of the incomplete field.

:class:`PtocaParser` decodes PTX data into control sequences and text code points, keeping the
chain state across the PTX fields of one text object (producers such as FOP continue chains across
fields).
"""
from __future__ import annotations

import mmap
import os
from typing import Iterator, NamedTuple

from .fields import SF_NAMES
from .ptoca import CS_NAMES

MAX_SFLENGTH = 32767


class Field(NamedTuple):
    """One structured field: its file offset (of the X'5A'), type id, flag byte, data and SFLength."""
    offset: int
    sfid: int
    flags: int
    data: bytes
    length: int

    @property
    def abbr(self) -> str:
        """MO:DCA abbreviation (``BPG``), or ``?`` for an unknown identifier."""
        entry = SF_NAMES.get(self.sfid)
        return entry[0] if entry else "?"

    @property
    def title(self) -> str:
        """Full name of the structured field, or ``unknown X'D3xxxx'``."""
        entry = SF_NAMES.get(self.sfid)
        return entry[1] if entry else f"unknown X'{self.sfid:06X}'"

    @property
    def is_begin(self) -> bool:
        return (self.sfid >> 8) & 0xFF == 0xA8

    @property
    def is_end(self) -> bool:
        return (self.sfid >> 8) & 0xFF == 0xA9

    @property
    def category(self) -> int:
        return self.sfid & 0xFF

    @property
    def end_offset(self) -> int:
        """Offset just past this field."""
        return self.offset + 1 + self.length


def _plausible(buf, pos: int, n: int) -> bool:
    if pos + 9 > n or buf[pos] != 0x5A or buf[pos + 3] != 0xD3:
        return False
    length = (buf[pos + 1] << 8) | buf[pos + 2]
    end = pos + 1 + length
    return 8 <= length and end <= n and (end == n or buf[end] == 0x5A)


def _resync(buf, start: int, n: int) -> int:
    """Offset of the next plausible structured field at or after ``start`` (``n`` if none)."""
    pos = start
    while True:
        pos = buf.find(b"\x5a", pos, n)
        if pos < 0:
            return n
        if _plausible(buf, pos, n):
            return pos
        pos += 1


def read_fields(source, problems: list | None = None) -> Iterator[Field]:
    """Yield every structured field of ``source`` (a path or a bytes-like buffer).

    ``problems`` (a list) receives ``(offset, message)`` tuples for framing errors.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield from _read(bytes(source), problems)
        return
    size = os.path.getsize(source)
    if size == 0:
        return
    with open(source, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        yield from _read(mm, problems)


def _read(buf, problems) -> Iterator[Field]:
    n = len(buf)
    pos = 0

    def report(offset, message):
        if problems is not None:
            problems.append((offset, message))

    while pos < n:
        if buf[pos] != 0x5A:
            nxt = _resync(buf, pos, n)
            report(pos, f"expected X'5A' (structured field introducer), found X'{buf[pos]:02X}'; "
                        f"{nxt - pos} bytes skipped")
            pos = nxt
            continue
        if pos + 9 > n:
            report(pos, f"file ends inside a structured field introducer ({n - pos} of 9 bytes)")
            return
        length = (buf[pos + 1] << 8) | buf[pos + 2]
        end = pos + 1 + length
        if length < 8:
            nxt = _resync(buf, pos + 1, n)
            report(pos, f"structured field length {length} is less than 8; {nxt - pos} bytes skipped")
            pos = nxt
            continue
        sfid = (buf[pos + 3] << 16) | (buf[pos + 4] << 8) | buf[pos + 5]
        flags = buf[pos + 6]
        name = SF_NAMES.get(sfid, ("?",))[0]
        if end > n:
            nxt = _resync(buf, pos + 9, n)
            if nxt < n:
                report(pos, f"{name} length {length} runs past the next field at {nxt} "
                            f"(wrong length?)")
            else:
                report(pos, f"{name} truncated: length {length} needs {end - n} more bytes "
                            f"than the file has (file ends at {n})")
            yield Field(pos, sfid, flags, bytes(buf[pos + 9:min(nxt, n)]), length)
            pos = nxt
            continue
        if end < n and buf[end] != 0x5A:
            nxt = _resync(buf, pos + 9, n)
            report(pos, f"{name} length {length} ends at {end}, which is not a X'5A' "
                        f"(wrong length?); resynchronised at {nxt}")
            yield Field(pos, sfid, flags, bytes(buf[pos + 9:min(nxt, n)]), length)
            pos = nxt
            continue
        if buf[pos + 3] != 0xD3:
            report(pos, f"class code X'{buf[pos + 3]:02X}' is not MO:DCA X'D3'")
        if length > MAX_SFLENGTH:
            report(pos, f"{name} length {length} exceeds 32,767")
        start = pos + 9
        if flags & 0x80 and start < end:
            start += buf[start]                 # SFI extension: its first byte counts itself
        yield Field(pos, sfid, flags, bytes(buf[start:end]), length)
        pos = end


# --- triplets and names ----------------------------------------------------------------------
def triplets(data: bytes, start: int = 0) -> list[tuple[int, bytes]]:
    """``(id, payload)`` of each triplet from ``start``; stops quietly at a malformed length."""
    out = []
    pos, n = start, len(data)
    while pos + 2 <= n:
        length = data[pos]
        if length < 2 or pos + length > n:
            break
        out.append((data[pos + 1], data[pos + 2:pos + length]))
        pos += length
    return out


def triplets_ok(data: bytes, start: int = 0) -> bool:
    """True if the triplets from ``start`` exactly fill the data."""
    pos, n = start, len(data)
    while pos < n:
        length = data[pos]
        if length < 2 or pos + length > n:
            return False
        pos += length
    return True


def ebcdic(data: bytes, codec: str = "cp500") -> str:
    """EBCDIC characters as text, trailing blanks removed; all-X'FF' names read as ``*``."""
    if data and all(b == 0xFF for b in data):
        return "*"
    return data.decode(codec, "replace").rstrip(" \x00")


def token_name(field: Field) -> str:
    """The 8-byte name at the start of a Begin/End field ('' if absent)."""
    return ebcdic(field.data[:8]) if len(field.data) >= 8 else ""


def fqn(data: bytes, start: int = 0) -> dict[int, bytes]:
    """FQN (X'02') names by FQN type in a run of triplets."""
    return {p[0]: p[2:] for tid, p in triplets(data, start) if tid == 0x02 and len(p) >= 2}


def mcf_fonts(data: bytes) -> list[dict]:
    """The repeating groups of an MCF format 2: ``lid``, ``charset``, ``code_page``, ``coded_font``, ``size``."""
    out = []
    pos, n = 0, len(data)
    while pos + 2 <= n:
        rg = (data[pos] << 8) | data[pos + 1]
        if rg < 2 or pos + rg > n:
            break
        group = {"lid": None, "charset": "", "code_page": "", "coded_font": "", "size": 0}
        for tid, p in triplets(data[pos + 2:pos + rg]):
            if tid == 0x02 and len(p) >= 2:
                key = {0x86: "charset", 0x85: "code_page", 0x8E: "coded_font"}.get(p[0])
                if key:
                    group[key] = ebcdic(p[2:])
            elif tid == 0x24 and len(p) >= 2 and p[0] == 0x05:
                group["lid"] = p[1]
            elif tid == 0x1F and len(p) >= 4:
                group["size"] = (p[2] << 8) | p[3]
        out.append(group)
        pos += rg
    return out


def mdr_fonts(data: bytes) -> list[dict]:
    """Data-object fonts mapped by an MDR: ``lid`` (FQN X'BE'), ``name`` (FQN X'DE', UTF-16BE when a
    X'01' CCSID 1200 triplet says so), ``size`` (X'8B' vertical size, 1/1440 in), ``unicode``."""
    out = []
    pos, n = 0, len(data)
    while pos + 2 <= n:
        rg = (data[pos] << 8) | data[pos + 1]
        if rg < 2 or pos + rg > n:
            break
        group = {"lid": None, "name": "", "size": 0, "unicode": False}
        raw_name = b""
        for tid, p in triplets(data[pos + 2:pos + rg]):
            if tid == 0x01 and len(p) >= 4 and (p[2] << 8 | p[3]) == 1200:
                group["unicode"] = True
            elif tid == 0x02 and len(p) >= 3 and p[0] == 0xBE:
                group["lid"] = p[2]
            elif tid == 0x02 and len(p) >= 2 and p[0] == 0xDE:
                raw_name = p[2:]
            elif tid == 0x8B and len(p) >= 4:
                group["size"] = (p[2] << 8) | p[3]
            elif tid == 0x8B and len(p) >= 12 and p[8:12] == b"\x00\x03\x00\x01":
                group["unicode"] = True
        group["name"] = raw_name.decode("utf-16-be", "replace") if group["unicode"] else ebcdic(raw_name)
        out.append(group)
        pos += rg
    return out


def tle_text(data: bytes, codec: str = "cp500") -> tuple[str, str]:
    """(name, value) of a TLE: in ``codec`` unless a X'01' triplet declares CCSID 1200 (UTF-16BE)."""
    trip = triplets(data)
    if any(tid == 0x01 and len(p) >= 4 and (p[2] << 8 | p[3]) == 1200 for tid, p in trip):
        codec = "utf-16-be"
    name = next((p[2:] for tid, p in trip if tid == 0x02 and p[:1] == b"\x0b"), b"")
    value = next((p[2:] for tid, p in trip if tid == 0x36 and len(p) >= 2), b"")
    if codec == "utf-16-be":
        return name.decode(codec, "replace"), value.decode(codec, "replace")
    return ebcdic(name, codec), ebcdic(value, codec)


# --- PTOCA -------------------------------------------------------------------------------------
class Sequence(NamedTuple):
    """One PTOCA control sequence (``name`` like ``AMI``; ``code`` is the unchained type) or text.

    For code points outside TRN, ``name`` is ``TEXT`` and ``params`` holds them.
    """
    name: str
    code: int
    params: bytes


class PtocaParser:
    """Feeds PTX data of one text object; yields sequences; records problems as (offset, message).

    ``chained`` is True while a chain is open (it must be False at the end of the text object).
    """

    def __init__(self):
        self.chained = False
        self.problems: list[tuple[int, str]] = []

    def feed(self, data: bytes, offset: int = 0) -> Iterator[Sequence]:
        """Parse one PTX's data; ``offset`` is its file offset, used in problems."""
        pos, n = 0, len(data)
        while pos < n:
            if not self.chained:
                if data[pos:pos + 2] == b"\x2b\xd3":
                    pos += 2
                    self.chained = True
                    continue
                nxt = data.find(b"\x2b\xd3", pos)
                nxt = n if nxt < 0 else nxt
                yield Sequence("TEXT", 0, data[pos:nxt])
                pos = nxt
                continue
            if pos + 2 > n:
                self.problems.append((offset, f"PTX control sequence cut at byte {pos} of {n}"))
                self.chained = False
                return
            length, code = data[pos], data[pos + 1]
            if length < 2 or pos + length > n:
                self.problems.append((offset, f"PTX control sequence X'{code:02X}' at byte {pos} has "
                                              f"bad length {length}"))
                self.chained = False
                return
            base = code & 0xFE
            yield Sequence(CS_NAMES.get(base, f"X'{base:02X}'"), base, data[pos + 2:pos + length])
            self.chained = bool(code & 1)
            pos += length


def s2(p: bytes, at: int = 0) -> int:
    """A 2-byte SBIN from ``p`` at ``at`` (0 if missing)."""
    if len(p) < at + 2:
        return 0
    v = (p[at] << 8) | p[at + 1]
    return v - 0x10000 if v & 0x8000 else v


def u3(p: bytes, at: int = 0) -> int:
    """A 3-byte UBIN."""
    return int.from_bytes(p[at:at + 3], "big") if len(p) >= at + 3 else 0


def sb3(p: bytes, at: int = 0) -> int:
    """A 3-byte SBIN."""
    v = u3(p, at)
    return v - 0x1000000 if v & 0x800000 else v
