"""Email channel, delivery: the ``.eml`` spool sent over SMTP, journalled (see :mod:`ccm_batch.channels.journal`).

One connection is reused for the whole spool (re-opened if the server drops it). Options from the
job's ``[channels.email]``: ``smtp_host``/``smtp_port``, ``starttls`` (required when true), ``ssl``
(implicit TLS), ``ca_file`` (trust this CA instead of the system's), ``username`` and
``password_env`` (the environment variable holding the password: never in the job file),
``rate_per_minute``, ``retries`` and ``backoff_s`` for temporary (4xx) refusals — the wait doubles
at each retry — and ``timeout_s``. A 5xx refusal is recorded as failed and never retried.
"""
from __future__ import annotations

import csv
import os
import smtplib
import ssl
import time
from email.utils import parseaddr
from pathlib import Path

from ...errors import ConfigError
from ...run.faults import checkpoint
from ..journal import Journal, tally


class RateLimit:
    """At most ``per_minute`` starts per minute (evenly spaced); 0 = no limit."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if now < self.next:
            time.sleep(self.next - now)
        self.next = max(now, self.next) + self.interval


class SmtpSender:
    """A reusable SMTP connection configured from ``[channels.email]``."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.host = cfg.get("smtp_host", "127.0.0.1")
        self.port = int(cfg.get("smtp_port", 25))
        self.conn = None

    def _context(self):
        ca = self.cfg.get("ca_file")
        return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()

    def connect(self):
        timeout = float(self.cfg.get("timeout_s", 60))
        if self.cfg.get("ssl"):
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=self._context())
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=timeout)
        conn.ehlo()
        if self.cfg.get("starttls"):
            if not conn.has_extn("starttls"):
                conn.close()
                raise ConfigError(f"SMTP server {self.host}:{self.port} does not offer STARTTLS, which "
                                  "[channels.email] starttls = true requires")
            conn.starttls(context=self._context())
            conn.ehlo()
        user = self.cfg.get("username")
        if user:
            env = self.cfg.get("password_env", "CCM_SMTP_PASSWORD")
            if env not in os.environ:
                raise ConfigError(f"SMTP authentication: set the password in the environment variable {env}")
            try:
                conn.login(user, os.environ[env])
            except smtplib.SMTPAuthenticationError as exc:
                conn.close()
                raise ConfigError(f"SMTP server {self.host}:{self.port} refused the login of {user!r} "
                                  f"({exc.smtp_code}): check the user and the password in {env}") from None
        self.conn = conn
        return conn

    def send(self, sender: str, to: str, data: bytes, on_handover=None):
        """``(code, text)`` of the server's answer; raises OSError/SMTPServerDisconnected on link loss.

        ``on_handover()`` is called once connected, just before the message is handed over (journal).
        """
        conn = self.conn or self.connect()
        if on_handover is not None:
            on_handover()
        try:
            conn.sendmail(sender, [to], data)
            return 250, "accepted"
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(to, (550, b"refused"))
            return code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        except smtplib.SMTPServerDisconnected:
            self.conn = None
            raise
        except smtplib.SMTPResponseException as exc:
            try:
                conn.rset()
            except smtplib.SMTPException:
                self.close()
            text = exc.smtp_error
            return exc.smtp_code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)

    def close(self):
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


def send_email_spool(run_dir: Path, cfg: dict, log=None, resend_uncertain: bool = False) -> dict:
    """Send every message of ``run_dir/email`` not yet accepted or failed; returns the tally."""
    folder = Path(run_dir) / "email"
    rows = list(csv.DictReader(open(folder / "manifest.csv", encoding="utf-8")))
    journal = Journal(folder / "sent.journal")
    sender = SmtpSender(cfg)
    envelope_from = parseaddr(cfg.get("from", ""))[1]
    rate = RateLimit(float(cfg.get("rate_per_minute", 0) or 0))
    retries, backoff = int(cfg.get("retries", 3)), float(cfg.get("backoff_s", 30))
    try:
        for row in rows:
            mid = row["message_id"]
            status = journal.status(mid)
            if status in ("accepted", "failed") or (status == "attempt" and not resend_uncertain):
                continue
            if "/" in row["file"] or row["file"].startswith("."):
                raise ConfigError(f"{folder / 'manifest.csv'}: {row['file']!r} is not a spool file name")
            data = (folder / row["file"]).read_bytes()
            rate.wait()

            def handover():
                journal.write(mid, "attempt", to=row["to"], file=row["file"])
                checkpoint("send-attempt")
            for attempt in range(retries + 1):
                try:
                    code, text = sender.send(envelope_from, row["to"], data, handover)
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    code, text = 421, f"connection lost: {exc}"
                    sender.conn = None
                if code < 400:
                    journal.write(mid, "accepted", code=code)
                    checkpoint("send")
                    break
                if code >= 500:
                    journal.write(mid, "failed", code=code, response=text[:200])
                    if log:
                        log.message("CCM0702W", f"email {mid} to {row['to']} refused: {code} {text[:120]}")
                    break
                if journal.status(mid) == "attempt":        # refused for now: certainly not delivered
                    journal.write(mid, "refused", code=code, response=text[:200])
                if attempt < retries:
                    time.sleep(backoff * (2 ** attempt))
            else:
                journal.write(mid, "deferred", code=code, response=text[:200])
    finally:
        sender.close()
        result = tally(journal, [r["message_id"] for r in rows])
        journal.close()
    return result
