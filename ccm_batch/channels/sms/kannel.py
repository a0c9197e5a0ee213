"""SMS channel, delivery: the SMS batch (``sms/messages.csv``) submitted to Kannel's HTTP ``sendsms``, journalled.

Each message is one GET on ``kannel_url`` (``/cgi-bin/sendsms``) with ``username``, ``password``
(from the environment variable ``password_env``), ``from`` (``sender``), ``to``, ``text`` in UTF-8
(``charset=UTF-8``) and ``coding`` 0 (GSM 03.38) or 2 (UCS-2) as chosen per message. Kannel splits a
long text into concatenated segments (give the sendsms-user ``max-messages`` ≥ the job's segment
limit and ``concatenation = true``). With ``dlr_url`` (``{message_id}``, ``{doc_id}`` and
``{customer_id}`` are substituted; Kannel fills its own ``%d`` status, ``%p`` number, ``%t`` time),
Kannel calls that URL back with each delivery report; those lines are fed back by
``ccm-batch feedback --sms-dlr FILE``. Answers: 2xx accepted, 4xx failed (a bad request never gets
better), 5xx or no answer: retried, then deferred.
The same ``messages.csv`` is the aggregator batch file for sites that upload files instead.
"""
from __future__ import annotations

import csv
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ...errors import ConfigError
from ...run.faults import checkpoint
from ..email.smtp import RateLimit
from ..journal import Journal, tally

CODING = {"gsm7": "0", "ucs2": "2"}


def sendsms_url(cfg: dict, row: dict) -> str:
    """The sendsms request for one message."""
    password = ""
    if cfg.get("username"):
        env = cfg.get("password_env", "CCM_KANNEL_PASSWORD")
        if env not in os.environ:
            raise ConfigError(f"Kannel sendsms: set the password in the environment variable {env}")
        password = os.environ[env]
    query = {"username": cfg.get("username", ""), "password": password, "from": row["sender"],
             "to": row["to"], "text": row["text"], "charset": "UTF-8", "coding": CODING[row["coding"]]}
    if cfg.get("dlr_url"):
        query["dlr-mask"] = "31"
        url = cfg["dlr_url"]
        for key in ("message_id", "doc_id", "customer_id"):
            url = url.replace("{" + key + "}", urllib.parse.quote(row[key], safe=""))
        query["dlr-url"] = url
    return cfg.get("kannel_url", "http://127.0.0.1:13013/cgi-bin/sendsms") + "?" + \
        urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def send_sms_batch(run_dir: Path, cfg: dict, log=None, resend_uncertain: bool = False) -> dict:
    """Submit every SMS of ``run_dir/sms`` not yet accepted or failed; returns the tally."""
    folder = Path(run_dir) / "sms"
    rows = list(csv.DictReader(open(folder / "messages.csv", encoding="utf-8")))
    journal = Journal(folder / "sent.journal")
    rate = RateLimit(float(cfg.get("rate_per_minute", 0) or 0))
    retries, backoff = int(cfg.get("retries", 3)), float(cfg.get("backoff_s", 30))
    timeout = float(cfg.get("timeout_s", 30))
    try:
        for row in rows:
            mid = row["message_id"]
            status = journal.status(mid)
            if status in ("accepted", "failed") or (status == "attempt" and not resend_uncertain):
                continue
            url = sendsms_url(cfg, row)
            rate.wait()
            journal.write(mid, "attempt", to=row["to"], segments=int(row["segments"]))
            for attempt in range(retries + 1):
                try:
                    with urllib.request.urlopen(url, timeout=timeout) as resp:
                        code, text = resp.status, resp.read().decode("utf-8", "replace")
                except urllib.error.HTTPError as exc:
                    code, text = exc.code, exc.read().decode("utf-8", "replace")
                except OSError as exc:
                    code, text = 503, f"no answer: {exc}"
                if 200 <= code < 300:
                    journal.write(mid, "accepted", code=code, response=text.strip()[:200])
                    checkpoint("send")
                    break
                if 400 <= code < 500:
                    journal.write(mid, "failed", code=code, response=text.strip()[:200])
                    if log:
                        log.message("CCM0702W", f"sms {mid} to {row['to']} refused: {code} {text.strip()[:120]}")
                    break
                if code != 503 or not text.startswith("no answer"):
                    journal.write(mid, "refused", code=code, response=text.strip()[:200])
                if attempt < retries:
                    time.sleep(backoff * (2 ** attempt))
            else:
                journal.write(mid, "deferred", code=code, response=text.strip()[:200])
    finally:
        result = tally(journal, [r["message_id"] for r in rows])
        journal.close()
    return result
