"""E-invoice stage: a released e-invoice file checked again (what ``index verify`` runs on the files indexes name).

:func:`check_file` takes a file and the format and profile the index gives for it:

* ``factur-x``: a PDF whose XMP metadata declares PDF/A-3 conformance B (``pdfaid:part`` 3,
  ``pdfaid:conformance`` B), with an embedded ``factur-x.xml`` (extracted by the ``factur-x``
  library), whose CII passes the profile's XSD and EN 16931 Schematron;
* ``cii`` / ``ubl``: an XML file passing the XSD and Schematron of its syntax and profile.

It returns ``None`` when the file is good, else one line saying what is wrong (the first rule id).
"""
from __future__ import annotations

import os
import re

from .cii import PROFILES

FORMATS = ("factur-x", "cii", "ubl")
_PART = re.compile(rb"pdfaid:part(?:>|=\s*[\"'])\s*(\d+)")
_CONFORMANCE = re.compile(rb"pdfaid:conformance(?:>|=\s*[\"'])\s*([A-Za-z])")


def _xml_problem(xml: bytes, syntax: str, profile: str) -> str | None:
    from .check import check_rules, check_xsd
    try:
        problems = check_xsd(xml, syntax, profile)
    except Exception as exc:          # noqa: BLE001 - not XML at all: lxml's message says where
        return f"not well-formed XML ({exc})"
    problems = problems or check_rules(xml, syntax, profile)
    if problems:
        first = problems[0]
        return f"{first.rule}: {first.message[:160]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                                                         else "")
    return None


def check_file(path: str, fmt: str, profile: str) -> str | None:
    """What is wrong with the e-invoice file ``path`` (``fmt``: factur-x, cii or ubl), or None."""
    name = os.path.basename(path)
    if fmt not in FORMATS:
        return f"e-invoice {name}: unknown format {fmt!r} (expected {', '.join(FORMATS)})"
    if fmt == "ubl":
        profile = "en16931"
    if profile not in PROFILES:
        return f"e-invoice {name}: unknown profile {profile!r} (expected {', '.join(PROFILES)})"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return f"e-invoice {name} not found (looked for {path})"
    if fmt != "factur-x":
        problem = _xml_problem(data, fmt, profile)
        return f"e-invoice {name}: {problem}" if problem else None
    if not data.startswith(b"%PDF-"):
        return f"e-invoice {name} is not a PDF"
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError
    import io
    try:
        reader = PdfReader(io.BytesIO(data))
        metadata = reader.trailer["/Root"].get("/Metadata")
        xmp = metadata.get_object().get_data() if metadata is not None else b""
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        return f"e-invoice {name} cannot be read as PDF: {exc}"
    part, conformance = _PART.search(xmp), _CONFORMANCE.search(xmp)
    claim = (part.group(1) if part else None, conformance.group(1).upper() if conformance else None)
    if claim != (b"3", b"B"):
        return f"e-invoice {name} does not declare PDF/A-3b in its XMP metadata ({claim})"
    from facturx import get_facturx_xml_from_pdf
    try:
        embedded, xml = get_facturx_xml_from_pdf(data, check_xsd=False)
    except Exception as exc:          # noqa: BLE001 - the library's own words
        return f"e-invoice {name}: the factur-x library cannot read it ({exc})"
    if embedded != "factur-x.xml" or not xml:
        return f"e-invoice {name} has no embedded factur-x.xml (found {embedded!r})"
    problem = _xml_problem(xml, "cii", profile)
    return f"e-invoice {name}: embedded factur-x.xml: {problem}" if problem else None
