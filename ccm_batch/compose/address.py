"""Compose stage: the recipient address block — postal-norm formatting and checks, placement in the window.

Norms (``/work/shared/reference/postal.md`` §5):

``fr`` — AFNOR NF Z10-011. Formatting: blank lines dropped (the block is concatenated), spaces
collapsed, the postcode line (last line, or the one before the country line) in capitals without
accents or punctuation (``42000 SAINT-ÉTIENNE`` → ``42000 SAINT ETIENNE``), the country line in
capitals without accents; for a foreign address the line before the country follows the destination
country's conventions and is only put in capitals (``ATLANTA GA 30303-5820``). Checks: at most 6 lines (7 with a country line for a foreign address),
at most 38 characters per line, the postcode line ``NNNNN LOCALITE`` (5 digits, a space, capitals and
digits) for France.

``us`` — USPS Publication 28. Formatting: capitals, no accents, no punctuation except the hyphen
(ZIP+4) and ``#`` (unit), spaces collapsed. Checks: at most 6 lines of at most 64 characters, last
line ``CITY ST 12345`` or ``CITY ST 12345-6789``.

``none`` — blank lines dropped and spaces collapsed only.

For every norm the block must fit its window (height and width of the longest line): a block that
overflows the window is a breach too. A breach is a warning or rejects the record, per the layout's
``on-breach``. The postcode and country found here go into the document metadata (presort needs them).
Lines 1–3 (recipient, complements) are never rewritten: they are the customer's name as the data says.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from .. import fonts
from ..layout.functions import strip_accents

_FR_CP_LINE = re.compile(r"^(\d{5}) [A-Z0-9][A-Z0-9 ]*$")
_FR_CP_LOOSE = re.compile(r"^(\d{5})\b")
_US_LAST = re.compile(r"^(.+) ([A-Z]{2}) (\d{5})(?:-(\d{4}))?$")
_US_ZIP = re.compile(r"\b(\d{5})(?:-(\d{4}))?\s*$")
_PUNCT_FR = re.compile(r"[^\w ]|_")
_PUNCT_US = re.compile(r"[^\w #\-]|_")
_SPACES = re.compile(r"\s+")
FR_MAX_LINES, FR_MAX_CHARS = 6, 38
US_MAX_LINES, US_MAX_CHARS = 6, 64


class AddressResult(NamedTuple):
    """Formatted lines, the breaches found (messages), the postcode and the country (ISO alpha-2)."""
    lines: tuple
    breaches: tuple
    postcode: str
    country: str


def _clean(lines) -> list[str]:
    out = []
    for ln in lines:
        ln = _SPACES.sub(" ", ln or "").strip()
        if ln:
            out.append(ln)
    return out


def _capitals(text: str, punct) -> str:
    return _SPACES.sub(" ", punct.sub(" ", strip_accents(text).upper())).strip()


def format_address(lines, norm: str, country: str = "") -> AddressResult:
    """Format ``lines`` to ``norm`` (fr, us, none) and list its breaches; ``country`` ISO code if known."""
    lines = _clean(lines)
    breaches = []
    country = (country or "").strip().upper()
    if norm == "fr":
        country = country or "FR"
        foreign = country != "FR"
        if foreign and len(lines) >= 2:
            lines[-1] = _capitals(lines[-1], _PUNCT_FR)
            cp_index = len(lines) - 2
        else:
            cp_index = len(lines) - 1
        if lines and not foreign:
            lines[cp_index] = _capitals(lines[cp_index], _PUNCT_FR)
        elif lines:            # the destination country's own conventions (ZIP+4 keeps its hyphen)
            lines[cp_index] = _SPACES.sub(" ", strip_accents(lines[cp_index]).upper()).strip()
        limit = FR_MAX_LINES + (1 if foreign else 0)
        if len(lines) > limit:
            breaches.append(f"address has {len(lines)} lines (NF Z10-011: at most {limit})")
        if len(lines) < 2:
            breaches.append("address has fewer than 2 lines")
        for i, ln in enumerate(lines, 1):
            if len(ln) > FR_MAX_CHARS:
                breaches.append(f"address line {i} has {len(ln)} characters "
                                f"(NF Z10-011: at most {FR_MAX_CHARS}): {ln!r}")
        postcode = ""
        if lines:
            cp_line = lines[cp_index]
            m = _FR_CP_LINE.match(cp_line) if not foreign else _FR_CP_LOOSE.match(cp_line)
            if m:
                postcode = m.group(1)
            elif not foreign:
                breaches.append(f"address last line is not 'CODE POSTAL LOCALITE': {cp_line!r}")
        return AddressResult(tuple(lines), tuple(breaches), postcode, country)
    if norm == "us":
        country = country or "US"
        lines = [_capitals(ln, _PUNCT_US) for ln in lines]
        lines = [ln for ln in lines if ln]
        if len(lines) > US_MAX_LINES:
            breaches.append(f"address has {len(lines)} lines (Pub 28: at most {US_MAX_LINES})")
        for i, ln in enumerate(lines, 1):
            if len(ln) > US_MAX_CHARS:
                breaches.append(f"address line {i} has {len(ln)} characters (at most {US_MAX_CHARS})")
        postcode = ""
        if lines:
            m = _US_LAST.match(lines[-1])
            if m:
                postcode = m.group(3) + ("-" + m.group(4) if m.group(4) else "")
            else:
                breaches.append(f"address last line is not 'CITY ST ZIP': {lines[-1]!r}")
        return AddressResult(tuple(lines), tuple(breaches), postcode, country)
    postcode = ""
    if lines:
        m = _FR_CP_LOOSE.match(lines[-1])
        if m:
            postcode = m.group(1)
        else:
            m = _US_ZIP.search(lines[-1])
            if m:
                postcode = m.group(1) + ("-" + m.group(2) if m.group(2) else "")
    return AddressResult(tuple(lines), tuple(breaches), postcode, country)


def fits_window(lines, font_id: str, size: int, leading: int, width: int, height: int,
                extra_height: int = 0) -> str | None:
    """A breach message when the block does not fit its window, else None."""
    need = len(lines) * leading + extra_height
    if need > height:
        return (f"address block is {need / 1440 * 25.4:.1f} mm high, the window "
                f"{height / 1440 * 25.4:.1f} mm")
    from .text import text_width          # fallback fonts' widths included
    for ln in lines:
        w = text_width(ln, font_id, size, True)
        if w > width:
            return (f"address line {ln!r} is {w / 1440 * 25.4:.1f} mm wide, the window "
                    f"{width / 1440 * 25.4:.1f} mm")
    return None
