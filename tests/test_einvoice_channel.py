"""E-invoice as a channel of the multichannel routing (issue 16 item 4) and the archive indexes' references to
e-invoice files (item 2).

A mixed B2B / consumer extract goes through the invoice sample with routing: business customers (a SIREN) get
a Factur-X (plus CII and UBL) in their platform's drop directory instead of paper, consumers paper or email.
Checked with tools we did not write: pdftotext on the print files, pdfinfo / pdfdetach and the ``factur-x``
library on the Factur-X files, the official XSD and the CEN Schematron (run here with lxml and Saxon-HE).
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from runjobs import ROOT, output_files, run_cli
from test_einvoice import schematron, xsd_errors   # noqa: F401 - the independent validators (a fixture)

from ccm_batch.channels.config import Rule
from ccm_batch.channels.preferences import Preferences
from ccm_batch.channels.routing import route_document
from ccm_batch.pages import DocumentMeta

DATA = ROOT / "samples" / "data" / "invoices-b2b.xml"
SAMPLE = ROOT / "samples" / "invoice-b2b.toml"


def _records():
    return etree.parse(str(DATA)).getroot().findall("invoice")


B2B = {r.findtext("number"): r for r in _records() if r.find("customer/siren") is not None}
CONSUMERS = {r.findtext("number"): r for r in _records() if r.find("customer/siren") is None}


def _job(tmp_path: Path, data: Path = DATA, *, rule: str = "", extra: str = "", prefs: str = "",
         name: str = "job.toml") -> Path:
    """The B2B sample job with absolute paths, small chunks (two workers share the work), mail production
    on (pieces and postage) and, optionally, another routing rule, preferences or feedback store."""
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace('path = "data/invoices-b2b.xml"', f'path = "{data}"')
    text = text.replace("../layouts/", f"{ROOT / 'layouts'}/")
    text = text.replace('dir = "../demo-out/invoice-b2b"', 'dir = "out"')
    if prefs:
        (tmp_path / "prefs.csv").write_text(prefs, encoding="utf-8")
        text = text.replace('preferences = "data/invoice-b2b-preferences.csv"',
                            f'preferences = "{tmp_path / "prefs.csv"}"')
    else:
        text = text.replace('preferences = "data/invoice-b2b-preferences.csv"',
                            f'preferences = "{ROOT / "samples" / "data" / "invoice-b2b-preferences.csv"}"')
    if rule:
        text = re.sub(r"\[channels\.rules\.invoice\]\n(?:[^\[\n][^\n]*\n)+", f"[channels.rules.invoice]\n{rule}\n",
                      text)
    text = text.replace("[channels]\n", f"[channels]\nfeedback = \"{tmp_path / 'feedback.sqlite'}\"\n", 1)
    text += "\n[run]\nchunk_size = 3\n\n[mail]\nenabled = true\ncarriers = { FR = \"LAPOSTE\" }\ncontrol = \"none\"\n" + extra
    job = tmp_path / name
    job.write_text(text, encoding="utf-8")
    return job


def _channels(out: Path) -> dict:
    with open(out / "invoice-b2b.channels.csv", encoding="utf-8") as f:
        return {row["doc_id"]: row for row in csv.DictReader(f)}


def _print_text(out: Path) -> str:
    text = "".join(subprocess.run(["pdftotext", str(p), "-"], capture_output=True, text=True, check=True).stdout
                   for p in sorted(out.glob("*.pdf")))
    assert text.strip()
    return text


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    """The mixed population routed once, with two workers."""
    tmp = tmp_path_factory.mktemp("routed")
    job = _job(tmp)
    result = run_cli("run", job, "-w", "2", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp, job, tmp / "out"


# -- routing decisions (unit) ---------------------------------------------------------------------------

META = DocumentMeta(doc_id="F1", customer_id="C1", doc_type="invoice", date="2026-11-23",
                    address=("SARL X", "1 RUE X", "75001 PARIS"))
RULE = Rule(allowed=("einvoice", "email", "paper"), consent=("email",))


def test_a_siren_routes_to_the_einvoice_channel_without_consent():
    d = route_document(META, Preferences(siren="991 875 139", pdp="pdp-beta"), RULE, {})
    assert (d.primary, d.channels) == ("einvoice", ("einvoice",))
    assert d.reason == "einvoice: business customer (SIREN 991875139, platform pdp-beta)"


def test_consumers_invalid_sirens_and_platform_rejections_fall_back():
    assert route_document(META, Preferences(), RULE, {}).reason == \
        "paper: postal address (einvoice impossible: no SIREN: not a business customer, email impossible: no consent)"
    assert route_document(META, Preferences(siren="12345"), RULE, {}).reason.startswith(
        "paper: postal address (einvoice impossible: invalid SIREN '12345'")
    blocked = {("C1", "einvoice"): [("", "2026-11-02", "213 rejetée: destinataire inconnu")]}
    d = route_document(META, Preferences(siren="991875139"), RULE, blocked)
    assert d.primary == "paper"
    assert "einvoice impossible: platform rejection 2026-11-02 (213 rejetée: destinataire inconnu)" in d.reason
    # consent asked by the rule: none given, none taken; route = "all" needs no SIREN
    with_consent = Rule(allowed=("einvoice", "paper"), consent=("einvoice",))
    assert route_document(META, Preferences(siren="991875139"), with_consent, {}).primary == "paper"
    assert route_document(META, Preferences(siren="991875139", einvoice_consent="2026-01-05"), with_consent,
                          {}).reason.startswith("einvoice: consent 2026-01-05, business customer")
    assert route_document(META, Preferences(), RULE, {}, b2b_only=False).primary == "einvoice"


# -- the run ------------------------------------------------------------------------------------------

def test_b2b_invoices_go_to_their_platform_and_never_to_paper(routed):
    _tmp, _job_file, out = routed
    decisions = _channels(out)
    assert set(decisions) == set(B2B) | set(CONSUMERS)
    for number, record in B2B.items():
        row = decisions[number]
        assert (row["primary"], row["channels"]) == ("einvoice", "einvoice"), row
        pdp = record.findtext("customer/pdp")
        assert row["reason"] == (f"einvoice: business customer (SIREN {record.findtext('customer/siren')}, "
                                 f"platform {pdp})")
        files = row["einvoice_file"].split(";")
        assert files == [f"einvoice/{pdp}/{number}.facturx.pdf", f"einvoice/{pdp}/{number}.cii.xml",
                         f"einvoice/{pdp}/{number}.ubl.xml"]
        assert all((out / f).is_file() for f in files)
        assert (out / row["archive_file"]).is_file()            # its archive copy, beside
    assert {decisions[n]["primary"] for n in CONSUMERS} == {"paper", "email"}
    assert decisions["FAC-2026-B000004"]["reason"] == "email: consent 2026-09-14"
    assert all(decisions[n]["einvoice_file"] == "" for n in CONSUMERS)
    # the print files and every index of them hold the paper documents only
    text = _print_text(out)
    paper = [n for n in CONSUMERS if decisions[n]["primary"] == "paper"]
    assert paper and all(n in text for n in paper)
    assert not [n for n in B2B if n in text]
    for index in out.glob("*.index.csv"):
        with open(index, encoding="utf-8") as f:
            assert sorted(r["doc_id"] for r in csv.DictReader(f)) == sorted(paper)
    # the mail plan: one piece per paper document, postage for those only
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["mail"]["documents in"] == report["mail"]["pieces out"] == len(paper), report["mail"]
    mail_files = [p for p in out.iterdir() if p.is_file() and p.suffix in (".csv", ".txt", ".json")
                  and "channels" not in p.name and ".index." not in p.name and not p.name.startswith("report")]
    assert mail_files
    for p in mail_files:
        assert not [n for n in B2B if n in p.read_text(encoding="utf-8")], p.name


def test_counts_reconcile_per_channel(routed):
    _tmp, _job_file, out = routed
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    channels = report["channels"]
    by = channels["by_channel"]
    assert by["einvoice"] == len(B2B) and by["email"] == 1 and by["paper"] == len(CONSUMERS) - 1
    assert report["documents_produced"] == sum(by.values()) == len(B2B) + len(CONSUMERS)
    assert report["records_read"] == report["documents_produced"] + report["records_rejected"]
    assert channels["ok"] and channels["prepared"]["einvoice"] == len(B2B)
    assert report["einvoice"]["invoices"] == len(B2B)
    text = (out / "report.txt").read_text(encoding="utf-8")
    assert (f"documents {len(B2B) + len(CONSUMERS)} = paper {len(CONSUMERS) - 1} + email 1 + sms 0 + portal 0 "
            f"+ einvoice {len(B2B)} + suppressed 0: OK") in text


def test_routed_factur_x_files_pass_every_check(routed, schematron):
    from facturx import get_facturx_xml_from_pdf
    _tmp, _job_file, out = routed
    pdfs = sorted((out / "einvoice").rglob("*.facturx.pdf"))
    assert {p.name.split(".")[0] for p in pdfs} == set(B2B)
    for pdf in pdfs:
        meta = subprocess.run(["pdfinfo", "-meta", str(pdf)], capture_output=True, text=True).stdout
        assert "<pdfaid:part>3</pdfaid:part>" in meta and "<pdfaid:conformance>B</pdfaid:conformance>" in meta
        listing = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True).stdout
        assert listing.splitlines()[1:] == ["1: factur-x.xml"]
        name, xml = get_facturx_xml_from_pdf(pdf.read_bytes(), check_xsd=True)
        assert name == "factur-x.xml"
        assert xsd_errors(xml, "en16931") == [] and schematron(xml, "en16931") == []
        ubl = pdf.with_name(pdf.name.replace(".facturx.pdf", ".ubl.xml")).read_bytes()
        assert xsd_errors(ubl, "ubl") == [] and schematron(ubl, "ubl") == []
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        assert pdf.name.split(".")[0] in text                  # the composed invoice is its visual part


def test_same_outputs_with_one_and_two_workers(routed, tmp_path):
    tmp, job, out = routed
    shutil.copy(job, tmp_path / "job.toml")
    result = run_cli("run", tmp_path / "job.toml", "-w", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert output_files(tmp_path / "out") == output_files(out)


@pytest.mark.parametrize("fault", ["compose:2", "commit:2"])
def test_killed_and_restarted_the_same_outputs(routed, tmp_path, fault):
    _tmp, job, out = routed
    shutil.copy(job, tmp_path / "job.toml")
    killed = run_cli("run", tmp_path / "job.toml", "-w", "1", "-q", env={"CCM_FAULT": fault})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    if fault.startswith("compose"):
        assert not list((tmp_path / "out").glob("einvoice/*/*.pdf"))   # nothing released before the commit
    again = run_cli("run", tmp_path / "job.toml", "-w", "1", "-q", "--restart")
    assert again.returncode == 0, again.stdout + again.stderr
    assert output_files(tmp_path / "out") == output_files(out)


def test_inconsistent_totals_are_a_reject_with_the_rule_never_printed_instead(tmp_path):
    data = DATA.read_text(encoding="utf-8")
    number = sorted(B2B)[1]
    ttc = B2B[number].findtext("totals/total_ttc")
    start = data.index(f'<invoice id="{number}"')
    end = data.index("</invoice>", start)
    wrong = str(Decimal(ttc) + Decimal("1.00"))
    block = data[start:end].replace(f"<total_ttc>{ttc}</total_ttc>", f"<total_ttc>{wrong}</total_ttc>") \
        .replace(f"<amount>{ttc}</amount>", f"<amount>{wrong}</amount>")
    (tmp_path / "inv.xml").write_text(data[:start] + block + data[end:], encoding="utf-8")
    result = run_cli("run", _job(tmp_path, tmp_path / "inv.xml"), "-w", "2")
    assert result.returncode == 4, result.stdout + result.stderr
    out = tmp_path / "out"
    with open(out / "invoice-b2b.reasons.csv", encoding="utf-8") as f:
        reasons = list(csv.DictReader(f))
    assert [r["key"] for r in reasons] == [number] * len(reasons) and "BR-CO-15" in {r["field"] for r in reasons}
    assert number not in _print_text(out)                     # not printed instead
    assert number not in _channels(out)
    assert not list((out / "einvoice").rglob(f"{number}.*"))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["records_rejected"] == 1 and report["channels"]["ok"]
    assert report["channels"]["by_channel"]["einvoice"] == len(B2B) - 1
    assert report["records_read"] == report["documents_produced"] + 1


def test_a_platform_rejection_fed_back_sends_paper_next_time(tmp_path):
    job = _job(tmp_path)
    first = sorted(B2B)[0]
    customer = B2B[first].find("customer").get("id")
    status = tmp_path / "status.csv"
    status.write_text("doc_id,customer_id,date,status,reason\n"
                      f"{first},{customer},2026-11-02,213,destinataire inconnu de la plateforme\n",
                      encoding="utf-8")
    fb = run_cli("feedback", "--job", job, "--einvoice-status", status)
    assert fb.returncode == 0 and "1 einvoice hard" in fb.stderr, fb.stdout + fb.stderr
    again = run_cli("feedback", "--job", job, "--einvoice-status", status)
    assert "1 einvoice hard" not in again.stderr                 # the same status is stored once
    assert run_cli("run", job, "-q").returncode == 0
    out = tmp_path / "out"
    row = _channels(out)[first]
    assert row["primary"] == "paper"
    assert ("einvoice impossible: platform rejection 2026-11-02 (213 rejetée: destinataire inconnu de la "
            "plateforme)") in row["reason"]
    assert first in _print_text(out) and not list((out / "einvoice").rglob(f"{first}.*"))
    assert all(_channels(out)[n]["primary"] == "einvoice" for n in B2B if n != first)
    # the platform then takes it (202 reçue): the block is lifted
    status.write_text("doc_id,customer_id,date,status,reason\n"
                      f"{first},{customer},2026-11-10,202,\n", encoding="utf-8")
    assert run_cli("feedback", "--job", job, "--einvoice-status", status).returncode == 0
    shutil.rmtree(out)
    assert run_cli("run", job, "-q").returncode == 0
    assert _channels(out)[first]["primary"] == "einvoice"
    bad = tmp_path / "bad.csv"
    bad.write_text("doc_id,customer_id,date,status\nX,C,2026-11-10,999\n", encoding="utf-8")
    result = run_cli("feedback", "--job", job, "--einvoice-status", bad)
    assert result.returncode == 12 and f"{bad}:2: unknown e-invoice status '999'" in result.stdout + result.stderr


def test_a_siren_and_platform_from_the_preferences(tmp_path):
    consumer, other = sorted(CONSUMERS)[:2]
    customer = CONSUMERS[consumer].find("customer").get("id")
    escaping = CONSUMERS[other].find("customer").get("id")
    job = _job(tmp_path, prefs=f"customer_id,siren,pdp\n{customer},552 100 554,pdp-gamma\n"
                               f"{escaping},552100554,../../escaped\n")
    assert run_cli("run", job, "-q").returncode == 4
    out = tmp_path / "out"
    with open(out / "invoice-b2b.reasons.csv", encoding="utf-8") as f:      # a platform name that is a path
        reasons = list(csv.DictReader(f))
    assert [(r["key"], r["field"]) for r in reasons] == [(other, "EINV-PDP")]
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.rglob("escaped"))
    row = _channels(out)[consumer]
    assert row["primary"] == "einvoice" and "SIREN 552100554, platform pdp-gamma" in row["reason"]
    cii = (out / "einvoice" / "pdp-gamma" / f"{consumer}.cii.xml").read_bytes()
    buyer = etree.fromstring(cii).find(".//{*}BuyerTradeParty/{*}SpecifiedLegalOrganization/{*}ID")
    assert (buyer.text, buyer.get("schemeID")) == ("552100554", "0002")


def test_printed_copies_reference_their_einvoices_and_index_verify_checks_them(tmp_path):
    job = _job(tmp_path, rule='allowed = ["einvoice", "paper"]\nrequired = ["paper"]',
               extra='', name="copy.toml")
    job.write_text(job.read_text().replace('formats = ["csv", "jsonl"]', 'formats = ["csv", "jsonl", "cmod"]'))
    result = run_cli("run", job, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "out"
    row = _channels(out)[sorted(B2B)[0]]
    assert (row["primary"], row["channels"]) == ("einvoice", "einvoice+paper")
    assert "paper copy: required for invoice" in row["reason"]
    [pdf_index] = out.glob("*.pdf.index.csv")
    [afp_jsonl] = out.glob("*.afp.index.jsonl")
    [afp_cmod] = out.glob("*.afp.cmod.ind")
    with open(pdf_index, encoding="utf-8") as f:
        rows = {r["doc_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(B2B) | set(CONSUMERS)          # no email in this rule: every consumer on paper
    for number, r in rows.items():
        if number in B2B:
            pdp = B2B[number].findtext("customer/pdp")
            assert r["einvoice_file"] == (f"einvoice/{pdp}/{number}.facturx.pdf;einvoice/{pdp}/{number}.cii.xml;"
                                          f"einvoice/{pdp}/{number}.ubl.xml")
            assert r["einvoice_format"] == "factur-x:en16931;cii:en16931;ubl:en16931"
        else:
            assert r["einvoice_file"] == r["einvoice_format"] == ""
    jsonl = [json.loads(line) for line in afp_jsonl.open(encoding="utf-8")]
    assert any(e["einvoice"] and e["einvoice"][0]["format"] == "factur-x" for e in jsonl)
    cmod = afp_cmod.read_text(encoding="latin-1")
    assert "GROUP_FIELD_NAME:einvoice_file" in cmod
    indexes = sorted(out.glob("*.index.*")) + sorted(out.glob("*.cmod.ind"))
    for index in indexes:
        check = run_cli("index", "verify", index)
        assert check.returncode == 0, check.stdout + check.stderr
    # a tampered CII (an amount changed) and a missing Factur-X are caught, naming the rule and the file
    victim = sorted(B2B)[0]
    pdp = B2B[victim].findtext("customer/pdp")
    cii = out / "einvoice" / pdp / f"{victim}.cii.xml"
    tree = etree.fromstring(cii.read_bytes())
    total = tree.find(".//{*}GrandTotalAmount")
    total.text = str(Decimal(total.text) + 1)
    cii.write_bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    check = run_cli("index", "verify", pdf_index)
    assert check.returncode != 0 and f"e-invoice {victim}.cii.xml: BR-CO-15" in check.stdout + check.stderr
    (out / "einvoice" / pdp / f"{victim}.facturx.pdf").unlink()
    check = run_cli("index", "verify", afp_cmod)
    assert check.returncode != 0 and f"e-invoice einvoice/{pdp}/{victim}.facturx.pdf not found" in \
        check.stdout + check.stderr


def test_einvoice_rules_need_an_einvoice_section(tmp_path):
    job = _job(tmp_path)
    text = job.read_text()
    start = text.index("[einvoice]")
    end = text.index("[channels]")
    job.write_text(text[:start] + text[end:])
    result = run_cli("run", job)
    assert result.returncode == 12
    assert "route to einvoice, but the job has no [einvoice] section" in result.stdout + result.stderr
    job.write_text(text.replace('allowed = ["einvoice", "email", "paper"]', 'allowed = ["einvoices", "paper"]'))
    result = run_cli("run", job)
    assert result.returncode == 12 and "paper, email, sms, portal, einvoice" in result.stdout + result.stderr
