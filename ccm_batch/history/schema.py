"""History stage: the run-history schema, as versioned migrations applied in order (SQLite and PostgreSQL).

Portable types only: TEXT, ``{bigint}`` (INTEGER / BIGINT), ``{real}`` (REAL / DOUBLE PRECISION) and
``{serial}`` for the one generated key. Money is TEXT holding an exact decimal (``"12.34"``), read back
as :class:`decimal.Decimal`, so both databases give the same sums to the cent. A migration is never
edited once released: a change is a new entry at the end of :data:`MIGRATIONS`.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "runs, their counts, costs and documents; delivery events", (
        # one row per run of a job (kind run | reprint | send | feedback)
        """CREATE TABLE runs (
          run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, job TEXT NOT NULL, job_date TEXT NOT NULL,
          job_file TEXT, output_dir TEXT, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
          deadline TEXT, on_time {bigint}, exit_code {bigint} NOT NULL, status TEXT NOT NULL,
          inputs_sha256 TEXT, layout_sha256 TEXT, job_sha256 TEXT,
          records {bigint} NOT NULL DEFAULT 0, documents {bigint} NOT NULL DEFAULT 0,
          pages {bigint} NOT NULL DEFAULT 0, sheets {bigint} NOT NULL DEFAULT 0,
          pieces {bigint} NOT NULL DEFAULT 0, rejected {bigint} NOT NULL DEFAULT 0,
          warnings {bigint} NOT NULL DEFAULT 0,
          currency TEXT, postage TEXT, postage_single TEXT, postage_baseline TEXT, postage_savings TEXT,
          cost_total TEXT, duration_s {real}, pages_per_minute {real}, peak_memory_mb {real},
          workers {bigint}, ccm_batch_version TEXT)""",
        "CREATE INDEX runs_job_date ON runs (job, job_date)",
        # volumes by output stream and channel (paper streams from the mail plan; one row per other channel)
        """CREATE TABLE run_volumes (
          run_id TEXT NOT NULL, stream TEXT NOT NULL, channel TEXT NOT NULL, pieces {bigint} NOT NULL,
          documents {bigint} NOT NULL, pages {bigint} NOT NULL, sheets {bigint} NOT NULL, postage TEXT,
          PRIMARY KEY (run_id, stream, channel))""",
        "CREATE TABLE run_rejects (run_id TEXT NOT NULL, reason TEXT NOT NULL, count {bigint} NOT NULL, "
        "PRIMARY KEY (run_id, reason))",
        "CREATE TABLE run_warnings (run_id TEXT NOT NULL, kind TEXT NOT NULL, count {bigint} NOT NULL, "
        "PRIMARY KEY (run_id, kind))",
        "CREATE TABLE run_phases (run_id TEXT NOT NULL, phase TEXT NOT NULL, seconds {real} NOT NULL, "
        "PRIMARY KEY (run_id, phase))",
        # cost lines: item is paper | click | envelopes | inserts | inserting | postage | email | sms | portal
        """CREATE TABLE run_costs (
          run_id TEXT NOT NULL, channel TEXT NOT NULL, item TEXT NOT NULL, quantity {bigint} NOT NULL,
          amount TEXT NOT NULL, PRIMARY KEY (run_id, channel, item))""",
        # one row per document produced, with its channel decision and where it went
        """CREATE TABLE documents (
          run_id TEXT NOT NULL, seq {bigint} NOT NULL, doc_id TEXT, customer_id TEXT, doc_type TEXT,
          channel TEXT NOT NULL, channel_reason TEXT, stream TEXT, piece_id TEXT, print_file TEXT,
          first_page {bigint}, pages {bigint}, sheets {bigint}, message_id TEXT, cost TEXT,
          PRIMARY KEY (run_id, seq))""",
        "CREATE INDEX documents_doc_id ON documents (doc_id)",
        # delivery events recorded later: sent, delivered, bounced, returned, failed, damaged, reprinted, ...
        """CREATE TABLE events (
          event_id {serial}, recorded_at TEXT NOT NULL, occurred_at TEXT, job TEXT, run_id TEXT,
          doc_id TEXT NOT NULL, kind TEXT NOT NULL, channel TEXT, message_id TEXT, detail TEXT,
          source TEXT)""",
        "CREATE INDEX events_run ON events (run_id, doc_id)",
    )),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]

# the tables in an order that copies them without dangling references (``history copy``)
TABLES = ("runs", "run_volumes", "run_rejects", "run_warnings", "run_phases", "run_costs", "documents", "events")
