"""History stage: Prometheus textfile-collector metrics of a run (node_exporter's ``*.prom`` text format).

Each run of job J writes ``ccm_batch_J.prom`` in ``[monitoring] textfile_dir`` (temporary name, then an
atomic rename, so node_exporter never reads half a file). The last-success timestamp survives a failed
run: it is carried over from the previous file.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

METRICS = (
    # name, type, help
    ("ccm_batch_run_records", "gauge", "Records read by the last run of the job."),
    ("ccm_batch_run_documents", "gauge", "Documents produced by the last run of the job."),
    ("ccm_batch_run_pages", "gauge", "Pages printed by the last run of the job."),
    ("ccm_batch_run_sheets", "gauge", "Sheets printed by the last run of the job."),
    ("ccm_batch_run_rejects", "gauge", "Records rejected by the last run of the job."),
    ("ccm_batch_run_warnings", "gauge", "Warnings of the last run of the job."),
    ("ccm_batch_run_duration_seconds", "gauge", "Wall-clock duration of the last run of the job."),
    ("ccm_batch_run_exit_code", "gauge", "Exit code of the last run (0 ok, 4 warnings, 8 incomplete, 16 failed)."),
    ("ccm_batch_run_last_run_timestamp_seconds", "gauge", "When the last run of the job finished (Unix time)."),
    ("ccm_batch_run_last_success_timestamp_seconds", "gauge",
     "When a run of the job last finished with exit code 0 or 4 (Unix time)."),
)
REJECT_REASONS = ("ccm_batch_run_rejects_by_reason", "gauge", "Records rejected by the last run, by reason.")


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def prom_path(textfile_dir: Path, job: str) -> Path:
    return Path(textfile_dir) / f"ccm_batch_{job}.prom"


def _previous_success(path: Path) -> float | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^ccm_batch_run_last_success_timestamp_seconds\{[^}]*\} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def write_metrics(textfile_dir: Path, report, now: float | None = None) -> Path:
    """Write the ``*.prom`` file of ``report``'s job; returns its path."""
    now = time.time() if now is None else now
    path = prom_path(textfile_dir, report.job)
    success = now if report.exit_code in (0, 4) else _previous_success(path)
    values = {
        "ccm_batch_run_records": report.records_read, "ccm_batch_run_documents": report.documents,
        "ccm_batch_run_pages": report.pages, "ccm_batch_run_sheets": report.sheets,
        "ccm_batch_run_rejects": report.rejected, "ccm_batch_run_warnings": report.warnings,
        "ccm_batch_run_duration_seconds": round(report.duration_s, 3),
        "ccm_batch_run_exit_code": report.exit_code,
        "ccm_batch_run_last_run_timestamp_seconds": round(now, 3),
        "ccm_batch_run_last_success_timestamp_seconds": round(success, 3) if success is not None else None,
    }
    job = f'job="{_label(report.job)}"'
    lines = []
    for name, kind, help_text in METRICS:
        if values[name] is None:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name}{{{job}}} {values[name]}"]
    name, kind, help_text = REJECT_REASONS
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for reason, n in sorted(report.reject_reasons.items()):
        lines.append(f'{name}{{{job},reason="{_label(reason)}"}} {n}')
    Path(textfile_dir).mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
