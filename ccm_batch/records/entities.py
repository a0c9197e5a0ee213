"""Read stage, entity rules: what an extract's DTD may declare and what a record may reference.

The rule (README, "Hostile extracts"):

* An internal DTD subset that declares an **external** entity (``<!ENTITY x SYSTEM "…">`` or
  ``PUBLIC``, general or parameter entity) makes the whole extract refused (:class:`InputError`,
  exit 8) with the file and line of the declaration: such a DTD is hostile or broken, and no record of
  it can be trusted. An external DTD subset (``<!DOCTYPE r SYSTEM "x.dtd">``) is never loaded.
* **Internal** entities (``<!ENTITY co "ACME &amp; Co">``) are expanded to their text, within
  libxml2's expansion limits (an expansion bomb stops the extract at exit 8 with a clear message).
* A record that **references an entity that is not declared** in the internal subset (``&xxe;``,
  ``&nbsp;`` without a DTD, an entity of an external subset never loaded) is rejected with the reason
  ``undefined entity &name; (line N)``; the run goes on. Such a reference outside any record stops
  the extract (file:line). So no ``&name;`` is ever printed. In an extract with a DOCTYPE (tree
  reading) the check is made on the record's bytes, so ``&name;`` text inside a CDATA section counts as
  a reference too (the record is rejected: conservative, nothing is lost).

To let libxml2 check and parse the rest of the file, the undefined references are blanked (replaced by
as many spaces: byte offsets, lines and columns do not move) in the bytes the parsers are fed; the
record's own bytes (``Record.raw``, the rejects file) are never changed.
"""
from __future__ import annotations

import re

from ..errors import InputError

PREDEFINED = frozenset((b"amp", b"lt", b"gt", b"quot", b"apos"))
# a reference to an entity other than the predefined ones (ASCII names; others: libxml2 decides)
REFERENCE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)([A-Za-z_:][A-Za-z0-9_:.\-]*);")
_DECL = re.compile(rb"<!ENTITY\s+(%\s+)?([^\s\"'>]+)\s+(SYSTEM|PUBLIC|\"[^\"]*\"|'[^']*')")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)


def declared_entities(prolog: bytes, source: str, codec: str = "utf-8") -> frozenset:
    """Names (bytes) of the internal general entities the prolog's DTD declares.

    Raises :class:`InputError` (``file:line: …``) for an external entity declaration.
    """
    start = prolog.find(b"<!DOCTYPE")
    if start < 0:
        return frozenset()
    text = _COMMENT.sub(lambda m: re.sub(rb"[^\n]", b" ", m.group(0)), prolog)  # keeps the line numbers
    names = set()
    for m in _DECL.finditer(text, start):
        name = m.group(2).decode(codec, "replace")
        if m.group(3) in (b"SYSTEM", b"PUBLIC"):
            line = text.count(b"\n", 0, m.start()) + 1
            kind = "parameter entity %" if m.group(1) else "entity &"
            raise InputError(f"{source}:{line}: the DTD declares the external {kind}{name}; "
                             f"({m.group(3).decode()}): external entities are refused, the whole extract "
                             "is rejected. Ask for an extract without external entity declarations.")
        if not m.group(1):
            names.add(m.group(2))
    return frozenset(names)


def undefined(data: bytes, declared: frozenset = frozenset()) -> list[str]:
    """Names of the entities ``data`` references that are neither predefined nor ``declared``."""
    if b"&" not in data:
        return []
    return [m.group(1).decode("utf-8", "replace") for m in REFERENCE.finditer(data)
            if m.group(1) not in PREDEFINED and m.group(1) not in declared]


def blank_undefined(data: bytes, declared: frozenset = frozenset()) -> bytes:
    """``data`` with every undefined entity reference replaced by as many spaces."""
    if b"&" not in data or REFERENCE.search(data) is None:
        return data

    def blank(m):
        name = m.group(1)
        return m.group(0) if name in PREDEFINED or name in declared else b" " * len(m.group(0))
    return REFERENCE.sub(blank, data)


def held_back(data: bytes) -> int:
    """Length of a possibly cut entity reference at the end of ``data`` (``&na`` waiting for ``me;``),
    to be fed to a parser with the next bytes; 0 if none."""
    amp = data.rfind(b"&", max(0, len(data) - 256))
    if amp < 0 or b";" in data[amp:]:
        return 0
    return len(data) - amp if re.fullmatch(rb"&[^\s&;<>\"'=]*", data[amp:]) else 0


def expansion_hint(message: str) -> str:
    """An explanation to add to libxml2's message when entity expansion hit its limits."""
    low = message.lower()
    if "amplification" in low or "entity reference loop" in low or "entities loop" in low:
        return (" — the DTD's entities expand beyond the safety limits (an entity expansion bomb?): "
                "the extract is refused")
    return ""
