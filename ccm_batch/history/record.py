"""History stage: record one finished run (report + the run's work database) and delivery events.

:func:`record_run` reads the run report and the work database's ``documents``, ``routed`` (the channels
stage's decisions, with the documents sent off paper) and ``mail_*`` tables (streamed, never all in
memory) and writes, in one transaction, the run row, its volumes by stream and
channel, rejects by reason, warnings by kind, phase durations, cost lines and one row per document.
Costs: paper per sheet, click per printed side, per piece envelope / inserts / inserting / postage
(charged to the piece's first document, the address carrier; the postage line is the plan's postage,
rounded per stream as the run report shows it), one message per e-mail, portal or e-invoice
document, one segment per SMS unless the work database says more. Each cost line (channel, item) is
rounded to the cent (half up); the run's total is the sum of its lines.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import ROUND_HALF_UP, Decimal

from .. import __version__
from .config import CostTable

CENT = Decimal("0.01")
PAPER = "paper"
BATCH = 1000


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to the cent, half up."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def money(value) -> Decimal:
    """An amount read from a float column (``1.39`` stays ``1.39``, not the binary expansion)."""
    return Decimal(repr(float(value))) if value is not None else Decimal(0)


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _columns(work_db, table: str) -> set[str]:
    return {r[1] for r in work_db.execute(f"PRAGMA table_info({table})")}


def _has_table(work_db, table: str) -> bool:
    return work_db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                           ).fetchone() is not None


def _document_rows(work_db):
    """(seq, doc_id, customer_id, doc_type, pages, sheets, channel, reason, message_id, segments, pos,
    piece_id, stream, print_file, first_page, envelope, inserts, price, currency, zone, channels) of every
    document: the printed ones (the ``documents`` table) in piece order, then those routed off paper
    (the channels stage's ``routed`` table) in record order. ``channel`` is the primary channel,
    ``channels`` every channel the document went to ('+'-joined; None: its channel alone)."""
    cols = _columns(work_db, "documents")
    routed = _has_table(work_db, "routed")
    channel = "d.channel" if "channel" in cols else f"'{PAPER}'"
    reason = "d.channel_reason" if "channel_reason" in cols else "NULL"
    message = "d.message_id" if "message_id" in cols else "NULL"
    segments = "d.segments" if "segments" in cols else "NULL"
    channels, routing = "NULL", ""
    if routed:                                       # a multichannel run: the decisions of its channels stage
        channel, reason, message, segments, channels = (
            f"COALESCE(rt.channel, {channel})", f"COALESCE(rt.reason, {reason})",
            f"COALESCE(rt.message_id, {message})", f"COALESCE(rt.segments, {segments})", "rt.channels")
        routing = "LEFT JOIN routed rt ON rt.seq = d.seq "
    if _has_table(work_db, "mail_piece") and _has_table(work_db, "mail_piece_doc"):
        piece = ("pd.pos, p.piece_id, p.stream, p.print_file, p.first_page, p.envelope, p.inserts, p.price, "
                 "p.currency, p.zone")
        join = ("LEFT JOIN mail_piece_doc pd ON pd.doc_seq = d.seq "
                "LEFT JOIN mail_piece p ON p.piece_no = pd.piece_no")
        order = "p.piece_no, pd.pos, d.seq"
    else:                                            # stopped before planning: no pieces
        piece, join, order = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL", "", "d.seq"
    printed = work_db.execute(
        f"SELECT d.seq, d.doc_id, d.customer_id, d.doc_type, d.pages, d.sheets, {channel}, {reason}, "
        f"{message}, {segments}, {piece}, {channels} FROM documents d {routing}{join} ORDER BY {order}")
    yield from printed
    if routed:
        yield from work_db.execute(
            "SELECT seq, doc_id, customer_id, doc_type, NULL, NULL, channel, reason, message_id, segments, "
            f"{', '.join(['NULL'] * 10)}, channels FROM routed WHERE on_paper = 0 ORDER BY seq")


class _Costing:
    """Accumulates cost lines (channel, item) -> [quantity, exact amount] and volumes while documents pass.

    Documents that agree on everything their cost depends on (pages, sheets, channels, SMS segments,
    first of their piece or not, stream, envelope, inserts, postage) are priced once: each distinct case
    keeps its cost, its lines and volumes and a count, added to :attr:`lines` and :attr:`volumes` by
    :meth:`settle` (exact: the amounts are decimals, ``n`` equal additions are one multiplication). A
    run's documents fall into a few hundred cases; :data:`CASES` bounds how many are kept at once."""

    CASES = 4096

    def __init__(self, costs: CostTable, currency: str):
        self.costs, self.currency = costs, currency
        self.lines: dict[tuple[str, str], list] = {}
        self.volumes: dict[tuple[str, str], list] = {}    # (stream, channel) -> pieces, docs, pages, sheets
        self._cases: dict[tuple, list] = {}               # case -> [cost, stream, lines, volumes, documents]

    def document(self, row) -> tuple[Decimal, str]:
        """The exact cost of one document row; its stream (its channel when it was not printed)."""
        (_seq, _doc, _cust, _type, pages, sheets, channel, _reason, _msg, segments, pos, _piece, stream,
         _file, _first, envelope, inserts, price, currency, zone, channels) = row
        case = (pages, sheets, channel, channels, segments, pos == 1, stream, envelope, inserts, price, currency,
                zone)
        seen = self._cases.get(case)
        if seen is None:
            if len(self._cases) >= self.CASES:
                self.settle()
            seen = self._cases[case] = [*self._price(pages, sheets, channel, channels, segments, pos, stream,
                                                     envelope, inserts, price, currency, zone), 0]
        seen[4] += 1
        return seen[0], seen[1]

    def settle(self) -> None:
        """Add the documents counted so far to :attr:`lines` and :attr:`volumes` (call before reading them)."""
        for _cost, _stream, lines, volumes, n in self._cases.values():
            for key, quantity, amount in lines:
                line = self.lines.setdefault(key, [0, Decimal(0)])
                line[0] += quantity * n
                line[1] += amount * n
            for key, counts in volumes:
                vol = self.volumes.setdefault(key, [0, 0, 0, 0])
                for i, count in enumerate(counts):
                    vol[i] += count * n
        self._cases.clear()

    def _price(self, pages, sheets, channel, channels, segments, pos, stream, envelope, inserts, price, currency,
               zone) -> tuple:
        """(cost, stream, lines, volumes) of one document: ``lines`` ((channel, item), quantity, amount),
        ``volumes`` ((stream, channel), (pieces, documents, pages, sheets)).

        A printed document (on paper, or with a paper copy of another primary channel) pays
        the paper lines; each electronic channel it went to pays its own line. Volumes count the document
        under its primary channel; a paper copy adds its piece, pages and sheets to its stream's paper
        volume. A suppressed document costs nothing and is no communication (no volume)."""
        channel = channel or PAPER
        pages, sheets = pages or 0, sheets or 0
        went = [channel] + [ch for ch in (channels or "").split("+") if ch and ch != channel]
        lines: list = []
        volumes: list = []
        cost = Decimal(0)
        if PAPER in went:                        # printed: its row is in the documents table
            cost, stream = self._paper(lines, pages, sheets, pos, stream, envelope, inserts, price, currency, zone)
            volumes.append(((stream, PAPER), (1 if pos == 1 else 0, 1 if channel == PAPER else 0, pages, sheets)))
        for ch in went:
            if ch in (PAPER, "suppressed", "none"):
                continue
            cost += self._electronic(lines, ch, segments)
        if channel not in (PAPER, "suppressed", "none"):
            volumes.append(((channel, channel), (1, 1, 0, 0) if PAPER in went else (1, 1, pages, sheets)))
            stream = stream if PAPER in went else channel
        return cost, stream or channel, tuple(lines), tuple(volumes)

    @staticmethod
    def _line(lines: list, channel: str, item: str, quantity: int, amount: Decimal) -> Decimal:
        lines.append(((channel, item), quantity, amount))
        return amount

    def _paper(self, lines, pages, sheets, pos, stream, envelope, inserts, price, currency, zone) -> tuple[Decimal, str]:
        """The paper lines of one printed document; its stream."""
        c, channel, cost, add = self.costs, PAPER, Decimal(0), self._line
        stream = stream or "(unplanned)"
        cost += add(lines, channel, "paper", sheets, sheets * c.paper_per_sheet)
        cost += add(lines, channel, "click", pages, pages * c.click_per_side)
        if pos == 1:                           # the piece's first document (mail_piece_doc.pos counts from 1)
            cost += add(lines, channel, "envelopes", 1, c.envelope_cost(envelope))
            cost += add(lines, channel, "inserting", 1, c.inserting_per_piece)
            names = json.loads(inserts) if inserts else []
            cost += add(lines, channel, "inserts", len(names), sum((c.insert_cost(n) for n in names), Decimal(0)))
            if zone in ("domestic", "international") and (currency or "") == self.currency:
                cost += add(lines, channel, "postage", 1, money(price))
        return cost, stream

    def _electronic(self, lines: list, channel: str, segments) -> Decimal:
        """The line of one document sent on an electronic channel."""
        c, add = self.costs, self._line
        if channel == "sms":
            n = int(segments or 1)
            return add(lines, channel, "sms", n, n * c.sms_per_segment)
        if channel == "email":
            return add(lines, channel, "email", 1, c.email_per_message)
        if channel == "einvoice":
            return add(lines, channel, "einvoice", 1, c.einvoice_per_document)
        return add(lines, channel, channel, 1, c.portal_per_document)


def _postage(work_db, currency: str | None) -> tuple[str, dict]:
    """(currency, {postage, single, baseline, by_stream}) from the mail plan's streams (domestic and
    international streams, as the run report counts them)."""
    totals: dict[str, list] = {}
    by_stream: dict[str, Decimal] = {}
    if _has_table(work_db, "mail_stream"):
        for name, cur, post, single, alone, zone in work_db.execute(
                "SELECT name, currency, postage, single_postage, alone_postage, zone FROM mail_stream "
                "ORDER BY rank, name"):
            if cur and zone in ("domestic", "international"):
                t = totals.setdefault(cur, [Decimal(0), Decimal(0), Decimal(0)])
                for i, v in enumerate((post, single, alone)):
                    t[i] += cents(money(v))
                by_stream[name] = cents(money(post))
    currency = currency or (sorted(totals)[0] if totals else "")
    post, single, alone = (cents(v) for v in totals.get(currency, [Decimal(0)] * 3))
    return currency, {"postage": post, "single": single, "baseline": alone, "by_stream": by_stream}


def record_run(store, job, report, work_db, fingerprint: dict | None = None, kind: str = "run",
               started_at: str | None = None) -> str:
    """Write a finished run into ``store`` (one transaction); returns its run id."""
    cfg = job.history
    costs = cfg.costs if cfg else CostTable()
    run_id = uuid.uuid4().hex
    finished = now_utc()
    started = started_at or (dt.datetime.fromisoformat(finished)
                             - dt.timedelta(seconds=round(report.duration_s))).isoformat()
    deadline = cfg.deadline if cfg else None
    on_time = None if not deadline else int(dt.datetime.fromisoformat(finished) <= dt.datetime.fromisoformat(deadline))
    currency, postage = _postage(work_db, costs.currency or None)
    fingerprint = fingerprint or {}
    d = report.to_dict()

    def work(tx):
        costing = _Costing(costs, currency)
        batch, pieces = [], 0
        page_in_piece: dict = {}
        for row in _document_rows(work_db):
            cost, stream = costing.document(row)
            (seq, doc_id, customer, doc_type, pages, sheets, channel, reason, message, _segments, pos,
             piece_id, _stream, print_file, first_page, *_rest) = row
            first = None
            if piece_id is not None and first_page is not None:
                offset = page_in_piece.get(piece_id, 0) if pos and pos > 1 else 0
                first = first_page + offset
                page_in_piece = {piece_id: offset + (pages or 0)}
            pieces += 1 if (piece_id is not None and pos == 1) else 0
            batch.append((run_id, seq, doc_id, customer, doc_type, channel or PAPER, reason, stream, piece_id,
                          print_file, first, pages, sheets, message, str(cost)))
            if len(batch) >= BATCH:
                tx.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 15)})", batch)
                batch.clear()
        tx.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 15)})", batch)
        costing.settle()
        if (PAPER, "postage") in costing.lines:       # the plan's postage, rounded per stream as reported
            costing.lines[(PAPER, "postage")][1] = postage["postage"]
        lines = {k: (q, cents(a)) for k, (q, a) in sorted(costing.lines.items())}
        total = sum((a for _q, a in lines.values()), Decimal(0))
        tx.executemany("INSERT INTO run_costs VALUES (?, ?, ?, ?, ?)",
                       [(run_id, ch, item, q, str(a)) for (ch, item), (q, a) in lines.items()])
        tx.executemany("INSERT INTO run_volumes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(run_id, s, ch, v[0], v[1], v[2], v[3],
                         str(postage["by_stream"][s]) if s in postage["by_stream"] else None)
                        for (s, ch), v in sorted(costing.volumes.items())])
        tx.executemany("INSERT INTO run_rejects VALUES (?, ?, ?)",
                       [(run_id, r, n) for r, n in sorted(report.reject_reasons.items())])
        tx.executemany("INSERT INTO run_warnings VALUES (?, ?, ?)",
                       [(run_id, k, n) for k, n in sorted(report.warning_kinds.items())])
        tx.executemany("INSERT INTO run_phases VALUES (?, ?, ?)",
                       [(run_id, p, round(s, 3)) for p, s in report.phases.items()])
        savings = postage["baseline"] - postage["postage"]
        tx.execute(f"INSERT INTO runs VALUES ({','.join('?' * 33)})", (
            run_id, kind, report.job, report.job_date, report.job_file, str(job.output_dir), started, finished,
            deadline, on_time, report.exit_code, d["status"],
            ",".join(i["sha256"] for i in report.inputs), fingerprint.get("layout_sha256"),
            fingerprint.get("job_sha256"), report.records_read, report.documents, report.pages, report.sheets,
            pieces, report.rejected, report.warnings, currency or None, str(postage["postage"]),
            str(postage["single"]), str(postage["baseline"]), str(savings), str(total),
            round(report.duration_s, 3), float(d["timing"]["pages_per_minute"]),
            round(report.peak_memory_mb, 1), report.workers, __version__))
        return run_id
    return store.write(work)


# -- delivery events --------------------------------------------------------------------------------

FAILURE_KINDS = ("bounced", "returned", "failed", "undelivered")
DELIVERED_KINDS = ("delivered",)
EVENT_KINDS = ("sent", "delivered", "bounced", "returned", "failed", "undelivered", "opened", "damaged",
               "missing", "reprinted")


def insert_events(store, events) -> list:
    """Write delivery events (dicts: doc_id, kind, and optionally job, run_id, channel, message_id,
    detail, occurred_at, source) in one transaction. An event without ``run_id`` is matched to the most
    recent run (of ``job`` when given) that produced the document. Returns each event's run id (None
    when no recorded run produced the document: the event is kept, unmatched)."""
    events = list(events)
    for e in events:
        if e.get("kind") not in EVENT_KINDS:
            raise ValueError(f"event kind {e.get('kind')!r}: expected one of {', '.join(EVENT_KINDS)}")
        if not e.get("doc_id"):
            raise ValueError("an event needs the document id (doc_id)")

    def work(tx):
        recorded = now_utc()
        matched = []
        for e in events:
            run_id, channel, job = e.get("run_id"), e.get("channel"), e.get("job")
            if run_id is None or channel is None:
                sql = ("SELECT d.run_id, d.channel, r.job FROM documents d JOIN runs r ON r.run_id = d.run_id "
                       "WHERE d.doc_id = ?")
                params = [e["doc_id"]]
                if run_id is not None:
                    sql += " AND d.run_id = ?"
                    params.append(run_id)
                elif job is not None:
                    sql += " AND r.job = ?"
                    params.append(job)
                found = tx.execute(sql + " ORDER BY r.job_date DESC, r.finished_at DESC, r.run_id DESC",
                                   params).fetchone()
                if found:
                    run_id, channel, job = run_id or found[0], channel or found[1], job or found[2]
            tx.execute("INSERT INTO events (recorded_at, occurred_at, job, run_id, doc_id, kind, channel, "
                       "message_id, detail, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (recorded, e.get("occurred_at"), job, run_id, e["doc_id"], e["kind"], channel,
                        e.get("message_id"), e.get("detail"), e.get("source")))
            matched.append(run_id)
        return matched
    return store.write(work)
