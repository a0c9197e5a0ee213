"""Test helpers for the channel tests: a real SMTP server (aiosmtpd) on loopback, job files, received mail."""
from __future__ import annotations

from pathlib import Path

from ccm_batch.channels.localservers import Mailbox, free_port, self_signed, start_smtp  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def channels_job(tmp: Path, smtp_port: int, *, extra_email: str = "", extra: str = "", prefs: str | None = None,
                 feedback: bool = True, out: str = "out", extra_sms: str = "",
                 sms_url: str = "http://127.0.0.1:9/cgi-bin/sendsms") -> Path:
    """The sample invoices as a multichannel job writing into ``tmp``."""
    prefs_path = tmp / "prefs.csv"
    prefs_path.write_text(prefs if prefs is not None else
                          (ROOT / "samples" / "data" / "invoice-preferences.csv").read_text(encoding="utf-8"),
                          encoding="utf-8")
    job = tmp / "mc.toml"
    job.write_text(f"""[job]
name = "mc"
date = "2026-11-23"
[input]
path = "{ROOT / 'samples' / 'data' / 'invoices.xml'}"
format = "xml"
record = "invoice"
key = "@id"
[layout]
path = "{ROOT / 'layouts' / 'invoice.xml'}"
[output]
dir = "{out}"
formats = ["pdf"]
[index]
formats = ["csv"]
archive_pdf = true
[run]
workers = 1
chunk_size = 4
[channels]
preferences = "prefs.csv"
{'feedback = "feedback.sqlite"' if feedback else ''}
{extra}
[channels.rules.invoice]
allowed = ["email", "portal", "sms", "paper"]
[channels.email]
from = "Énergies du Val <factures@energies-du-val.example>"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
backoff_s = 0
retries = 2
{extra_email}
[channels.sms]
sender = "ENERVAL"
kannel_url = "{sms_url}"
retries = 0
backoff_s = 0
{extra_sms}
[channels.portal]
url = "https://portal.example/documents/{{doc_id}}"
""", encoding="utf-8")
    return job
