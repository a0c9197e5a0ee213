"""Run orchestration: the run lock — one run at a time per output directory and per work directory.

A run holds an exclusive ``flock`` on ``.ccm-run.lock`` in its output directory (and on
``.ccm-work-JOB.lock`` beside its work directory when that is elsewhere) for its whole life; the file
holds the PID. A second run finds the lock held and stops at once naming that PID (``CCM0510E``,
exit 16: the job is right, the directory is busy — run it again once the other run has ended). The
kernel drops an ``flock`` when its holder dies, even by ``kill -9``: a lock file left behind by a dead
run is stale, and the next run takes it over with a warning (``CCM0511W``). Forked compose and render
workers inherit the lock, so a run whose main process was killed while its workers still run stays
locked until they are gone. The lock files are removed when the run ends.
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ..errors import OutputError


class RunBusy(OutputError):
    """Another run holds the lock of this output or work directory (exit 16)."""
    msgid = "CCM0510E"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None


class RunLock:
    """Exclusive locks on ``paths`` (lock files), taken in order; ``release()`` removes them.

    ``warn(message)`` is called once per stale lock taken over.
    """

    def __init__(self, paths, warn=lambda message: None):
        self.paths = [Path(p) for p in dict.fromkeys(paths)]
        self.warn = warn
        self._held: list[tuple[Path, int]] = []

    def acquire(self) -> RunLock:
        try:
            for path in self.paths:
                self._held.append((path, self._take(path)))
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, path: Path) -> int:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot create the run lock {path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputError(f"cannot lock {path}: {exc.strerror}") from None
                who = f"PID {holder}" if holder else "another process"
                if holder and not _pid_alive(holder):
                    who += " (ended, but its workers are still running)"
                raise RunBusy(f"another run ({who}) is using this directory: lock {path} is held. "
                              "Wait for it to end (or stop it), then run again.") from None
            # the file may have been removed and recreated by the holder's release between our open
            # and our flock: then we hold a lock on a deleted file; start again on the current one
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            stale = _read_pid(fd)
            if stale and stale != os.getpid():
                self.warn(f"stale lock {path} of PID {stale} taken over (that run has ended)")
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd

    def release(self) -> None:
        """Remove the lock files (while still holding them) and unlock."""
        while self._held:
            path, fd = self._held.pop()
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    os.unlink(path)
            except OSError:
                pass
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
