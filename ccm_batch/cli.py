"""Command line: thin click commands over the library (run, validate, samples, preview, inspect, index, reprint,
kpi, dashboard, history, send, feedback).

Exit codes follow the mainframe convention: 0 all good, 4 completed with warnings or rejects under the
limit, 8 completed but reject limit exceeded or output incomplete, 12 job/layout/configuration error,
16 I/O or internal failure, or stopped by a signal. A user error is one line (message id, cause, what to
do), never a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import EXIT_CONFIG, EXIT_FAILURE, CcmError, ConfigError
from .log import OperatorLog
from .run.signals import RunInterrupted


def _log(ctx) -> OperatorLog:
    return ctx.obj


def _fail(log: OperatorLog, exc: Exception) -> None:
    if isinstance(exc, CcmError):
        for line in str(exc).splitlines() or [""]:      # a job file check reports every problem
            log.message(exc.msgid, line, force=True)
        sys.exit(exc.exit_code)
    log.message("CCM0999S", f"internal error: {type(exc).__name__}: {exc}. Please report it with the job "
                            "file; rerun with --debug for the traceback.", force=True)
    sys.exit(EXIT_FAILURE)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ccm-batch")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final summary line.")
@click.option("-v", "--verbose", is_flag=True, help="Every warning, not just the first 20.")
@click.option("--debug", is_flag=True, hidden=True, help="Show Python tracebacks.")
@click.pass_context
def cli(ctx, quiet, verbose, debug):
    """ccm-batch — a batch éditique engine.

    Reads XML/CSV extracts, merges every record with a layout, and writes print-ready PDF and AFP files,
    archive indexes, rejects and a run report.

    \b
    Typical use:
      ccm-batch samples --records 100 --out data/   # make sample extracts
      ccm-batch validate samples/invoice.toml       # check a job without producing anything
      ccm-batch run samples/invoice.toml            # run it; see OUTPUT/report.txt
      ccm-batch inspect demo-out/invoice/invoice_laposte-li-dl_001.afp   # an AFP file's fields

    Exit codes: 0 ok, 4 warnings or rejects under the limit, 8 reject limit exceeded or output
    incomplete, 12 job/layout/configuration error, 16 I/O or internal failure (a missing input, a full
    disk) or stopped by SIGTERM/SIGINT: --restart finishes the run.
    """
    ctx.obj = OperatorLog(verbosity=0 if quiet else (2 if verbose else 1))
    ctx.obj.debug = debug


def _guard(fn):
    """Run a command body, turning errors into one-line messages and exit codes."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        log = ctx.obj
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except BrokenPipeError:       # `ccm-batch inspect F.afp | head`: the reader went away
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            _close_bar(log)
            log.message("CCM0998E", "interrupted; rerun with --restart to finish the run", force=True)
            sys.exit(EXIT_FAILURE)
        except RunInterrupted as exc:   # SIGTERM / SIGINT during a run: its workers are already stopped
            _close_bar(log)
            log.message(exc.msgid, str(exc), force=True)
            sys.exit(exc.exit_code)
        except Exception as exc:    # noqa: BLE001 - one line, not a traceback
            if getattr(log, "debug", False):
                raise
            _fail(log, exc)
    return wrapper


def _close_bar(log: OperatorLog) -> None:
    if getattr(log, "_bar", None) is not None:
        log._bar.close()
        log._bar = None


def _overrides(**kw) -> dict:
    return {k: v for k, v in kw.items() if v not in (None, ())}


@cli.command()
@click.argument("job_file", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "input_path", type=click.Path(dir_okay=False), help="Extract to read (overrides [input] path).")
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), help="Output directory (overrides [output] dir).")
@click.option("--date", help="Job date YYYY-MM-DD (overrides [job] date); every date and id in the outputs derives from it.")
@click.option("-f", "--format", "formats", multiple=True, type=click.Choice(["pdf", "afp", "debug"]),
              help="Output format; repeat for several (overrides [output] formats).")
@click.option("-w", "--workers", type=int, help="Compose and render workers (0 = one per core; default from the job, else one per core).")
@click.option("--max-rejects", type=int, help="Stop the run when more records than this are rejected.")
@click.option("--max-reject-rate", type=float, help="Stop the run when more than this fraction is rejected.")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Where the run's work directory (spool, journal) is made; not the output directory.")
@click.option("--restart", is_flag=True, help="Finish an interrupted run from its work directory.")
@click.option("--executor", type=click.Choice(["local", "dask"]), help="Where compose and render tasks run (overrides [run] executor).")
@click.option("--scheduler", help="Dask scheduler address tcp://HOST:8786 or file:PATH of a scheduler file (implies --executor dask).")
@click.option("--send", "send", is_flag=True,
              help="Multichannel jobs: send the email spool and SMS batch at the end of the run "
                   "(like `ccm-batch send OUTPUT`; also [channels] send_at_end).")
@click.option("-q", "--quiet", "quiet", is_flag=True, help="Only errors and the final summary line.")
@click.option("-v", "--verbose", "verbose", is_flag=True, help="Every warning, not just the first 20.")
@click.pass_context
@_guard
def run(ctx, job_file, input_path, output_dir, date, formats, workers, max_rejects, max_reject_rate,
        work_dir, restart, executor, scheduler, send, quiet, verbose):
    """Run JOB_FILE: read, compose, plan, render, index and report.

    Outputs go to the job's output directory once the whole run has succeeded: print files, archive
    indexes, rejects (NAME.rejects.xml|csv + NAME.reasons.csv), mail production files and
    report.txt / report.json. The exit code tells the scheduler how it went.
    """
    from .job import load_job
    from .run import run_job
    if quiet or verbose:
        ctx.obj.verbosity = 0 if quiet else 2
    job = load_job(job_file, _overrides(input=input_path, output_dir=output_dir, date=date,
                                        formats=formats or None, workers=workers, max_rejects=max_rejects,
                                        max_reject_rate=max_reject_rate, work_dir=work_dir,
                                        executor=executor, scheduler=scheduler))
    report = run_job(job, _log(ctx), restart=restart)
    if job.channels is not None and (send or job.channels.send_at_end) and report.exit_code <= 4:
        from .channels.send import send_after_run
        send_after_run(job, report, _log(ctx))
    sys.exit(report.exit_code)


@cli.command()
@click.argument("job_file", type=click.Path(dir_okay=False))
@click.option("-n", "--records", default=50, show_default=True, help="Records of the input to try.")
@click.pass_context
@_guard
def validate(ctx, job_file, records):
    """Check JOB_FILE, its layout and the first records of its input, producing nothing.

    Given a layout (.xml) instead, checks the layout alone. Exit 0 when all is well, 4 when some sampled
    records would be rejected, 12 when the job or layout is wrong, 16 when the input is missing.
    """
    from .job import load_job
    from .validate import looks_like_layout, validate_job, validate_layout_file
    if looks_like_layout(Path(job_file)):
        result = validate_layout_file(Path(job_file))
    else:
        result = validate_job(load_job(job_file), records)
    for line in result.lines:
        click.echo(line)
    sys.exit(result.exit_code)


@cli.command()
@click.option("-n", "--records", default=20, show_default=True, help="Records per extract.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write into.")
@click.option("--seed", default=42, show_default=True, help="Random seed: the same seed gives the same files.")
@click.option("--bad", default=0, show_default=True, help="Invalid records to mix in (to try rejects).")
@click.pass_context
@_guard
def samples(ctx, records, out_dir, seed, bad):
    """Write deterministic, realistic sample extracts (invoices, statements, letters, US statements)."""
    from .samples import write_samples
    for path in write_samples(Path(out_dir), records, seed=seed, bad=bad):
        click.echo(str(path))


@cli.command()
@click.argument("layout_file", type=click.Path(dir_okay=False), required=False)
@click.option("--data", type=click.Path(dir_okay=False), help="Extract to take records from.")
@click.option("--job", "job_file", type=click.Path(dir_okay=False),
              help="Take the input settings (CSV dialect, columns, record element), layout and date from a job file.")
@click.option("--record", "record_element", help="Record element (XML) — default: the layout's, else the job's.")
@click.option("--records", "record_range", default="1-3", show_default=True, help="Records to compose, e.g. 1-3 or 5.")
@click.option("--png", "png_dir", type=click.Path(file_okay=False), help="Also write PNG pages here (needs pdftoppm).")
@click.option("-o", "--out", "out_pdf", type=click.Path(dir_okay=False),
              help="The PDF to write [default: preview.pdf in the --png directory, else in the current directory].")
@click.option("--overlay", is_flag=True,
              help="Draw envelope windows, the job's inserter marks and their clear zones; list collisions.")
@click.pass_context
@_guard
def preview(ctx, layout_file, data, job_file, record_element, record_range, png_dir, out_pdf, overlay):
    """Compose a few records of DATA with LAYOUT_FILE into a PDF (and PNG pages) to look at.

    \b
      ccm-batch preview layouts/invoice.xml --data samples/data/invoices.xml --records 1-3 --png /tmp/png
      ccm-batch preview --job samples/us-statement.toml --records 2 --png /tmp/png
      ccm-batch preview --job samples/invoice.toml --records 1 --overlay --png /tmp/png
    """
    from .preview import preview_layout
    job = None
    if job_file:
        from .job import load_job
        job = load_job(job_file)
    png = Path(png_dir) if png_dir else None
    pdf = Path(out_pdf) if out_pdf else (png or Path(".")) / "preview.pdf"
    for line in preview_layout(Path(layout_file) if layout_file else None, Path(data) if data else None,
                               record_element, record_range, pdf, png, job=job, overlay=overlay):
        click.echo(line)


@cli.command()
@click.argument("afp_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--text", is_flag=True, help="Print each page's text with its positions.")
@click.option("--check", is_flag=True, help="Validate the file; exit 8 with the byte offset of the first problem.")
@click.pass_context
@_guard
def inspect(ctx, afp_file, text, check):
    """List the structured fields of an AFP (MO:DCA) file, with nesting, TLEs and page counts.

    Exit 8 when the file is not AFP or has structural problems."""
    from .afp import inspect as afp_inspect
    not_afp = afp_inspect.not_afp(afp_file)
    if not_afp:
        from .errors import InputError
        raise InputError(not_afp)
    if check:
        problems = list(afp_inspect.check(afp_file))
        for p in problems:
            click.echo(f"{afp_file}: offset {p.offset} (X'{p.offset:X}'): {p.message}")
        if problems:
            sys.exit(8)
        click.echo(f"{afp_file}: OK")
        return
    lines = afp_inspect.page_texts(afp_file) if text else afp_inspect.list_fields(afp_file)
    problems = 0
    for line in lines:
        click.echo(line)
        problems += isinstance(line, str) and line[10:14] == "  !!"
    if problems:
        _log(ctx).message("CCM0300E", f"{afp_file}: {problems} structural problem{'s' if problems != 1 else ''} "
                                      "(the !! lines); `ccm-batch inspect --check` lists them with their offsets",
                          force=True)
        sys.exit(8)


@cli.group()
def index():
    """Archive index tools."""


@index.command("verify")
@click.argument("index_file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
@_guard
def index_verify(ctx, index_file):
    """Open every entry of INDEX_FILE in its print file and check it is that document (exit 8 if not)."""
    from .archive.verify import verify
    result = verify(index_file)
    for line in result.lines:
        click.echo(line)
    sys.exit(0 if result.ok else 8)


@cli.command()
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Output directory of the run to reprint from.")
@click.option("--result", "result_csv", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The inserter's result file (piece id, status OK/DAMAGED/MISSING).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), help="Where to write the reprint run.")
@click.pass_context
@_guard
def reprint(ctx, run_dir, result_csv, out_dir):
    """Reprint exactly the damaged and missing pieces of a run, with new sequence numbers."""
    from .reprint import reprint_run
    report = reprint_run(Path(run_dir), Path(result_csv), Path(out_dir) if out_dir else None, _log(ctx))
    sys.exit(report.exit_code)


_HISTORY_OPTION = click.option(
    "--history", "history", metavar="LOCATION",
    help="The run history: a postgresql:// URL, an SQLite history file, or a job file whose [history] to use "
         "(default: $CCM_HISTORY).")


@cli.command()
@_HISTORY_OPTION
@click.option("--job", "job_name", help="Only the runs of this job (its [job] name).")
@click.option("--since", help="Only runs with a job date on or after this one (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
@_guard
def kpi(ctx, history, job_name, since, fmt):
    """KPIs of the recorded runs: volumes by channel and trend, e-delivery adoption, postage savings, cost
    per communication, delivery, returned-mail, bounce and reject rates, on-time completion, throughput
    (definitions in docs/kpi.md)."""
    from .history import open_store, resolve_location
    from .history.kpi import compute_kpis, format_kpis
    since = _iso_date(since)
    with open_store(resolve_location(history)) as store:
        click.echo(format_kpis(compute_kpis(store, job_name, since), fmt), nl=False)


@cli.command()
@_HISTORY_OPTION
@click.option("--job", "job_name", help="Only the runs of this job.")
@click.option("--since", help="Only runs with a job date on or after this one (YYYY-MM-DD).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write index.html (and kpi.json) into.")
@click.pass_context
@_guard
def dashboard(ctx, history, job_name, since, out_dir):
    """Write a static, self-contained HTML dashboard of the KPIs over time and the last run's breakdown
    (opens from disk: no server, no internet)."""
    from .history import open_store, resolve_location
    from .history.dashboard import write_dashboard
    from .history.kpi import compute_kpis
    with open_store(resolve_location(history)) as store:
        kpis = compute_kpis(store, job_name, _iso_date(since))
    click.echo(str(write_dashboard(kpis, Path(out_dir))))


@cli.group("history")
def history_group():
    """Run-history tools: copy a history to another database, remove old runs, record a delivery event."""


@history_group.command("copy")
@click.argument("source")
@click.argument("dest")
@click.pass_context
@_guard
def history_copy(ctx, source, dest):
    """Copy every row of the history SOURCE into DEST (URL or SQLite file; e.g. the embedded history
    into a shared PostgreSQL). Rows already in DEST are kept; a run already there is refused."""
    from .history import open_store
    from .history.transfer import copy_history
    with open_store(source) as src, open_store(dest) as dst:
        counts = copy_history(src, dst)
    for table, n in counts.items():
        click.echo(f"{table:<14} {n:>10,} rows")


@history_group.command("prune")
@_HISTORY_OPTION
@click.option("--before", help="Remove the runs whose job date is before this one (YYYY-MM-DD).")
@click.option("--keep-days", type=click.IntRange(min=1), help="Keep the runs of the last N days, today included.")
@click.option("--job", "job_name", help="Only the runs of this job.")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@click.pass_context
@_guard
def history_prune(ctx, history, before, keep_days, job_name, dry_run):
    """Remove old runs from the history, with their documents, costs and delivery events (retention;
    `[history] keep_days` does it after every run of a job)."""
    import datetime as dt

    from .errors import ConfigError
    from .history import open_store, resolve_location
    from .history.retention import cutoff_date, keep_days_cutoff, prune
    if (before is None) == (keep_days is None):
        raise ConfigError("history prune: give --before DATE or --keep-days N (one of them)")
    today = dt.date.today().isoformat()
    before = cutoff_date(before) if before is not None else keep_days_cutoff(today, keep_days)
    if before > today:
        raise ConfigError(f"history prune: --before {before} is after today ({today}): that would remove "
                          "today's runs too. Check the date.")
    with open_store(resolve_location(history)) as store:
        counts = prune(store, before, job=job_name, dry_run=dry_run)
    verb = "would be removed" if dry_run else "removed"
    click.echo(f"runs dated before {before}{f' of job {job_name}' if job_name else ''}: {verb}")
    for table, n in counts.items():
        click.echo(f"{table:<14} {n:>10,} rows")


@history_group.command("event")
@_HISTORY_OPTION
@click.argument("doc_id")
@click.argument("kind")
@click.option("--job", "job_name", help="The job that produced the document (default: its latest run).")
@click.option("--channel", help="paper, email, sms, portal (default: the document's channel decision).")
@click.option("--detail", help="Free text (bounce diagnostic, return reason).")
@click.option("--occurred-at", help="When it happened (ISO date-time).")
@click.pass_context
@_guard
def history_event(ctx, history, doc_id, kind, job_name, channel, detail, occurred_at):
    """Record a delivery event (e.g. `returned`) of document DOC_ID, e.g. a returned letter."""
    from .errors import ConfigError
    from .history import EVENT_KINDS, record_event, resolve_location
    if kind not in EVENT_KINDS:
        raise ConfigError(f"event kind {kind!r}: expected one of {', '.join(EVENT_KINDS)}")
    run_id = record_event(doc_id, kind, location=resolve_location(history), channel=channel, detail=detail,
                          occurred_at=occurred_at, source="cli", job=job_name)
    if run_id:
        click.echo(f"{kind} event of {doc_id} recorded (run {run_id})")
    else:
        _log(ctx).message("CCM0713W", f"{kind} event of {doc_id} recorded, but no recorded run"
                                      f"{f' of job {job_name}' if job_name else ''} produced that document: "
                                      "it counts in no KPI. Check the document id and --job.", force=True)


def _iso_date(value: str | None) -> str | None:
    import datetime as dt
    from .errors import ConfigError
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"--since {value!r}: expected a date YYYY-MM-DD") from None
@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--job", "job_file", type=click.Path(exists=True, dir_okay=False),
              help="Job file with the [channels] settings (default: the one named in RUN_DIR/report.json).")
@click.option("--resend-uncertain", is_flag=True,
              help="Also send messages whose earlier attempt was cut off before the server answered "
                   "(check the server's log first: they may have been delivered).")
@click.pass_context
@_guard
def send(ctx, run_dir, job_file, resend_uncertain):
    """Send a finished multichannel run's email spool (SMTP) and SMS batch (Kannel).

    Restartable: messages a server already accepted are never sent again (RUN_DIR/email/sent.journal,
    RUN_DIR/sms/sent.journal). Writes RUN_DIR/send-report.json: prepared = accepted + failed + pending.
    Exit 0 when everything was accepted, 4 when some messages failed or are pending.
    """
    from .channels.send import history_of, job_of_run, send_run, summary_line
    from .job import load_job
    job = load_job(job_file or job_of_run(Path(run_dir)))
    if job.channels is None:
        raise CcmError(f"{job.path}: the job has no [channels] section: nothing to send")
    result = send_run(Path(run_dir), job.channels, _log(ctx), resend_uncertain, history=history_of(job))
    complete = all(t["accepted"] == t["prepared"] for t in result.values())
    _log(ctx).message("CCM0701I" if complete else "CCM0703W", summary_line(result), force=True)
    sys.exit(0 if complete else 4)


@cli.command()
@click.option("--job", "job_file", type=click.Path(exists=True, dir_okay=False),
              help="Job file whose [channels] feedback store receives the events.")
@click.option("--store", type=click.Path(dir_okay=False), help="Feedback store (SQLite file) instead of the job's.")
@click.option("--dsn", "dsn", multiple=True, type=click.Path(exists=True),
              help="Delivery status notifications (RFC 3464): a .eml file, a directory or a maildir.")
@click.option("--sms-dlr", "sms_dlr", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="SMS delivery reports: Kannel dlr-url callbacks, one URL or query string per line.")
@click.option("--returned", "returned", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Returned-mail file (plis non distribués): CSV doc_id,customer_id,date,reason.")
@click.option("--einvoice-status", "einvoice_status", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="E-invoice lifecycle statuses from the platforms: CSV doc_id,customer_id,date,status,reason "
                   "(213 / rejected: the next run sends that customer paper).")
@click.pass_context
@_guard
def feedback(ctx, job_file, store, dsn, sms_dlr, returned, einvoice_status):
    """Feed delivery results back: bounces, SMS delivery reports, returned letters, e-invoice statuses.

    The next run's routing reads them: after a hard bounce, or an e-invoice the platform rejected,
    the customer gets paper.
    """
    from .channels.feedback import FeedbackStore
    from .channels.ingest import history_event, ingest
    from .channels.send import history_of
    from .job import load_job
    job = load_job(job_file) if job_file else None
    if store is None:
        if job is None or job.channels is None or job.channels.feedback is None:
            raise ConfigError("give --store FILE, or --job JOB whose [channels] names a feedback store")
        store = job.channels.feedback
    history = history_of(job) if job is not None else None
    events: list = []
    fb = FeedbackStore(Path(store))
    try:
        counts = ingest(fb, dsn=[Path(p) for p in dsn], sms_dlr=[Path(p) for p in sms_dlr],
                        returned=[Path(p) for p in returned], einvoice_status=[Path(p) for p in einvoice_status],
                        on_new=(lambda e: events.append(history_event(e))) if history else None)
    finally:
        fb.close()
    log = _log(ctx)
    log.message("CCM0704I", ", ".join(f"{n} {k}" for k, n in counts.items()) + f" into {store}", force=True)
    if history:                       # the final outcomes: delivery events of the documents in the run history
        from .history import open_store
        from .history.record import insert_events
        from .history.store import _safe_url
        events = [dict(e, job=job.name) for e in events if e is not None]
        with open_store(history) as hs:
            matched = sum(run_id is not None for run_id in insert_events(hs, events))
        log.message("CCM0714I", f"{len(events)} delivery event(s) recorded in the history {_safe_url(history)}, "
                                f"{matched} of them matched to a document of a recorded run", force=True)


def main() -> None:
    """Console-script entry point: usage errors exit 12 (a configuration error), not click's 2."""
    try:
        rc = cli(standalone_mode=False, prog_name="ccm-batch")
    except click.exceptions.Abort:
        click.echo("CCM0998E interrupted", err=True)
        sys.exit(EXIT_FAILURE)
    except click.UsageError as exc:        # bad option or value: one line with a message id, exit 12
        where = exc.ctx.command_path if exc.ctx is not None else "ccm-batch"
        click.echo(f"CCM0100E {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(EXIT_CONFIG)
    except click.ClickException as exc:
        click.echo(f"CCM0900E {exc.format_message()}", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
