"""Channels, routing and feedback: rules per document type, consent, fallbacks, copies required by a rule,
the layout/rule check, the channel reconciliation, determinism, restart; and a bounce fed back sends the
customer paper on the next run."""
from __future__ import annotations

import csv
import json
import shutil

import pytest

from channel_servers import ROOT, channels_job
from runjobs import output_files, run_cli

from ccm_batch.channels.config import Rule
from ccm_batch.channels.preferences import Preferences
from ccm_batch.channels.routing import route_document
from ccm_batch.pages import DocumentMeta

META = DocumentMeta(doc_id="D1", customer_id="C1", doc_type="notice", date="2026-11-23",
                    address=("M. A", "1 RUE X", "75001 PARIS"))
EMAIL = Preferences(preferred="email", email="a@example.org", email_consent="2026-03-02")


def test_email_with_consent():
    d = route_document(META, EMAIL, Rule(allowed=("email", "paper")), {})
    assert d == ("email", ("email",), "email: consent 2026-03-02")


def test_no_consent_falls_back_to_paper_with_the_reason():
    d = route_document(META, EMAIL._replace(email_consent="no"), Rule(allowed=("email", "paper")), {})
    assert d.primary == "paper" and d.reason == "paper: postal address (email impossible: no consent)"


def test_invalid_email_and_hard_bounce():
    bad = route_document(META, EMAIL._replace(email="a@@example"), Rule(allowed=("email", "paper")), {})
    assert bad.primary == "paper" and "invalid email address 'a@@example'" in bad.reason
    blocks = {("C1", "email"): [("A@example.org", "2026-10-20", "5.1.1")]}
    bounced = route_document(META, EMAIL, Rule(allowed=("email", "paper")), blocks)
    assert bounced.primary == "paper" and "email impossible: hard bounce 2026-10-20 (5.1.1)" in bounced.reason
    moved = route_document(META, EMAIL._replace(email="new@example.org"), Rule(allowed=("email", "paper")), blocks)
    assert moved.primary == "email"                      # a new address is not blocked by the old bounce


def test_copy_required_by_the_rule():
    d = route_document(META, EMAIL, Rule(allowed=("email", "paper"), required=("paper",)), {})
    assert d.channels == ("email", "paper")
    assert d.reason == "email: consent 2026-03-02; paper copy: required for notice"


def test_preferred_channel_first_and_sender_order_otherwise():
    prefs = Preferences(preferred="sms", email="a@example.org", mobile="+33612345678", email_consent="yes",
                        sms_consent="yes")
    assert route_document(META, prefs, Rule(allowed=("email", "sms", "paper")), {}).primary == "sms"
    assert route_document(META, prefs._replace(preferred=""), Rule(allowed=("email", "sms", "paper")),
                          {}).primary == "email"
    # a preferred channel the rule does not allow is not used
    assert route_document(META, prefs, Rule(allowed=("email", "paper")), {}).primary == "email"


def test_no_channel_possible_suppress_or_paper():
    nothing = Preferences()
    no_address = META._replace(address=())
    d = route_document(no_address, nothing, Rule(allowed=("email", "paper"), fallback="suppress"), {})
    assert d == ("suppressed", (), "suppressed: fallback (email impossible: no consent, paper impossible: "
                                   "no postal address)")
    p = route_document(no_address, nothing, Rule(allowed=("email", "paper")), {})
    assert p.primary == "paper" and p.reason.startswith("paper: fallback")
    returned = {("C1", "paper"): [("", "2026-10-30", "NPAI")]}
    r = route_document(META, EMAIL._replace(preferred=""), Rule(allowed=("paper", "email")), returned)
    assert r.primary == "email" and "paper impossible: returned letter 2026-10-30 (NPAI)" in r.reason


def _index(out):
    with open(out / "mc.channels.csv", encoding="utf-8") as f:
        return {r["doc_id"]: r for r in csv.DictReader(f)}


def test_reconciliation_and_index(tmp_path):
    job = channels_job(tmp_path, 9)
    proc = run_cli("run", job)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    ch = report["channels"]
    assert ch["by_channel"] == {"paper": 7, "email": 3, "sms": 1, "portal": 1, "suppressed": 0}
    assert ch["line"] == "documents 12 = paper 7 + email 3 + sms 1 + portal 1 + suppressed 0: OK"
    assert report["documents_produced"] == 12 and report["reconciliation"]["ok"]
    assert ch["prepared"] == {"email": 3, "sms": 1, "portal": 1}
    index = _index(out)
    assert len(index) == 12 and {r["primary"] for r in index.values()} == {"paper", "email", "sms", "portal"}
    # only paper documents are printed: the print file's index holds exactly them
    with open(next(out.glob("*.pdf.index.csv")), encoding="utf-8") as f:
        printed = {r["doc_id"] for r in csv.DictReader(f)}
    assert printed == {d for d, r in index.items() if "paper" in r["channels"].split("+")}
    assert "channels" in (out / "report.txt").read_text()
    # the portal: PDF/A, accessible HTML, an index entry
    entry = json.loads((out / "portal" / "index.jsonl").read_text())
    html = (out / entry["html"]).read_text()
    # the portal page speaks the customer's language (FAC-2026-0000006 is an English customer's invoice)
    assert '<html lang="en">' in html and "<h1>Invoice FAC-2026-0000006" in html and "<main>" in html
    assert (out / entry["pdf"]).read_bytes() == (out / index["FAC-2026-0000006"]["archive_file"]).read_bytes()
    assert b"pdfaid:part" in (out / entry["pdf"]).read_bytes()


def test_outputs_identical_whatever_the_workers_and_after_a_restart(tmp_path):
    outs = []
    for name, args, env in (("w1", ("--workers", 1), None), ("w2", ("--workers", 2), None),
                            ("kill", ("--workers", 1), {"CCM_FAULT": "render:1"})):
        d = tmp_path / name
        d.mkdir()
        job = channels_job(d, 9)
        proc = run_cli("run", job, *args, env=env)
        if env:
            assert proc.returncode == -9
            assert not (d / "out" / "email").exists()             # nothing released before the commit
            proc = run_cli("run", job, "--restart")
        assert proc.returncode == 0, proc.stderr
        outs.append(output_files(d / "out"))
    assert outs[0] == outs[1] == outs[2]
    assert any(k.startswith("email/") for k in outs[0])


def test_layout_without_a_variant_for_a_routed_channel_is_refused(tmp_path):
    src = (ROOT / "layouts" / "invoice.xml").read_text(encoding="utf-8")
    src = src.replace('href="fragments/', f'href="{ROOT / "layouts" / "fragments"}/')
    start, end = src.index("<sms "), src.index("</sms>") + len("</sms>")
    layout = tmp_path / "no-sms.xml"
    layout.write_text(src[:start] + src[end:], encoding="utf-8")
    job = channels_job(tmp_path, 9)
    job.write_text(job.read_text().replace(str(ROOT / "layouts" / "invoice.xml"), str(layout)))
    for cmd in ("run", "validate"):
        proc = run_cli(cmd, job)
        assert proc.returncode == 12, (cmd, proc.stderr)
        assert "route to sms, but layout" in proc.stderr and "no <sms> variant" in proc.stderr


def test_unknown_channel_key_names_the_place(tmp_path):
    job = channels_job(tmp_path, 9, extra="colour = 1")
    proc = run_cli("run", job)
    assert proc.returncode == 12 and "[channels] colour: unknown key" in proc.stderr


def test_bounce_fed_back_sends_paper_next_time(tmp_path):
    job = channels_job(tmp_path, 9)
    assert run_cli("run", job).returncode == 0
    before = _index(tmp_path / "out")
    assert before["FAC-2026-0000003"]["primary"] == "email"            # C000005, jean.martin@example.net
    fb = run_cli("feedback", "--job", job, "--dsn", ROOT / "samples" / "data" / "feedback",
                 "--returned", ROOT / "samples" / "data" / "feedback" / "returned-mail.csv")
    assert fb.returncode == 0, fb.stderr
    assert "1 email hard" in fb.stderr and "1 paper returned" in fb.stderr
    again = run_cli("feedback", "--job", job, "--dsn", ROOT / "samples" / "data" / "feedback")
    assert "1 email hard" not in again.stderr                         # the same bounce is stored once
    shutil.rmtree(tmp_path / "out")
    assert run_cli("run", job).returncode == 0
    after = _index(tmp_path / "out")
    for doc in ("FAC-2026-0000003", "FAC-2026-0000009"):
        assert after[doc]["primary"] == "paper"
        assert "email impossible: hard bounce 2026-10-20 (5.1.1" in after[doc]["reason"]
    assert after["FAC-2026-0000001"]["primary"] == "email"             # the others are unchanged
    # C000007's letter came back (NPAI) and no electronic channel is possible: paper anyway, said so
    assert after["FAC-2026-0000010"]["reason"].startswith("paper: fallback (")
    assert "paper impossible: returned letter 2026-10-30" in after["FAC-2026-0000010"]["reason"]


def test_jobs_without_channels_are_untouched(tmp_path):
    """A layout with variants and no [channels] in the job: same outputs as the layout without them."""
    src = (ROOT / "layouts" / "invoice.xml").read_text(encoding="utf-8")
    src = src.replace('href="fragments/', f'href="{ROOT / "layouts" / "fragments"}/')
    plain = tmp_path / "plain.xml"
    plain.write_text(src[:src.index("  <!-- the same invoice by email")] + "</layout>\n", encoding="utf-8")
    outs = []
    for name, layout in (("with", ROOT / "layouts" / "invoice.xml"), ("without", plain)):
        d = tmp_path / name
        d.mkdir()
        job = channels_job(d, 9)
        text = job.read_text()
        job.write_text(text[:text.index("[channels]")].replace(str(ROOT / "layouts" / "invoice.xml"), str(layout)))
        assert run_cli("run", job).returncode == 0
        outs.append(output_files(d / "out"))
        assert "channels" not in json.loads((d / "out" / "report.json").read_text())
    assert outs[0] == outs[1]


def test_restart_refused_when_the_preferences_changed(tmp_path):
    job = channels_job(tmp_path, 9)
    crashed = run_cli("run", job, env={"CCM_FAULT": "compose:1"})
    assert crashed.returncode == -9
    prefs = tmp_path / "prefs.csv"
    prefs.write_text(prefs.read_text().replace("C000001,email,claire.bernard@example.com,,,,",
                                               "C000001,email,claire.bernard@example.com,,yes,,"))
    proc = run_cli("run", job, "--restart")
    assert proc.returncode == 12 and "restart refused: the channels changed" in proc.stderr


def test_archive_name_collision_with_a_printed_document_stops_the_run(tmp_path):
    job = channels_job(tmp_path, 9)
    job.write_text(job.read_text().replace("archive_pdf = true", 'archive_pdf = true\narchive_name = "{doc_type}"'))
    proc = run_cli("run", job)
    assert proc.returncode == 16
    assert "archive/invoice.pdf is already an output of this run" in proc.stderr
    assert not (tmp_path / "out" / "archive").exists()             # nothing released, nothing overwritten
