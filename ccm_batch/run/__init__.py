"""Run orchestration: one job end to end — read, compose, spool, plan, render, index, report.

The run's work directory (made and marked by the engine, see :mod:`.commit`) holds the spool, the work
database and a staging directory. Outputs are made in staging and released to the output directory by
the commit protocol of :mod:`.commit` only when the run succeeded (exit 0 or 4), so a failed run never
leaves a print file that looks finished. A run holds the lock of its output and work directories
(:mod:`.lock`) from start to end. The work directory is the restart journal: after a crash,
``run_job(job, restart=True)`` keeps the committed chunks and rendered files and finishes the rest;
the result is byte-identical to an uninterrupted run. A restart whose inputs, layout or job changed is
refused.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import resource
import shutil
import sqlite3
import time
from pathlib import Path

from ..errors import CcmError, ConfigError, InputNotFound, OutputError
from ..log import OperatorLog, counted
from ..report import RunReport
from ..spool import PICKLE_PROTOCOL, open_db, spool_size, write_atomic
from . import commit
from .faults import checkpoint
from .lock import RunLock
from .diskfull import is_no_space, no_space_error
from .signals import stop_on_signals
from .compose_phase import compose_all, done_chunks, load_chunk
from .render_phase import RenderProgress, render_all
from ..render.afp import fonts_option

FINGERPRINT_FILE = "fingerprint.json"
SUBSTITUTED_LIST_MAX = 1000          # records listed in the report under [fonts] missing_glyphs = "substitute"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _layout_files(layout, layout_path: Path) -> list[Path]:
    files = list(getattr(layout, "files", ()) or ())
    return sorted({Path(p) for p in files} | {layout_path})


def _fingerprint(job, layout, input_sha: str) -> dict:
    layout_sha = hashlib.sha256()
    for p in _layout_files(layout, job.layout) + ([job.einvoice.mapping] if job.einvoice else []):
        layout_sha.update(str(p).encode() + b"\0" + Path(p).read_bytes())
    job_repr = json.dumps({"raw": job.raw, "date": job.date, "formats": job.formats,
                           "input": str(job.input.path), "index": job.index_formats,
                           "max_rejects": job.max_rejects, "rate": job.max_reject_rate,
                           "chunk": job.chunk_size, "archive_pdf": job.archive_pdf},
                          sort_keys=True, default=str)
    return {"input_sha256": input_sha, "layout_sha256": layout_sha.hexdigest(),
            "job_sha256": hashlib.sha256(job_repr.encode()).hexdigest()}


def _peak_memory_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def give_back_memory() -> None:
    """Return to the system the heap a phase has freed, before worker processes are forked from this one.

    glibc keeps freed memory in the process. After the mail plan (SQLite's page caches of 32 MB, its
    sorts) the run's process kept about 40 MB it no longer used at 100,000 bench invoices, and each render
    worker forked from it then carried the same pages. ``malloc_trim`` gives them back. Where the C
    library is not glibc, nothing is done."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _prepare_output(job) -> None:
    if job.work_dir is not None:
        try:
            job.work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the work directory {job.work_dir}: {exc.strerror}. "
                              "Check the path and its permissions, or pass --work-dir DIR.") from None
    try:
        job.output_dir.mkdir(parents=True, exist_ok=True)
        probe = job.output_dir / f".ccm-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output directory {job.output_dir} is not writable: {exc.strerror}. "
                          "Check the path and its permissions, or pass --output DIR.") from None


def _prepare_work_dir(job, fingerprint: dict, restart: bool, log: OperatorLog) -> Path:
    run_dir = job.run_dir
    fp_path = run_dir / FINGERPRINT_FILE
    if restart:
        if not fp_path.exists() or not commit.owned(run_dir):
            raise ConfigError(f"cannot restart job {job.name}: no interrupted run in {run_dir} "
                              "(run it without --restart)")
        old = json.loads(fp_path.read_text())
        changed = [k.replace("_sha256", "") for k in fingerprint if old.get(k) != fingerprint[k]]
        if changed:
            raise ConfigError(f"restart refused: the {', '.join(changed)} changed since the interrupted run "
                              f"(work directory {run_dir}). Run again without --restart to start afresh.")
        log.message("CCM0102I", f"restarting job {job.name} from {run_dir}")
        return run_dir
    try:
        # an undecided release and a work directory left by an interrupted attempt: ours, discarded
        commit.remove_owned_dir(commit.release_dir(job.output_dir, job.name))
        if run_dir.exists() or run_dir.is_symlink():
            commit.remove_owned_dir(run_dir)
            log.message("CCM0104I", f"the interrupted run in {run_dir} is discarded: starting afresh")
        commit.make_owned_dir(run_dir, job.name)
        (run_dir / "spool").mkdir()
        (run_dir / "staging").mkdir()
        write_atomic(fp_path, json.dumps(fingerprint, indent=1).encode())
    except OSError as exc:
        if is_no_space(exc):
            raise no_space_error(exc, run_dir) from None
        raise OutputError(f"cannot create the work directory {run_dir}: {exc.strerror}") from None
    return run_dir


def _lock_paths(job) -> list[Path]:
    paths = [job.output_dir / ".ccm-run.lock"]
    if job.work_dir is not None:
        paths.append(job.work_dir / f".ccm-work-{job.name}.lock")
    return paths


def _report_from_file(path: Path, restarted: bool) -> RunReport:
    """The report of a run already released (its exit code and counts), read back from report.json."""
    d = json.loads(path.read_text(encoding="utf-8"))
    return RunReport(job=d["job"], job_file=d.get("job_file", ""), job_date=d.get("job_date", ""),
                     layout=d.get("layout", ""), inputs=d.get("inputs", []), records_read=d["records_read"],
                     documents=d["documents_produced"], pages=d.get("pages", 0), sheets=d.get("sheets", 0),
                     rejected=d["records_rejected"], warnings=d.get("warnings", 0),
                     files=d.get("files", []), errors=d.get("errors", []),
                     limit_exceeded=d.get("limit_exceeded") or "",
                     output_incomplete=d.get("output_incomplete") or "", restarted=restarted)


def _already_released(job, log, report: RunReport) -> RunReport:
    log.message("CCM0900I" if report.exit_code < 8 else "CCM0901E",
                f"job {job.name} was already complete: {report.reconciliation_line()} — exit code "
                f"{report.exit_code}; report in {job.output_dir / 'report.txt'}", force=True)
    return report


def run_job(job, log: OperatorLog | None = None, restart: bool = False) -> RunReport:
    """Run ``job`` (a :class:`ccm_batch.job.JobConfig`) and return its report (also written to disk).

    Raises :class:`ccm_batch.errors.CcmError` for errors found before anything was produced (a bad
    layout: exit 12; an unwritable output directory or a full disk: exit 16), and
    :class:`ccm_batch.run.signals.RunInterrupted` when SIGTERM or SIGINT stops the run (its workers
    are stopped first; the work directory is kept for ``--restart``). Problems found later are in the report.
    """
    log = log or OperatorLog()
    with stop_on_signals():
        try:
            if job.executor == "dask":      # its local cluster starts while the run prepares (see dask_cluster)
                from .dask_cluster import start_early
                from .dask_log import route
                route(log)                  # Dask's own log lines become one-line operator messages
                start_early(job)
            return _run_job(job, log, restart)
        except (OSError, sqlite3.Error, CcmError) as exc:     # a stage's own error may wrap the full disk
            if is_no_space(exc):
                where = job.run_dir / "work.db" if isinstance(exc, sqlite3.Error) else job.run_dir
                raise no_space_error(exc, where) from None
            raise
        finally:
            if job.executor == "dask":      # a Dask executor's cluster is closed at the end
                from .dask_cluster import shutdown
                from .dask_log import unroute
                try:
                    shutdown()
                finally:
                    unroute()


def _run_job(job, log: OperatorLog, restart: bool) -> RunReport:
    from ..job import check_with_layout, load_job_layout

    started = time.monotonic()
    report = RunReport(job=job.name, job_file=str(job.path), job_date=job.date, layout=str(job.layout),
                       workers=job.workers, restarted=restart)
    layout = load_job_layout(job)
    check_with_layout(job, layout)
    if job.einvoice is not None:       # a bad mapping is a job error (exit 12) before any record is read
        from ..einvoice import load_mapping
        load_mapping(job.einvoice.mapping, job.input.namespace_map)
    if job.image_dirs:
        layout.image_dirs = tuple(job.image_dirs)
    specs = list(getattr(layout, "field_specs", ())) + list(job.fields)
    _prepare_output(job)
    lock = RunLock(_lock_paths(job), warn=lambda message: log.message("CCM0511W", message))
    lock.acquire()
    try:
        return _run_locked(job, layout, specs, log, report, restart, started)
    finally:
        lock.release()


def _run_locked(job, layout, specs, log, report, restart, started) -> RunReport:
    # a release decided by an earlier attempt (killed while publishing or cleaning up) is finished first
    if commit.complete(job.output_dir, job.name) is not None:
        if restart:
            log.message("CCM0103I", f"job {job.name}: the interrupted run had committed its outputs; "
                                    "their release is now complete and its work directory removed")
            return _already_released(job, log, _report_from_file(job.output_dir / "report.json", True))
        log.message("CCM0103I", f"job {job.name}: the release of the previous, interrupted run was completed "
                                "before starting afresh")
    input_path = Path(job.input.path)
    if not input_path.is_file():
        raise InputNotFound(f"input file {input_path} does not exist: check [input] path in {job.path} "
                            "(or --input)")
    input_sha = sha256_file(input_path)
    report.inputs.append({"path": str(input_path), "sha256": input_sha, "size": input_path.stat().st_size})
    if restart and not job.run_dir.exists():
        done = _finished_report(job, input_sha)
        if done is not None:       # killed after its very last step: nothing left to do
            return _already_released(job, log, done)
    from ..channels import open_router           # multichannel jobs: preferences + feedback read once
    router = open_router(job, layout)
    fingerprint = _fingerprint(job, layout, input_sha)
    if router is not None:
        fingerprint["channels_sha256"] = router.fingerprint()
    run_dir = _prepare_work_dir(job, fingerprint, restart, log)
    spool_dir, staging = run_dir / "spool", run_dir / "staging"
    log.message("CCM0101I", f"job {job.name} ({job.date}): {input_path.name} with layout {job.layout.name}, "
                            f"{job.workers} worker(s)")

    # -- compose ------------------------------------------------------------------------------
    bar = log.progress(input_path.stat().st_size, "compose")     # bytes of the extract read, in records
    statuses = compose_all(job, layout, specs, spool_dir,
                           lambda records, nbytes: bar.set(nbytes, f"{counted(records, 'record')} read"),
                           channels=router)   # router: forked with the workers
    records = max((s["records"] for s in statuses), default=0)
    if any(s["error"] or s.get("stopped") for s in statuses):
        bar.close()
    else:
        bar.finish(f"{counted(records, 'record')} read")
    _phase(report, log, "compose", started, f"{counted(records, 'record')} read, {counted(job.workers, 'worker')}")
    internal = [s["error"] for s in statuses if s["error"]
                and s["error"]["kind"] in ("nospace", "internal", "ccm")]
    if internal:
        err = internal[0]
        if err["kind"] == "nospace":
            raise OutputError(err["message"])
        if err["kind"] == "internal":
            raise CcmError(f"internal failure while composing: {err['message']}"
                           + _keep_traceback(run_dir, err))
        exc = CcmError(err["message"])
        exc.exit_code = err.get("exit", 16)
        raise exc
    input_error = next((s["error"]["message"] for s in statuses if s["error"]), None)

    db = open_db(run_dir / "work.db")
    try:
        return _finish(job, log, report, db, run_dir, spool_dir, staging, statuses, input_error, started,
                       router)
    finally:
        db.close()


def _finished_report(job, input_sha: str) -> RunReport | None:
    """The report of this job's last run when it completed and released from the same extract."""
    path = job.output_dir / "report.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        same = (d["job"] == job.name and d["job_date"] == job.date and d["exit_code"] < 8
                and [i["sha256"] for i in d["inputs"]] == [input_sha])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _report_from_file(path, True) if same else None


def _keep_traceback(run_dir: Path, err: dict) -> str:
    """Write a worker's traceback to ``internal-error.txt``; returns the note naming it, or '' when
    there is no traceback to keep or the file cannot be written (never an empty file)."""
    if not err.get("traceback"):
        return ""
    path = run_dir / "internal-error.txt"
    try:
        path.write_text(err["traceback"])
    except OSError:
        path.unlink(missing_ok=True)
        return ""
    return f" (traceback in {path})"


def _collect(job, report, db, spool_dir, statuses, input_error, on_reject, load: bool = True,
             on_chunk=None):
    """Load committed chunks in record order; apply the reject limit; returns (rejected, stopped).

    Each rejected record goes to ``on_reject(number, key, source, line, raw, problems)`` as it is
    met (rejects are streamed to their file, never all held in memory).

    ``load=False`` (a restart after planning) only recounts: the documents table is already final.
    """
    chunks = sorted(done_chunks(spool_dir))
    total = max((s["records"] for s in statuses), default=0)
    stopped = any(s.get("stopped") for s in statuses)
    expected, rejected = 0, 0
    images, forms, fonts = {}, {}, {}
    if load:
        db.execute("DELETE FROM documents")
    for c in chunks:
        if c != expected:
            break                         # a gap: later chunks were composed but are not reached
        expected += 1
        result = load_chunk(spool_dir, c)
        if on_chunk is not None:
            on_chunk(result)
        for reject in result.rejects:
            rejected += 1
            on_reject(*reject)
        images.update(result.images or {})
        for font, chars in (getattr(result, "fonts", None) or {}).items():
            fonts.setdefault(font, set()).update(chars)
        for name, form in (result.forms or {}).items():
            forms.setdefault(name, form)
        if load:
            db.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 24)})", result.rows)
        for number, key, message in result.warnings:
            report.warnings += 1
            report.warning_kinds[_warning_kind(message)] += 1
            if "no font draws" in message and "; printed as" in message:     # [fonts] substitute
                listed = report.substituted_records
                if listed and listed[-1]["record"] == number:
                    listed[-1]["messages"].append(message)
                elif len(listed) < SUBSTITUTED_LIST_MAX:
                    listed.append({"record": number, "key": key, "messages": [message]})
                else:
                    report.substituted_more += 1
        report.records_read += result.count
        if _over_limit(job, rejected, report.records_read):
            stopped = True
            break
    report.resources = (tuple(sorted(images)), tuple(forms[n] for n in sorted(forms)), fonts_option(fonts))
    db.commit()
    if not stopped and not input_error and job.only_records is None and report.records_read != total:
        report.output_incomplete = (f"{total} records in the extract but only {report.records_read} "
                                    "composed (a compose worker stopped early)")
    return rejected, stopped


def _limit_tripped(job, rejected: int, records: int) -> str:
    """Which reject limit the counts exceed, with the numbers: ``14 of 200 records rejected: 7.0 % > 5 %
    (max_reject_rate=0.05)`` or ``4 records rejected > max_rejects=3``."""
    if job.max_rejects is not None and rejected > job.max_rejects:
        return f"{counted(rejected, 'record')} rejected > max_rejects={job.max_rejects}"
    rate = job.max_reject_rate
    if rate is not None and records:
        return (f"{rejected} of {counted(records, 'record')} rejected: {rejected * 100 / records:.1f} % > "
                f"{rate * 100:g} % (max_reject_rate={rate:g})")
    limits = ", ".join(f"{k}={v}" for k, v in (("max_rejects", job.max_rejects),
                                               ("max_reject_rate", rate)) if v is not None)
    return f"{counted(rejected, 'record')} rejected, over the reject limit ({limits})"


def _over_limit(job, rejected: int, records: int) -> bool:
    if job.max_rejects is not None and rejected > job.max_rejects:
        return True
    return (job.max_reject_rate is not None and records >= job.min_records_for_rate
            and rejected > job.max_reject_rate * records)


def _finish(job, log, report, db, run_dir, spool_dir, staging, statuses, input_error, started, router=None):
    from .. import mail
    from ..records.rejects import RejectWriter

    planned = db.execute("SELECT value FROM meta WHERE key = 'planned'").fetchone()
    clock = time.monotonic()
    # rejects are always written (staged: released with the run, kept in the work directory if it stops)
    writer = RejectWriter(staging, job.name, job.input)

    def on_reject(number, key, source, line, raw, problems):
        writer.add_raw(number, key, source, line, raw, problems)
        field, message = problems[0]
        report.reject_reasons[f"{field}: {_reason_kind(message)}"] += 1

    tally = None
    if router is not None:
        from ..channels.produce import ChannelTally
        tally = ChannelTally()
    rejected, stopped = _collect(job, report, db, spool_dir, statuses, input_error, on_reject,
                                 load=not planned, on_chunk=tally.add_chunk if tally else None)
    writer.commit()
    clock = _phase(report, log, "collect", clock, f"{counted(report.records_read, 'record')} read, "
                   f"{rejected:,} rejected")
    row = db.execute("SELECT COUNT(*), COALESCE(SUM(pages), 0), COALESCE(SUM(sheets), 0) FROM documents"
                     ).fetchone()
    report.documents = row[0] + (tally.off_paper if tally else 0)     # off paper: not in the mail plan
    report.rejected = rejected

    if input_error:
        report.output_incomplete = (f"{input_error}; {report.records_read} records read before the error. "
                                    "No print file was produced: fix the extract and run again")
        log.message("CCM0301E", input_error)
    elif stopped:
        report.limit_exceeded = (f"{_limit_tripped(job, report.rejected, report.records_read)}: the run stopped "
                                 f"and no print file was released. Next: see {job.name}.reasons.csv for why each "
                                 "record was rejected, fix the extract (or the layout) and run again; if these "
                                 "rejects are expected, raise [rejects] max_rejects / max_reject_rate")
        log.message("CCM0302E", report.limit_exceeded)
    else:
        mail_config = mail.MailConfig.from_dict(job.mail, job.path.parent)
        if planned:
            summary = pickle.loads(bytes.fromhex(planned[0]))
        else:
            from .plan_pool import open_plan_pool
            pool = open_plan_pool(job) if mail_config.enabled else None
            # the plan's own connection: SQLite keeps about 16 MB of the plan's caches and sorts in a
            # connection until it is closed (100,000 bench invoices), which the render workers forked
            # from this process would carry too
            plan_db = open_db(run_dir / "work.db")
            try:
                summary = mail.plan_mail(plan_db, mail_config, job=job.name, job_date=job.date, pool=pool)
                plan_db.execute("INSERT INTO meta VALUES ('planned', ?)",
                                (pickle.dumps(summary, PICKLE_PROTOCOL).hex(),))
                plan_db.commit()
            finally:
                plan_db.close()
                if pool is not None:
                    pool.close()
        files_planned = sum(1 for _ in mail.iter_print_files(db))
        printed = report.documents - (tally.off_paper if tally else 0)     # the documents the mail plan has
        plan_detail = (f"{counted(summary.pieces_out, 'mail piece')} in " if mail_config.enabled else
                       f"mail production off: {counted(printed, 'document')} in ")
        clock = _phase(report, log, "plan", clock, plan_detail + counted(files_planned, "print file"))
        progress = RenderProgress(log, db, printed, files_planned)
        give_back_memory()            # what the plan freed, before the render workers are forked
        stats = render_all(job, db, run_dir / "work.db", spool_dir, staging, mail_config,
                           progress, resources=report.resources)
        from .render_phase import RENDER_WARNINGS
        for kind, count in sorted(stats.items()):
            if kind in RENDER_WARNINGS.values():
                report.warnings += count
                report.warning_kinds[kind] += count
            else:
                report.render_notes[kind] = count
        rendered = progress.finish(db)
        clock = _phase(report, log, "render", clock, f"{counted(rendered[1], 'print file')}, "
                       f"{counted(rendered[0], 'page')}, " + " and ".join(f.upper() for f in job.formats))
        mail.write_production_files(db, staging, job.name, mail_config)
        report.mail = summary.as_dict()
        # plan warnings (e.g. pieces near a weight step) are in report.mail; an address that cannot be
        # mailed is a warning the operator must act on
        for label, count in getattr(summary, "alerts", {}).items():   # e.g. OMR marks outside the margin
            report.warnings += count
            report.warning_kinds[label] += count
        if summary.invalid:
            report.warnings += summary.invalid
            report.warning_kinds["mail: invalid or incomplete address (piece in the 'invalid' stream)"] += \
                summary.invalid
        row = db.execute("SELECT COALESCE(SUM(pages),0), COALESCE(SUM(sheets),0) FROM rendered").fetchone()
        report.pages, report.sheets = row
        clock = _phase(report, log, "mail files", clock, "mail run, trays and postage")
        if tally is not None:                      # -- channels: email, SMS, portal outputs ------
            from ..channels.produce import RoutedTable, produce_channels
            routed = (r for c in tally.chunks for r in load_chunk(spool_dir, c).channels)
            report.channels.update(produce_channels(job, job.channels, routed, spool_dir, run_dir, staging,
                                                    RoutedTable(db)))
            _phase(report, log, "channels", clock, ", ".join(f"{n:,} {c}" for c, n in
                                                             report.channels["prepared"].items()))
        if job.einvoice is not None:               # every platform's index.csv, printed and routed invoices
            from ..einvoice.stage import write_handoff
            report.einvoice = write_handoff(job.einvoice, spool_dir, staging, _einvoice_documents(db, job, tally))
    if tally is not None:
        from ..channels.produce import reconciliation
        report.channels = {**reconciliation(report.documents, tally, job.channels.channels_used()),
                           **report.channels}

    # -- commit: release the staged outputs all-or-nothing (see commit.py) -------------------------
    checkpoint("commit")
    report.spool_bytes = spool_size(spool_dir)
    for number, key, message in _first_warnings(spool_dir):
        message = _RECORD_PREFIX.sub("", message)
        log.message("CCM0203W", f"record {number}{f' ({key})' if key else ''}: {message}")
    # the history and metrics hook (issue 14) runs once the outputs are committed (decided); never fails
    from ..history import after_run
    if report.exit_code >= 8:
        # nothing is released: the report alone says why; rejects and the rest stay in the work directory
        report.kept = str(staging)
        report.duration_s = time.monotonic() - started
        report.peak_memory_mb = _peak_memory_mb()
        report.write(job.output_dir)
        after_run(job, report, db, run_dir, log)
    else:
        files = commit.staged_manifest(run_dir, staging)
        pending = commit.release_dir(job.output_dir, job.name)
        report.files = commit.transfer(files, staging, pending)
        _describe_files(db, report)
        report.duration_s = time.monotonic() - started
        report.peak_memory_mb = _peak_memory_mb()
        commit.write_reports(pending, report)
        commit.decide(job.output_dir, job.name, files, run_dir, report.exit_code)
        after_run(job, report, db, run_dir, log)
        db.close()
        commit.complete(job.output_dir, job.name)
    if report.limit_exceeded:
        outcome = (f"reject limit exceeded ({_limit_tripped(job, report.rejected, report.records_read)}), "
                   f"no print file released; {report.reconciliation_line()}")
    elif report.output_incomplete:
        outcome = f"output incomplete, no print file released; {report.reconciliation_line()}"
    else:
        outcome = report.reconciliation_line()
    log.message("CCM0900I" if report.exit_code < 8 else "CCM0901E",
                f"{outcome} — exit code {report.exit_code}; report in "
                f"{os.path.normpath(job.output_dir / 'report.txt')}", force=True)
    return report


_RECORD_PREFIX = re.compile(r"^record \d+: ")


def _einvoice_documents(db, job, tally):
    """``doc_id_of(record, entry)`` for the e-invoice hand-off: the document id of a record whose spooled
    invoice belongs to a produced document — printed (the documents table), or routed off paper by a
    multichannel job (its chunk was collected: in a routed run nothing rejects a record after its
    invoice is spooled)."""
    collected = set(tally.chunks) if tally is not None else set()

    def doc_id_of(number: int, entry: dict):
        row = db.execute("SELECT doc_id FROM documents WHERE seq = ?", (number,)).fetchone()
        if row is not None:
            return row[0]
        if (number - 1) // job.chunk_size in collected and entry.get("doc_id"):
            return entry["doc_id"]
        return None
    return doc_id_of


def _phase(report, log, name: str, since: float, detail: str) -> float:
    """Record and log (CCM0205I) how long phase ``name`` took; returns the time now."""
    now = time.monotonic()
    report.phases[name] = now - since
    log.message("CCM0205I", f"{name}: {now - since:.1f} s ({detail})")
    return now


def _warning_kind(message: str) -> str:
    """Group composition warnings by their wording: no record number, layout line or values
    (``address line 1 has 39 characters …`` and ``… line 2 has 41 …`` are one kind)."""
    kind = _RECORD_PREFIX.sub("", message)
    kind = re.sub(r" \([^()]*:\d+\)", "", kind)                     # (layout.xml:52)
    kind = re.sub(r"'[^']*'|\"[^\"]*\"|(?<![\w-])\d+([.,]\d+)?(?![\w-])", "…", kind)
    return kind[:100]


def _reason_kind(message: str) -> str:
    """Group reject messages by their wording, without the values."""
    import re
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+([.,]\d+)?", "…", message)[:80]


def _describe_files(db, report) -> None:
    facts = {}
    try:
        for (files,) in db.execute("SELECT files FROM rendered"):
            for f in json.loads(files):
                facts[f["name"]] = f
    except Exception:   # noqa: BLE001 - no render journal when the run stopped early
        return
    for entry in report.files:
        f = facts.get(entry["path"])
        if f:
            entry["pages"], entry["documents"] = f["pages"], f["documents"]


def _first_warnings(spool_dir: Path, limit: int = 10_000):
    out = []
    for c in sorted(done_chunks(spool_dir)):
        out.extend(load_chunk(spool_dir, c).warnings)
        if len(out) >= limit:
            break
    return out[:limit]
