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
* **E-invoice lifecycle statuses** (``--einvoice-status``): CSV ``doc_id,customer_id,date,status,reason``
  as the platforms (PDP) report them, ``status`` a French reform lifecycle code or its name: 213
  ``rejetée``/``rejected`` (the platform rejected the invoice: unknown recipient, invalid file) blocks the
  e-invoice channel for that customer — the next run falls back, e.g. to paper; 200-206, 209, 211, 212
  (deposited, issued, received, made available, taken over, approved, completed, payment sent,
  cashed) are successes that lift such a block; 207, 208, 210 (disputed, suspended, refused: the
  invoice's content, not the channel) are recorded without blocking.

Events are keyed by their source and identity, so feeding the same file twice stores nothing new.
When the job records a run history, each new final outcome is also a delivery event of the document
there (:func:`history_event`), which the KPIs' delivery, bounce and returned-mail rates count.
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


EINVOICE_STATUS = {
    "200": ("delivered", "déposée"), "201": ("delivered", "émise"), "202": ("delivered", "reçue"),
    "203": ("delivered", "mise à disposition"), "204": ("delivered", "prise en charge"),
    "205": ("delivered", "approuvée"), "206": ("delivered", "approuvée partiellement"),
    "207": ("soft", "en litige"), "208": ("soft", "suspendue"), "209": ("delivered", "complétée"),
    "210": ("soft", "refusée"), "211": ("delivered", "paiement transmis"), "212": ("delivered", "encaissée"),
    "213": ("hard", "rejetée"),
}
_STATUS_WORDS = {"rejected": "213", "rejetee": "213", "rejetée": "213", "refused": "210", "refusee": "210",
                 "refusée": "210", "received": "202", "delivered": "203", "approved": "205", "paid": "212"}


def parse_einvoice_status(row: dict, source: str, line: int) -> FeedbackEvent:
    """One platform lifecycle status (a row of the ``--einvoice-status`` CSV)."""
    raw = (row.get("status") or "").strip()
    code = _STATUS_WORDS.get(raw.lower(), raw)
    if code not in EINVOICE_STATUS:
        raise ConfigError(f"{source}:{line}: unknown e-invoice status {raw!r} (a lifecycle code 200-213, or "
                          "rejected / refused / received / delivered / approved / paid)")
    if not (row.get("customer_id") or "").strip():
        raise ConfigError(f"{source}:{line}: e-invoice status without customer_id "
                          "(columns: doc_id,customer_id,date,status,reason)")
    kind, label = EINVOICE_STATUS[code]
    reason = (row.get("reason") or "").strip()
    return FeedbackEvent("einvoice_status", "einvoice", kind, "", row["customer_id"].strip(),
                         (row.get("doc_id") or "").strip(), (row.get("date") or "").strip(),
                         f"{code} {label}" + (f": {reason}" if reason else ""), source,
                         f"{(row.get('doc_id') or '').strip()}#{code}#{(row.get('date') or '').strip()}")


# a final outcome -> the run history's event kind (soft bounces, intermediate reports, disputes: none)
_HISTORY_KIND = {("email", "hard"): "bounced", ("sms", "hard"): "failed", ("einvoice", "hard"): "failed",
                 ("paper", "returned"): "returned"}


def history_event(e: FeedbackEvent) -> dict | None:
    """The run-history delivery event of feedback event ``e`` (``delivered``; ``bounced`` for a hard
    e-mail bounce, ``failed`` for a failed SMS or a rejected e-invoice, ``returned`` for returned
    mail), or None for a non-final outcome or an event that names no document."""
    kind = "delivered" if e.status == "delivered" else _HISTORY_KIND.get((e.channel, e.status))
    if kind is None or not e.doc_id:
        return None
    return {"doc_id": e.doc_id, "kind": kind, "channel": e.channel, "occurred_at": e.date or None,
            "detail": e.detail or None, "source": e.source or None}


def ingest(store: FeedbackStore, dsn=(), sms_dlr=(), returned=(), einvoice_status=(), on_new=None) -> dict:
    """Feed files into ``store``; returns counts by kind (new events only) and skipped files. Each new
    event is also passed to ``on_new`` when given."""
    counts = collections.Counter()
    add = store.add
    if on_new is not None:
        def add(e: FeedbackEvent) -> bool:
            new = store.add(e)
            if new:
                on_new(e)
            return new
    for root in dsn:
        for path in _files(root):
            events = parse_dsn(path.read_bytes(), str(path))
            if not events:
                counts["skipped (not a DSN)"] += 1
            for e in events:
                counts[f"email {e.status}"] += add(e)
    for path in sms_dlr:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                e = parse_dlr_line(line, str(path), n)
                if e is not None:
                    counts[f"sms {e.status}"] += add(e)
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
                counts["paper returned"] += add(e)
    for path in einvoice_status:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for row in reader:
                e = parse_einvoice_status(row, str(path), reader.line_num)
                counts[f"einvoice {e.status}"] += add(e)
    return dict(counts)
