"""Reprint (``ccm-batch reprint``): re-run exactly the damaged and missing mail pieces of a finished run.

The run's output directory holds its report (job file, input SHA-256, job date) and its mail-run file.
The inserter's result file (``piece_id,status`` with OK / DAMAGED / MISSING) selects pieces; their
documents (record numbers of the extract) are composed again from the same, unchanged extract and
layout, planned afresh (new sequence numbers; new piece ids numbered after every piece id of the run
and of its earlier reprints, so a reprinted piece never carries another piece's id, 2D control code or
IMb serial) and rendered into ``RUN/reprint/`` (or ``--out``). An extract whose SHA-256 differs from the run's is refused: the reprint would not be the
same documents.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from .errors import ConfigError


def reprint_run(run_dir: Path, result_csv: Path, out_dir: Path | None, log):
    """Select, recompose and render the pieces to reprint; returns the reprint's RunReport."""
    from . import mail
    from .job import load_job
    from .run import run_job, sha256_file

    report_path = run_dir / "report.json"
    if not report_path.exists():
        raise ConfigError(f"{run_dir}: no report.json — pass the output directory of a finished run")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    try:
        selection = mail.reprint(run_dir, result_csv)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not selection.doc_seqs:
        raise ConfigError(f"{result_csv}: no DAMAGED or MISSING piece: nothing to reprint")
    job = load_job(report["job_file"], {"date": report["job_date"]})
    data = Path(job.input.path)
    if sha256_file(data) != report["inputs"][0]["sha256"]:
        raise ConfigError(f"{data} changed since the run (SHA-256 differs): the reprint would not carry the "
                          "same documents. Restore the run's extract.")
    out = out_dir or (run_dir / "reprint")
    mail_table = job.mail
    if mail_table is not None:      # new piece ids (and IMb serials) after every id already printed
        mail_table = {**mail_table, "piece_id_start": last_piece_id(run_dir, out) + 1}
    job = dataclasses.replace(job, name=f"{job.name}-reprint", output_dir=out.resolve(), work_dir=None,
                              only_records=frozenset(selection.doc_seqs), archive_pdf=False, mail=mail_table)
    log.message("CCM0401I", f"reprinting {len(selection.pieces)} piece(s), {len(selection.doc_seqs)} "
                            f"document(s) into {out}")
    result = run_job(job, log)
    from .history import after_reprint          # the reprinted documents' delivery events (issue 14)
    after_reprint(job, report["job"], selection.doc_ids, log)
    with open(out / "reprint-selection.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["old_piece_id", "status"])
        for pid in selection.pieces:
            w.writerow([pid, selection.statuses[pid]])
    return result


def last_piece_id(run_dir: Path, out_dir: Path) -> int:
    """The highest piece id in the mail-run files of the run and of its earlier reprints (any
    ``*.mailrun.csv`` under the run's output directory or the reprint's), 0 when there is none."""
    highest = 0
    files = set(run_dir.rglob("*.mailrun.csv")) | (set(out_dir.rglob("*.mailrun.csv")) if out_dir.is_dir() else set())
    for path in sorted(files):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                piece = (row.get("piece_id") or "").strip()
                if piece.isdigit():
                    highest = max(highest, int(piece))
    return highest
