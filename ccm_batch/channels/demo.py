"""Channels, demo (``make demo``): a multichannel sample job delivered through local servers it starts.

Feeds the sample bounce and returned-mail files into a fresh feedback store, starts an SMTP server
(aiosmtpd) and Kannel (bearerbox + smsbox with a fake SMSC) on loopback, runs the job, sends its
spool, and keeps what the servers received under ``OUTPUT/received/`` (``mail/*.eml``,
``sms.txt``). When a server cannot run (aiosmtpd or Kannel not installed) the spool is written
anyway and the demo says how to send it.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

from ..job import with_overrides

SAMPLES = Path(__file__).resolve().parent.parent.parent / "samples"


def run_channel_demo(job, out: Path, log) -> tuple:
    """Run ``job`` (with ``[channels]``) into ``out``; returns ``(report, lines to print)``."""
    from ..run import run_job
    from .feedback import FeedbackStore
    from .ingest import ingest
    from .send import final_ids, send_after_run

    lines = []
    store_path = out.parent / "feedback.sqlite"
    store_path.unlink(missing_ok=True)
    store = FeedbackStore(store_path)
    feedback_dir = SAMPLES / "data" / "feedback"
    counts = ingest(store, dsn=[feedback_dir / "bounce-C000005.eml"], returned=[feedback_dir / "returned-mail.csv"])
    store.close()
    lines.append(f"feedback fed in before the run: {counts}")
    servers, email_cfg, sms_cfg = [], dict(job.channels.email), dict(job.channels.sms)
    mailbox = kannel = None
    try:
        try:
            from .localservers import Mailbox, start_smtp
            mailbox = Mailbox()
            controller = start_smtp(mailbox)
            servers.append(controller.stop)
            email_cfg.update(smtp_host="127.0.0.1", smtp_port=controller.port, starttls=False, username="")
        except ImportError:
            mailbox = None
            lines.append("aiosmtpd is not installed: the email spool is written, not sent")
        from .localservers import Kannel, kannel_available
        if kannel_available():
            (out.parent / "kannel").mkdir(parents=True, exist_ok=True)
            kannel = Kannel(out.parent / "kannel", username="ccm", password="demo")
            servers.append(kannel.stop)
            os.environ.setdefault("CCM_DEMO_KANNEL_PASSWORD", "demo")    # the demo's own sendsms user
            sms_cfg.update(kannel_url=kannel.sendsms_url, username="ccm", password_env="CCM_DEMO_KANNEL_PASSWORD",
                           retries=0)
        else:
            lines.append("Kannel (bearerbox, smsbox) is not installed: the SMS batch is written, not sent")
        config = dataclasses.replace(job.channels, feedback=store_path, email=email_cfg, sms=sms_cfg)
        job = with_overrides(job, channels=config, output_dir=out)
        report = run_job(job, log)
        earlier = final_ids(out)             # sent by an earlier demo into this directory: not sent again
        if report.exit_code <= 4 and (mailbox is not None or kannel is not None):
            if mailbox is None:
                job = with_overrides(job, channels=dataclasses.replace(config, email={**email_cfg,
                                                                                      "retries": 0}))
            send_after_run(job, report, log)
        received = out / "received"
        if mailbox is not None:
            (received / "mail").mkdir(parents=True, exist_ok=True)
            for n, (_, rcpt, data) in enumerate(mailbox.messages, 1):
                (received / "mail" / f"{n:03d}.eml").write_bytes(data)
            lines.append(f"SMTP server on 127.0.0.1 received {len(mailbox.messages)} message(s): {received / 'mail'}")
            lines += _earlier(earlier, "email", out)
        if kannel is not None:
            from .localservers import wait_for
            expected = sum(int(r["segments"]) for r in _rows(out / "sms" / "messages.csv")
                           if r["message_id"] not in earlier.get("sms", ()))
            wait_for(lambda: len(kannel.smsc.lines) >= expected, seconds=20)
            (received).mkdir(parents=True, exist_ok=True)
            (received / "sms.txt").write_text("\n".join(kannel.smsc.lines) + "\n", encoding="utf-8")
            segs = kannel.smsc.segments()
            codings = f" ({', '.join(sorted({s['coding'] for s in segs}))})" if segs else ""
            lines.append(f"Kannel's fake SMSC received {len(segs)} segment(s){codings}: {received / 'sms.txt'}")
            lines += _earlier(earlier, "sms", out)
    finally:
        for stop in reversed(servers):
            stop()
    lines.append("routing (customer: channels — reason):")
    for r in _rows(out / f"{job.name}.channels.csv"):
        lines.append(f"    {r['doc_id']} {r['customer_id']}: {r['channels']} — {r['reason']}")
    if mailbox is None or kannel is None:
        lines.append(f"to send the spool later: .venv/bin/ccm-batch send {out}  "
                     "(servers from the job's [channels.email] and [channels.sms])")
    return report, lines


def _earlier(earlier: dict, channel: str, out: Path) -> list[str]:
    """Why a server received fewer messages than the run has: an earlier demo sent them."""
    n = len(earlier.get(channel, ()))
    if not n:
        return []
    return [f"    {n} {channel} message(s) were sent by an earlier demo into {out} and are not sent again "
            f"(the send ledger {out / channel / 'sent.journal'} sends each message once); "
            "remove that directory to see them sent"]


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


__all__ = ["run_channel_demo"]
