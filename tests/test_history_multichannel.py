"""Run history of real multichannel runs: every document is recorded on the channel the routing chose
(paper, e-mail, SMS, portal, e-invoice), each channel pays its own cost line, and the delivery outcomes —
the SMTP server's answers at ``send``, bounces and returned mail at ``feedback`` — become the delivery events
the KPIs count. Checked against the runs' own routing index (``{job}.channels.csv``), not against the history
code: a real SMTP server (aiosmtpd on loopback) receives the mail."""
from __future__ import annotations

import collections
import csv
import email.message
import email.policy
import json
import sqlite3
from decimal import ROUND_HALF_UP, Decimal

from channel_servers import Mailbox, channels_job, start_smtp
from runjobs import run_cli
from test_einvoice_channel import _job as b2b_job

def cents(value: Decimal) -> Decimal:
    """To the cent, half up (docs/kpi.md)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


COSTS = {"paper_per_sheet": "0.012", "email_per_message": "0.0015", "sms_per_segment": "0.045",
         "portal_per_document": "0.002", "einvoice_per_document": "0.05"}


def _with_history(job, history):
    text = job.read_text(encoding="utf-8")
    text += f'\n[history]\npath = "{history}"\n\n[costs]\ncurrency = "EUR"\n'
    text += "".join(f"{k} = {v}\n" for k, v in COSTS.items())
    job.write_text(text, encoding="utf-8")
    return job


def _routing(out, name):
    with open(out / f"{name}.channels.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _kpi(history):
    proc = run_cli("kpi", "--history", history, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _history(history, sql):
    with sqlite3.connect(history) as db:
        return db.execute(sql).fetchall()


def test_einvoice_and_email_documents_are_recorded_on_their_channel_with_their_cost(tmp_path):
    history = tmp_path / "history.db"
    job = _with_history(b2b_job(tmp_path), history)
    proc = run_cli("run", job, "-q")
    assert proc.returncode == 0, proc.stderr
    routing = _routing(tmp_path / "out", "invoice-b2b")
    primary = {r["doc_id"]: r["primary"] for r in routing}
    by_channel = collections.Counter(primary.values())
    assert by_channel["einvoice"] >= 2 and by_channel["paper"] >= 1      # a mixed population, as the sample is
    recorded = dict(_history(history, "SELECT doc_id, channel FROM documents"))
    assert recorded == primary                       # every document, once, on the channel it was routed to
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    k = _kpi(history)
    assert k["volumes"]["communications"] == report["documents_produced"] == len(routing)
    assert k["volumes"]["by_channel"] == dict(sorted(by_channel.items()))
    assert k["e_delivery_adoption"]["numerator"] == len(routing) - by_channel["paper"]
    costs = k["cost"]["EUR"]["by_channel"]
    assert Decimal(costs["einvoice"]) == cents(by_channel["einvoice"] * Decimal(COSTS["einvoice_per_document"]))
    if by_channel["email"]:
        assert Decimal(costs["email"]) == cents(by_channel["email"] * Decimal(COSTS["email_per_message"]))
    assert Decimal(costs["paper"]) > 0


def _dsn(doc_id: str, customer: str, recipient: str) -> bytes:
    """A delivery status notification (RFC 3464) reporting a hard bounce of one of our messages."""
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "MAILER-DAEMON@mx.example"
    msg["To"] = "factures@energies-du-val.example"
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = "Tue, 24 Nov 2026 08:00:00 +0100"
    msg.set_content("Your message could not be delivered.")
    msg.make_mixed()
    msg.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    status = email.message.Message()
    status.set_type("message/delivery-status")
    per_message = email.message.Message()
    per_message["Reporting-MTA"] = "dns; mx.example"
    per_recipient = email.message.Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    per_recipient["Diagnostic-Code"] = "smtp; 550 5.1.1 user unknown"
    status.set_payload([per_message, per_recipient])
    msg.attach(status)
    returned = email.message.Message()
    returned.set_type("text/rfc822-headers")
    returned.set_payload(f"X-CCM-Document: {doc_id}\nX-CCM-Customer: {customer}\n")
    msg.attach(returned)
    return msg.as_bytes()


def test_send_and_feedback_outcomes_are_delivery_events_of_the_recorded_documents(tmp_path):
    history = tmp_path / "history.db"
    box = Mailbox(refuse={"grace.miller@example.org": "550 5.1.1 no such user"})
    server = start_smtp(box)
    try:
        job = _with_history(channels_job(tmp_path, server.port), history)
        proc = run_cli("run", job)
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / "out"
        routing = _routing(out, "mc")
        by_channel = collections.Counter(r["primary"] for r in routing)
        assert set(by_channel) >= {"paper", "email", "sms", "portal"}
        assert dict(_history(history, "SELECT doc_id, channel FROM documents")) == \
            {r["doc_id"]: r["primary"] for r in routing}
        sent = run_cli("send", out)          # the SMS gateway is unreachable here: SMS stay pending, no event
        assert sent.returncode == 4 and "CCM0714I" in sent.stderr, sent.stderr
        again = run_cli("send", out)         # nothing new becomes final: nothing recorded twice
        assert "CCM0714I" not in again.stderr
    finally:
        server.stop()
    emails = {r["doc_id"]: r for r in routing if r["primary"] == "email"}
    refused = next(d for d, r in emails.items() if r["email"] == "grace.miller@example.org")
    events = _history(history, "SELECT doc_id, kind, channel, run_id IS NOT NULL FROM events ORDER BY doc_id")
    assert sorted(events) == sorted([(d, "failed" if d == refused else "sent", "email", 1) for d in emails])
    assert len(box.messages) == len(emails) - 1

    # a bounce of an accepted message and a letter returned, fed back twice: recorded once
    accepted = email.message_from_bytes(box.messages[0][2], policy=email.policy.default)
    bounced, customer = accepted["X-CCM-Document"], accepted["X-CCM-Customer"]
    (tmp_path / "bounce.eml").write_bytes(_dsn(bounced, customer, accepted["To"]))
    letter = next(r for r in routing if r["primary"] == "paper")
    (tmp_path / "npai.csv").write_text(f"doc_id,customer_id,date,reason\n{letter['doc_id']},"
                                       f"{letter['customer_id']},2026-11-30,NPAI\n", encoding="utf-8")
    fed = [run_cli("feedback", "--job", job, "--dsn", tmp_path / "bounce.eml", "--returned", tmp_path / "npai.csv")
           for _ in range(2)]
    assert [f.returncode for f in fed] == [0, 0], fed[0].stderr
    assert "CCM0714I 2 delivery event(s) recorded" in fed[0].stderr and "2 of them matched" in fed[0].stderr
    assert "CCM0714I 0 delivery event(s) recorded" in fed[1].stderr
    kinds = collections.Counter(_history(history, "SELECT doc_id, kind FROM events WHERE source != 'send'"))
    assert kinds == {(bounced, "bounced"): 1, (letter["doc_id"], "returned"): 1}

    k = _kpi(history)
    n_email, n_paper = by_channel["email"], by_channel["paper"]
    assert k["bounce_rate"]["numerator"] == 1 and k["bounce_rate"]["denominator"] == n_email
    assert k["delivery_rate"]["email"]["numerator"] == n_email - 2           # refused at send + bounced
    assert k["returned_mail_rate"]["numerator"] == 1 and k["returned_mail_rate"]["denominator"] == n_paper
    assert k["volumes"]["by_channel"] == dict(sorted(by_channel.items()))
    costs = k["cost"]["EUR"]["by_channel"]
    segments = sum(int(r["sms_segments"]) for r in routing if r["primary"] == "sms")
    assert Decimal(costs["sms"]) == cents(segments * Decimal(COSTS["sms_per_segment"]))
