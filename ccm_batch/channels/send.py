"""Channels, send step (``ccm-batch send RUN_DIR``): a finished run's email spool and SMS batch delivered.

Reads the run's ``report.json`` to find its job file and the ``[channels]`` settings (or the job given
with ``--job``), sends what is not yet final (:mod:`~ccm_batch.channels.email.smtp`,
:mod:`~ccm_batch.channels.sms.kannel`), and writes ``send-report.json`` and ``send-report.txt``
in RUN_DIR: per channel, prepared = accepted + failed + pending. Run it again at any time: a message
the server accepted is never sent twice (the journals), one it refused for good is not retried.
When the job records a run history, each message that became final in this send is a delivery event
of its document there: ``sent`` (the server accepted it) or ``failed`` (refused for good).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError


LISTINGS = (("email", "manifest.csv"), ("sms", "messages.csv"))     # channel folder, its message listing


def send_run(run_dir: Path, channels_config, log=None, resend_uncertain: bool = False, history=None) -> dict:
    """Send the run in ``run_dir``; returns ``{"email": tally, "sms": tally}`` (channels present only).
    ``history``: the job's run-history location, which receives the new final outcomes."""
    from .email.smtp import send_email_spool
    from .sms.kannel import send_sms_batch
    run_dir = Path(run_dir)
    before = _final(run_dir)
    result = {}
    try:
        if (run_dir / "email" / "manifest.csv").exists():
            result["email"] = send_email_spool(run_dir, channels_config.email, log, resend_uncertain)
        if (run_dir / "sms" / "messages.csv").exists():
            result["sms"] = send_sms_batch(run_dir, channels_config.sms, log, resend_uncertain)
    finally:                      # what became final is recorded even when the send stops half-way
        if history:
            _record_outcomes(run_dir, before, history, log)
    _write_report(run_dir, result)
    return result


def final_ids(run_dir: Path) -> dict:
    """{channel: ids of the messages whose outcome (accepted or failed) the send ledger already holds}:
    a later send leaves them alone (every message is sent once)."""
    ids: dict = {}
    for channel, message_id in _final(Path(run_dir)):
        ids.setdefault(channel, set()).add(message_id)
    return ids


def _final(run_dir: Path) -> dict:
    """{(channel, message id): journal entry} of the messages whose outcome is final."""
    from .journal import FINAL, last_entries
    return {(ch, mid): e for ch, _ in LISTINGS for mid, e in last_entries(run_dir / ch / "sent.journal").items()
            if e.get("status") in FINAL}


def _record_outcomes(run_dir: Path, before: dict, history: str, log) -> None:
    """The messages that became final since ``before``, as ``sent`` / ``failed`` events of their documents."""
    import csv

    from ..history import open_store
    from ..history.record import insert_events
    from ..history.store import _safe_url
    new = {k: e for k, e in _final(run_dir).items() if k not in before}
    if not new:
        return
    events = []
    job = json.loads((run_dir / "report.json").read_text(encoding="utf-8")).get("job") \
        if (run_dir / "report.json").is_file() else None
    for channel, listing in LISTINGS:
        if not (run_dir / channel / listing).exists():
            continue
        with open(run_dir / channel / listing, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                e = new.get((channel, row["message_id"]))
                if e is not None and row.get("doc_id"):
                    detail = " ".join(str(e.get(k, "")) for k in ("code", "response") if e.get(k)) or None
                    events.append({"doc_id": row["doc_id"], "kind": "sent" if e["status"] == "accepted" else "failed",
                                   "channel": channel, "message_id": row["message_id"], "detail": detail,
                                   "source": "send", "job": job})
    try:
        with open_store(history) as store:
            matched = sum(r is not None for r in insert_events(store, events))
    except Exception as exc:    # noqa: BLE001 - the messages are sent and journalled; the history is secondary
        if log is not None:
            log.message("CCM0710W", f"the send's outcomes were NOT recorded in the history {_safe_url(history)}: "
                                    f"{type(exc).__name__}: {exc}", force=True)
        return
    if log is not None:
        log.message("CCM0714I", f"{len(events)} delivery event(s) recorded in the history {_safe_url(history)}, "
                                f"{matched} of them matched to a document of a recorded run", force=True)


def history_of(job) -> str | None:
    """The job's run-history location, or None when it records none."""
    return job.history.location if getattr(job, "history", None) is not None else None


def job_of_run(run_dir: Path) -> Path:
    """The job file a run's report names."""
    report = Path(run_dir) / "report.json"
    if not report.is_file():
        raise ConfigError(f"{run_dir}: no report.json: give the output directory of a finished run")
    return Path(json.loads(report.read_text(encoding="utf-8"))["job_file"])


def summary_line(result: dict) -> str:
    return "; ".join(f"{ch}: prepared {t['prepared']} = accepted {t['accepted']} + failed {t['failed']} "
                     f"+ pending {t['pending']}" + (f" ({t['uncertain']} uncertain)" if t["uncertain"] else "")
                     for ch, t in result.items()) or "nothing to send"


def _write_report(run_dir: Path, result: dict) -> None:
    for name, text in (("send-report.json", json.dumps(result, indent=2, sort_keys=True) + "\n"),
                       ("send-report.txt", summary_line(result) + "\n")):
        tmp = run_dir / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, run_dir / name)


def send_after_run(job, report, log=None) -> dict:
    """``run --send``: send the run just finished and add the tallies to its report (``channels.delivery``)."""
    result = send_run(job.output_dir, job.channels, log, history=history_of(job))
    report.channels["delivery"] = {ch: {k: v for k, v in t.items() if k != "ok"} for ch, t in result.items()}
    report.write(job.output_dir)
    if log is not None:
        complete = all(t["accepted"] == t["prepared"] for t in result.values())
        log.message("CCM0701I" if complete else "CCM0703W", summary_line(result), force=True)
    return result
