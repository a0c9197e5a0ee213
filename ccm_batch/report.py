"""Report stage: the run report (report.json, report.txt), the reconciliation check and the exit code.

A :class:`RunReport` counts what a run read, produced, rejected and warned about, and decides the exit
code (mainframe convention, see :mod:`ccm_batch.errors`). Everything in it is a function of the inputs
and the job date except the ``timing`` block (duration, pages per minute, peak memory), which is kept
apart so two reports of the same run differ only there.
"""
from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_INCOMPLETE, EXIT_OK, EXIT_WARNING

STATUS = {EXIT_OK: "completed", EXIT_WARNING: "completed with warnings",
          EXIT_INCOMPLETE: "incomplete", EXIT_CONFIG: "configuration error", EXIT_FAILURE: "failed"}


@dataclass
class RunReport:
    """What a run did; filled in by the runner stage by stage."""
    job: str
    job_file: str = ""
    job_date: str = ""
    layout: str = ""
    inputs: list = field(default_factory=list)          # [{"path", "sha256", "size"}]
    records_read: int = 0
    documents: int = 0
    pages: int = 0
    sheets: int = 0
    rejected: int = 0
    reject_reasons: collections.Counter = field(default_factory=collections.Counter)
    warnings: int = 0
    warning_kinds: collections.Counter = field(default_factory=collections.Counter)
    files: list = field(default_factory=list)            # [{"path", "size", "pages", "documents"}],
    #                                                      a directory: {"path": "archive/", "files", "size"}
    mail: dict = field(default_factory=dict)
    einvoice: dict = field(default_factory=dict)         # e-invoices handed to platforms (ccm_batch.einvoice)
    errors: list = field(default_factory=list)           # one-line causes that stopped the run
    limit_exceeded: str = ""
    output_incomplete: str = ""
    spool_bytes: int = 0
    duration_s: float = 0.0
    phases: dict = field(default_factory=dict)               # phase name -> seconds (this run)
    peak_memory_mb: float = 0.0
    workers: int = 1
    restarted: bool = False
    resources: tuple = field(default=((), ()), repr=False)   # images, forms declared per print file
    render_notes: dict = field(default_factory=dict)         # e.g. AFP code-page substitutions
    substituted_records: list = field(default_factory=list)  # [{"record", "key", "messages"}]: '?' printed
    substituted_more: int = 0                                # ... beyond SUBSTITUTED_LIST_MAX
    channels: dict = field(default_factory=dict)             # multichannel jobs: routing and reconciliation
    kept: str = ""        # exit 8 and above: nothing released; the staged outputs (rejects…) stay here

    # -- reconciliation and exit code -------------------------------------------------------
    @property
    def reconciled(self) -> bool:
        """records read = documents produced + records rejected (and, with channels, documents =
        paper + email + sms + portal + suppressed)."""
        return self.records_read == self.documents + self.rejected and self.channels.get("ok", True)

    @property
    def status(self) -> str:
        """The outcome in words: the cause of a stop, what a code-4 run completed with."""
        code = self.exit_code
        if code == EXIT_WARNING:
            causes = [w for w, n in (("rejects", self.rejected), ("warnings", self.warnings)) if n]
            return "completed with " + " and ".join(causes)
        if code == EXIT_INCOMPLETE and self.limit_exceeded:
            return "stopped: reject limit exceeded, nothing released"
        if code == EXIT_INCOMPLETE:
            return "incomplete, nothing released"
        return STATUS[code]

    def reconciliation_line(self) -> str:
        sign = "=" if self.reconciled else "≠"
        # "OK" only for a run whose outputs were released: a stopped run balances, but released nothing
        verdict = "MISMATCH" if not self.reconciled else \
            ("balanced" if self.limit_exceeded or self.output_incomplete else "OK")
        return (f"records read {self.records_read} {sign} documents produced {self.documents} "
                f"+ records rejected {self.rejected}: {verdict}")

    @property
    def exit_code(self) -> int:
        if self.errors and not (self.limit_exceeded or self.output_incomplete):
            return EXIT_FAILURE
        if self.limit_exceeded or self.output_incomplete or not self.reconciled:
            return EXIT_INCOMPLETE
        if self.rejected or self.warnings:
            return EXIT_WARNING
        return EXIT_OK

    # -- output ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        pages_per_min = round(self.pages / self.duration_s * 60) if self.duration_s else 0
        d = {
            "ccm_batch": __version__,
            "job": self.job, "job_file": self.job_file, "job_date": self.job_date, "layout": self.layout,
            "status": self.status, "exit_code": self.exit_code,
            "inputs": self.inputs,
            "records_read": self.records_read, "documents_produced": self.documents,
            "pages": self.pages, "sheets": self.sheets,
            "records_rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.reject_reasons.items())),
            "warnings": self.warnings, "warnings_by_kind": dict(sorted(self.warning_kinds.items())),
            "reconciliation": {"line": self.reconciliation_line(), "ok": self.reconciled},
            "limit_exceeded": self.limit_exceeded or None,
            "output_incomplete": self.output_incomplete or None,
            "errors": self.errors,
            "files": self.files,
            "mail": self.mail,
            **({"einvoice": self.einvoice} if self.einvoice else {}),
            "render_notes": self.render_notes,
            "glyph_substitutions": {"records": self.substituted_records, "more": self.substituted_more},
            **({"channels": self.channels} if self.channels else {}),
            "timing": {"duration_s": round(self.duration_s, 3), "pages_per_minute": pages_per_min,
                       "peak_memory_mb": round(self.peak_memory_mb, 1), "workers": self.workers,
                       "spool_bytes": self.spool_bytes, "restarted": self.restarted,
                       "phases_s": {k: round(v, 3) for k, v in self.phases.items()}},
        }
        if self.kept:
            d["not_released"] = {"kept_in": self.kept,
                                 "note": "nothing was released; the rejects, reasons and any other staged "
                                         "outputs are kept there for inspection until the next run"}
        return d

    def to_text(self) -> str:
        d = self.to_dict()
        t = d["timing"]
        out = [f"ccm-batch run report — job {self.job} ({self.job_date})",
               "=" * 72,
               f"status            {d['status']} (exit code {d['exit_code']})",
               f"job file          {self.job_file}",
               f"layout            {self.layout}"]
        for inp in self.inputs:
            out.append(f"input             {inp['path']}")
            out.append(f"  sha256          {inp['sha256']}  ({inp['size']:,} bytes)")
        out += ["",
                f"records read      {self.records_read:>10,}",
                f"documents         {self.documents:>10,}",
                f"pages             {self.pages:>10,}",
                f"sheets            {self.sheets:>10,}",
                f"records rejected  {self.rejected:>10,}"]
        for reason, n in d["rejected_by_reason"].items():
            out.append(f"  {n:>8,}  {reason}")
        out.append(f"warnings          {self.warnings:>10,}")
        for kind, n in d["warnings_by_kind"].items():
            out.append(f"  {n:>8,}  {kind}")
        if self.substituted_records:
            out.append("records printed with '?' for characters no font draws ([fonts] missing_glyphs):")
            for s in self.substituted_records:
                out.append(f"  record {s['record']} ({s['key']}): {len(s['messages'])} text(s), first: "
                           f"{s['messages'][0]}")
            if self.substituted_more:
                out.append(f"  … and {self.substituted_more} more (see the operator log)")
        out += ["", self.reconciliation_line()]
        if self.limit_exceeded:
            out.append(f"REJECT LIMIT EXCEEDED: {self.limit_exceeded}")
        if self.output_incomplete:
            out.append(f"OUTPUT INCOMPLETE: {self.output_incomplete}")
        for err in self.errors:
            out.append(f"ERROR: {err}")
        if self.kept:
            out.append(f"NOT RELEASED: no output was released; rejects, reasons and the other staged files "
                       f"are kept in {self.kept}")
        if self.mail:
            out += ["", "mail production"]
            for k, v in self.mail.items():
                out.append(f"  {k:<24} {v}")
        if self.einvoice:
            out += ["", "e-invoices"]
            for k, v in self.einvoice.items():
                out.append(f"  {k:<24} {v}")
        if self.channels:
            out += ["", "channels", f"  {self.channels['line']}"]
            for k, v in self.channels.get("copies", {}).items():
                out.append(f"  {v:>8,}  {k} copies (required by a rule)")
            for k, v in self.channels.get("prepared", {}).items():
                out.append(f"  {v:>8,}  {k} prepared")
            for k, v in self.channels.get("decisions", {}).items():
                out.append(f"  {v:>8,}  {k}")
            for k, v in self.channels.get("delivery", {}).items():
                out.append(f"  delivery {k}: {v}")
        if self.render_notes:
            out += ["", "render notes"]
            for k, v in self.render_notes.items():
                out.append(f"  {v:>8,}  {k}")
        if self.files:
            out += ["", "files written"]
            for f in self.files:
                if "files" in f:        # a directory: the archive's PDFs, e-invoices (one per document)
                    out.append(f"  {f['path']}  ({f['files']:,} files, {f['size']:,} bytes)")
                    continue
                extra = f"  {f['pages']:,} pages, {f['documents']:,} documents" if f.get("pages") else ""
                out.append(f"  {f['path']}  ({f['size']:,} bytes){extra}")
        out += ["", f"duration          {t['duration_s']:.1f} s   ({t['pages_per_minute']:,} pages/minute, "
                    f"{t['workers']} worker(s))",
                "  phases          " + ", ".join(f"{k} {v:.1f} s" for k, v in t["phases_s"].items()),
                f"peak memory       {t['peak_memory_mb']:.0f} MB",
                f"spool             {t['spool_bytes']:,} bytes (removed after a successful run)"]
        return "\n".join(out) + "\n"

    def write(self, directory: Path) -> list[Path]:
        """Write report.json and report.txt (temporary name, then rename)."""
        paths = []
        for name, text in (("report.json", json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"),
                           ("report.txt", self.to_text())):
            path = directory / name
            tmp = path.with_name(name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
            paths.append(path)
        return paths
