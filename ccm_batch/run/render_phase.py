"""Run orchestration, render phase: planned print files → PDF/AFP/debug backends → archive indexes.

Each print file of the plan is rendered once, feeding every asked format from one read of the spool,
into the run's staging directory. Its archive indexes are written beside it. When a print file and its
indexes are complete, a journal row marks it done, so a restarted run skips it. Nothing reaches the
output directory until the whole run has succeeded (see :mod:`ccm_batch.run`).
"""
from __future__ import annotations

import filecmp
import itertools
import json
import multiprocessing
import os
import shutil
import sqlite3
import traceback
import unicodedata
from pathlib import Path

from . import signals, workergc
from .diskfull import EXIT_NO_SPACE, is_no_space, no_space_error
from .faults import checkpoint
from ..afp.ptoca import SUBSTITUTIONS
from ..archive.resources import resource_file_name, write_resource_file
from ..archive.pdf_archive import NO_LINKS
from ..errors import CcmError, ConfigError
from ..mail.control import clear_zone_conflicts
from ..pages import DocumentMeta, Marks
from ..render.base import PieceInfo, StreamInfo
from ..spool import SpoolReader

WORKER_ERROR = "render-error.json"       # a render worker's CcmError (message, exit code, msgid), raised again

JOURNAL_DDL = """CREATE TABLE IF NOT EXISTS rendered (
  name TEXT PRIMARY KEY, files TEXT, pages INTEGER, documents INTEGER, sheets INTEGER, stats TEXT)"""


class RenderProgress:
    """The render phase's progress: documents rendered (the bar) with print files and pages in words,
    counting from the files a restarted run keeps. Called as ``progress(docs, pages, files=0)``."""

    def __init__(self, log, db: sqlite3.Connection, documents: int, files: int):
        from ..log import counted
        self.counted, self.documents, self.files = counted, documents, files
        db.execute(JOURNAL_DDL)
        self.done = list(db.execute("SELECT COALESCE(SUM(documents), 0), COALESCE(SUM(pages), 0), COUNT(*) "
                                    "FROM rendered").fetchone())
        self.db = db
        self.bar = log.progress(documents, "render")
        self.bar.set(self.done[0], self.detail())

    def detail(self) -> str:
        docs, pages, files = self.done
        return (f"{docs:,}/{self.counted(self.documents, 'document')}, {files:,}/"
                f"{self.counted(self.files, 'print file')}, {self.counted(pages, 'page')}")

    def __call__(self, docs: int, pages: int, files: int = 0) -> None:
        for i, n in enumerate((docs, pages, files)):
            self.done[i] += n
        if files:       # a file finished: its documents and pages are journalled (all an executor reports)
            journal = self.db.execute("SELECT COALESCE(SUM(documents), 0), COALESCE(SUM(pages), 0) FROM rendered"
                                      ).fetchone()
            self.done[0], self.done[1] = max(self.done[0], journal[0]), max(self.done[1], journal[1])
        self.bar.set(self.done[0], self.detail())

    def finish(self, db: sqlite3.Connection) -> tuple[int, int]:
        """100 % with the journal's true counts; returns (pages, print files) rendered."""
        docs, pages, files = db.execute("SELECT COALESCE(SUM(documents), 0), COALESCE(SUM(pages), 0), COUNT(*) "
                                        "FROM rendered").fetchone()
        self.done = [docs, pages, files]
        self.bar.finish(self.detail())
        return pages, files


def make_renderer(fmt: str, job, resources=((), ()), medium=None):
    """The backend for one output format, with options from the job.

    ``resources`` = (image paths, background Forms[, AFP Unicode fonts]) used anywhere in the run: the
    AFP backend declares them once in each print file's resource group. ``medium`` = (width, height) of
    the sheet the AFP form map declares (the size of the print file's first page; default A4).
    """
    if fmt == "pdf":
        from ..render.pdf import PdfOptions, PdfRenderer
        return PdfRenderer(PdfOptions(title=job.title, author="ccm-batch", creation_date=job.date))
    if fmt == "afp":
        from ..archive import tle_values
        from ..render.afp import AfpOptions, AfpRenderer
        images, forms = resources[0], resources[1]
        fonts = resources[2] if len(resources) > 2 else ()
        extra = {"medium_size": tuple(medium)} if medium else {}
        media = tuple((name, source) for name, source, _ in getattr(job, "media", ()))
        return AfpRenderer(AfpOptions(job_date=job.date, tle_values=tle_values, images=images, forms=forms,
                                      fonts=fonts, media=media, **extra))
    from ..render.debug import DebugRenderer
    return DebugRenderer()


def extension(fmt: str) -> str:
    return "jsonl" if fmt == "debug" else fmt


def _doc_ref(db: sqlite3.Connection, seq: int):
    return db.execute("SELECT spool_file, spool_offset, spool_length FROM documents WHERE seq = ?",
                      (seq,)).fetchone()


RENDER_WARNINGS = {"omr_clear_zone": "OMR: pages with items in the marks' clear zone (inserter may misread)"}
AFP_STAT_WARNINGS = {**RENDER_WARNINGS, "substituted": "AFP: characters substituted (not in the code page)",
                     "unknown_fonts": "AFP: fonts without a resident AFP font",
                     "undeclared_glyphs": "AFP: characters missing from the carried font subsets",
                     "tle_truncated": "AFP: index values truncated to 250 bytes",
                     "unknown_media": "AFP: pages naming a paper the job's [media] lacks (default medium map)"}


def _stem(job, plan) -> str:
    """The print file's name without extension; always a plain name in the output directory (the
    template is checked when the job is loaded, the values here come from the mail plan)."""
    from ..job import check_file_stem
    stem = job.file_name.format(job=job.name, stream=plan.stream, seq=plan.seq, date=job.date,
                                **{k: v for k, v in (plan.name_vars or {}).items()
                                   if k not in ("job", "stream", "seq", "date")})
    return check_file_stem(stem, job.file_name)


def render_all(job, db: sqlite3.Connection, db_path: Path, spool_dir: Path, staging: Path, mail_config,
               progress, resources=((), ())) -> dict:
    """Render every planned print file not yet journalled as done; returns renderer notes by kind.

    With ``job.workers`` > 1 and several print files, files are rendered in parallel: worker ``w``
    renders the files ``i % W == w`` (forked processes with their own database connection). Each file
    is rendered the same way whatever the worker, so outputs do not depend on the number of workers.
    """
    from .. import mail

    db.execute(JOURNAL_DDL)
    db.commit()
    done = {row[0] for row in db.execute("SELECT name FROM rendered")}
    planned = [(_stem(job, plan), plan.stream, plan.seq) for plan in mail.iter_print_files(db)]
    planned = [file for file in planned if file[0] not in done]
    todo = [stem for stem, _stream, _seq in planned]
    workers = min(job.workers, len(todo))
    if job.executor == "dask":           # one task per print file (ccm_batch.run.dask_executor)
        from .dask_executor import render_on_dask
        render_on_dask(job, db_path, spool_dir, staging, mail_config, resources, planned, progress)
    elif workers <= 1:
        try:
            with workergc.settled():
                _render_files(job, db, spool_dir, staging, mail_config, progress, resources, set(todo))
        except (OSError, sqlite3.Error, CcmError) as exc:     # a stage's own error may wrap the full disk
            if is_no_space(exc):
                raise no_space_error(exc, staging) from None
            raise
    else:
        ctx = multiprocessing.get_context("fork")
        claimed = ctx.Array("b", len(todo))          # files are taken in plan order by whichever
        position = {stem: i for i, stem in enumerate(todo)}     # worker is free first

        def claim(stem: str) -> bool:
            i = position.get(stem)
            if i is None:
                return False
            with claimed.get_lock():
                if claimed[i]:
                    return False
                claimed[i] = 1
                return True

        for fmt in job.formats:     # backends (modules, fonts) loaded once here, inherited by the workers
            make_renderer(fmt, job, resources)
        if job.per_document_pdf:    # the PDF/A output intent's profile (Pillow's ImageCms), made once
            from ..render.pdfresources import srgb_icc_profile
            srgb_icc_profile()
        counts = [ctx.Value("q", 0, lock=False) for _ in range(3)]     # documents, pages, files done
        lock = ctx.Lock()

        def count(docs, pages, files=0):
            with lock:
                for value, n in zip(counts, (docs, pages, files)):
                    value.value += n

        seen = [0, 0, 0]

        def report_progress():
            now = [v.value for v in counts]
            progress(*(a - b for a, b in zip(now, seen)))
            seen[:] = now

        (staging.parent / WORKER_ERROR).unlink(missing_ok=True)      # an earlier attempt's
        procs = [ctx.Process(target=signals.run_worker, name=f"ccm-render-{w}",
                             args=(os.getpid(), _render_worker, job, db_path, spool_dir, staging, mail_config,
                                   resources, claim, count))
                 for w in range(workers)]
        try:
            for proc in procs:
                proc.start()
            while any(p.is_alive() for p in procs):
                procs[0].join(timeout=0.25)
                report_progress()
            for proc in procs:
                proc.join()
            report_progress()
        except BaseException:         # a signal (RunInterrupted) or an error here: no worker outlives the run
            signals.stop_workers([p for p in procs if p.pid is not None])
            raise
        failed = [p.exitcode for p in procs if p.exitcode != 0]
        if EXIT_NO_SPACE in failed:
            raise no_space_error(None, staging)
        if failed:
            told = staging.parent / WORKER_ERROR
            if told.is_file():
                raise _worker_error(told)
            note = staging.parent / "internal-error.txt"
            where = f" (traceback in {note})" if note.is_file() and note.stat().st_size else ""
            raise CcmError(f"a render worker failed (exit status {failed[0]}){where}; the finished print files "
                           "are kept: run again with --restart")
    notes = {}
    for (stats,) in db.execute("SELECT stats FROM rendered ORDER BY name"):
        for kind, count in json.loads(stats or "{}").items():
            if kind == "substituted" and isinstance(count, dict):     # one note per character
                for ch, n in count.items():
                    label = _substitution_note(ch)
                    notes[label] = notes.get(label, 0) + n
            elif kind in AFP_STAT_WARNINGS and count:
                label = AFP_STAT_WARNINGS[kind]
                notes[label] = notes.get(label, 0) + (sum(count.values()) if isinstance(count, dict) else count)
    return dict(sorted(notes.items()))


def _worker_error(path: Path) -> CcmError:
    """The CcmError a render worker wrote to ``path`` (read, then removed), with its exit code and msgid."""
    told = json.loads(path.read_text())
    path.unlink()
    error = CcmError(told["message"])
    error.exit_code, error.msgid = int(told["exit_code"]), str(told["msgid"])
    return error


def move_archived(parts: Path, archive: Path, template: str) -> None:
    """A print file's archived PDFs (named apart within the file) into the run's archive directory, never
    over another's: a name already there is either this print file's own, moved by an attempt cut short
    (the same bytes: a render is repeatable), or another print file's document — the ``archive_name``
    template names two documents alike, and the run stops rather than lose one of them."""
    archive.mkdir(exist_ok=True)
    for part in sorted(parts.iterdir()):
        dest = archive / part.name
        try:
            os.link(part, dest)                      # takes the name only if it is free
        except FileExistsError:
            taken = True
        except OSError as exc:
            if exc.errno not in NO_LINKS:
                raise
            taken = os.path.lexists(dest)             # no hard links on this file system
        else:
            os.unlink(part)
            checkpoint("archive")
            continue
        if taken and not filecmp.cmp(part, dest, shallow=False):
            raise ConfigError(f"two documents would both be archived as {dest.name} (in different print files): "
                              f"[index] archive_name {template!r} must name each document apart — add a field "
                              "that differs, such as {doc_id} or {record_number}, and run the job again; "
                              "nothing was released")
        os.replace(part, dest)
        checkpoint("archive")
    parts.rmdir()


def _substitution_note(ch: str) -> str:
    """``AFP: U+2014 EM DASH printed as "-" (not in the code page)``."""
    def show(c: str) -> str:
        return f"U+{ord(c):04X} {unicodedata.name(c, '')}".strip()
    rep = SUBSTITUTIONS.get(ch, "?")
    if not rep:
        return f"AFP: {show(ch)} left out (not in the code page)"
    shown = show(rep) if len(rep) == 1 and not rep.isprintable() else f'"{rep}"'   # spaces by name
    return f"AFP: {show(ch)} printed as {shown} (not in the code page)"


def _render_worker(job, db_path, spool_dir, staging, mail_config, resources, mine, progress) -> None:
    """A forked render worker. A full disk exits with EXIT_NO_SPACE; any other failure leaves its
    traceback in the work directory's ``internal-error.txt`` (not on the terminal) and exits 1."""
    from ..spool import open_db
    try:
        db = open_db(db_path)
        try:
            _render_files(job, db, spool_dir, staging, mail_config, progress, resources, mine)
        finally:
            db.close()
    except Exception as exc:          # noqa: BLE001 - reported by the run from the exit status
        if is_no_space(exc):
            os._exit(EXIT_NO_SPACE)
        try:
            if isinstance(exc, CcmError):            # the user's next step: the run raises it again
                (staging.parent / WORKER_ERROR).write_text(json.dumps(
                    {"message": str(exc), "exit_code": exc.exit_code, "msgid": exc.msgid}))
            (staging.parent / "internal-error.txt").write_text(traceback.format_exc())
        except OSError:
            pass
        os._exit(1)


def _render_files(job, db, spool_dir, staging, mail_config, progress, resources, mine, plans=None) -> None:
    """Render, in plan order, the print files whose stems are in ``mine`` (a set), or that
    ``mine(stem)`` claims (a callable shared by the render workers), among ``plans`` (default: every
    planned print file)."""
    from .. import mail
    from ..archive import write_indexes

    reader = SpoolReader(spool_dir)
    try:
        for plan in (mail.iter_print_files(db) if plans is None else plans):
            stem = _stem(job, plan)
            if not (mine(stem) if callable(mine) else stem in mine):
                continue
            archive = parts = None
            if job.per_document_pdf:
                # per print file, so that a restarted file starts from an empty directory
                from ..archive import ArchivePdfWriter
                parts = staging / "archive-parts" / stem
                shutil.rmtree(parts, ignore_errors=True)
                parts.mkdir(parents=True)
                archive = ArchivePdfWriter(parts, job.archive_name, job_date=job.date)
            _render_file(job, db, reader, staging, stem, plan, mail, mail_config, archive, progress,
                         write_indexes, parts, resources)
    finally:
        reader.close()


def _render_file(job, db, reader, staging, stem, plan, mail, mail_config, archive, progress,
                 write_indexes, archive_parts, resources) -> None:
    stream = StreamInfo(job=job.name, stream=plan.stream, seq=plan.seq, title=job.title, job_date=job.date)
    pieces = iter(plan.pieces)
    first = next(pieces, None)
    medium = None
    if first is not None:          # the sheet follows the layout's page size (Letter for US layouts)
        page = reader.read(*_doc_ref(db, first.doc_seqs[0])).pages[0]
        medium = (page.width, page.height)
        pieces = itertools.chain((first,), pieces)
    outputs = []
    for fmt in job.formats:
        name = f"{stem}.{extension(fmt)}"
        renderer = make_renderer(fmt, job, resources, medium)
        renderer.start_file(str(staging / name), stream)
        indexes = write_indexes(job.index_formats, staging, name, verify_field=job.verify_field,
                                cmod_codepage=job.cmod_codepage,
                                cmod_absolute_dir=str(job.output_dir.resolve()) if job.cmod_absolute_filename else "",
                                cmod_resource_file=resource_file_name(name) if fmt == "afp" else "",
                                einvoice=job.einvoice is not None) \
            if fmt != "debug" else []
        outputs.append((fmt, name, renderer, indexes))
    pages = docs = sheets = 0
    positions = []
    ticket = None
    if job.media:          # the PDF printers' job ticket: which sheets come from which bin
        from ..render.media import MediaTicket
        ticket = MediaTicket(f"{stem}.{extension(job.formats[0])}", job.media)
    check_omr = mail_config.enabled and mail_config.control == "omr"
    omr_conflicts = 0
    for piece in pieces:
        info = PieceInfo(piece_id=piece.piece_id, seq=piece.seq, doc_ids=tuple(piece.doc_seqs),
                         sheets=piece.sheets, duplex=bool(piece.duplex))
        documents = [reader.read(*_doc_ref(db, seq)) for seq in piece.doc_seqs]
        all_pages = [p for d in documents for p in d.pages]
        marked = mail.mark_pages(piece, all_pages, mail_config)
        separators = mail.separator_pages(piece, mail_config, all_pages[0].width, all_pages[0].height) \
            if mail_config.enabled and mail_config.separators else []
        if check_omr:
            omr_conflicts += sum(1 for page in marked if Marks in map(type, page.items)   # a scan at C speed
                                 and clear_zone_conflicts(page, mail_config.omr))
        for fmt, name, renderer, indexes in outputs:
            renderer.start_piece(info)
            if separators:      # banner / tray separator sheet: its own page group, never indexed
                renderer.start_document(DocumentMeta(doc_id=f"SEPARATOR-{piece.piece_id}", customer_id="",
                                                     doc_type="separator", date=job.date,
                                                     duplex=bool(piece.duplex)))
                for page in separators:
                    renderer.page(page)
                renderer.end_document()
        pages += len(separators)
        first_page = pages + 1
        if ticket is not None:
            for page in (*separators, *marked):
                ticket.add(page, bool(piece.duplex))
        archived = []
        einvoices = []                       # per document: its e-invoice files, referenced by the indexes
        cursor = 0
        for doc in documents:
            own = marked[cursor:cursor + len(doc.pages)]
            archived.append(f"archive/{archive.write_document(doc.meta, own)}" if archive is not None else "")
            cursor += len(doc.pages)
            if job.einvoice is not None:     # Factur-X / CII / UBL into the platform's drop directory
                from ..einvoice.stage import package_document
                einvoices.append(package_document(job.einvoice, doc.meta, doc.pages, reader.dir, staging,
                                                  job.date))
        for fmt, name, renderer, indexes in outputs:
            cursor = 0
            for n, (doc, archive_file) in enumerate(zip(documents, archived)):
                renderer.start_document(doc.meta)
                for page in marked[cursor:cursor + len(doc.pages)]:
                    renderer.page(page)
                cursor += len(doc.pages)
                facts = renderer.end_document()
                for index in indexes:
                    index.add(doc.meta, facts, name, fmt, archive_file=archive_file,
                              einvoice=einvoices[n] if einvoices else ())
            renderer.end_piece()
        docs += len(documents)
        pages += len(marked)
        sheets += piece.sheets
        positions.append((piece.piece_id, first_page))
        progress(len(documents), len(marked) + len(separators))
    files, stats = [], {"omr_clear_zone": omr_conflicts}
    for fmt, name, renderer, indexes in outputs:
        facts = renderer.end_file()
        stats.update(getattr(renderer, "stats", {}) or {})
        if fmt == "afp" and "cmod" in job.index_formats:     # what OnDemand keeps beside each page group
            write_resource_file(staging / name, staging / resource_file_name(name))
        for index in indexes:
            index.commit()
        files.append({"format": fmt, "name": name, "size": facts.size, "pages": facts.pages,
                      "documents": facts.documents})
    if ticket is not None:
        ticket.write(staging / f"{stem}.media.csv")
    if archive_parts is not None:
        move_archived(archive_parts, staging / "archive", job.archive_name)
    print_name = f"{stem}.{extension(job.formats[0])}"
    for piece_id, first_page in positions:
        mail.record_piece_position(db, piece_id, print_name, first_page)
    db.execute("INSERT OR REPLACE INTO rendered VALUES (?, ?, ?, ?, ?, ?)",
               (stem, json.dumps(files), pages, docs, sheets, json.dumps(stats, sort_keys=True, default=str)))
    db.commit()
    progress(0, 0, 1)
    checkpoint("render")
