"""Run orchestration, Dask executor: what Dask logs, in the run's process and its workers, as operator lines.

Importing ``distributed`` gives its loggers (``distributed``, ``distributed.client``, ``tornado``, …) a
handler of their own that writes to stderr in Dask's format, tracebacks included: a client that loses
its scheduler writes some thirty lines of asyncio traceback before the run says, in one ``CCM0900E``
line, what happened and what to do. In a job log read by an operator or scanned by a scheduler those
lines look like a crash of the engine. For the run's life its process sends them instead to the
run's operator log: one ``CCM0520W`` line per record of level WARNING or above, naming the logger and
the message, and for an exception its innermost cause (``ConnectionRefusedError: [Errno 111]
Connection refused``), never a traceback. The run's outcome is still decided and said by the run
(the exit code, ``CCM0900E … rerun with --restart``); Dask's lines say what it saw on the way.

The run's own local cluster's workers do the same (:func:`for_workers`): they write to the run's stderr,
which they inherit, so a task that fails (a full disk in a render task) would otherwise print Dask's
"Compute Failed" report with its traceback before the run's ``CCM0500E`` line. They learn the run's
verbosity from the environment of the fork server they are forked from (:data:`VERBOSITY_ENV`). The
workers of a cluster the operator started log where the operator set them to.
"""
from __future__ import annotations

import logging
import threading

from ..errors import exception_chain

MSGID = "CCM0520W"
LOGGERS = ("distributed", "distributed.client", "tornado", "bokeh")   # those distributed gives a handler
MAX_TEXT = 500
VERBOSITY_ENV = "CCM_DASK_LOG"   # the run's verbosity, for the workers of its own cluster (see for_workers)
_STATE: dict = {}
_LOCK = threading.Lock()


def one_line(record: logging.LogRecord) -> str:
    """The record as one line: its message and, for an exception, the innermost cause's type and text."""
    try:
        text = record.getMessage()
    except Exception:         # noqa: BLE001 - a record whose arguments do not format: its template
        text = str(record.msg)
    lines = text.split("\n")
    if len(lines) > 1 and lines[1].startswith("Key:"):     # a worker's "Compute Failed" report: its first
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)   # line, the task and the error
        text = "; ".join([lines[0].strip()] + [f"{name}: {fields[name].strip()}" for name in ("Key", "Exception")
                                                if name in fields])
    exc = record.exc_info[1] if record.exc_info else None
    cause = _innermost(exc) if exc is not None else None
    if cause is not None:
        told = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        text = f"{text.strip()}: {told}" if text.strip() else told
    text = " ".join(text.split()) or "(no message)"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _innermost(exc: BaseException) -> BaseException:
    """The deepest exception of ``exc``'s chain (causes, then contexts), passing over cancellations,
    which only say that a wait was given up, not why."""
    chain = list(exception_chain(exc))
    told = [e for e in chain if "Cancelled" not in type(e).__name__]
    return (told or chain)[-1]


class _ToOperator(logging.Handler):
    """Writes each record it gets to the operator log as a ``CCM0520W`` line."""

    def __init__(self, log):
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.message(MSGID, f"Dask {record.name}: {one_line(record)}")
        except Exception:     # noqa: BLE001 - logging must never break the run
            self.handleError(record)


def route(log) -> None:
    """Send Dask's records in this process to ``log`` from now until :func:`unroute` (the loggers are
    taken over at once if ``distributed`` is loaded, else by :func:`attach` once it is)."""
    with _LOCK:
        _STATE["log"] = log
    attach()


def attach() -> None:
    """Take Dask's loggers over for the routed log (after ``distributed`` was imported: its import
    installs the handlers replaced here). Does nothing when nothing is routed or they are taken already."""
    import sys
    if "distributed" not in sys.modules:
        return
    with _LOCK:
        log = _STATE.get("log")
        if log is None or "saved" in _STATE:
            return
        handler = _ToOperator(log)
        saved = []
        for name in LOGGERS:
            logger = logging.getLogger(name)
            saved.append((logger, list(logger.handlers), logger.propagate))
            logger.handlers = [handler]
            logger.propagate = False
        _STATE["saved"] = saved


def verbosity() -> int | None:
    """The verbosity of the log Dask's records are routed to in this process, if any."""
    log = _STATE.get("log")
    return None if log is None else log.verbosity


def tell(msgid: str, text: str) -> None:
    """Write a message of the Dask executor's own to the run's operator log (nothing when none is routed)."""
    log = _STATE.get("log")
    if log is not None:
        log.message(msgid, text)


def for_workers() -> None:
    """In a worker process of the run's own cluster (forked from its fork server): Dask's records as
    operator lines on stderr, at the run's verbosity (:data:`VERBOSITY_ENV`); nothing when it is unset."""
    import os
    level = os.environ.pop(VERBOSITY_ENV, "")
    if level.isdigit():
        from ..log import OperatorLog
        route(OperatorLog(verbosity=int(level)))


def unroute() -> None:
    """Give Dask's loggers their own handlers back (at the end of the run)."""
    with _LOCK:
        for logger, handlers, propagate in _STATE.pop("saved", ()):
            logger.handlers = handlers
            logger.propagate = propagate
        _STATE.clear()
