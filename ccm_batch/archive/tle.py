"""Archive stage: which index fields a document carries, and their AFP TLE (Tag Logical Element) form.

This module is the single source of the fields an archived document is indexed by, whatever the route:

* the **TLE route** (afp.md §11.1): the AFP backend writes one group-level TLE per field right after
  each document's BNG, from :func:`tle_values`;
* the **index files** (CSV, JSONL, CMOD generic indexer, :mod:`ccm_batch.archive.index`), which list
  the same names and the unsanitised values.

Field list, in this order (:func:`document_fields`):

1. the four fixed fields ``doc_id``, ``customer_id``, ``doc_type``, ``date`` (named after
   :class:`~ccm_batch.pages.DocumentMeta`; ``date`` as the document carries it, normally ISO
   ``YYYY-MM-DD`` — the CMOD application's date format must match);
2. the layout's declared index fields (``meta.index``), in declaration order.

Duplicates are dropped, first occurrence wins, names compared case-insensitively (OnDemand field
names are case-insensitive): a declared index field named ``date`` or ``Customer_ID`` is *not*
repeated, the fixed field is kept.

TLE encoding decisions (MO:DCA TLE, afp.md §5.3; TLE = X'02' FQN type X'0B' + X'36' Attribute Value):

* names and values are EBCDIC in the document's code page, **CCSID 500** (Python ``cp500``) unless
  the AFP engineer declares another on BDT and passes its codec here;
* a **name** must be 1–250 bytes once encoded and encodable without loss, else
  :class:`~ccm_batch.errors.ConfigError` (names come from the layout: it is a layout error). OnDemand
  additionally requires the names to equal the application-group field names;
* a **value** is made safe rather than refused, deterministically (:func:`tle_value`): NFKC
  normalisation, control characters (C0, DEL, C1, line breaks) become spaces, characters the code page
  lacks (e.g. ``€`` in CP500) become ``?``, then it is cut to 250 bytes. :mod:`ccm_batch.archive.verify`
  applies the same function to the index values before comparing them with the TLEs in the AFP.
"""
from __future__ import annotations

import functools
import unicodedata
from typing import Iterable

from ..errors import ConfigError
from ..pages import DocumentMeta

FIXED_FIELDS = ("doc_id", "customer_id", "doc_type", "date")
"""The fields every archived document carries first, named after DocumentMeta attributes."""

TLE_MAX_BYTES = 250
"""Longest TLE attribute name (FQN X'02' type X'0B') and value (X'36') in bytes [MO:DCA]."""

DEFAULT_CODEC = "cp500"
"""Codec of CCSID 500, the MO:DCA IS/3 default the AFP backend declares on BDT."""

CCSID_CODECS = {500: "cp500", 37: "cp037", 1140: "cp1140", 273: "cp273", 875: "cp875",
                1026: "cp1026", 1047: "cp500"}
"""CCSIDs Python can decode, for readers of BDT's X'01' triplet (1047 approximated by 500)."""

SFID_TLE = b"\xD3\xA0\x90"
TRIPLET_FQN = 0x02
FQN_ATTRIBUTE_NAME = 0x0B
TRIPLET_ATTRIBUTE_VALUE = 0x36


def document_fields(meta: DocumentMeta) -> list[tuple[str, str]]:
    """The archive fields of a document as ``(name, value)`` strings: fixed fields, then ``meta.index``.

    Values are converted with ``str`` (``None`` becomes ``""``); duplicate names are dropped (see the
    module docstring).
    """
    fields = [(name, _text(getattr(meta, name))) for name in FIXED_FIELDS]
    return merge_fields(fields, meta.index)


def merge_fields(fields: list[tuple[str, str]], extra: Iterable) -> list[tuple[str, str]]:
    """``fields`` followed by the ``(name, value)`` pairs of ``extra`` whose names are new (case-insensitive)."""
    seen = {name.casefold() for name, _ in fields}
    out = list(fields)
    for pair in extra:
        name, value = pair
        name = str(name)
        key = name.casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append((name, _text(value)))
    return out


def _text(value) -> str:
    return "" if value is None else str(value)


@functools.lru_cache(maxsize=1024)          # the same few names for every document
def tle_name(name: str, codec: str = DEFAULT_CODEC) -> str:
    """Check a TLE attribute name: non-empty, encodable in ``codec``, at most 250 bytes.

    Raises :class:`ConfigError` naming the field otherwise; returns the name unchanged.
    """
    if not name or not name.strip():
        raise ConfigError("archive index field has an empty name (TLE attribute names need 1-250 bytes)")
    try:
        encoded = name.encode(codec)
    except UnicodeEncodeError as exc:
        raise ConfigError(f"archive index field name {name!r} cannot be written as a TLE name "
                          f"in {codec}: {exc.reason} at position {exc.start}") from None
    if len(encoded) > TLE_MAX_BYTES:
        raise ConfigError(f"archive index field name {name[:40]!r}... is {len(encoded)} bytes; "
                          f"TLE attribute names are limited to {TLE_MAX_BYTES}")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ConfigError(f"archive index field name {name!r} contains a control character")
    return name


def tle_value(value: str, codec: str = DEFAULT_CODEC) -> str:
    """A value made safe for a TLE: NFKC, control characters to spaces, unmappable to ``?``, ≤ 250 bytes."""
    text = unicodedata.normalize("NFKC", _text(value))
    if not text.isprintable():                   # (printable text has no Cc, U+2028 or U+2029)
        text = "".join(" " if unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" else ch
                       for ch in text)
    encoded = text.encode(codec, errors="replace")[:TLE_MAX_BYTES]
    return encoded.decode(codec)


def tle_pairs(fields: Iterable[tuple[str, str]], codec: str = DEFAULT_CODEC) -> list[tuple[str, str]]:
    """The TLE ``(name, value)`` pairs for archive fields: names checked, values made safe."""
    return [(tle_name(name, codec), tle_value(value, codec)) for name, value in fields]


def tle_values(meta: DocumentMeta, codec: str = DEFAULT_CODEC) -> list[tuple[str, str]]:
    """The group-level TLEs a document's page group carries, as ``(name, value)`` strings, in order.

    Every returned name and value encodes in ``codec`` without loss and within 250 bytes, so the AFP
    backend can write ``tle_triplets(name, value, codec)`` (or its own TLE writer) for each pair.
    """
    return tle_pairs(document_fields(meta), codec)


def tle_triplets(name: str, value: str, codec: str = DEFAULT_CODEC) -> bytes:
    """The data of one TLE structured field: FQN X'02' type X'0B' (name) + X'36' Attribute Value.

    ``name``/``value`` must come from :func:`tle_values` (already checked); raises ``ValueError``
    if either is too long once encoded.
    """
    name_bytes = name.encode(codec)
    value_bytes = value.encode(codec)
    if not 1 <= len(name_bytes) <= TLE_MAX_BYTES or len(value_bytes) > TLE_MAX_BYTES:
        raise ValueError(f"TLE name/value out of range: {len(name_bytes)}/{len(value_bytes)} bytes")
    return (bytes((4 + len(name_bytes), TRIPLET_FQN, FQN_ATTRIBUTE_NAME, 0x00)) + name_bytes
            + bytes((4 + len(value_bytes), TRIPLET_ATTRIBUTE_VALUE, 0x00, 0x00)) + value_bytes)


def tle_structured_field(name: str, value: str, codec: str = DEFAULT_CODEC) -> bytes:
    """A complete TLE record: X'5A', SFLength, D3A090, flag X'00', reserved X'0000', triplets."""
    data = tle_triplets(name, value, codec)
    return b"\x5A" + (8 + len(data)).to_bytes(2, "big") + SFID_TLE + b"\x00\x00\x00" + data


def parse_tle(data: bytes, codec: str = DEFAULT_CODEC) -> tuple[str | None, str | None]:
    """``(name, value)`` from a TLE's data (the bytes after the 8-byte introducer).

    Either is ``None`` when its triplet is missing; raises ``ValueError`` on broken triplet framing.
    """
    name = value = None
    pos = 0
    while pos < len(data):
        tlen = data[pos]
        if tlen < 2 or pos + tlen > len(data):
            raise ValueError(f"TLE triplet at data offset {pos} has length {tlen} "
                             f"beyond the {len(data)}-byte field")
        tid = data[pos + 1]
        body = data[pos + 2:pos + tlen]
        if tid == TRIPLET_FQN and len(body) >= 2 and body[0] == FQN_ATTRIBUTE_NAME and name is None:
            name = body[2:].decode(codec)
        elif tid == TRIPLET_ATTRIBUTE_VALUE and len(body) >= 2 and value is None:
            value = body[2:].decode(codec)
        pos += tlen
    return name, value
