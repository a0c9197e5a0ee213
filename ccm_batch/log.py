"""Run reporting to the operator: message ids and severities on stderr, a progress bar when interactive.

Messages have a stable id ``CCMnnnnS`` (S = I info, W warning, E error, S severe) that schedulers and
log scanners can match. On a terminal a tqdm progress bar shows progress; when stderr is not a terminal
(cron, a job scheduler) plain timestamped lines are written instead, and progress is logged every
few thousand records.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys

from tqdm import tqdm

INFO, WARNING, ERROR = "I", "W", "E"


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``1 print file``, ``2 print files``, ``1,200 mail pieces`` (thousands separated)."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


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
        else:           # one write, newline included: a non-interactive stderr writes through, and
            self.stream.write(line + "\n")   # print's two writes let the workers sharing it (compose,
            self.stream.flush()               # render, Dask) put their lines in each other's middle

    def progress(self, total: int, desc: str):
        """Start a progress phase over ``total`` units of work (bytes of the extract, documents, ...);
        returns an object with ``set(done, detail)``, ``update(n, detail)`` and ``finish(detail)``."""
        return _Progress(self, total, desc)


def _terminal_size(stream) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
        return size.columns, size.lines
    except (OSError, AttributeError, ValueError):
        return 0, 0


class _Progress:
    """A bar on a terminal (percent, bar, then what was done in words: ``1,234 records read``);
    otherwise a ``CCM0201I`` line at every 10 % step (when one update passes several steps, each gets its
    line and the last one the counts), and a last line at 100 % with the true counts (:meth:`finish`)."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {unit} [{elapsed}<{remaining}]"    # unit: the detail

    def __init__(self, log: OperatorLog, total, desc):
        self.log, self.desc = log, desc
        self.total = max(int(total or 0), 1)
        self.done = 0
        self._logged = 0                  # last percentage logged (lines mode)
        self.bar = None
        if log.interactive and log.verbosity > 0:
            cols, rows = _terminal_size(log.stream)
            # a pseudo-terminal that was never sized reports 0 x 0, and tqdm then draws nothing at all
            # (it takes the bar for a line below the screen): draw 80 x 24 rather than nothing
            sized = cols > 0 and rows > 0
            self.bar = tqdm(total=self.total, desc=desc, file=log.stream, leave=False, bar_format=self.FORMAT,
                            dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24,
                            unit="")
            log._bar = self.bar

    def set(self, done: int, detail: str = "") -> None:
        """The work done so far is ``done`` (of ``total``); ``detail`` says it in words."""
        done = min(max(int(done), 0), self.total)
        if self.bar is not None:
            if detail:
                self.bar.unit = detail
            self.bar.update(done - self.done)
        elif self.log.verbosity > 0:
            reached = min(done * 100 // self.total // 10 * 10, 90)     # 100 % is said by finish()
            for step in range(self._logged + 10, reached + 1, 10):      # every step, none skipped; the
                last = step == reached                                  # counts go with the last one
                self.log.message("CCM0201I", f"{self.desc}: {step}%" + (f" ({detail})" if detail and last else ""))
            self._logged = max(self._logged, reached)
        self.done = done

    def update(self, n: int = 1, detail: str = "") -> None:
        self.set(self.done + n, detail)

    def finish(self, detail: str = "") -> None:
        """The phase is complete: 100 % with the true counts, then close."""
        if self.bar is not None:
            self.set(self.total, detail)
            self.bar.refresh()
        elif self.log.verbosity > 0:
            self.log.message("CCM0201I", f"{self.desc}: 100%" + (f" ({detail})" if detail else ""))
        self.done = self.total
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.log._bar = None
            self.bar = None
