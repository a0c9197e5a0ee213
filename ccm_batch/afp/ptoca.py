"""Render stage (AFP format layer): PTOCA presentation text — code pages, control sequences, PTX packing.

Text is written in the code page of the font mapped by the MCF. Supported code pages and their Python
codecs (afp.md §10)::

    T1001140  cp1140      CP037 + € at X'9F'   (default: Latin-1 repertoire plus €, native codec)
    T1001148  ccm-cp1148  CP500 + € at X'9F'   (derived here from cp500; no Python codec exists)
    T1V10500  cp500       International Latin-1 (no €)
    T1V10037  cp037       US/Canada Latin-1 (no €)

All four hold every Latin-1 character, so French accents, ç, « », ° and the no-break space encode
as such. Text runs with other characters are written in UTF-16BE (:func:`trn_utf16`) with a carried
TrueType font by the AFP backend (issue 12); the substitutions below remain for what has no such
font (a renderer used without ``AfpOptions.fonts``) and for TLE values, where ``€`` is written
``EUR``. Characters outside the code page are then **substituted** (:data:`SUBSTITUTIONS`): œ → "oe",
Œ → "OE", ’ ‘ → "'", “ ” „ → '"', – — → "-", … → "...", U+202F narrow no-break space → U+00A0,
€ → "EUR" on code pages without €, and anything else → "?". :class:`TextEncoder` counts every
substitution per character so the run report can say what was lost. A substitution may change the
run's length (œ → oe) and so its printed width slightly; positions of later runs are absolute and
are not affected.

Control sequences are built as ready-made ``bytes`` (chained form: odd type codes). A text object's
sequences are packed by :class:`PtxPacker` into PTX fields of at most 8,192 data bytes that each start
with the X'2BD3' escape and end with an unchained NOP (``02 F8``), so every PTX is self-contained
(afp.md §6.1). TRN runs carry at most 253 code points.
"""
from __future__ import annotations

import codecs
from collections import Counter

from . import fields

# --- code pages ----------------------------------------------------------------------------
CODE_PAGES: dict[str, str] = {
    "T1001140": "cp1140",
    "T1001148": "ccm-cp1148",
    "T1V10500": "cp500",
    "T1V10037": "cp037",
}
CCSIDS: dict[str, int] = {"cp1140": 1140, "ccm-cp1148": 1148, "cp500": 500, "cp037": 37}

_CP1148_DECODE = bytes(range(256)).decode("cp500")
_CP1148_DECODE = _CP1148_DECODE[:0x9F] + "\u20ac" + _CP1148_DECODE[0xA0:]
_CP1148_ENCODE = codecs.charmap_build(_CP1148_DECODE)


def _cp1148_encode(text, errors="strict"):
    return codecs.charmap_encode(text, errors, _CP1148_ENCODE)


def _cp1148_decode(data, errors="strict"):
    return codecs.charmap_decode(data, errors, _CP1148_DECODE)


def _search(name: str):
    if name.replace("_", "-") == "ccm-cp1148":
        return codecs.CodecInfo(_cp1148_encode, _cp1148_decode, name="ccm-cp1148")
    return None


codecs.register(_search)

SUBSTITUTIONS: dict[str, str] = {
    "\u0152": "OE", "\u0153": "oe", "\u0178": "Y", "\u0160": "S", "\u0161": "s", "\u017d": "Z",
    "\u017e": "z", "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u2039": "<", "\u203a": ">",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "\u00b7", "\u2027": "\u00b7", "\u2030": "o/oo", "\u2122": "TM",
    "\u202f": "\u00a0", "\u2007": "\u00a0", "\u2060": "", "\u200b": "", "\u00ad": "",
    "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2008": " ",
    "\u2009": " ", "\u200a": " ", "\u20ac": "EUR", "\u02c6": "^", "\u02dc": "~", "\u00a4": "?",
    "\ufb01": "fi", "\ufb02": "fl",
}


_charmap_encode = codecs.charmap_encode
_MAPS: dict = {}


def _encoding_map(codec: str):
    """A C-level encoding map for a single-byte codec (built once per codec)."""
    m = _MAPS.get(codec)
    if m is None:
        m = _MAPS[codec] = codecs.charmap_build(bytes(range(256)).decode(codec))
    return m


def codec_for(code_page: str) -> str:
    """The Python codec name for an AFP code page name (``T1001140`` → ``cp1140``); cp500 if unknown."""
    return CODE_PAGES.get(code_page.strip().upper(), "cp500")


class TextEncoder:
    """Encodes text into one code page, substituting (and counting) characters it lacks.

    ``substituted`` maps each substituted character to how many times it was replaced.
    """

    def __init__(self, codec: str):
        self.codec = codec
        self.substituted: Counter = Counter()
        self._char_cache: dict[str, bytes] = {}
        self._map = _encoding_map(codec)

    def encode(self, text: str) -> bytes:
        """``text`` in the code page; the fast path is one C-level charmap encode."""
        try:
            return _charmap_encode(text, "strict", self._map)[0]
        except UnicodeEncodeError:
            return self._encode_slow(text)

    def _encode_slow(self, text: str) -> bytes:
        out = []
        cache = self._char_cache
        for ch in text:
            b = cache.get(ch)
            if b is None:
                try:
                    b = ch.encode(self.codec)
                except UnicodeEncodeError:
                    rep = SUBSTITUTIONS.get(ch, "?")
                    try:
                        b = rep.encode(self.codec)
                    except UnicodeEncodeError:
                        b = "?".encode(self.codec)
                    self.substituted[ch] += 1
                    out.append(b)
                    continue
                cache[ch] = b
            out.append(b)
        return b"".join(out)


# --- control sequences (chained forms) -------------------------------------------------------
# Names of control sequences by unchained type code; the chained code is type + 1.
CS_NAMES: dict[int, str] = {
    0xC6: "AMI", 0xD2: "AMB", 0xC8: "RMI", 0xD4: "RMB", 0xF0: "SCFL", 0xDA: "TRN", 0xF6: "STO",
    0x80: "SEC", 0x74: "STC", 0xE4: "DIR", 0xE6: "DBR", 0xC4: "SVI", 0xC2: "SIA", 0xC0: "SIM",
    0xD0: "SBI", 0xD8: "BLN", 0xF8: "NOP", 0xF2: "BSU", 0xF4: "ESU", 0xEE: "RPS", 0x76: "USC",
    0x72: "OVS", 0x78: "TBM",
}
ESCAPE = b"\x2b\xd3"
END_CHAIN = b"\x02\xf8"          # unchained NOP: closes every PTX chain
MAX_TRN = 253
STC_BLACK = b"\x04\x75\x00\x08"   # STC X'0008' (black), chained


def amb(y: int) -> bytes:
    """Absolute Move Baseline to ``y`` (chained)."""
    return b"\x04\xd3" + _s2(y)


def ami(x: int) -> bytes:
    """Absolute Move Inline to ``x`` (chained)."""
    return b"\x04\xc7" + _s2(x)


def rmi(dx: int) -> bytes:
    """Relative Move Inline by ``dx`` (chained)."""
    return b"\x04\xc9" + _s2(dx)


def scfl(lid: int) -> bytes:
    """Set Coded Font Local to MCF LID ``lid`` (chained)."""
    return bytes((3, 0xF1, lid))


def svi(increment: int) -> bytes:
    """Set Variable Space Character Increment (width of X'40') (chained)."""
    return b"\x04\xc5" + _s2(increment)


def sec_rgb(r: int, g: int, b: int) -> bytes:
    """Set Extended Text Color, RGB colour space, 8 bits per component (chained)."""
    return b"\x0f\x81\x00\x01\x00\x00\x00\x00\x08\x08\x08\x00" + bytes((r, g, b))


def color(rgb: tuple) -> bytes:
    """Text/rule colour: STC X'0008' for black, SEC RGB for any other colour (chained)."""
    if rgb == (0, 0, 0) or rgb == [0, 0, 0]:
        return STC_BLACK
    r, g, b = rgb
    return sec_rgb(int(r), int(g), int(b))


def dir_rule(length: int, width: int) -> bytes:
    """Draw I-axis Rule: ``length`` along +I, ``width`` toward +B (FOP's convention), chained."""
    return b"\x07\xe5" + _s2(length) + _s2(width) + b"\x00"


def dbr_rule(length: int, width: int) -> bytes:
    """Draw B-axis Rule: ``length`` along +B, ``width`` perpendicular, chained."""
    return b"\x07\xe7" + _s2(length) + _s2(width) + b"\x00"


def trn(data: bytes) -> bytes:
    """Transparent Data control sequences (chained) for ``data``, split into runs of ≤ 253 bytes."""
    n = len(data)
    if n <= MAX_TRN:
        return bytes((n + 2, 0xDB)) + data
    return b"".join(bytes((len(c) + 2, 0xDB)) + c for c in (data[i:i + MAX_TRN] for i in range(0, n, MAX_TRN)))


def trn_utf16(text: str) -> bytes:
    """TRN control sequences (chained) carrying ``text`` in UTF-16BE, split between characters
    (never inside a surrogate pair) into runs of at most 252 bytes."""
    data = text.encode("utf-16-be")
    n = len(data)
    if n <= MAX_TRN:
        return bytes((n + 2, 0xDB)) + data
    out, start = [], 0
    while start < n:
        end = min(start + 252, n)
        if end < n and 0xD8 <= data[end - 2] <= 0xDB:      # do not cut a surrogate pair
            end -= 2
        out.append(bytes((end - start + 2, 0xDB)) + data[start:end])
        start = end
    return b"".join(out)


def _s2(v: int) -> bytes:
    return (v & 0xFFFF).to_bytes(2, "big")


def split_sequences(blob: bytes, limit: int) -> list[bytes]:
    """Cut a run of chained control sequences into pieces of at most ``limit`` bytes at CS boundaries."""
    pieces, start, pos, n = [], 0, 0, len(blob)
    while pos < n:
        length = blob[pos]
        if length < 2:
            raise ValueError(f"bad control sequence length {length} at {pos}")
        if pos + length - start > limit and pos > start:
            pieces.append(blob[start:pos])
            start = pos
        pos += length
    if start < n:
        pieces.append(blob[start:])
    return pieces


_CHUNK = fields.CHUNK     # a module-level name: compiled (ptoca.pxd), ``fields`` in a default would be the attribute


class PtxPacker:
    """Packs chained control sequences into self-contained PTX structured fields (≤ 8,192 data bytes)."""

    __slots__ = ("_parts", "_size", "_limit", "fields")

    def __init__(self, chunk: int = _CHUNK):
        self._parts: list[bytes] = []
        self._size = 0
        self._limit = chunk - len(ESCAPE) - len(END_CHAIN)
        self.fields: list[bytes] = []

    def add(self, blob: bytes) -> None:
        """Append the chained control sequences of one item."""
        n = len(blob)
        if self._size + n > self._limit:
            if n > self._limit:
                for piece in split_sequences(blob, self._limit):
                    self.add(piece)
                return
            self.flush()
        self._parts.append(blob)
        self._size += n

    def flush(self) -> None:
        """Close the current PTX (escape … unchained NOP) if it holds anything."""
        if self._parts:
            self.fields.append(fields.sf(fields.PTX, ESCAPE + b"".join(self._parts) + END_CHAIN))
            self._parts = []
            self._size = 0

    def __bool__(self) -> bool:
        return bool(self._parts or self.fields)

    def take(self) -> bytes:
        """All PTX fields packed so far (flushing the open one), and reset."""
        self.flush()
        out = b"".join(self.fields)
        self.fields = []
        return out
