"""Channels, SMS: GSM 03.38 / UCS-2 choice and segment counts; a text over the limit is a reject; the batch
submitted to a real Kannel (bearerbox + smsbox, fake SMSC on loopback) arrives with the right coding and
segments, and Kannel's delivery reports come back to the dlr-url and into the feedback store."""
from __future__ import annotations

import csv
import json
import os
import re
import sqlite3

import pytest

from channel_servers import ROOT, channels_job
from kannel_servers import DlrReceiver, Kannel, kannel_available, wait_for
from runjobs import run_cli

from ccm_batch.channels.sms.encoding import encode_sms, is_gsm7, split_segments


@pytest.mark.parametrize("text, coding, units, segments", [
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("é" * 160, "gsm7", 160, 1),              # é is in the default alphabet
    ("€" * 80, "gsm7", 160, 1),               # extension table: two septets each
    ("€" * 81, "gsm7", 162, 2),
    ("a" * 152 + "€", "gsm7", 154, 1),
    ("a" * 152 + "€" + "b" * 7, "gsm7", 161, 2),   # escape + code never split across segments
    ("ê", "ucs2", 1, 1),                      # ê is not GSM 03.38
    ("ê" * 70, "ucs2", 70, 1),
    ("ê" * 71, "ucs2", 71, 2),
    ("ê" * 134, "ucs2", 134, 2),
    ("ê" * 135, "ucs2", 135, 3),
    ("😀" * 35, "ucs2", 70, 1),               # outside the BMP: a surrogate pair each
    ("", "gsm7", 0, 0),
])
def test_encoding_and_segments(text, coding, units, segments):
    assert tuple(encode_sms(text)) == (coding, units, segments)
    parts = split_segments(text)
    assert len(parts) == segments and "".join(parts) == text


def test_extension_pair_stays_in_one_segment():
    parts = split_segments("a" * 152 + "€" + "b" * 7)
    assert parts == ["a" * 152, "€" + "b" * 7]
    assert is_gsm7("après été, à Ørsted {€}") and not is_gsm7("naïve") and not is_gsm7("forêt")


def _sms_layout(tmp, texts: str, max_segments: int = 2):
    """invoice.xml with another <sms> variant (imports made absolute)."""
    src = (ROOT / "layouts" / "invoice.xml").read_text(encoding="utf-8")
    src = src.replace('href="fragments/', f'href="{ROOT / "layouts" / "fragments"}/')
    src = re.sub(r"<sms .*?</sms>", f'<sms max-segments="{max_segments}">{texts}</sms>', src, flags=re.S)
    path = tmp / "invoice-sms.xml"
    path.write_text(src, encoding="utf-8")
    return path


PREFS = """customer_id,preferred,email,mobile,email_consent,sms_consent
C000012,sms,,+33 6 12 34 56 01,,2026-03-02
C000009,sms,,+33612345609,,yes
C000005,sms,,0612345605,,2026-01-01
C000001,sms,,+33612345601,,
"""
TEXTS = ("<text if=\"$customerId = 'C000012'\">Energies du Val : facture {$number}. " + "x" * 150 + "</text>"
         "<text if=\"$customerId = 'C000009'\">Énergies du Val — facture {$number} : {format-amount($totalTtc)}</text>"
         "<text>Facture {$number} disponible.</text>")


def _job(tmp, sms_url="http://127.0.0.1:9/cgi-bin/sendsms", texts=TEXTS, max_segments=2, extra_sms=""):
    job = channels_job(tmp, 9, prefs=PREFS, sms_url=sms_url, extra_sms=extra_sms)
    layout = _sms_layout(tmp, texts, max_segments)
    job.write_text(job.read_text(encoding="utf-8").replace(str(ROOT / "layouts" / "invoice.xml"), str(layout)),
                   encoding="utf-8")
    return job


def test_too_long_sms_is_a_reject_with_reason(tmp_path):
    job = _job(tmp_path, max_segments=1)
    proc = run_cli("run", job)
    assert proc.returncode == 4, proc.stderr
    reasons = list(csv.DictReader(open(tmp_path / "out" / "mc.reasons.csv", encoding="utf-8")))
    assert [r["key"] for r in reasons] == ["FAC-2026-0000001"]
    assert "needs 2 segments (" in reasons[0]["message"] and "limit of 1" in reasons[0]["message"]
    batch = list(csv.DictReader(open(tmp_path / "out" / "sms" / "messages.csv", encoding="utf-8")))
    assert "FAC-2026-0000001" not in {b["doc_id"] for b in batch}        # never silently cut


def test_batch_file_codings_and_segments(tmp_path):
    proc = run_cli("run", _job(tmp_path))
    assert proc.returncode == 0, proc.stderr
    batch = {b["doc_id"]: b for b in csv.DictReader(open(tmp_path / "out" / "sms" / "messages.csv",
                                                         encoding="utf-8"))}
    assert (batch["FAC-2026-0000001"]["coding"], batch["FAC-2026-0000001"]["segments"]) == ("gsm7", "2")
    assert (batch["FAC-2026-0000002"]["coding"], batch["FAC-2026-0000002"]["segments"]) == ("ucs2", "1")
    assert batch["FAC-2026-0000001"]["to"] == "+33612345601"
    assert batch["FAC-2026-0000003"]["to"] == "0612345605"
    index = {r["doc_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "mc.channels.csv", encoding="utf-8"))}
    assert index["FAC-2026-0000004"]["primary"] == "paper"                 # C000001: no SMS consent
    assert "sms impossible: no consent" in index["FAC-2026-0000004"]["reason"]
    assert index["FAC-2026-0000001"]["reason"] == "sms: consent 2026-03-02"


def test_kannel_receives_each_sms_with_its_coding_and_segments(tmp_path):
    if not kannel_available():
        if os.environ.get("CI") == "true":
            pytest.fail("kannel (bearerbox, smsbox) must be installed in CI")
        pytest.skip("kannel not installed")
    (tmp_path / "kannel").mkdir()
    kannel = Kannel(tmp_path / "kannel", password="kpw")
    dlr = DlrReceiver()
    try:
        dlr_url = f"http://127.0.0.1:{dlr.port}/dlr?id={{message_id}}&doc={{doc_id}}&customer={{customer_id}}" \
                  "&status=%d&to=%p"
        job = _job(tmp_path, sms_url=kannel.sendsms_url,
                   extra_sms=f'username = "ccm"\npassword_env = "CCM_TEST_KANNEL_PW"\ndlr_url = "{dlr_url}"')
        assert run_cli("run", job).returncode == 0
        out = tmp_path / "out"
        proc = run_cli("send", out, env={"CCM_TEST_KANNEL_PW": "kpw"})
        batch = list(csv.DictReader(open(out / "sms" / "messages.csv", encoding="utf-8")))
        assert f"sms: prepared {len(batch)} = accepted {len(batch)} + failed 0 + pending 0" in proc.stderr, \
            proc.stderr
        expected = sum(int(b["segments"]) for b in batch)
        assert wait_for(lambda: len(kannel.smsc.lines) >= expected)
        got = kannel.smsc.segments()
        assert len(got) == expected
        messages = [(s["receiver"], s["coding"], 1, s["text"]) for s in got if not s["udh"]]
        groups = {}
        for s in got:
            if s["udh"]:        # concatenated: UDH IEI 0 (8-bit reference), total parts, part number
                assert s["udh"][:3] == b"\x05\x00\x03"
                groups.setdefault((s["receiver"], s["udh"][3]), []).append(s)
        for (receiver, _), parts in groups.items():
            parts.sort(key=lambda s: s["udh"][5])
            assert [s["udh"][5] for s in parts] == list(range(1, len(parts) + 1))
            assert {s["udh"][4] for s in parts} == {len(parts)}
            assert len({s["coding"] for s in parts}) == 1
            messages.append((receiver, parts[0]["coding"], len(parts), "".join(s["text"] for s in parts)))
        assert sorted(messages) == sorted((b["to"], b["coding"], int(b["segments"]), b["text"]) for b in batch)
        assert {s["sender"] for s in got} == {"ENERVAL"}
        assert {b["coding"] for b in batch} == {"gsm7", "ucs2"} and max(int(b["segments"]) for b in batch) == 2
        # the delivery reports: Kannel calls the dlr-url back for every message
        assert wait_for(lambda: {c for c in dlr.calls if "status=1&" in c}.__len__() >= len(batch))
        dlr_file = tmp_path / "dlr.log"
        dlr_file.write_text("\n".join(dlr.calls) + "\n")
        fb = run_cli("feedback", "--store", tmp_path / "feedback.sqlite", "--sms-dlr", dlr_file)
        assert fb.returncode == 0, fb.stderr
        rows = sqlite3.connect(tmp_path / "feedback.sqlite").execute(
            "SELECT customer_id, status FROM feedback WHERE status = 'delivered' ORDER BY customer_id").fetchall()
        assert rows == sorted((b["customer_id"], "delivered") for b in batch)
        again = run_cli("send", out, env={"CCM_TEST_KANNEL_PW": "kpw"})      # journal: nothing sent twice
        assert f"accepted {len(batch)}" in again.stderr
        assert not wait_for(lambda: len(kannel.smsc.lines) > expected, seconds=2)
    finally:
        dlr.shutdown()
        kannel.stop()
    assert json.loads((out / "send-report.json").read_text())["sms"]["accepted"] == len(batch)
