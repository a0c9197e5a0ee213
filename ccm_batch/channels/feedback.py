"""Channels, feedback: delivery results stored per document and per customer, read back by routing.

Events come from RFC 3464 delivery status notifications (email bounces: a maildir or ``.eml`` files),
SMS delivery reports (the URLs Kannel calls back, one per line), and returned-mail files (plis non
distribués: CSV ``doc_id,customer_id,date,reason``). :class:`FeedbackStore` keeps them in SQLite behind
four calls — :meth:`~FeedbackStore.add`, :meth:`~FeedbackStore.blocking`, :meth:`~FeedbackStore.events`,
:meth:`~FeedbackStore.close` — so it can later live in the run-history database instead.

An event blocks a channel for a customer when it is final and negative: an email hard bounce (action
failed, status 5.x.x) blocks email to that address, a failed SMS (Kannel DLR 2 or 16) that number, a
returned letter paper to that customer, a platform's rejection of an e-invoice (lifecycle status 213)
the e-invoice channel to that customer. A later success on the same address lifts the block.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
  source TEXT NOT NULL,          -- file (or URL line) the event came from, and its identity in it
  ident TEXT NOT NULL,
  kind TEXT NOT NULL,            -- email_dsn | sms_dlr | returned_mail | einvoice_status
  channel TEXT NOT NULL,         -- email | sms | paper | einvoice
  status TEXT NOT NULL,          -- hard | soft | delivered | returned
  address TEXT, customer_id TEXT, doc_id TEXT, date TEXT, detail TEXT,
  PRIMARY KEY (source, ident)
);
CREATE INDEX IF NOT EXISTS feedback_customer ON feedback (customer_id, channel);
"""
BLOCKING = ("hard", "returned")


class FeedbackEvent(NamedTuple):
    kind: str
    channel: str
    status: str
    address: str = ""
    customer_id: str = ""
    doc_id: str = ""
    date: str = ""
    detail: str = ""
    source: str = ""
    ident: str = ""


class FeedbackStore:
    """The feedback store (SQLite file ``path``)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=60)
        self.db.executescript(SCHEMA)

    def add(self, event: FeedbackEvent) -> bool:
        """Store ``event``; False when the same (source, ident) was already stored."""
        cur = self.db.execute("INSERT OR IGNORE INTO feedback VALUES (?,?,?,?,?,?,?,?,?,?)",
                              (event.source, event.ident, event.kind, event.channel, event.status,
                               event.address, event.customer_id, event.doc_id, event.date, event.detail))
        self.db.commit()
        return cur.rowcount == 1

    def events(self, customer_id: str | None = None) -> list[FeedbackEvent]:
        sql = "SELECT kind, channel, status, address, customer_id, doc_id, date, detail, source, ident " \
              "FROM feedback"
        args = ()
        if customer_id is not None:
            sql += " WHERE customer_id = ?"
            args = (customer_id,)
        return [FeedbackEvent(*r) for r in self.db.execute(sql + " ORDER BY date, source, ident", args)]

    def blocking(self) -> dict:
        """``{(customer_id, channel): (address, date, detail)}`` for every channel still blocked.

        Events are taken in date order; the latest event per (customer, channel, address) decides.
        """
        latest = {}
        for e in self.events():
            latest[(e.customer_id, e.channel, e.address)] = e
        out = {}
        for (cid, channel, address), e in sorted(latest.items()):
            if e.status in BLOCKING:
                out.setdefault((cid, channel), []).append((address, e.date, e.detail))
        return out

    def close(self) -> None:
        self.db.close()
