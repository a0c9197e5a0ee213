"""Run reporting to the operator: message ids and severities on stderr, a progress bar when interactive.

Messages have a stable id ``CCMnnnnS`` (S = I info, W warning, E error, S severe) that schedulers and
log scanners can match. On a terminal a tqdm progress bar shows progress; when stderr is not a terminal
(cron, a job scheduler) plain timestamped lines are written instead, and progress is logged every
few thousand records.
"""
from __future__ import annotations

import datetime as _dt
import sys

from tqdm import tqdm

INFO, WARNING, ERROR = "I", "W", "E"


class OperatorLog:
    """Writes operator messages and progress to ``stream`` (stderr by default).

    ``verbosity``: 0 quiet (errors and the final line only), 1 normal, 2 verbose (every warning).
    """

    def __init__(self, verbosity: int = 1, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.verbosity = verbosity
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._bar = None
        self._warnings_shown = 0

    def message(self, msgid: str, text: str, *, force: bool = False) -> None:
        """Write ``CCMnnnnS text`` (timestamped when not interactive)."""
        severity = msgid[-1]
        if not force:
            if self.verbosity == 0 and severity not in ("E", "S"):
                return
            if severity == "W" and self.verbosity < 2:
                self._warnings_shown += 1
                if self._warnings_shown > 20:
                    if self._warnings_shown == 21:
                        self._write("CCM0299I more warnings: see the run report (or use --verbose)")
                    return
        self._write(f"{msgid} {text}")

    def _write(self, line: str) -> None:
        if not self.interactive:
            stamp = _dt.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
            line = f"{stamp} {line}"
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def progress(self, total: int | None, desc: str, unit: str):
        """Start a progress phase; returns an object with ``update(n)`` and ``close()``."""
        return _Progress(self, total, desc, unit)


class _Progress:
    def __init__(self, log: OperatorLog, total, desc, unit):
        self.log, self.desc, self.unit, self.count = log, desc, unit, 0
        self._next_log = 10 if unit == "%" else 5000
        self._step = self._next_log
        self.bar = None
        if log.interactive and log.verbosity > 0:
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=log.stream, leave=False,
                            dynamic_ncols=True)
            log._bar = self.bar

    def update(self, n: int = 1, detail: str = "") -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.count >= self._next_log and self.log.verbosity > 0:
            suffix = f" ({detail})" if detail else ""
            self.log.message("CCM0201I", f"{self.desc}: {self.count}{' ' if self.unit != '%' else ''}"
                                         f"{self.unit}{suffix}")
            while self._next_log <= self.count:
                self._next_log += self._step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.log._bar = None
            self.bar = None
