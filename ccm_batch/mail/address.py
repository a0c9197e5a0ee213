"""Mail stage, addresses: normalisation for householding keys, postcode parsing and pre-mailing checks.

``norm()`` follows postal.md §2: NFKD, strip accents, ligatures spelt out (Œ → OE, Æ → AE), uppercase, punctuation to spaces, collapse spaces,
standard abbreviations (Pub 28 suffixes and AFNOR voie types mapped to one token, so "AVENUE", "AVE"
and "AV" match), and civilities dropped from names. It is used for *matching keys only*; the printed
address is never changed here.

Decisions (documented, not from a reference file, since RNVP/CASS data are licensed):

- The address lines of ``documents.address`` are as printed; the first line is taken as the recipient
  line and left out of the address key when it matches ``recipient_name`` (or when no name is given
  and there are three or more lines).
- Surname = last token of the normalised name, so "NELSON-SMITH" and "SMITH" share a surname key.
- US postcodes may carry the CASS results: ``ZIP``, ``ZIP-ZIP4``, ``ZIP-ZIP4-DP`` or the same digits
  run together (5, 9 or 11 digits). The digits are the IMb routing code.
- Checks (postal.md §5.3, the part a print engine can do without reference files): French blocks have
  at most 6 lines of at most 38 characters, a 5-digit code postal and a last line starting with it;
  US blocks have at least 2 lines and a last line holding the ZIP (a trailing "FRANCE"/"USA" line
  on domestic mail is ignored); foreign blocks have at least 2 lines. A failing document goes to the ``invalid`` stream with its reason.
"""
from __future__ import annotations

import json
import re
import unicodedata

CIVILITIES = frozenset("M MME MLLE MR MRS MS MISS DR ME MONSIEUR MADAME MADEMOISELLE MESSRS MMES".split())
ABBREVIATIONS = {
    "AVENUE": "AV", "AVE": "AV", "BOULEVARD": "BD", "BLVD": "BD", "STREET": "ST", "ROAD": "RD",
    "PLACE": "PL", "CHEMIN": "CHE", "ROUTE": "RTE", "IMPASSE": "IMP", "ALLEE": "ALL", "SQUARE": "SQ",
    "LANE": "LN", "COURT": "CT", "DRIVE": "DR", "HIGHWAY": "HWY", "APARTMENT": "APT", "APPARTEMENT": "APT",
    "SUITE": "STE", "BATIMENT": "BAT", "RESIDENCE": "RES", "FAUBOURG": "FG", "SAINT": "ST", "SAINTE": "STE",
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "BIS": "B", "TER": "T",
}
_PUNCT = re.compile(r"[^0-9A-Z]+")
_ASCII_PUNCT = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})
DOMESTIC_COUNTRY_LINES = frozenset({"FRANCE", "USA", "US", "UNITED STATES", "UNITED STATES OF AMERICA"})
_ASCII_DIGIT = re.compile(r"[0-9]")
_US_ZIP = re.compile(r"^\d{5}(?:[- ]?\d{4}(?:[- ]?\d{2})?)?$")


LIGATURES = {"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ł": "L",
             "ł": "l", "Þ": "TH", "þ": "th", "ı": "i", "ß": "ss"}
"""Letters NFKD does not decompose, spelt as the ASCII letters an uppercase address line uses (NF Z10-011
lines are written "COEUR" for "Cœur"): without this "LEBŒUF" and "LEBOEUF" were two households."""


class _CombiningMarks(dict):
    """``str.translate`` table deleting combining marks and spelling out :data:`LIGATURES`, filled as
    characters are met."""

    def __missing__(self, code: int):
        ch = chr(code)
        value = LIGATURES.get(ch, None if unicodedata.combining(ch) else ch)
        self[code] = value
        return value


_NO_MARKS = _CombiningMarks()


def norm(text: str) -> str:
    """Matching form of an address or name text (see the module docstring)."""
    if not text:
        return ""
    if text.isascii():
        text = text.upper().translate(_ASCII_PUNCT)
    else:
        text = _PUNCT.sub(" ", unicodedata.normalize("NFKD", text).translate(_NO_MARKS).upper())
    return " ".join([ABBREVIATIONS.get(t, t) for t in text.split()])


def norm_name(name: str) -> str:
    """A person's name without civilities, normalised."""
    return " ".join(t for t in norm(name).split() if t not in CIVILITIES)


def surname(name: str) -> str:
    """The surname used by householding key B: the last token of the normalised name."""
    tokens = norm_name(name).split()
    return tokens[-1] if tokens else ""


def address_lines(address) -> list[str]:
    """The non-empty address lines of a ``documents.address`` value (JSON list or list)."""
    if isinstance(address, str):
        try:
            address = json.loads(address) if address.strip().startswith("[") else address.splitlines()
        except ValueError:
            address = address.splitlines()
    return [str(line).strip() for line in (address or []) if str(line).strip()]


def delivery_lines(lines: list[str], recipient_name: str) -> list[str]:
    """The address lines without the recipient line (see the module docstring)."""
    if not lines:
        return []
    first = norm_name(lines[0])
    name = norm_name(recipient_name)
    if (name and (first == name or name in first or first in name)) or (not name and len(lines) >= 3):
        return lines[1:]
    return lines


def address_key(lines: list[str], recipient_name: str, postcode: str) -> str:
    """Normalised delivery address (without the recipient line) for householding keys."""
    return norm(" ".join(delivery_lines(lines, recipient_name))) + "|" + postcode


def postcode_digits(postcode: str, scheme: str) -> str | None:
    """The normalised postcode (FR: 5 digits; US: 5, 9 or 11 digits); None when malformed."""
    pc = (postcode or "").strip().upper()
    if scheme == "us":
        if not _US_ZIP.match(pc):
            return None
        return re.sub(r"\D", "", pc)
    pc = pc.replace(" ", "")
    return pc if len(pc) == 5 and pc.isdigit() else None


def check_address(lines: list[str], postcode: str, scheme: str, international: bool) -> str:
    """Empty when the address block may be mailed, else the reason (postal.md §5.3)."""
    if not lines:
        return "no address lines"
    if international:
        return "" if len(lines) >= 2 else "foreign address needs at least 2 lines"
    # an ASCII digit survives norm(), and no country line has one: the usual "75001 PARIS" is not normalised
    if len(lines) >= 3 and not _ASCII_DIGIT.search(lines[-1]) and norm(lines[-1]) in DOMESTIC_COUNTRY_LINES:
        lines = lines[:-1]                                  # a needless country line on domestic mail
    pc = postcode_digits(postcode, scheme)
    if pc is None:
        return f"postcode {postcode!r} is not a valid {'ZIP' if scheme == 'us' else 'code postal'}"
    if scheme == "us":
        if len(lines) < 2:
            return "US address needs at least 2 lines"
        if pc[:5] not in re.sub(r"\D", "", lines[-1]):
            return f"last line does not hold ZIP {pc[:5]}"
        return ""
    if len(lines) > 6:
        return f"{len(lines)} address lines (NF Z10-011 allows 6)"
    long = [line for line in lines if len(line) > 38]
    if long:
        return f"address line over 38 characters: {long[0]!r}"
    if not lines[-1].replace(" ", "").startswith(pc):
        return f"last line does not start with the code postal {pc}"
    return ""
