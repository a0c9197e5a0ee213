"""Run orchestration, Dask executor: compose workers and print-file renders as tasks on a Dask cluster.

``[run] executor = "dask"`` (or ``--scheduler``) runs the same two parallel phases as the local
executor, as tasks of a Dask ``distributed`` cluster:

* **compose**: ``S`` tasks (``S`` = the cluster's worker threads) run the local compose worker's code
  (:func:`~.compose_phase._compose_worker`): each claims chunks one after another from a counter file
  in the spool (:class:`~.compose_phase.FileCounter`, under a POSIX lock), so a slower node composes
  fewer, and commits them to the spool with the same journal (``chunk-N.rows`` renamed into place
  last). A task skips the chunks already committed, so a ``--restart`` after the scheduler was lost
  composes only what is missing. A task that Dask reschedules after its worker died claims on; the
  chunk the dead worker held (claimed, not committed) is composed by one more task once the others
  are done (:func:`~.compose_phase.missing_chunks`), from its start;
* **render**: one task per planned print file (:func:`~.render_phase._render_files`), journalled in
  the work database as it finishes.

The spool, staging directory and work database live in the run's work directory, which every Dask
worker must see at the same path (a shared filesystem with POSIX locks for SQLite; on one machine,
any local path). Tasks receive the job configuration, never loaded layouts: each worker process loads
the layout once. Outputs are byte-identical to the local executor's whatever the number of workers:
chunks and print files are the units, and the collect and plan phases stay in the run's process.

Without a scheduler address a ``LocalCluster`` of ``workers`` single-threaded processes is started
for the run as it begins and closed at its end (:mod:`.dask_cluster`).
"""
from __future__ import annotations

import contextlib
import os
import pickle
import threading
from pathlib import Path

from ..errors import CcmError
from .dask_checks import SHARED, check_workers
from .dask_cluster import client_for

_LAYOUTS: dict = {}


class SchedulerLost(CcmError):
    """The Dask scheduler went away: the work done is journalled, ``--restart`` finishes the run."""
    exit_code = 16


class TaskFailed(CcmError):
    """A Dask task failed with an operating-system error (a file it could not open, a permission): the work
    done is journalled, ``--restart`` finishes the run once the cause is fixed."""
    exit_code = 16
    msgid = "CCM0522E"


_RUN_TAGS: dict = {}      # run directory -> a random tag, for the keys of its tasks


def task_key(job, name: str) -> str:
    """The Dask key of the run's task ``name``: ``ccm-NAME-TAG``, TAG drawn once per run directory in this
    process. A key names a task for the whole cluster: a second client submitting a key already held
    is handed the first one's task and result (checked with two clients), so two runs sharing a
    cluster — the same job name and print-file stems, the same number of compose tasks — must not
    submit the same keys."""
    import secrets
    where = str(getattr(job, "run_dir", ""))
    tag = _RUN_TAGS.get(where)
    if tag is None:
        if len(_RUN_TAGS) > 64:
            _RUN_TAGS.clear()
        tag = _RUN_TAGS[where] = secrets.token_hex(4)
    return f"ccm-{name}-{tag}"


def _threads(client) -> int:
    return max(1, sum(client.nthreads().values()))


def _gather(client, futures, on_done):
    """Wait for ``futures``; ``on_done(result)`` as each finishes; a lost scheduler is SchedulerLost."""
    from concurrent.futures import CancelledError as PoolCancelled

    from distributed import as_completed
    from distributed.client import CancelledError, FutureCancelledError
    lost = ("the Dask scheduler was lost{}; the finished chunks and print files are journalled in the work "
            "directory: start the cluster again and rerun with --restart")
    try:
        for future in as_completed(futures):
            if future.status == "error":          # the task raised: its own error, not the scheduler's loss
                _task_failed(future.key, future.exception())
            on_done(future.result())
    except (FutureCancelledError, CancelledError, PoolCancelled) as exc:
        if "scheduler-connection-lost" in str(exc) or client.status != "running":
            raise SchedulerLost(lost.format(" (connection closed)")) from None
        raise CcmError(f"a Dask task was cancelled ({exc}); rerun with --restart") from None
    except (OSError, TimeoutError) as exc:
        raise SchedulerLost(lost.format(f" ({type(exc).__name__}: {exc})")) from None


def _task_failed(key, exc: BaseException) -> None:
    """Raise what a failed task raised: the engine's own errors as they are (they say what to do; a full
    disk is named by the run), an operating-system error as :class:`TaskFailed`, anything else as it is
    (an internal error)."""
    if isinstance(exc, OSError):
        raise TaskFailed(f"the Dask task {key} failed: {type(exc).__name__}: {exc}. If a worker cannot open a "
                         f"file of the run, {SHARED}; the finished chunks and print files are journalled in the "
                         "work directory: fix the cause, then rerun with --restart") from exc
    raise exc


# -- compose ----------------------------------------------------------------------------------------

def _layout(job):
    """The job's layout, loaded once per worker process (layouts are never pickled). Loading it also
    registers the fonts of the layout and of the job's ``[fonts]`` and sets the fallback chains
    (process-wide, as in the local executor's parent process), which render tasks need too."""
    from ..job import load_job_layout
    path = job.layout
    stamp = (str(job.path), str(path), os.stat(path).st_mtime_ns)
    kept = _LAYOUTS.get("kept")
    if kept is not None and kept[0] == stamp:
        return kept[1]
    layout = load_job_layout(job)        # another run's task may load its own meanwhile (a worker of 2 threads
    _LAYOUTS["kept"] = (stamp, layout)   # on a shared cluster): this task keeps the one it loaded
    return layout


class _Counter:
    """A counter with the interface of ``multiprocessing.Value`` (a task counts its own chunks)."""

    def __init__(self, value=0):
        self.value = value

    def get_lock(self):
        return contextlib.nullcontext()


class _TaskLimit:
    """Reject limit of one compose task; the run applies the job's limit to the totals when it collects."""

    def __init__(self):
        self.rejects, self.records, self.bytes, self.stop = _Counter(), _Counter(), _Counter(), _Counter()

    def exceeded(self, rejects: int, records: int) -> bool:
        return False


def compose_task(job, spool_dir: str, number: int, chunks=None) -> dict:
    """Dask task ``number``: compose the chunks it claims from the spool's counter file (or ``chunks``, a
    list), skipping those already committed; its status (``worker-<number>.status``)."""
    from .compose_phase import CLAIMS_FILE, FileCounter, _Claims, _compose_worker, _Listed, done_chunks

    spool = Path(spool_dir)
    layout = _layout(job)
    if job.image_dirs:                   # the job's image directories, as in the local executor
        layout.image_dirs = tuple(job.image_dirs)
    specs = list(getattr(layout, "field_specs", ())) + list(job.fields)
    from ..channels import open_router          # multichannel jobs: each task routes its own documents
    claims = _Listed(chunks) if chunks is not None else _Claims(FileCounter(spool / CLAIMS_FILE), done_chunks(spool))
    _compose_worker(job, layout, specs, spool, number, claims, _TaskLimit(), spool, channels=open_router(job, layout))
    with open(spool / f"worker-{number}.status", "rb") as f:
        return pickle.load(f)


def compose_on_dask(job, spool_dir: Path, progress) -> list[dict]:
    """The compose phase on the cluster; returns each task's status (as the local phase does)."""
    from .compose_phase import CLAIMS_FILE, FileCounter, missing_chunks
    client = client_for(job)
    check_workers(client, job)
    for old in spool_dir.glob("worker-*.status"):
        old.unlink()
    FileCounter.start(spool_dir / CLAIMS_FILE)
    tasks = _threads(client)
    futures = [client.submit(compose_task, job, str(spool_dir), n, key=task_key(job, f"compose-{n}-{tasks}"),
                             pure=False)
               for n in range(tasks)]
    statuses = []

    def done(status):
        statuses.append(status)
        progress(max(s["records"] for s in statuses), 0)
    _gather(client, futures, done)
    lost = missing_chunks(spool_dir, statuses, job.chunk_size)
    if lost:        # claimed by a worker that died, not committed: one more task composes them
        _gather(client, [client.submit(compose_task, job, str(spool_dir), tasks, lost,
                                       key=task_key(job, f"compose-lost-{lost[0]}"), pure=False)], done)
    return statuses


# -- render -----------------------------------------------------------------------------------------

_RENDER_DBS: dict = {}     # worker thread -> (database key, connection) kept across that thread's render tasks
_RENDER_LOCK = threading.Lock()


def _render_db(db_path: str):
    """This worker thread's connection to the run's work database, kept from one render task to the next
    as a local render worker keeps its one connection: a fresh connection per task starts with a cold
    page cache (the bench job's 45 print files rendered in one process: +2 to +5 % CPU). A database file
    replaced at the same path (another run) gets a new connection; the file cannot be replaced by one with
    the same inode while this connection holds it open."""
    from ..spool import open_db
    st = os.stat(db_path)
    key = (db_path, st.st_dev, st.st_ino)
    me = threading.get_ident()
    with _RENDER_LOCK:
        kept = _RENDER_DBS.get(me)
    if kept is not None and kept[0] == key:
        return kept[1]
    close_render_db(me)
    db = open_db(Path(db_path), check_same_thread=False)      # closed by close_render_db, from any thread
    with _RENDER_LOCK:
        _RENDER_DBS[me] = (key, db)
    return db


def close_render_db(thread: int | None = None, db_path: str | None = None) -> int:
    """Close the work-database connections kept by :func:`_render_db` (``thread``'s, or every thread's;
    only those to ``db_path`` when it is given: the run does this on every worker once its render tasks
    are all done, so that no worker of a cluster that outlives the run keeps the run's files open — and
    leaves alone those another run's render tasks are using on the same cluster); how many were closed."""
    with _RENDER_LOCK:
        threads = list(_RENDER_DBS) if thread is None else [thread]
        kept = [_RENDER_DBS.pop(t) for t in threads
                if t in _RENDER_DBS and (db_path is None or _RENDER_DBS[t][0][0] == db_path)]
    for _, db in kept:
        with contextlib.suppress(Exception):
            db.close()
    return len(kept)


def render_file(job, db_path: str, spool_dir: str, staging: str, mail_config, resources, stem: str, stream: str,
                seq: int) -> str:
    """Dask task: render one planned print file (stream ``stream``, number ``seq``; and its indexes)
    into staging; journal it."""
    from ..mail import iter_print_files
    from .render_phase import _render_files

    _layout(job)                        # the layout's and job's fonts, registered in this process
    db = _render_db(db_path)
    try:
        _render_files(job, db, Path(spool_dir), Path(staging), mail_config, lambda d, p, f=0: None, resources,
                      {stem}, iter_print_files(db, stream, seq))
    except BaseException:               # a transaction may be left open: this thread's next task starts afresh
        close_render_db(threading.get_ident())
        raise
    return stem


def render_on_dask(job, db_path: Path, spool_dir: Path, staging: Path, mail_config, resources, todo: list,
                   progress) -> None:
    """The render phase on the cluster: one task per print file not yet rendered (``todo``: their stems,
    streams and numbers)."""
    client = client_for(job)
    check_workers(client, job)
    futures = [client.submit(render_file, job, str(db_path), str(spool_dir), str(staging), mail_config,
                             resources, stem, stream, seq, key=task_key(job, f"render-{stem}"), pure=False)
               for stem, stream, seq in todo]
    _gather(client, futures, lambda stem: progress(0, 0, 1))     # a file done: the journal has its counts
    # every task is done: no worker uses its connection now (after a failure the run's work directory is
    # kept for --restart, and a worker's next task on another database closes the one it kept)
    with contextlib.suppress(Exception):
        client.run(close_render_db, None, str(db_path), on_error="ignore")


# -- plan -------------------------------------------------------------------------------------------

def _indexed(i: int, fn, *args):
    return i, fn(*args)


def map_on_dask(job, fn, arglist: list, each=None) -> list:
    """``fn(*args)`` for each of ``arglist`` as tasks on the cluster; the results in argument order.
    ``each(i, result)``, if given, is called in argument order as soon as result ``i`` and those before
    it are in (tasks finish in any order)."""
    client = client_for(job)
    check_workers(client, job)
    futures = [client.submit(_indexed, i, fn, *args, pure=False) for i, args in enumerate(arglist)]
    pending = object()
    out: list = [pending] * len(arglist)
    handed = 0

    def done(result):
        nonlocal handed
        out[result[0]] = result[1]
        while handed < len(out) and out[handed] is not pending:
            if each is not None:
                each(handed, out[handed])
            handed += 1
    _gather(client, futures, done)
    return out
