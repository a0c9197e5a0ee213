"""Channels, after render: the routed documents written out per channel, and the channel reconciliation.

For every routed document, in record order (:func:`produce_channels`):

* ``{job}.channels.csv`` — the routing index: one line per document with its primary channel, every
  channel it goes to, the reason, and what was prepared (Message-ID, SMS coding and segments, files);
* ``email/NNNNNNNN.eml`` — the RFC 5322 message (optionally DKIM-signed) and ``email/manifest.csv``
  (the send step's list: file, Message-ID, recipient, document, customer);
* ``sms/messages.csv`` — the SMS batch (the aggregator upload file and the send step's list);
* ``portal/`` — per document the PDF/A and an accessible HTML version, and ``portal/index.jsonl``;
* ``einvoice/<platform>/`` — the Factur-X / CII / UBL files of the documents routed to the e-invoice
  channel and not printed (:func:`ccm_batch.einvoice.stage.package_document`; a printed document's are
  made by the render phase), referenced in the routing index's ``einvoice_file`` column.

The PDF attached to an email is the document's PDF/A twin; with ``[index] archive_pdf`` it is also the
archive copy under ``archive/`` (a document also printed keeps the printed archive copy). Outputs are
made in a parts directory of the work directory and moved into staging at the end, so a restart
redoes this step from scratch with the same result.
"""
from __future__ import annotations

import collections
import csv
import json
import os
import shutil
from pathlib import Path

from .config import ChannelsConfig
from .sms.encoding import split_segments

ORDER = ("paper", "email", "sms", "portal", "einvoice", "suppressed")


class ChannelTally:
    """Counts the routed documents of the chunks the run collected (fed chunk by chunk)."""

    def __init__(self):
        self.chunks: list[int] = []
        self.primary = collections.Counter()
        self.copies = collections.Counter()
        self.off_paper = 0

    def add_chunk(self, result) -> None:
        self.chunks.append(result.chunk)
        for r in result.channels or ():
            self.primary[r.primary] += 1
            for c in r.channels[1:]:
                self.copies[c] += 1
            if not r.on_paper:
                self.off_paper += 1


def reconciliation(documents: int, tally: ChannelTally, used=None) -> dict:
    """``documents = paper + email + sms + portal [+ einvoice] + suppressed`` (primary channel of each
    document; einvoice when ``used``, the channels the rules may route to, has it or a document went there)."""
    by = {c: tally.primary.get(c, 0) for c in ORDER
          if c != "einvoice" or tally.primary.get(c) or (used is not None and c in used)}
    ok = documents == sum(by.values())
    line = (f"documents {documents} {'=' if ok else '≠'} " + " + ".join(f"{c} {n}" for c, n in by.items())
            + (": OK" if ok else ": MISMATCH"))
    return {"line": line, "ok": ok, "by_channel": by,
            "copies": {c: tally.copies[c] for c in ORDER if tally.copies.get(c)}}


def _reason_kind(reason: str) -> str:
    import re
    return re.sub(r"'[^']*'|\d{4}-\d{2}-\d{2}|\([^()]*\)", "…", reason)[:120]


ROUTED_DDL = """CREATE TABLE IF NOT EXISTS routed (
  seq INTEGER PRIMARY KEY,            -- record number, as documents.seq
  doc_id TEXT, customer_id TEXT, doc_type TEXT,
  channel TEXT,                       -- the primary channel: paper, email, sms, portal, einvoice or suppressed
  channels TEXT,                      -- every channel it goes to, primary first, joined with '+'
  reason TEXT, message_id TEXT, segments INTEGER,
  on_paper INTEGER                    -- 1: printed too (its row is in documents and the mail plan)
)"""


class RoutedTable:
    """The work database's ``routed`` table: each routed document's decision, message id and SMS segments,
    written while :func:`produce_channels` makes the channels' outputs (the run history reads it)."""

    def __init__(self, db):
        self.db, self.rows = db, []
        db.execute(ROUTED_DDL)
        db.execute("DELETE FROM routed")          # a restarted run produces its channels again

    def add(self, r, row: dict) -> None:
        self.rows.append((r.seq, r.doc_id, r.customer_id, r.doc_type, r.primary, "+".join(r.channels), r.reason,
                          row.get("message_id") or None, row.get("sms_segments") or None, int(r.on_paper)))
        if len(self.rows) >= 1000:
            self.flush()

    def flush(self) -> None:
        self.db.executemany(f"INSERT INTO routed VALUES ({', '.join('?' * 10)})", self.rows)
        self.rows.clear()
        self.db.commit()


def produce_channels(job, config: ChannelsConfig, routed, spool_dir: Path, run_dir: Path,
                     staging: Path, table: RoutedTable | None = None) -> dict:
    """Write every channel's outputs for the ``routed`` documents (record order); returns report facts.
    Each document's decision also goes into ``table`` when one is given."""
    from ..archive.pdf_archive import ArchivePdfWriter
    from ..spool import SpoolReader
    from .email.message import build_message, sign_dkim

    parts = run_dir / "channels-parts"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    reader = SpoolReader(spool_dir)
    archive_dir = parts / ("archive" if job.archive_pdf else ".pdf")
    archiver = None
    email_cfg, sms_cfg = config.email, config.sms
    portal_url = config.portal.get("url", "")
    counts = collections.Counter()
    reasons = collections.Counter()
    sms_coding = collections.Counter()
    index = _Csv(parts / f"{job.name}.channels.csv",
                 ["record", "doc_id", "customer_id", "doc_type", "primary", "channels", "reason",
                  "email", "message_id", "mobile", "sms_coding", "sms_segments", "archive_file",
                  "portal_file"] + (["einvoice_file"] if job.einvoice is not None else []))
    manifest = sms_batch = portal_index = None
    try:
        for r in routed:
            reasons[_reason_kind(r.reason)] += 1
            row = {"record": r.seq, "doc_id": r.doc_id, "customer_id": r.customer_id, "doc_type": r.doc_type,
                   "primary": r.primary, "channels": "+".join(r.channels) or "none", "reason": r.reason}
            pdf_name, pdf = "", None
            electronic = [c for c in r.channels if c != "paper"]
            rule = config.rule(r.doc_type)
            doc = None
            if "portal" in electronic or ("email" in electronic and rule.attach == "pdf") or \
                    ("einvoice" in electronic and job.archive_pdf and not r.on_paper):
                if archiver is None:
                    archiver = ArchivePdfWriter(archive_dir, job.archive_name, job_date=job.date)
                doc = reader.read(*r.spool)
                pdf_name = archiver.write_document(doc.meta, doc.pages)
                pdf = (archive_dir / pdf_name).read_bytes()
                if job.archive_pdf and not r.on_paper:
                    row["archive_file"] = f"archive/{pdf_name}"
            link = portal_url.format(doc_id=r.doc_id, customer_id=r.customer_id) if portal_url else ""
            if "email" in electronic:
                if manifest is None:
                    (parts / "email").mkdir()
                    manifest = _Csv(parts / "email" / "manifest.csv",
                                    ["file", "message_id", "to", "doc_id", "customer_id"])
                content = r.content["email"]
                if rule.attach == "link" and link and not any(k == "button" for k, _, _ in content.blocks):
                    blocks = list(content.blocks)        # no PDF attached: the portal link instead
                    at = next((i for i, b in enumerate(blocks) if b[0] == "footer"), len(blocks))
                    blocks.insert(at, ("button", content.subject, link))
                    content = content._replace(blocks=tuple(blocks))
                msg = build_message(content, sender=email_cfg["from"], to=r.email, doc_id=r.doc_id,
                                    customer_id=r.customer_id, job=job.name, job_date=job.date,
                                    language=r.language, reply_to=email_cfg.get("reply_to", ""),
                                    domain=email_cfg.get("domain", ""),
                                    attachment=pdf if rule.attach == "pdf" else None,
                                    attachment_name=pdf_name or "document.pdf")
                data = msg.as_bytes()
                if email_cfg.get("dkim_key"):
                    data = sign_dkim(data, email_cfg["dkim_selector"], email_cfg.get("dkim_domain")
                                     or msg["Message-ID"].rpartition("@")[2].rstrip(">"), email_cfg["dkim_key"])
                name = f"{r.seq:08d}.eml"
                (parts / "email" / name).write_bytes(data)
                manifest.add({"file": name, "message_id": msg["Message-ID"], "to": r.email,
                              "doc_id": r.doc_id, "customer_id": r.customer_id})
                row.update(email=r.email, message_id=msg["Message-ID"])
                counts["email"] += 1
            if "sms" in electronic:
                if sms_batch is None:
                    (parts / "sms").mkdir()
                    sms_batch = _Csv(parts / "sms" / "messages.csv",
                                     ["message_id", "to", "sender", "coding", "segments", "text", "doc_id",
                                      "customer_id"])
                text = r.content["sms"].text
                coding, units, segments = r.sms
                mid = f"{job.name}-{job.date}-{r.seq:08d}"
                sms_batch.add({"message_id": mid, "to": r.mobile, "sender": sms_cfg.get("sender", ""),
                               "coding": coding, "segments": segments, "text": text, "doc_id": r.doc_id,
                               "customer_id": r.customer_id})
                assert len(split_segments(text)) == segments
                row.update(mobile=r.mobile, sms_coding=coding, sms_segments=segments)
                sms_coding[coding] += 1
                counts["sms"] += 1
                counts["sms_segments"] += segments
            if "portal" in electronic:
                from .portal import write_portal_document
                if portal_index is None:
                    (parts / "portal").mkdir()
                    portal_index = open(parts / "portal" / "index.jsonl", "w", encoding="utf-8")
                entry = write_portal_document(parts / "portal", r, pdf, pdf_name, job)
                portal_index.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
                row["portal_file"] = entry["pdf"]
                counts["portal"] += 1
            # e-invoice files: of the documents routed there, or (rules without einvoice) made beside any channel
            if job.einvoice is not None and ("einvoice" in electronic or not config.routes_einvoice(r.doc_type)):
                from ..einvoice.stage import package_document, references, spooled
                entry = spooled(spool_dir, r.seq)
                if entry is not None:
                    if r.on_paper:               # printed too: the render phase made its files
                        files = references(job.einvoice, entry)
                    else:
                        doc = doc or reader.read(*r.spool)
                        files = package_document(job.einvoice, doc.meta, doc.pages, spool_dir, parts, job.date)
                    row["einvoice_file"] = ";".join(f for f, _, _ in files)
                    counts["einvoice"] += "einvoice" in electronic
            index.add(row)
            if table is not None:
                table.add(r, row)
        if table is not None:
            table.flush()
    finally:
        reader.close()
        index.close()
        for f in (manifest, sms_batch, portal_index):
            if f is not None:
                f.close()
    shutil.rmtree(parts / ".pdf", ignore_errors=True)
    _move_into_staging(parts, staging, run_dir / "channels-files.json")
    prepared = {"email": counts["email"], "sms": counts["sms"], "portal": counts["portal"]}
    if job.einvoice is not None and "einvoice" in config.channels_used():
        prepared["einvoice"] = counts["einvoice"]
    return {"prepared": prepared,
            "sms_segments": counts["sms_segments"], "sms_by_coding": dict(sorted(sms_coding.items())),
            "decisions": dict(sorted(reasons.items()))}


def _move_into_staging(parts: Path, staging: Path, owned_list: Path) -> None:
    """Move the parts into staging. A file already there is replaced only when an earlier attempt of this
    step put it there (``owned_list``); otherwise it is another stage's (e.g. a paper document's
    archive PDF with the same name) and the run stops rather than overwrite it."""
    from ..errors import OutputError
    files = sorted(str(p.relative_to(parts)) for p in parts.rglob("*") if p.is_file())
    owned = set(json.loads(owned_list.read_text())) if owned_list.exists() else set()
    for rel in files:
        if (staging / rel).exists() and rel not in owned:
            raise OutputError(f"{rel} is already an output of this run: the names must be unique "
                              "(for archive/ files, put {doc_id} in [index] archive_name)")
    tmp = owned_list.with_name(owned_list.name + ".tmp")
    tmp.write_text(json.dumps(sorted(owned | set(files))))
    os.replace(tmp, owned_list)
    for rel in files:
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(parts / rel, dest)
    shutil.rmtree(parts, ignore_errors=True)


class _Csv:
    """A CSV file written row by row (UTF-8, header first)."""

    def __init__(self, path: Path, columns: list):
        self._f = open(path, "w", newline="", encoding="utf-8")
        self._w = csv.DictWriter(self._f, columns, lineterminator="\n")
        self._w.writeheader()

    def add(self, row: dict) -> None:
        self._w.writerow(row)

    def close(self) -> None:
        self._f.close()
