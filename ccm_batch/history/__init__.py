"""History stage: the run-history database, costs, KPIs, dashboard and Prometheus metrics.

Pipeline: a finished run (``ccm_batch.run``) calls :func:`after_run` → :func:`record.record_run` writes
the run, its counts, cost lines and one row per document into the history (SQLite by default,
PostgreSQL by URL; :mod:`.store`, :mod:`.schema`) and :func:`prom.write_metrics` the ``*.prom`` file;
later, senders and feedback ingestion call :func:`record_event`; ``ccm-batch kpi`` (:mod:`.kpi`) and
``ccm-batch dashboard`` (:mod:`.dashboard`) read it back. Nothing else issues SQL against the history.

Public API for other stages (e.g. ``ccm_batch.channels`` sending e-mail/SMS or ingesting bounces)::

    from ccm_batch import history
    history.record_event("FAC-2026-0000004", "bounced", job=job, channel="email",
                         message_id="<...@example>", detail="550 5.1.1 user unknown")
    history.record_events([{"doc_id": ..., "kind": "delivered", "channel": "sms"}, ...], job=job)

``job`` is a :class:`ccm_batch.job.JobConfig` (its ``[history]`` says where the database is), or a job
name with ``location=`` (a PostgreSQL URL or an SQLite path). Kinds: :data:`record.EVENT_KINDS` (``sent``,
``delivered``, ``bounced``, ``returned``, ``failed``, ``undelivered``, ``opened``, ``damaged``,
``missing``, ``reprinted``). An event is matched to the most recent run of the job that produced the
document unless ``run_id`` is given. A document's channel decision and message id are recorded with the
run when the work database's ``documents`` table carries ``channel``, ``channel_reason``, ``message_id``
(and ``segments`` for SMS) columns; otherwise every document is ``paper``.
"""
from __future__ import annotations

import json
from pathlib import Path

from .config import ENV_LOCATION, CostTable, HistoryConfig
from .record import EVENT_KINDS, insert_events
from .store import open_store

__all__ = ["CostTable", "EVENT_KINDS", "HistoryConfig", "after_reprint", "after_run", "open_store",
           "record_event", "record_events", "resolve_location"]


def _location(job=None, location: str | None = None) -> str:
    if location:
        return str(location)
    if isinstance(job, str):
        raise ValueError(f"job {job!r}: give the history location (only a job file's [history] says where it is)")
    cfg = getattr(job, "history", None)
    if cfg is None or not cfg.location:
        raise ValueError("no history location: the job's [history] is disabled and no location was given")
    return cfg.location


def record_events(events, job=None, location: str | None = None) -> int:
    """Record delivery events (dicts with ``doc_id``, ``kind`` and optionally ``channel``,
    ``message_id``, ``detail``, ``occurred_at``, ``source``, ``run_id``) in one transaction."""
    job_name = job if isinstance(job, str) else getattr(job, "name", None)
    events = [dict(e, job=e.get("job", job_name)) for e in events]
    with open_store(_location(job, location)) as store:
        return len(insert_events(store, events))


def record_event(doc_id: str, kind: str, *, job=None, location: str | None = None, channel: str | None = None,
                 message_id: str | None = None, detail: str | None = None, occurred_at: str | None = None,
                 run_id: str | None = None, source: str | None = None) -> str | None:
    """Record one delivery event of document ``doc_id`` (see the module docstring); returns the id of
    the run it was matched to, or None when no recorded run produced that document."""
    job_name = job if isinstance(job, str) else getattr(job, "name", None)
    with open_store(_location(job, location)) as store:
        return insert_events(store, [{"doc_id": doc_id, "kind": kind, "channel": channel, "message_id": message_id,
                                      "detail": detail, "occurred_at": occurred_at, "run_id": run_id,
                                      "source": source, "job": job_name}])[0]


def resolve_location(value: str | None) -> str:
    """Where ``kpi`` / ``dashboard`` read: a PostgreSQL URL, an SQLite file, or a job file (``*.toml``,
    its ``[history]``); when ``value`` is None, the ``CCM_HISTORY`` environment variable."""
    import os

    from ..errors import ConfigError
    from .store import is_url
    value = value or os.environ.get(ENV_LOCATION)
    if not value:
        raise ConfigError("no history given: pass --history (a postgresql:// URL, an SQLite history file or "
                          f"a job file) or set {ENV_LOCATION}")
    if is_url(value):
        return value
    if value.endswith(".toml"):
        from ..job import load_job
        job = load_job(value)
        if not job.history or not job.history.location:
            raise ConfigError(f"{value}: [history] is disabled (enabled = false): no history to read")
        return job.history.location
    if not Path(value).is_file():
        raise ConfigError(f"history file {value} does not exist (runs record into it once they finish; "
                          "see [history] in README)")
    return value


def after_run(job, report, work_db, run_dir: Path, log, kind: str = "run") -> None:
    """The run's hook: record it in the history and write its metrics. Never raises: a failure is
    warned (CCM0710W / CCM0711W) and the run's outputs, already committed, stay as they are."""
    from . import prom
    from .record import record_run
    cfg = job.history
    if cfg is None:
        return
    if cfg.location:
        try:
            fp_path = Path(run_dir) / "fingerprint.json"
            fingerprint = json.loads(fp_path.read_text()) if fp_path.exists() else {}
            with open_store(cfg.location) as store:
                run_id = record_run(store, job, report, work_db, fingerprint,
                                    kind="reprint" if job.only_records is not None else kind)
            log.message("CCM0712I", f"run {run_id} recorded in the history {_shown(cfg.location)}")
        except Exception as exc:    # noqa: BLE001 - the outputs are committed; the history is secondary
            log.message("CCM0710W", f"the run was NOT recorded in the history {_shown(cfg.location)}: "
                                    f"{type(exc).__name__}: {exc}. Its outputs and report.json are complete; "
                                    "`ccm-batch kpi` will not count it.", force=True)
        if cfg.keep_days:
            _apply_retention(job, cfg, log)
    if cfg.textfile_dir:
        try:
            prom.write_metrics(cfg.textfile_dir, report)
        except Exception as exc:    # noqa: BLE001
            log.message("CCM0711W", f"Prometheus metrics NOT written to {cfg.textfile_dir}: {exc}; "
                                    "the run's outputs are complete.", force=True)


def _apply_retention(job, cfg, log) -> None:
    """``[history] keep_days``: remove the job's runs older than the kept days. Never raises (CCM0716W)."""
    from .retention import keep_days_cutoff, prune
    before = keep_days_cutoff(job.date, cfg.keep_days)
    try:
        with open_store(cfg.location) as store:
            counts = prune(store, before, job=job.name)
    except Exception as exc:    # noqa: BLE001 - the run is complete and recorded; retention waits for the next
        log.message("CCM0716W", f"history retention NOT applied ([history] keep_days = {cfg.keep_days}): "
                                f"{type(exc).__name__}: {exc}. The next run tries again; `ccm-batch history "
                                f"prune` does it by hand.", force=True)
        return
    if counts["runs"]:
        log.message("CCM0715I", f"history: {counts['runs']} run(s) of job {job.name} dated before {before} "
                                f"removed, with {counts['documents']:,} document row(s) and {counts['events']:,} "
                                f"event(s) ([history] keep_days = {cfg.keep_days})")


def after_reprint(job, original_job: str, doc_ids, log) -> None:
    """A reprint's hook: a ``reprinted`` event for each reprinted document of the original run (the
    reprint run itself is recorded by :func:`after_run`, kind ``reprint``). Never raises."""
    if job.history is None or not job.history.location or not doc_ids:
        return
    try:
        record_events([{"doc_id": d, "kind": "reprinted", "job": original_job, "source": "reprint"}
                       for d in doc_ids], location=job.history.location)
    except Exception as exc:    # noqa: BLE001
        log.message("CCM0710W", f"the reprint's events were NOT recorded in the history "
                                f"{_shown(job.history.location)}: {type(exc).__name__}: {exc}", force=True)


def _shown(location: str) -> str:
    from .store import _safe_url
    return _safe_url(location)
