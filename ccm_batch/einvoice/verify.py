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

from .cii import PROFILES

FORMATS = ("factur-x", "cii", "ubl")


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
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    from ..archive.verify import pdfa_claim
    try:
        reader = PdfReader(io.BytesIO(data))
        reader.trailer["/Root"]
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        return f"e-invoice {name} cannot be read as PDF: {exc}"
    part, conformance = pdfa_claim(reader)
    if (part, conformance) != ("3", "B"):
        return (f"e-invoice {name} does not declare PDF/A-3b in its XMP metadata "
                f"(pdfaid:part {part!r}, conformance {conformance!r})")
    from facturx import get_facturx_xml_from_pdf
    try:
        embedded, xml = get_facturx_xml_from_pdf(data, check_xsd=False)
    except Exception as exc:          # noqa: BLE001 - the library's own words
        return f"e-invoice {name}: the factur-x library cannot read it ({exc})"
    if embedded != "factur-x.xml" or not xml:
        return f"e-invoice {name} has no embedded factur-x.xml (found {embedded!r})"
    problem = _xml_problem(xml, "cii", profile)
    return f"e-invoice {name}: embedded factur-x.xml: {problem}" if problem else None
