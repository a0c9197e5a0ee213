"""E-invoice stage: the three hooks a run calls — prepare (compose workers), package (render), hand off (after render).

* :meth:`EinvoiceStage.prepare` runs in the compose worker right after a record's document is
  composed: routing (``b2b``: buyers with a SIREN), the invoice read through the mapping, its XML in
  every requested syntax, and every check of :mod:`.check`. Problems come back as reject reasons
  (``field`` = the rule id). A released invoice is written to the spool as
  ``einvoice/NNNNNNNNN.einv`` (record number) before the chunk is committed, so the compose journal
  covers it and a restart rewrites the same bytes.
* :func:`package_document` runs in the render phase for each document that has a spooled invoice: it
  writes the Factur-X PDF and/or the XML files into ``staging/einvoice/<pdp>/`` (the platform's drop
  directory), named after the invoice number.
* :func:`write_handoff` runs once after the render phase: one ``index.csv`` per platform directory,
  in record order, with the files, their SHA-256 and the invoice's key terms; it returns the run
  report's ``einvoice`` block.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import pickle
import re
from pathlib import Path

from .check import check_printed, check_rules, check_xsd
from .cii import write_cii
from .config import EinvoiceConfig, safe_pdp
from .mapping import load_mapping
from .model import InvoiceProblem, read_invoice
from .ubl import write_ubl

SPOOL_DIR = "einvoice"
OUTPUT_DIR = "einvoice"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
INDEX_FIELDS = ("record_number", "doc_id", "invoice_number", "issue_date", "buyer", "buyer_siren",
                "currency", "grand_total", "due_payable", "profile", "file", "syntax", "sha256")


def _stem(number: str) -> str:
    stem = _UNSAFE.sub("_", number).strip("._") or "invoice"
    return stem[:120]


class EinvoiceStage:
    """E-invoices of one run, per process (the mapping is compiled once)."""

    def __init__(self, config: EinvoiceConfig, namespaces: dict | None = None):
        self.config = config
        self.mapping = load_mapping(config.mapping, namespaces)

    def prepare(self, record, document, spool_dir: Path | None, format_amount,
                routed=None) -> list[tuple[str, str]]:
        """Check and spool the e-invoice of ``record`` (composed as ``document``); reject reasons.

        ``format_amount(value)`` formats an amount as the layout printed it. ``spool_dir`` None checks
        without writing (``validate``). ``routed`` (a :class:`ccm_batch.channels.router.RoutedDocument`
        whose channels include ``einvoice``): the multichannel routing chose the e-invoice channel — the
        ``route`` test is not made again, and a SIREN or platform from the customer's preferences fills
        a buyer the mapping leaves without them.
        """
        cfg = self.config
        if routed is None and cfg.route == "b2b" and \
                not self.mapping.value("buyer", "siren", record.tree).replace(" ", ""):
            return []                                      # a consumer: no e-invoice
        try:
            invoice = read_invoice(record.tree, self.mapping)
            if routed is not None:
                invoice = _with_preferences(invoice, routed)
            pdp = invoice.buyer.pdp or cfg.default_pdp
            if not safe_pdp(pdp):
                raise InvoiceProblem("EINV-PDP", f"platform name {pdp!r} is not a plain directory name")
            xml = {}
            if "facturx" in cfg.formats or "cii" in cfg.formats:
                xml["cii"] = write_cii(invoice, cfg.profile)
            if "ubl" in cfg.formats:
                xml["ubl"] = write_ubl(invoice)
            problems = []
            for syntax, data in xml.items():
                problems += check_xsd(data, syntax, cfg.profile)
                if not problems:
                    problems += check_rules(data, syntax, cfg.profile)
            shown = (lambda v: f"{v:.2f}") if self.mapping.printed_style == "plain" else format_amount
            problems += check_printed(invoice, document, self.mapping.printed, shown)
        except InvoiceProblem as problem:
            problems = [problem]
        if problems:
            return [(p.rule, p.message) for p in problems]
        if spool_dir is None:
            return []
        entry = {"pdp": pdp, "number": invoice.number, "doc_id": document.meta.doc_id,
                 "issue_date": invoice.issue_date.isoformat(),
                 "buyer": invoice.buyer.name, "buyer_siren": invoice.buyer.siren, "currency": invoice.currency,
                 "grand_total": f"{invoice.grand_total:.2f}", "due_payable": f"{invoice.due_payable:.2f}",
                 "xml": xml}
        folder = spool_dir / SPOOL_DIR
        folder.mkdir(exist_ok=True)
        path = folder / f"{record.number:09d}.einv"
        temp = path.with_suffix(".part")
        temp.write_bytes(pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(temp, path)
        return []


def _with_preferences(invoice, routed):
    """The invoice with the routing's platform, and its SIREN when the mapping gave none (the SIREN the
    routing found in the preferences is the buyer's legal registration, BT-47)."""
    import dataclasses

    from ..channels.routing import normalise_siren
    buyer = invoice.buyer
    buyer = dataclasses.replace(buyer, pdp=routed.pdp or buyer.pdp,
                                siren=buyer.siren or normalise_siren(routed.siren)[:9])
    return dataclasses.replace(invoice, buyer=buyer)


def printed_amount(value) -> str:
    """An amount formatted as the layout printed it for the record just composed (its locale and
    currency are the layout's formatting state until the next record)."""
    from ..layout.functions import STATE, format_amount
    return format_amount(value, STATE.currency, STATE.locale)


def spooled(spool_dir: Path, record_number: int) -> dict | None:
    """The spooled e-invoice of a record, or None when it has none."""
    path = spool_dir / SPOOL_DIR / f"{record_number:09d}.einv"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        return None


def package_document(config: EinvoiceConfig, meta, pages, spool_dir: Path, staging: Path,
                     job_date: str) -> tuple:
    """Write the e-invoice files of one document into its platform's drop directory ``staging/einvoice/<pdp>/``
    (render phase for printed documents, the channels step for documents routed off paper).

    Returns its files as ``(path relative to the output directory, syntax, profile)`` — what the archive
    indexes reference — or ``()`` when the document has no e-invoice.
    """
    entry = spooled(spool_dir, meta.record_number)
    if entry is None:
        return ()
    folder = staging / OUTPUT_DIR / entry["pdp"]
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(entry["number"])
    outputs = {}
    if "facturx" in config.formats:
        from .package import facturx_pdf, render_pdfa
        lang = {"fr": "fr-FR", "en": "en-GB", "de": "de-DE"}.get(meta.language or "fr", "fr-FR")
        pdfa = render_pdfa(meta, pages, job_date, str(folder / f".{stem}.pdfa.part"))
        outputs[f"{stem}.facturx.pdf"] = facturx_pdf(pdfa, entry["xml"]["cii"], config.profile, job_date,
                                                     f"{meta.doc_type} {entry['number']}", lang)
    if "cii" in config.formats:
        outputs[f"{stem}.cii.xml"] = entry["xml"]["cii"]
    if "ubl" in config.formats:
        outputs[f"{stem}.ubl.xml"] = entry["xml"]["ubl"]
    for name, data in outputs.items():
        temp = folder / f".{name}.part"
        temp.write_bytes(data)
        os.replace(temp, folder / name)
    return references(config, entry)


SUFFIXES = ((".facturx.pdf", "facturx"), (".cii.xml", "cii"), (".ubl.xml", "ubl"))
SYNTAX_NAMES = {"facturx": "factur-x", "cii": "cii", "ubl": "ubl"}


def references(config: EinvoiceConfig, entry: dict) -> tuple:
    """``(file relative to the output directory, syntax, profile)`` of every file of a spooled invoice, in
    the order factur-x, cii, ubl (UBL is always a full EN 16931 invoice)."""
    stem = _stem(entry["number"])
    return tuple((f"{OUTPUT_DIR}/{entry['pdp']}/{stem}{suffix}", SYNTAX_NAMES[syntax],
                  config.profile if syntax != "ubl" else "en16931")
                 for suffix, syntax in SUFFIXES if syntax in config.formats)


def write_handoff(config: EinvoiceConfig, spool_dir: Path, staging: Path, doc_id_of) -> dict:
    """Write ``index.csv`` in every platform directory (record order); the report's ``einvoice`` block.

    ``doc_id_of(record_number, entry)`` is the document id of a produced document, None otherwise
    (``entry``: the spooled invoice, which carries its document id).
    """
    folder = spool_dir / SPOOL_DIR
    names = sorted(p.name for p in folder.glob("*.einv")) if folder.is_dir() else []
    rows: dict[str, io.StringIO] = {}
    counts: dict[str, int] = {}
    files = 0
    suffixes = [(s, f) for s, f in SUFFIXES if f in config.formats]
    for name in names:
        number = int(name[:9])
        entry = spooled(spool_dir, number)
        doc_id = doc_id_of(number, entry)
        if doc_id is None:
            continue
        pdp = entry["pdp"]
        out = rows.get(pdp)
        if out is None:
            out = rows[pdp] = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(INDEX_FIELDS)
        counts[pdp] = counts.get(pdp, 0) + 1
        writer = csv.writer(out, lineterminator="\n")
        for suffix, syntax in suffixes:
            file = f"{_stem(entry['number'])}{suffix}"
            path = staging / OUTPUT_DIR / pdp / file
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            files += 1
            writer.writerow((number, doc_id, entry["number"], entry["issue_date"], entry["buyer"],
                             entry["buyer_siren"], entry["currency"], entry["grand_total"], entry["due_payable"],
                             config.profile if syntax != "ubl" else "en16931", file,
                             "factur-x" if syntax == "facturx" else syntax, digest))
    for pdp, out in rows.items():
        path = staging / OUTPUT_DIR / pdp / "index.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
    return {"invoices": sum(counts.values()), "files": files, "profile": config.profile,
            "formats": list(config.formats), "route": config.route, "by_platform": dict(sorted(counts.items()))}
