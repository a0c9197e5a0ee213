"""Run orchestration, compose phase: records → validation → composition → spool, in chunks, on N workers.

Records are numbered 1… in extract order and cut into chunks of ``chunk_size``. Every worker streams
the extract itself (reading is cheap next to composing: the reader builds trees only for the records
the worker selects). As it reaches a chunk past the one it composed, a worker claims the next chunk no
worker has claimed yet, from a counter they share (:class:`_Claims`): a worker slowed down — heavier
records, a busy core — composes fewer chunks and no worker waits for the others at the end. It skips
the records of other workers' chunks, and commits each of its chunks as two files in the spool — the
documents, then the chunk's rows file, renamed into place last. A chunk whose rows file exists is done:
a restarted run skips it. A chunk's documents do not depend on which worker composed them (their
pickled bytes may: an object a worker's caches hand out twice is pickled once), so the outputs do not
depend on the number of workers. Workers are forked processes (the loaded layout is inherited, never
pickled).
"""
from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import pickle
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..errors import CcmError, InputError, RecordError
from . import signals, workergc
from .diskfull import EXIT_NO_SPACE, is_no_space, no_space_error
from .faults import checkpoint
from ..pages import Image
from ..render.afp import note_fonts
from ..spool import PICKLE_PROTOCOL, ChunkWriter, document_row, write_atomic


@dataclass
class ChunkResult:
    """What one chunk produced: document rows, rejects and warnings, all in record order."""
    chunk: int
    first: int
    last: int
    rows: list
    rejects: list        # (number, key, source, line, raw bytes, [(field, message)])
    warnings: list       # (number, key, message)
    count: int = 0       # records of the chunk taken (all of them unless the job selects records)
    images: dict = None  # image resource paths used (for print-file resource groups)
    forms: dict = None   # background Forms by name
    fonts: dict = None   # AFP: font id -> characters of its Unicode text runs (carried fonts)
    channels: list = None  # multichannel jobs: a RoutedDocument per document (ccm_batch.channels)


def note_resources(doc, images: dict, forms: dict) -> None:
    """Record the images and background forms a document uses, so print files can declare them once."""
    for page in doc.pages:
        bg = page.background
        if bg is not None and bg.name not in forms:
            forms[bg.name] = bg
        for item in page.items:
            if type(item) is Image:
                images.setdefault(item.resource, None)


def rows_path(spool_dir: Path, chunk: int) -> Path:
    return spool_dir / f"chunk-{chunk:06d}.rows"


def done_chunks(spool_dir: Path) -> set[int]:
    """Chunks committed by an earlier (interrupted) attempt."""
    return {int(p.name[6:12]) for p in spool_dir.glob("chunk-*.rows")}


def load_chunk(spool_dir: Path, chunk: int) -> ChunkResult:
    with open(rows_path(spool_dir, chunk), "rb") as f:
        return pickle.load(f)


class _Limit:
    """Shared progress and reject counters, so any worker can stop the run at the reject limit."""

    def __init__(self, ctx, max_rejects, max_rate, min_records):
        self.rejects = ctx.Value("q", 0)
        self.records = ctx.Value("q", 0)
        self.bytes = ctx.Value("q", 0)
        self.stop = ctx.Value("b", 0)
        self.max_rejects, self.max_rate, self.min_records = max_rejects, max_rate, min_records

    def exceeded(self, rejects: int, records: int) -> bool:
        if self.max_rejects is not None and rejects > self.max_rejects:
            return True
        if self.max_rate is not None and records >= self.min_records and rejects > self.max_rate * records:
            return True
        return False


class _Claims:
    """Chunks a worker composes: claimed one at a time, in extract order, from a counter all the run's
    workers share (the next chunk no worker has claimed: a ``multiprocessing.Value``, or a
    :class:`FileCounter` for Dask tasks), skipping those already committed. A worker asks for each
    record's chunk as it reads on; past the chunk it holds, it claims the next free one, which is never
    behind it (every chunk before the counter is claimed)."""

    def __init__(self, counter, skip: set):
        self.counter, self.skip, self.chunk = counter, skip, -1

    def owns(self, chunk: int) -> bool:
        if chunk > self.chunk:
            with self.counter.get_lock():
                claim = max(self.counter.value, chunk)
                while claim in self.skip:
                    claim += 1
                self.counter.value = claim + 1
            self.chunk = claim
        return chunk == self.chunk


CLAIMS_FILE = "claims.next"   # in the spool: the Dask tasks' counter (:class:`FileCounter`)
_FILE_COUNTER_THREADS = threading.Lock()


class FileCounter:
    """The claims counter of tasks on other processes or machines: a file in the spool (which every
    worker sees), read and written under a POSIX lock — the interface of ``multiprocessing.Value`` that
    :class:`_Claims` uses (``get_lock()``, ``value``). A POSIX lock excludes other processes only: the
    threads of one worker process (Dask's ``threads_per_worker``) also take a lock of the process."""

    def __init__(self, path: Path):
        self.path, self.value = path, 0

    @staticmethod
    def start(path: Path) -> None:
        """A counter at chunk 0 (every chunk unclaimed)."""
        write_atomic(path, b"0")

    @contextlib.contextmanager
    def get_lock(self):
        with _FILE_COUNTER_THREADS, open(self.path, "r+b") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)           # released when the file is closed
            self.value = before = int(f.read() or b"0")
            yield
            if self.value != before:
                f.seek(0)
                f.write(b"%d" % self.value)
                f.truncate()
                f.flush()


class _Listed:
    """The chunks of a list (a task composing the chunks a lost worker had claimed)."""

    def __init__(self, chunks):
        self.chunks = frozenset(chunks)

    def owns(self, chunk: int) -> bool:
        return chunk in self.chunks


def missing_chunks(spool_dir: Path, statuses: list, size: int) -> list[int]:
    """Chunks of the records every worker read (none failed) that no worker committed: those a worker
    lost mid-run had claimed."""
    if not statuses or any(s["error"] or s.get("stopped") for s in statuses):
        return []
    total = max(s["records"] for s in statuses)
    done = done_chunks(spool_dir)
    return [c for c in range(-(-total // size)) if c not in done]


PATH_SAMPLE = 50          # records of the first chunk the layout's extract paths are checked on


def _compose_worker(job, layout, specs, spool_dir: Path, worker: int, claims, limit: _Limit, status_dir: Path,
                    progress=None, channels=None) -> None:
    """Body of one worker: compose the chunks it ``claims`` (:class:`_Claims`, :class:`_Listed`: those it
    ``owns``); write ``worker-N.status`` at the end."""
    from ..compose import compose_document
    from ..records import open_records
    from ..records.validate import validate_record

    size = job.chunk_size
    only = job.only_records
    einvoice = None
    if job.einvoice is not None:       # EN 16931 e-invoices: checked here, before the document is spooled
        from ..einvoice.stage import EinvoiceStage, printed_amount
        einvoice = EinvoiceStage(job.einvoice, job.input.namespace_map)
    status = {"records": 0, "error": None, "stopped": False}
    current, writer, result = None, None, None
    owns = claims.owns

    sample_trees = []                 # chunk 0's first records: the layout's paths are checked on them

    def commit():
        if result.chunk == 0:
            from ..layout.paths import check_paths
            for message in reversed(check_paths(layout, sample_trees)):
                result.warnings.insert(0, (result.first, "", message))
        writer.close()
        write_atomic(rows_path(spool_dir, result.chunk), pickle.dumps(result, PICKLE_PROTOCOL))
        checkpoint("compose")

    def mine(number: int) -> bool:
        """Records this worker composes: the others are read without a tree (see open_records)."""
        return owns((number - 1) // size) and (only is None or number in only)

    seen_forms: set = set()            # background forms whose fonts are noted already
    try:
        for record in open_records(job.input, select=mine):
            status["records"] = record.number
            chunk = (record.number - 1) // size
            if chunk != current:
                if writer is not None:
                    commit()
                    writer = None
                current = chunk
                if limit.stop.value:
                    status["stopped"] = True
                    break
                if owns(chunk):
                    writer = ChunkWriter(spool_dir, chunk)
                    result = ChunkResult(chunk, record.number, record.number, [], [], [], 0, {}, {},
                                         {} if "afp" in job.formats else None,
                                         [] if channels is not None else None)
            if worker == 0:
                with limit.records.get_lock():
                    limit.records.value = record.number
                limit.bytes.value = record.offset + len(record.raw)
                if progress is not None and record.number % 50 == 0:
                    progress(record.number, limit.bytes.value)
            if writer is None or (only is not None and record.number not in only):
                continue
            result.last = record.number
            result.count += 1
            if chunk == 0 and len(sample_trees) < PATH_SAMPLE and record.tree is not None:
                sample_trees.append(record.tree)
            problems = list(record.problems) or validate_record(record, specs)
            if not problems:
                try:
                    composed = compose_document(layout, record, job=job.name, job_date=job.date,
                                                missing_glyphs=job.missing_glyphs)
                except RecordError as exc:
                    problems = [(exc.field or "layout", exc.message
                                 + (f" (page {exc.page})" if exc.page else ""))]
            if not problems and channels is not None:      # multichannel: route, compose the variants
                try:
                    routed = channels.decide(record, composed.document)
                except RecordError as exc:
                    problems = [(exc.field or "channels", exc.message)]
            if not problems and einvoice is not None:      # last: nothing rejects a record after its spooling
                if channels is None or not channels.config.routes_einvoice(composed.document.meta.doc_type):
                    problems = einvoice.prepare(record, composed.document, spool_dir, printed_amount)
                elif "einvoice" in routed.channels:        # routed to its platform: checked, never printed instead
                    problems = einvoice.prepare(record, composed.document, spool_dir, printed_amount, routed)
            if problems:
                result.rejects.append((record.number, record.key, record.source, record.line, record.raw,
                                       [(getattr(p, "field", p[0] if isinstance(p, tuple) else ""),
                                         getattr(p, "message", p[1] if isinstance(p, tuple) else str(p)))
                                        for p in problems]))
                with limit.rejects.get_lock():
                    limit.rejects.value += 1
                    if limit.exceeded(limit.rejects.value, max(limit.records.value, record.number)):
                        limit.stop.value = 1
                continue
            for message in composed.warnings:
                result.warnings.append((record.number, record.key, message))
            note_resources(composed.document, result.images, result.forms)
            if result.fonts is not None:
                for page in composed.document.pages:
                    note_fonts(page.items, result.fonts)
                    if page.background is not None and page.background.name not in seen_forms:
                        seen_forms.add(page.background.name)
                        note_fonts(page.background.items, result.fonts)
            name, offset, length = writer.add(composed.document)
            if channels is not None:                         # only paper documents enter the mail plan
                result.channels.append(routed._replace(spool=(name, offset, length)))
                if not routed.on_paper:
                    continue
            result.rows.append(document_row(composed.document, record.number, name, offset, length))
        else:
            if writer is not None:
                commit()
                writer = None
    except InputError as exc:
        status["error"] = {"kind": "input", "message": str(exc)}
        if writer is not None:        # the records before the error are complete: keep them
            commit()
    except CcmError as exc:
        status["error"] = {"kind": "ccm", "message": str(exc), "exit": exc.exit_code}
    except Exception as exc:          # noqa: BLE001 - reported as an internal failure by the runner
        if is_no_space(exc):
            status["error"] = {"kind": "nospace", "message": str(no_space_error(exc, spool_dir)), "exit": 16}
        else:
            status["error"] = {"kind": "internal", "message": f"{type(exc).__name__}: {exc}",
                               "traceback": traceback.format_exc()}
    try:
        write_atomic(status_dir / f"worker-{worker}.status", pickle.dumps(status, PICKLE_PROTOCOL))
    except OSError as exc:
        if not is_no_space(exc):
            raise
        if multiprocessing.parent_process() is not None:     # a forked worker: tell the run by exit status
            os._exit(EXIT_NO_SPACE)
        raise no_space_error(exc, spool_dir) from None


def compose_all(job, layout, specs, spool_dir: Path, progress, channels=None) -> list[dict]:
    """Run the compose phase with ``job.workers`` workers; returns each worker's status dict.

    ``progress`` is called with (records_so_far, bytes_so_far) while workers run.
    """
    if job.executor == "dask":           # the same workers as Dask tasks (ccm_batch.run.dask_executor)
        from .dask_executor import compose_on_dask
        return compose_on_dask(job, spool_dir, progress)
    skip = done_chunks(spool_dir)
    status_dir = spool_dir
    for old in status_dir.glob("worker-*.status"):
        old.unlink()
    ctx = multiprocessing.get_context("fork")
    limit = _Limit(ctx, job.max_rejects, job.max_reject_rate, job.min_records_for_rate)
    procs = []
    claimed = ctx.Value("q", 0)        # the next chunk no worker has claimed
    if job.workers == 1:
        with workergc.settled():
            _compose_worker(job, layout, specs, spool_dir, 0, _Claims(claimed, skip), limit, status_dir, progress,
                            channels)
    else:
        procs = [ctx.Process(target=signals.run_worker,
                             args=(os.getpid(), _compose_worker, job, layout, specs, spool_dir, w,
                                   _Claims(claimed, skip), limit, status_dir, None, channels),
                             name=f"ccm-compose-{w}") for w in range(job.workers)]
        try:
            for p in procs:
                p.start()
            while any(p.is_alive() for p in procs):
                procs[0].join(timeout=0.25)
                progress(limit.records.value, limit.bytes.value)
        except BaseException:         # a signal (RunInterrupted) or an error here: no worker outlives the run
            signals.stop_workers([p for p in procs if p.pid is not None])
            raise
        for p in procs:
            p.join()
    progress(limit.records.value, limit.bytes.value)
    statuses = []
    for w in range(job.workers):
        path = status_dir / f"worker-{w}.status"
        if path.exists():
            with open(path, "rb") as f:
                statuses.append(pickle.load(f))
        elif job.workers > 1 and procs[w].exitcode == EXIT_NO_SPACE:
            statuses.append({"records": 0, "error": {"kind": "nospace", "exit": 16,
                                                     "message": str(no_space_error(None, spool_dir))}})
        else:
            code = procs[w].exitcode if job.workers > 1 else None
            statuses.append({"records": 0, "error": {"kind": "internal", "message": f"compose worker {w} died"
                                                     + (f" (exit status {code})" if code is not None else "")}})
    return statuses
