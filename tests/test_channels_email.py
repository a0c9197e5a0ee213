"""Channels, email end to end: a multichannel run's .eml spool sent to a real SMTP server (aiosmtpd on
loopback), the messages parsed with Python's email package and the HTML body rendered in headless
Chromium; restart after kill -9 never sends twice; 4xx retried, 5xx failed; STARTTLS + AUTH; DKIM."""
from __future__ import annotations

import csv
import email
import email.policy
import json
import os
import shutil
import subprocess

import pytest

from channel_servers import Mailbox, channels_job, start_smtp
from runjobs import run_cli


@pytest.fixture
def smtp():
    servers = []

    def start(handler=None, **kw):
        handler = handler or Mailbox()
        controller = start_smtp(handler, **kw)
        servers.append(controller)
        return handler, controller
    yield start
    for c in servers:
        c.stop()


def _run(tmp_path, port, **kw):
    job = channels_job(tmp_path, port, **kw)
    proc = run_cli("run", job)
    assert proc.returncode == 0, proc.stderr
    return job, tmp_path / "out"


def _manifest(out):
    with open(out / "email" / "manifest.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_received_messages_are_well_formed(tmp_path, smtp):
    box, server = smtp()
    job, out = _run(tmp_path, server.port, extra='send_at_end = false')
    proc = run_cli("send", out)
    assert proc.returncode == 4, proc.stderr      # the SMS is pending (no gateway in this test)
    assert "email: prepared 3 = accepted 3 + failed 0 + pending 0" in proc.stderr
    received = box.parsed()
    assert sorted(m["To"] for m in received) == sorted(r["to"] for r in _manifest(out))
    index = {r["doc_id"]: r for r in csv.DictReader(open(out / "mc.channels.csv", encoding="utf-8"))}
    for msg in received:
        doc_id = msg["X-CCM-Document"]
        assert msg["Message-ID"] == f"<{doc_id}.mc.2026-11-23@energies-du-val.example>"
        assert msg["Message-ID"] == index[doc_id]["message_id"]
        assert msg["From"].addresses[0].display_name == "Énergies du Val"
        assert msg["Date"].datetime.date().isoformat() == "2026-11-23"
        assert msg.get_content_type() == "multipart/mixed"
        alt, pdf = msg.get_payload()
        assert alt.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in alt.get_payload()] == ["text/plain", "text/html"]
        # the attachment is byte for byte the archive PDF/A of the document
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_content() == (out / index[doc_id]["archive_file"]).read_bytes()
        assert pdf.get_filename() == index[doc_id]["archive_file"].split("/")[-1]
        html = alt.get_payload()[1].get_content()
        text = alt.get_payload()[0].get_content()
        assert doc_id in msg["Subject"]
        assert 'style="' in html and "<style>" in html and "@media" in html    # inlined + media query kept
        for body in (html, text):
            assert doc_id in body
    # the English customer got the English variant, with the amount of the invoice
    english = next(m for m in received if m["X-CCM-Document"] == "FAC-2026-0000001")
    assert english["Subject"] == "Your invoice FAC-2026-0000001 is available"
    assert "Dear Ms Grace Miller" in english.get_body(("plain",)).get_content()


def test_html_body_renders_in_chromium(tmp_path, smtp):
    if not shutil.which("chromium") and os.environ.get("CI") != "true":
        pytest.skip("chromium not installed")
    from PIL import Image
    box, server = smtp()
    _, out = _run(tmp_path, server.port)
    run_cli("send", out)
    msg = next(m for m in box.parsed() if m["X-CCM-Document"] == "FAC-2026-0000003")
    page = tmp_path / "body.html"
    page.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    shot = tmp_path / "body.png"
    profile = tmp_path / "chromium-profile"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={profile}", "--window-size=700,700", f"--screenshot={shot}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    img = Image.open(shot).convert("RGB")
    raw = img.tobytes()
    brand = sum(1 for i in range(0, len(raw), 3) if abs(raw[i] - 0x0b) < 8 and abs(raw[i + 1] - 0x5d) < 8
                and abs(raw[i + 2] - 0x7a) < 8)
    assert brand > 5000                   # the brand band and the button are drawn in the brand colour
    narrow = tmp_path / "narrow.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={profile}", "--window-size=360,640", f"--screenshot={narrow}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    shutil.copy(shot, "/tmp/ccm-email-wide.png") if os.environ.get("CCM_KEEP_SHOTS") else None
    shutil.copy(narrow, "/tmp/ccm-email-narrow.png") if os.environ.get("CCM_KEEP_SHOTS") else None
    # responsive: at 360 px the white container fills the width (no grey margin on the right)
    n = Image.open(narrow).convert("RGB")
    assert n.getpixel((n.width - 8, 120)) != (0xee, 0xf2, 0xf4)


@pytest.mark.parametrize("fault", ["send:1", "send:2"])
def test_kill_during_send_then_send_again_sends_each_once(tmp_path, smtp, fault):
    box, server = smtp()
    _, out = _run(tmp_path, server.port)
    crashed = run_cli("send", out, env={"CCM_FAULT": fault})
    assert crashed.returncode == -9
    got = len(box.messages)
    assert 1 <= got < 3
    again = run_cli("send", out)
    assert "email: prepared 3 = accepted 3" in again.stderr, again.stderr
    ids = [email.message_from_bytes(d)["Message-ID"] for _, _, d in box.messages]
    assert sorted(ids) == sorted(r["message_id"] for r in _manifest(out))       # none twice, none missing


def test_kill_between_handover_and_answer_is_uncertain_not_resent(tmp_path, smtp):
    box, server = smtp()
    _, out = _run(tmp_path, server.port)
    crashed = run_cli("send", out, env={"CCM_FAULT": "send-attempt:2"})
    assert crashed.returncode == -9
    assert len(box.messages) == 1
    again = run_cli("send", out)
    assert "email: prepared 3 = accepted 2 + failed 0 + pending 1 (1 uncertain)" in again.stderr, again.stderr
    report = json.loads((out / "send-report.json").read_text())
    assert report["email"]["uncertain"] == 1 and report["email"]["ok"]
    assert len(box.messages) == 2
    forced = run_cli("send", out, "--resend-uncertain")
    assert "email: prepared 3 = accepted 3" in forced.stderr
    assert len({email.message_from_bytes(d)["Message-ID"] for _, _, d in box.messages}) == 3 == len(box.messages)


def test_temporary_refusal_retried_permanent_refusal_failed(tmp_path, smtp):
    box, server = smtp(Mailbox(refuse={"grace.miller@example.org": "550 5.1.1 no such user"},
                               defer_once={"jean.martin@example.net"}))
    _, out = _run(tmp_path, server.port)
    proc = run_cli("send", out)
    assert proc.returncode == 4
    assert "email: prepared 3 = accepted 2 + failed 1 + pending 0" in proc.stderr
    assert "CCM0702W email <FAC-2026-0000001.mc.2026-11-23@energies-du-val.example>" in proc.stderr
    assert len(box.messages) == 2
    again = run_cli("send", out)                 # a failed message is final: not sent again
    assert len(box.messages) == 2 and "accepted 2 + failed 1" in again.stderr


def test_starttls_and_authentication(tmp_path, smtp):
    tls = tmp_path / "tls"
    tls.mkdir()
    box, server = smtp(tls_dir=tls, auth=("ccm", "s3cret"))
    cfg = f'starttls = true\nusername = "ccm"\npassword_env = "CCM_TEST_SMTP_PW"\nca_file = "{tls / "cert.pem"}"'
    _, out = _run(tmp_path, server.port, extra_email=cfg)
    refused = run_cli("send", out, env={"CCM_TEST_SMTP_PW": "wrong"})
    assert len(box.messages) == 0 and refused.returncode == 12
    assert "refused the login of 'ccm'" in refused.stderr
    proc = run_cli("send", out, env={"CCM_TEST_SMTP_PW": "s3cret"})     # nothing was left uncertain
    assert "email: prepared 3 = accepted 3" in proc.stderr, proc.stderr
    assert len(box.messages) == 3


def test_dkim_signature_verifies(tmp_path, smtp):
    import dkim
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    import base64
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(pub)
    box, server = smtp()
    _, out = _run(tmp_path, server.port,
                  extra_email=f'dkim_selector = "ccm"\ndkim_domain = "energies-du-val.example"\n'
                              f'dkim_key = "{key}"')
    run_cli("send", out)
    assert len(box.messages) == 3
    for _, _, data in box.messages:
        assert data.startswith(b"DKIM-Signature:")
        assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)
        tampered = data.replace(b"Subject: ", b"Subject: X", 1)
        assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)


def test_run_with_send_reports_delivery(tmp_path, smtp):
    box, server = smtp()
    job = channels_job(tmp_path, server.port, prefs="customer_id,preferred,email,email_consent\n"
                                                    "C000012,email,grace.miller@example.org,yes\n")
    proc = run_cli("run", job, "--send")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["channels"]["delivery"]["email"] == {"prepared": 1, "accepted": 1, "failed": 0, "pending": 0,
                                                       "uncertain": 0}
    assert len(box.messages) == 1


def test_rate_limit_spaces_the_messages(monkeypatch):
    from ccm_batch.channels.email import smtp
    clock, slept = [100.0], []
    monkeypatch.setattr(smtp.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(smtp.time, "sleep", lambda s: (slept.append(s), clock.__setitem__(0, clock[0] + s)))
    limit = smtp.RateLimit(120)                 # one every 0.5 s
    for _ in range(4):
        limit.wait()
    assert slept == [0.5, 0.5, 0.5]
    clock[0] += 10                              # idle: no wait, no burst credit beyond one slot
    limit.wait()
    assert slept == [0.5, 0.5, 0.5]


def test_attach_link_puts_the_portal_link_instead_of_the_pdf(tmp_path):
    import re
    job = channels_job(tmp_path, 9)
    src = (tmp_path / "mc.toml").read_text()
    layout = (channels_job.__globals__["ROOT"] / "layouts" / "invoice.xml").read_text(encoding="utf-8")
    layout = layout.replace('href="fragments/', f'href="{channels_job.__globals__["ROOT"] / "layouts" / "fragments"}/')
    layout = re.sub(r"<button .*?</button>", "", layout, flags=re.S)
    (tmp_path / "inv.xml").write_text(layout, encoding="utf-8")
    src = re.sub(r'path = ".*invoice.xml"', f'path = "{tmp_path / "inv.xml"}"', src)
    job.write_text(src.replace('allowed = ["email", "portal", "sms", "paper"]',
                               'allowed = ["email", "portal", "sms", "paper"]\nattach = "link"'))
    assert run_cli("run", job).returncode == 0
    msg = email.message_from_bytes((tmp_path / "out" / "email" / "00000001.eml").read_bytes(),
                                   policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"            # no attachment
    assert "https://portal.example/documents/FAC-2026-0000001" in msg.get_body(("html",)).get_content()
