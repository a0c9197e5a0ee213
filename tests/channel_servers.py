"""Test helpers for the channel tests: a real SMTP server (aiosmtpd) on loopback, job files, received mail."""
from __future__ import annotations

import email
import email.policy
import socket
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping every message the server accepted; scripted refusals by recipient."""

    def __init__(self, refuse: dict | None = None, defer_once: set | None = None):
        self.messages = []               # (envelope sender, recipients, bytes)
        self.refuse = refuse or {}       # recipient -> "550 ..." every time
        self.defer_once = set(defer_once or ())
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if address in self.defer_once:
            self.defer_once.discard(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def parsed(self):
        return [email.message_from_bytes(data, policy=email.policy.default) for _, _, data in self.messages]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return key, cert


def start_smtp(handler: Mailbox, tls_dir: Path | None = None, auth: tuple | None = None):
    """A started aiosmtpd Controller on a free loopback port (STARTTLS and AUTH when asked)."""
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    kw = {}
    if tls_dir is not None:
        key, cert = self_signed(tls_dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key))
        kw.update(tls_context=ctx, require_starttls=True)
    if auth is not None:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == auth[0] and auth_data.password.decode() == auth[1]
            return AuthResult(success=ok)
        kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls_dir is not None)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    return controller


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
