"""Run orchestration: stopping on SIGTERM / SIGINT — the workers are stopped with the run, the work
directory is kept for ``--restart``, and the operator gets one ``CCM0998E`` line (exit 16).

The run's process handles the signals (:func:`stop_on_signals`); forked workers ignore SIGINT (Ctrl-C
on a terminal reaches the whole process group: the run stops them itself, without a traceback from
each) and die quietly on SIGTERM, which is how the run stops them (:func:`stop_workers`). On Linux a
worker also dies when the run's process dies, even by ``kill -9``, so no worker outlives its run.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

from ..errors import EXIT_FAILURE
from . import workergc

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_owner = {"pid": None, "stopping": False}


class RunInterrupted(BaseException):
    """The run was stopped by a signal. A BaseException, like KeyboardInterrupt, so that no stage's
    ``except Exception`` takes it for a failure of its own."""
    exit_code = EXIT_FAILURE
    msgid = "CCM0998E"

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return (f"stopped by signal {self.signum} ({signal.Signals(self.signum).name}); the work directory is "
                "kept: `ccm-batch run JOB --restart` resumes the run")


def _handler(signum, _frame):
    if os.getpid() != _owner["pid"]:          # a worker forked before it set its own dispositions
        if signum == signal.SIGTERM:
            os._exit(128 + signum)
        return
    if _owner["stopping"]:                    # a second signal while stopping: already on the way out
        return
    _owner["stopping"] = True
    raise RunInterrupted(signum)


@contextlib.contextmanager
def stop_on_signals():
    """While the block runs, SIGTERM and SIGINT raise :class:`RunInterrupted` in this process (only the
    main thread can handle signals: elsewhere, e.g. a run started by a service's thread, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    saved = dict(_owner)
    _owner.update(pid=os.getpid(), stopping=False)
    for s in STOP_SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _owner.update(saved)


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGKILL to this process when its parent dies (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)      # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def worker_started(parent_pid: int) -> None:
    """Called first in every forked worker: ignore Ctrl-C, die quietly on SIGTERM and with the run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() != parent_pid:            # the run died before the line above took effect
        os._exit(1)


def stop_workers(procs, grace: float = 5.0) -> None:
    """Stop the workers still running (SIGTERM, then SIGKILL after ``grace`` seconds) and reap them all."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(grace)
        if p.is_alive():
            p.kill()
            p.join()


def run_worker(parent_pid: int, target, *args) -> None:
    """A forked worker's body: :func:`worker_started`, its collector settled (:mod:`.workergc`), then
    ``target(*args)``."""
    worker_started(parent_pid)
    workergc.settle()
    target(*args)
