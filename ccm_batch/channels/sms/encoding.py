"""SMS channel: GSM 03.38 or UCS-2 per message, and the segment count (3GPP TS 23.038 / 23.040).

A message is sent in the GSM 7-bit default alphabet when every character is in it (characters of the
extension table — ``^ { } \\ [ ~ ] | €`` and form feed — take two septets, escape + code), otherwise in
UCS-2 (UTF-16 code units: a character outside the BMP, e.g. an emoji, takes two). One segment holds
160 septets or 70 UCS-2 units; a concatenated message loses room to its user data header: 153 septets
or 67 units per segment. An extension character is never split across segments (the escape and its
code travel together), so segments are counted by filling them, not by dividing.
"""
from __future__ import annotations

import math
from typing import NamedTuple

GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(GSM_BASIC) - {"\x1b"}
_EXT = frozenset(GSM_EXTENSION)

SINGLE = {"gsm7": 160, "ucs2": 70}
MULTI = {"gsm7": 153, "ucs2": 67}


class SmsEncoding(NamedTuple):
    """How a text travels: ``coding`` gsm7 or ucs2, ``units`` (septets or UTF-16 units), ``segments``."""
    coding: str
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 default alphabet or its extension table."""
    return all(c in _BASIC or c in _EXT for c in text)


def _unit_sizes(text: str, coding: str) -> list[int]:
    if coding == "gsm7":
        return [2 if c in _EXT else 1 for c in text]
    return [len(c.encode("utf-16-le")) // 2 for c in text]


def encode_sms(text: str) -> SmsEncoding:
    """The coding, length in units and number of segments of ``text`` (0 segments for an empty text)."""
    coding = "gsm7" if is_gsm7(text) else "ucs2"
    sizes = _unit_sizes(text, coding)
    units = sum(sizes)
    if units == 0:
        return SmsEncoding(coding, 0, 0)
    if units <= SINGLE[coding]:
        return SmsEncoding(coding, units, 1)
    room, segments, used = MULTI[coding], 1, 0
    for size in sizes:                   # a character (or escape pair, or surrogate pair) is never cut
        if used + size > room:
            segments += 1
            used = 0
        used += size
    return SmsEncoding(coding, units, max(segments, math.ceil(units / room)))


def split_segments(text: str) -> list[str]:
    """The parts of ``text`` as the segments carry them (for the aggregator file and tests)."""
    enc = encode_sms(text)
    if enc.segments <= 1:
        return [text] if text else []
    room, parts, current, used = MULTI[enc.coding], [], [], 0
    for c, size in zip(text, _unit_sizes(text, enc.coding)):
        if used + size > room:
            parts.append("".join(current))
            current, used = [], 0
        current.append(c)
        used += size
    parts.append("".join(current))
    return parts
