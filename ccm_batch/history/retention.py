"""History stage: retention — remove the runs older than a cutoff job date, with every row that hangs on them.

A nightly run adds one ``documents`` row per document it produced: a million a night is 365 million rows
a year. ``[history] keep_days`` (each run prunes its own job's runs, counted back from its job date) and
``ccm-batch history prune`` (any cutoff, any job, ``--dry-run`` first) keep the history to the period the
KPIs and the delivery events need.

A run goes with its volumes, rejects, warnings, phases, costs, documents and the delivery events matched
to it; an event that matched no run (``run_id`` NULL) goes when it was recorded before the cutoff. The
cutoff is a job date, compared as text (``YYYY-MM-DD``): runs of that date and later stay. Everything is
deleted in one transaction by SQL on the server (no row travels to the client: memory stays flat however
many rows go), so a prune cut short deletes nothing and two prunes, or a prune and a run recording,
never see half of each other. SQLite reuses the freed pages for the next runs' rows, so with a retention
the file stops growing; it does not shrink (``VACUUM`` would, with an exclusive lock: left to the operator).
"""
from __future__ import annotations

import datetime as dt

from ..errors import ConfigError

# the tables that hang on a run, by run_id (events handled apart: unmatched ones have no run_id)
RUN_TABLES = ("run_volumes", "run_rejects", "run_warnings", "run_phases", "run_costs", "documents")


def cutoff_date(value: str) -> str:
    """``value`` checked as a ``YYYY-MM-DD`` date (ConfigError otherwise), returned as that text."""
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"--before: {value!r} is not a date (YYYY-MM-DD)") from None


def keep_days_cutoff(job_date: str, keep_days: int) -> str:
    """The first job date kept when ``keep_days`` days are kept up to ``job_date`` (itself included)."""
    return (dt.date.fromisoformat(job_date) - dt.timedelta(days=keep_days - 1)).isoformat()


def prune(store, before: str, job: str | None = None, dry_run: bool = False) -> dict[str, int]:
    """Remove (or, with ``dry_run``, count) the runs of job date before ``before`` — of ``job`` only when
    given — and their rows (see the module docstring). Returns the rows per table, ``runs`` last."""
    before = cutoff_date(before)
    runs_where = "job_date < ?" + (" AND job = ?" if job is not None else "")
    params = (before,) + ((job,) if job is not None else ())
    selected = f"run_id IN (SELECT run_id FROM runs WHERE {runs_where})"
    unmatched = "run_id IS NULL AND substr(recorded_at, 1, 10) < ?" + (" AND job = ?" if job is not None else "")
    # events in two statements, each able to use the (run_id, doc_id) index: an OR of both scans the table
    wheres = [(t, selected, params) for t in (*RUN_TABLES, "events")]
    wheres += [("events", unmatched, params), ("runs", runs_where, params)]

    def work(tx):
        counts = dict.fromkeys((*RUN_TABLES, "events", "runs"), 0)
        for table, where, args in wheres:
            if dry_run:
                counts[table] += tx.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args).fetchone()[0]
            else:
                counts[table] += tx.execute(f"DELETE FROM {table} WHERE {where}", args).rowcount
        return counts
    return store.write(work)
