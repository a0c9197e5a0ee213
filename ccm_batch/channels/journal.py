"""Channels, delivery journal: what a gateway accepted, so a restarted send never sends a message twice.

One append-only file per channel (``email/sent.journal``, ``sms/sent.journal``), a JSON line per step,
flushed and fsynced before the next step: ``attempt`` (about to hand the message over), then
``accepted`` (the server took it: final), ``failed`` (a permanent refusal, 5xx: final), ``refused`` (a
temporary refusal, 4xx: retried) or ``deferred`` (still refused after the retries: sent again next
time). A message whose last line is
``attempt`` is *uncertain*: the process died between handing it over and hearing the answer. It is
not sent again unless the operator asks (``--resend-uncertain``), after checking the server's log,
because sending it again could deliver it twice. A torn last line (a crash mid-write) is ignored.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

FINAL = ("accepted", "failed")


def last_entries(path: Path) -> dict[str, dict]:
    """Each message id's last status line in the journal at ``path`` (empty when there is none)."""
    last: dict[str, dict] = {}
    if Path(path).exists():
        with open(path, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue                      # a torn last line
                last[entry["id"]] = entry
    return last


class Journal:
    """The journal at ``path``: :attr:`last` maps a message id to its last status line."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.last = last_entries(self.path)
        self._f = open(self.path, "ab")

    def status(self, message_id: str) -> str:
        """``new``, ``attempt`` (uncertain), ``accepted``, ``failed``, ``refused`` or ``deferred``."""
        return self.last.get(message_id, {}).get("status", "new")

    def write(self, message_id: str, status: str, **facts) -> None:
        entry = {"id": message_id, "status": status, **facts}
        self._f.write(json.dumps(entry, ensure_ascii=False, sort_keys=True).encode() + b"\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.last[message_id] = entry

    def close(self) -> None:
        self._f.close()


def tally(journal: Journal, ids) -> dict:
    """prepared = accepted + failed + pending (pending: never sent, deferred or uncertain)."""
    counts = {"prepared": 0, "accepted": 0, "failed": 0, "pending": 0, "uncertain": 0}
    for mid in ids:
        counts["prepared"] += 1
        st = journal.status(mid)
        if st in FINAL:
            counts[st] += 1
        else:
            counts["pending"] += 1
            counts["uncertain"] += st == "attempt"
    counts["ok"] = counts["prepared"] == counts["accepted"] + counts["failed"] + counts["pending"]
    return counts
