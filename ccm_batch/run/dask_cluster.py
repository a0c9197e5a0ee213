"""Run orchestration, Dask executor: the run's cluster — its client, and the local cluster it starts and closes.

:func:`client_for` gives the run's Dask client: connected to ``job.scheduler`` (an address, or
``file:PATH``, a scheduler file read here and waited for :data:`SCHEDULER_FILE_WAIT` seconds), or to a
``LocalCluster`` of ``job.workers`` single-threaded processes started for the run. That local cluster
starts as the run begins (:func:`start_early`), in a thread, while the run loads its layout and checks
its extract; its workers are forked from a fork server that has imported the engine and loaded the
layout once (:mod:`.dask_worker`), itself a fork of the run's process when that has one thread (a run
from the command line, :func:`_forked_server`). :func:`shutdown` closes the client, the cluster and the
fork server at the run's end. The tasks themselves are in :mod:`.dask_executor`.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import threading

from ..errors import CcmError

_CLIENT: dict = {}

# The local cluster's background work, cut down (measured: a 2-worker cluster idling for 20 s used 2.4 CPU s
# with Dask's defaults, 0.3 with these): no statistical profiler sampling the task threads every 10 ms,
# system and memory monitors every few seconds instead of 10 times a second. A cluster started by the
# operator (--scheduler) keeps its own configuration: the README gives the same settings.
#
# And no MALLOC_TRIM_THRESHOLD_=65536 in the workers' environment, which Dask's nannies set by default
# (distributed.nanny.pre-spawn-environ) and which a spawned worker's C library reads at its start: an
# explicit trim threshold switches off glibc's dynamic mmap threshold, so every large allocation and free
# is an mmap/munmap and fresh pages; measured on the compose of 2,000 bench invoices in one process,
# 2.5-2.8 CPU s without it and 3.4-3.8 s with it (+30 %). The run's own workers keep glibc's defaults, like
# the local executor's, and the run's process keeps its environment (the nanny writes that setting into
# the os.environ of the process it runs in).
QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.system-monitor.interval": "5s",
         "distributed.admin.system-monitor.gil.enabled": False, "distributed.admin.tick.interval": "1s",
         "distributed.worker.memory.monitor-interval": "1s",
         "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
_STARTING: dict = {}      # the local cluster start_early is starting: key, thread, result
_FORK: dict = {}          # the fork server started for the local cluster's workers: its pid
JOB_ENV = "CCM_DASK_JOB"  # the run's job (pickled, hex) for the fork server's preload (dask_worker)
PRELOAD = ("ccm_batch.run.dask_worker",)


def client_for(job):
    """The run's Dask client (connecting to ``job.scheduler``, or the local cluster), cached. A local
    cluster begun by :func:`start_early` is waited for here."""
    key = (job.scheduler, job.workers)
    if _CLIENT.get("key") == key:
        return _CLIENT["client"]
    starting = _STARTING.get("key") == key
    if not starting:
        shutdown()
        if not job.scheduler:
            _fork_server(job)
        _STARTING.update(key=key, result=_start(job))
    thread = _STARTING.get("thread")
    if thread is not None:
        thread.join()
    client, cluster = _STARTING.pop("result", (CcmError("the run's local Dask cluster did not start"), None))
    _STARTING.clear()
    if isinstance(client, BaseException):
        raise client
    _CLIENT.update(key=key, client=client, cluster=cluster)
    return client


def start_early(job) -> None:
    """Begin starting the run's local cluster (``executor = "dask"`` without a scheduler) in the background,
    as the run begins: its start-up overlaps the run's own serial work (layout, checks, the extract's
    checksum, the work directory) instead of following it. The fork server the workers are forked from
    (:mod:`.dask_worker`) starts first, in its own process; :func:`client_for` waits for the rest."""
    if job.executor != "dask" or job.scheduler or "client" in _CLIENT or _STARTING:
        return
    _STARTING["key"] = (job.scheduler, job.workers)
    _fork_server(job)

    def start():
        _STARTING["result"] = _start(job)
    _STARTING["thread"] = thread = threading.Thread(target=start, name="ccm-dask-start", daemon=True)
    thread.start()


def _start(job) -> tuple:
    """(client, local cluster or None), or (the exception, None) when the cluster cannot be had."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return CcmError("[run] executor = \"dask\" needs the 'distributed' package (pip install distributed)"), None
    from .dask_log import attach
    attach()                 # its import gave Dask's loggers their stderr handlers: the run's log takes them
    cluster = None
    try:
        if job.scheduler.startswith("file:"):
            return Client(_scheduler_in_file(job.scheduler[5:]), timeout="30s"), None
        if job.scheduler:
            return Client(job.scheduler, timeout="30s"), None
        import dask
        # set for the cluster's life (closed by shutdown): a worker the nanny restarts is forked the same way
        _CLIENT["config"] = dask.config.set({**QUIET, **({"distributed.worker.multiprocessing-method": "forkserver"}
                                                          if "server" in _FORK else {})})
        # everything on loopback, the scheduler's and workers' HTTP servers (health, metrics) on ports of
        # their own: Dask's default 8787, taken by another run's cluster, printed a warning into the run's log
        cluster = LocalCluster(n_workers=max(1, job.workers), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40)
        return Client(cluster), cluster
    except OSError as exc:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        return CcmError(f"cannot reach the Dask scheduler {job.scheduler or '(local cluster)'}: {exc}"), None
    except Exception as exc:     # noqa: BLE001 - raised in the run's thread by client_for
        return exc, None


SCHEDULER_FILE_WAIT = 30.0       # seconds a scheduler file may take to appear (a cluster still starting)


def _scheduler_in_file(path: str, wait: float = SCHEDULER_FILE_WAIT) -> str:
    """The scheduler address a Dask scheduler file holds (``dask scheduler --scheduler-file PATH``), once it
    exists. Read here rather than by Dask's client, which waits for a missing file without end: a run
    under a batch scheduler would hang all night on a mistyped path."""
    import json
    import time
    deadline = time.monotonic() + wait
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            raise CcmError(f"the Dask scheduler file {path} does not exist (waited {wait:.0f} s): start the "
                           f"scheduler with --scheduler-file {path}, or check the path ([run] scheduler_file, "
                           "--scheduler file:PATH)")
        time.sleep(0.1)
    try:
        with open(path, encoding="utf-8") as f:
            address = json.load(f)["address"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CcmError(f"the Dask scheduler file {path} cannot be read as one ({type(exc).__name__}: {exc}): "
                       "it is the JSON file dask scheduler --scheduler-file writes, with an \"address\"") from None
    if not isinstance(address, str) or "://" not in address:
        raise CcmError(f"the Dask scheduler file {path} holds no scheduler address ({address!r})")
    return address


def _fork_server(job) -> None:
    """Start the fork server of the local cluster's workers now, with :mod:`.dask_worker` preloaded (the
    modules the tasks use and the job's layout, loaded once): each worker is then a fork of a loaded
    process, as with the local executor, instead of a fresh interpreter importing everything. Not
    done when the process already has a fork server (its preloads are not ours: spawned workers).

    When the run's process has a single thread (a run from the command line: the cluster's start
    thread is not started yet), the server is a fork of the run's process itself, made just after it
    imported ``distributed`` (:func:`_forked_server`); otherwise it is ``multiprocessing``'s own, a new
    interpreter importing everything again."""
    from multiprocessing import forkserver
    server = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", 0) is not None:
        return
    from .dask_log import VERBOSITY_ENV, verbosity
    env = {VERBOSITY_ENV: str(verbosity())} if verbosity() is not None else {}  # workers' Dask records
    with contextlib.suppress(Exception):          # a job that does not pickle: the tasks load the layout
        env[JOB_ENV] = pickle.dumps(job).hex()    # read by dask_worker in the server, at its start
    if hasattr(os, "fork") and threading.active_count() == 1:
        try:
            import distributed  # noqa: F401 - before the fork, so that the server has it (the run needs it too)
        except ImportError:
            return                                # the cluster's start says what is missing
        _FORK["server"] = _forked_server(server, env)
        return
    forkserver.set_forkserver_preload(list(PRELOAD))
    os.environ.update(env)
    try:
        forkserver.ensure_running()
    except Exception:        # noqa: BLE001 - no fork server here (a platform without one): spawned workers
        return
    finally:
        for name in env:
            os.environ.pop(name, None)
    _FORK["server"] = server._forkserver_pid


def _forked_server(server, env: dict) -> int:
    """Start the fork server as a fork of this single-threaded process, once it has imported ``distributed``
    (its client needs it anyway), and hand it to ``multiprocessing`` (``server``: its ``ForkServer``) as if
    it had started it: the server then imports only what the run has not (the render and plan modules)
    and loads the layout, where a new interpreter started itself and imported ``distributed`` and the
    engine again, on the run's critical path (measured: 0.4 s of wall time and 0.9 CPU-s less per run,
    bench/RESULTS.md). The server runs ``multiprocessing``'s own loop (``forkserver.main``) and never
    returns into the run's code."""
    import signal
    import socket
    import sys
    from multiprocessing import connection, forkserver, resource_tracker

    resource_tracker.ensure_running()
    listener = socket.socket(socket.AF_UNIX)
    address = connection.arbitrary_address("AF_UNIX")
    listener.bind(address)
    os.chmod(address, 0o600)
    listener.listen()
    alive_r, alive_w = os.pipe()     # the run holds the write end: the server ends when the run does
    for stream in (sys.stdout, sys.stderr):     # nothing buffered here may be written again by a fork
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:                     # the server: never back into the run's code (its finally blocks)
        try:
            # a new interpreter's signal handlers (not the run's stop handlers), and Dask's loggers not
            # routed to the run's log. The run's descriptors stay open, as in the local executor's forked
            # workers: closing them (as multiprocessing's own server has them closed) would leave the
            # Python objects that hold them (sys.stdout redirected by the caller, a log file) writing to
            # whatever later reuses their numbers (seen: pytest's captured output in Dask's resource
            # tracker pipe)
            os.close(alive_w)                          # else the server would keep itself alive
            listener_fd = listener.detach()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from . import dask_log
            dask_log.unroute()
            os.environ.update(env)
            forkserver.main(listener_fd, alive_r, list(PRELOAD))
        finally:
            os._exit(0)
    listener.close()
    os.close(alive_r)
    server._forkserver_address, server._forkserver_alive_fd, server._forkserver_pid = address, alive_w, pid
    return pid


def _stop_fork_server() -> None:
    """Stop the fork server :func:`_fork_server` started, once the cluster is closed, and reap it: its
    CPU time then counts in the run's, and no process outlives the run. It is killed, not asked to
    exit: it holds nothing to save, and the normal exit of an interpreter this loaded costs ≈ 0.7 s."""
    import signal
    from multiprocessing import forkserver
    pid = _FORK.pop("server", None)
    server = forkserver._forkserver
    if pid is None or server._forkserver_pid != pid:
        return
    with server._lock:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(server._forkserver_alive_fd)
        with contextlib.suppress(OSError, TypeError):
            os.unlink(server._forkserver_address)
        server._forkserver_alive_fd = server._forkserver_pid = server._forkserver_address = None


def shutdown() -> None:
    """Close the run's client and the local cluster it started (waiting for one still starting)."""
    thread = _STARTING.pop("thread", None)
    if thread is not None:
        thread.join()
    started = _STARTING.pop("result", (None, None))
    _STARTING.clear()
    client, cluster = _CLIENT.pop("client", None), _CLIENT.pop("cluster", None)
    settings = _CLIENT.pop("config", None)
    _CLIENT.clear()
    for thing in (client, cluster, *started):
        if thing is not None and not isinstance(thing, BaseException):
            with contextlib.suppress(Exception):
                thing.close()
    if settings is not None:
        settings.__exit__(None, None, None)
    with contextlib.suppress(Exception):
        _stop_fork_server()
