"""Dask's log records in the run's process become one-line operator messages (``ccm_batch.run.dask_log``)."""
from __future__ import annotations

import asyncio
import io
import logging

import distributed  # noqa: F401 - in the test extra: its import installs the handlers taken over here

from ccm_batch.log import OperatorLog
from ccm_batch.run import dask_log


def _lost_scheduler_error() -> BaseException:
    """The chain a Dask client logs when it gives up reconnecting: a cancelled wait whose context is a
    closed comm caused by a refused connection."""
    try:
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError as exc:
                raise OSError("in <TCPConnector>: ConnectionRefusedError: [Errno 111] Connection refused") from exc
        except OSError:
            raise asyncio.CancelledError()
    except asyncio.CancelledError as exc:
        return exc


def _record(msg: str, exc: BaseException | None = None, level=logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("distributed.client", level, __file__, 1, msg, (),
                             (type(exc), exc, exc.__traceback__) if exc is not None else None)


def test_an_exception_is_told_by_its_innermost_cause_on_one_line():
    assert dask_log.one_line(_record("", _lost_scheduler_error())) == \
        "ConnectionRefusedError: [Errno 111] Connection refused"
    assert dask_log.one_line(_record("Reconnect failed\n  retrying", _lost_scheduler_error())) == \
        "Reconnect failed retrying: ConnectionRefusedError: [Errno 111] Connection refused"
    assert dask_log.one_line(_record("worker %s lost", None)) == "worker %s lost"     # no args: as written
    assert dask_log.one_line(_record("")) == "(no message)"
    long = dask_log.one_line(_record("x" * 1000))
    assert len(long) == dask_log.MAX_TEXT and long.endswith("…")


def test_a_workers_compute_failed_report_keeps_its_task_and_error():
    report = ("Compute Failed\nKey:       ccm-render-bench_001\nState:     executing\n"
              "Task:  <Task 'ccm-render-bench_001' render_file(...)>\n"
              "Exception: \"OutputError('cannot write /w/x.part: No space left on device')\"\n"
              "Traceback: '  File \"/w/ccm_batch/run/dask_executor.py\", line 343, in render_file\\n'\n")
    assert dask_log.one_line(_record(report)) == ("Compute Failed; Key: ccm-render-bench_001; Exception: "
                                                  "\"OutputError('cannot write /w/x.part: No space left on device')\"")


def test_only_a_cancellation_is_still_named():
    assert dask_log.one_line(_record("", asyncio.CancelledError())) == "CancelledError"


def test_the_run_log_takes_dasks_loggers_and_gives_them_back():
    dask_out = io.StringIO()            # what importing distributed does: a stream handler of its own
    own = logging.StreamHandler(dask_out)
    loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client")]
    kept = [(logger, list(logger.handlers), logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [own], False
    try:
        before = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
                  for name in dask_log.LOGGERS}
        out = io.StringIO()
        dask_log.route(OperatorLog(verbosity=1, stream=out, interactive=False))
        try:
            logging.getLogger("distributed.client").error("", exc_info=_lost_scheduler_error())
            logging.getLogger("distributed.nanny").warning("Restarting worker")   # a child: through its parent
            logging.getLogger("distributed.scheduler").info("Register worker")   # below WARNING: not shown
            dask_log.route(OperatorLog(verbosity=1, stream=io.StringIO(), interactive=False))   # taken once
        finally:
            dask_log.unroute()
        lines = out.getvalue().splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == [
            "CCM0520W Dask distributed.client: ConnectionRefusedError: [Errno 111] Connection refused",
            "CCM0520W Dask distributed.nanny: Restarting worker"]
        assert dask_out.getvalue() == ""          # nothing in Dask's format, no traceback
        after = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
                 for name in dask_log.LOGGERS}
        assert after == before
        logging.getLogger("distributed.client").error("after the run")     # Dask's own handler again
        assert dask_out.getvalue() == "after the run\n"
    finally:
        for logger, handlers, propagate in kept:
            logger.handlers, logger.propagate = handlers, propagate


def test_quiet_runs_leave_dasks_warnings_out():
    out = io.StringIO()
    dask_log.route(OperatorLog(verbosity=0, stream=out, interactive=False))
    try:
        logging.getLogger("distributed.client").error("Failed to reconnect to scheduler, closing client")
    finally:
        dask_log.unroute()
    assert out.getvalue() == ""
