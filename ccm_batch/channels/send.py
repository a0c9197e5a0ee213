"""Channels, send step (``ccm-batch send RUN_DIR``): a finished run's email spool and SMS batch delivered.

Reads the run's ``report.json`` to find its job file and the ``[channels]`` settings (or the job given
with ``--job``), sends what is not yet final (:mod:`~ccm_batch.channels.email.smtp`,
:mod:`~ccm_batch.channels.sms.kannel`), and writes ``send-report.json`` and ``send-report.txt``
in RUN_DIR: per channel, prepared = accepted + failed + pending. Run it again at any time: a message
the server accepted is never sent twice (the journals), one it refused for good is not retried.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError


def send_run(run_dir: Path, channels_config, log=None, resend_uncertain: bool = False) -> dict:
    """Send the run in ``run_dir``; returns ``{"email": tally, "sms": tally}`` (channels present only)."""
    from .email.smtp import send_email_spool
    from .sms.kannel import send_sms_batch
    run_dir = Path(run_dir)
    result = {}
    if (run_dir / "email" / "manifest.csv").exists():
        result["email"] = send_email_spool(run_dir, channels_config.email, log, resend_uncertain)
    if (run_dir / "sms" / "messages.csv").exists():
        result["sms"] = send_sms_batch(run_dir, channels_config.sms, log, resend_uncertain)
    _write_report(run_dir, result)
    return result


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
    result = send_run(job.output_dir, job.channels, log)
    report.channels["delivery"] = {ch: {k: v for k, v in t.items() if k != "ok"} for ch, t in result.items()}
    report.write(job.output_dir)
    if log is not None:
        complete = all(t["accepted"] == t["prepared"] for t in result.values())
        log.message("CCM0701I" if complete else "CCM0703W", summary_line(result), force=True)
    return result
