"""Run orchestration: fault injection for restart tests (``CCM_FAULT=phase:n`` kills the run with SIGKILL).

Phases: ``compose`` (after the n-th committed chunk), ``render`` (after the n-th finished print file),
``commit`` (before the staged outputs are moved). Unset in production; read once per call site.
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
        os.kill(os.getpid(), signal.SIGKILL)
