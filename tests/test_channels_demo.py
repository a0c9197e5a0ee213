"""Channels, the demo's mixed population: paper, email with consent, SMS, portal, and a bounced address that
falls back to paper — delivered through the SMTP server and Kannel the demo starts."""
from __future__ import annotations

import csv
import email
import email.policy
import os

import pytest

from channel_servers import ROOT

from ccm_batch.channels.localservers import kannel_available
from ccm_batch.job import load_job
from ccm_batch.log import OperatorLog


def test_demo_mixed_population(tmp_path):
    if not kannel_available() and os.environ.get("CI") != "true":
        pytest.skip("kannel not installed")
    from ccm_batch.channels.demo import run_channel_demo
    out = tmp_path / "invoice-multichannel"
    job = load_job(ROOT / "samples" / "invoice-multichannel.toml", {"output_dir": out})
    report, lines = run_channel_demo(job, out, OperatorLog(verbosity=0))
    assert report.exit_code == 0
    with open(out / "invoice-mc.channels.csv", encoding="utf-8") as f:
        routed = {r["doc_id"]: r for r in csv.DictReader(f)}
    expected = {"FAC-2026-0000001": "email", "FAC-2026-0000002": "sms", "FAC-2026-0000003": "paper",
                "FAC-2026-0000006": "portal", "FAC-2026-0000004": "paper"}
    for doc, channel in expected.items():
        assert routed[doc]["channels"] == channel, routed[doc]
    assert "hard bounce 2026-10-20" in routed["FAC-2026-0000003"]["reason"]      # bounced: paper now
    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in sorted((out / "received" / "mail").glob("*.eml"))]
    assert [m["X-CCM-Document"] for m in mails] == ["FAC-2026-0000001"]
    assert mails[0]["To"] == "grace.miller@example.org"
    sms = (out / "received" / "sms.txt").read_text().splitlines()
    assert sms == ["ENERVAL +33612345609 text Energies du Val : votre facture FAC-2026-0000002 de 191,63 EUR est "
                   "disponible, a regler avant le 08/12/2026. Espace client : energies-du-val.example"]
    assert report.channels["delivery"]["email"]["accepted"] == 1
    assert report.channels["delivery"]["sms"]["accepted"] == 1
    assert any("routing" in line for line in lines)
    assert not any("earlier demo" in line for line in lines)


def test_demo_run_again_says_the_messages_were_sent_before(tmp_path):
    """A second demo into the same directory sends nothing (the send ledger sends each message once) and
    says so, instead of a bare "received 0 message(s)"."""
    if not kannel_available() and os.environ.get("CI") != "true":
        pytest.skip("kannel not installed")
    from ccm_batch.channels.demo import run_channel_demo
    out = tmp_path / "invoice-multichannel"
    job = load_job(ROOT / "samples" / "invoice-multichannel.toml", {"output_dir": out})
    run_channel_demo(job, out, OperatorLog(verbosity=0))
    first = (out / "received" / "mail" / "001.eml").read_bytes()
    (out / "received" / "mail" / "001.eml").unlink()
    report, lines = run_channel_demo(job, out, OperatorLog(verbosity=0))
    assert report.exit_code == 0
    assert not (out / "received" / "mail" / "001.eml").exists()       # nothing reached the SMTP server
    assert b"FAC-2026-0000001" in first
    assert (out / "received" / "sms.txt").read_text().strip() == ""    # nor Kannel
    said = [line for line in lines if "earlier demo" in line]
    assert len(said) == 2, lines
    assert said[0].strip().startswith("1 email message(s)") and "sent.journal" in said[0]
    assert said[1].strip().startswith("1 sms message(s)")
    assert any("received 0 message(s)" in line for line in lines)
    assert any(line.startswith("Kannel's fake SMSC received 0 segment(s): ") for line in lines), lines
