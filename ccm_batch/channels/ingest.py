"""Channels, feedback ingestion: bounces (RFC 3464), SMS delivery reports and returned mail into the store.

* **DSN** (``--dsn``): ``multipart/report; report-type=delivery-status`` messages, from files, a
  directory or a maildir (``cur/`` and ``new/``). Each per-recipient block gives the address
  (``Final-Recipient``), ``Action`` and ``Status``: ``failed`` with a 5.x.x status is a hard bounce,
  4.x.x or ``delayed`` a soft one, ``delivered`` a success. The document and customer come from the
  returned headers (``X-CCM-Document``, ``X-CCM-Customer``, which every message of ours carries).
  A message that is not a DSN is counted as skipped.
* **SMS delivery reports** (``--sms-dlr``): one Kannel dlr-url callback per line (a URL or its query
  string) with ``id``, ``status`` (Kannel ``%d``: 1 delivered, 2 failed, 16 rejected by the SMSC,
  4/8 intermediate), ``to``, and ``doc``/``customer`` when the job's ``dlr_url`` passes them.
* **Returned mail** (``--returned``): CSV ``doc_id,customer_id,date,reason`` (plis non distribués).

Events are keyed by their source and identity, so feeding the same file twice stores nothing new.
"""
from __future__ import annotations

import collections
import csv
import email
import email.policy
import email.utils
import urllib.parse
from pathlib import Path

from ..errors import ConfigError
from .feedback import FeedbackEvent, FeedbackStore


def _files(path: Path):
    if path.is_file():
        yield path
    elif (path / "cur").is_dir() or (path / "new").is_dir():
        for sub in ("cur", "new"):
            if (path / sub).is_dir():
                yield from sorted(p for p in (path / sub).iterdir() if p.is_file())
    else:
        yield from sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))


def _date(msg) -> str:
    try:
        return email.utils.parsedate_to_datetime(msg["Date"]).date().isoformat()
    except (TypeError, ValueError):
        return ""


def parse_dsn(data: bytes, source: str = "") -> list[FeedbackEvent]:
    """The events of one delivery status notification (empty when ``data`` is not one)."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report" or \
            (msg.get_param("report-type") or "").lower() != "delivery-status":
        return []
    status_part = original = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            status_part = part
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            original = part
    if status_part is None:
        return []
    headers = {}
    if original is not None:
        payload = original.get_payload()
        inner = payload[0] if isinstance(payload, list) else email.message_from_string(payload or "")
        headers = {k.lower(): str(v).strip() for k, v in inner.items()}
    blocks = status_part.get_payload()              # per-message block, then one per recipient
    events = []
    date = _date(msg)
    for n, block in enumerate(blocks[1:] if isinstance(blocks, list) else [], 1):
        recipient = (block.get("Final-Recipient") or block.get("Original-Recipient") or "")
        address = recipient.split(";", 1)[-1].strip()
        action = (block.get("Action") or "").strip().lower()
        status = (block.get("Status") or "").strip()
        if action == "delivered" or status.startswith("2"):
            kind = "delivered"
        elif action == "failed" and status.startswith("5"):
            kind = "hard"
        else:
            kind = "soft"
        detail = " ".join((block.get("Diagnostic-Code") or status).split())[:200]
        events.append(FeedbackEvent("email_dsn", "email", kind, address,
                                    headers.get("x-ccm-customer", ""), headers.get("x-ccm-document", ""),
                                    date, f"{status} {detail}".strip() if detail != status else status,
                                    source, f"{headers.get('message-id', msg.get('Message-ID', ''))}#{n}"))
    return events


_DLR = {"1": "delivered", "2": "hard", "16": "hard", "4": "soft", "8": "soft"}


def parse_dlr_line(line: str, source: str, number: int) -> FeedbackEvent | None:
    """One Kannel delivery-report callback (``...?id=…&status=…&to=…``); None for an empty line."""
    line = line.strip()
    if not line:
        return None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(line).query or line.lstrip("?"))
    get = lambda k: (query.get(k) or [""])[0]        # noqa: E731
    status = get("status")
    if status not in _DLR or not get("id"):
        raise ConfigError(f"{source}:{number}: not a delivery report (need id=… and status=1|2|4|8|16): "
                          f"{line[:80]}")
    return FeedbackEvent("sms_dlr", "sms", _DLR[status], get("to").replace(" ", "+"), get("customer"),
                         get("doc"), get("ts")[:10], f"Kannel DLR {status} {get('answer')}".strip(), source,
                         f"{get('id')}#{status}")


def ingest(store: FeedbackStore, dsn=(), sms_dlr=(), returned=()) -> dict:
    """Feed files into ``store``; returns counts by kind (new events only) and skipped files."""
    counts = collections.Counter()
    for root in dsn:
        for path in _files(root):
            events = parse_dsn(path.read_bytes(), str(path))
            if not events:
                counts["skipped (not a DSN)"] += 1
            for e in events:
                counts[f"email {e.status}"] += store.add(e)
    for path in sms_dlr:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                e = parse_dlr_line(line, str(path), n)
                if e is not None:
                    counts[f"sms {e.status}"] += store.add(e)
    for path in returned:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for row in reader:
                if not row.get("customer_id"):
                    raise ConfigError(f"{path}:{reader.line_num}: returned-mail line without customer_id "
                                      "(columns: doc_id,customer_id,date,reason)")
                e = FeedbackEvent("returned_mail", "paper", "returned", "", row["customer_id"].strip(),
                                  (row.get("doc_id") or "").strip(), (row.get("date") or "").strip(),
                                  (row.get("reason") or "").strip(), str(path),
                                  f"{row.get('doc_id', '')}#{reader.line_num}")
                counts["paper returned"] += store.add(e)
    return dict(counts)
