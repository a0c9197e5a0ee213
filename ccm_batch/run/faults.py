"""Run orchestration: fault injection for restart tests (``CCM_FAULT=phase:n`` kills the run with SIGKILL).

Phases: ``compose`` (after the n-th committed chunk), ``render`` (after the n-th finished print file),
``plan`` (after the n-th mail-plan task a worker finished: a householding partition or a mailing's
presort; only where the plan has workers), ``presort`` (after the n-th presort task a worker finished,
its file written), ``commit`` (each step of the commit protocol, see :mod:`ccm_batch.run.commit`: 1 = before anything is
moved). Unset in production; read once per call site.

For the Dask executor's tests: ``CCM_FAULT_ONCE=PATH`` fires the fault only in the first process
that creates ``PATH`` (a worker killed once, its task rescheduled); ``CCM_FAULT_KILL=PID`` kills that
process (e.g. the scheduler) instead of the calling one.
"""
from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def checkpoint(phase: str) -> None:
    """Count a checkpoint of ``phase``; die like ``kill -9`` when CCM_FAULT asks for this one."""
    spec = os.environ.get("CCM_FAULT")
    if not spec:
        return
    want, _, n = spec.partition(":")
    if want != phase:
        return
    _counts[phase] = _counts.get(phase, 0) + 1
    if _counts[phase] >= int(n or 1):
        once = os.environ.get("CCM_FAULT_ONCE")
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
        os.kill(int(os.environ.get("CCM_FAULT_KILL") or os.getpid()), signal.SIGKILL)
