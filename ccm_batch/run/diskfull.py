"""Run orchestration: a full disk (or quota) named as such — one line naming the path, exit 16, nothing
released, the work directory kept so that ``--restart`` finishes the run once space is freed."""
from __future__ import annotations

import errno
import sqlite3

from ..errors import OutputError, exception_chain

NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
EXIT_NO_SPACE = 28          # a worker's exit status when the disk is too full even for its status file


def is_no_space(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is a full disk or an exceeded quota."""
    for link in exception_chain(exc):
        if isinstance(link, OSError) and link.errno in NO_SPACE_ERRNOS:
            return True
        if isinstance(link, sqlite3.OperationalError) and "disk is full" in str(link):
            return True
    return False


def no_space_error(exc: BaseException | None, where) -> OutputError:
    """The operator's error: the file the failed write named, else the directory being written."""
    if getattr(exc, "no_space", False):                  # already ours (raised deeper in the run)
        return exc
    path = next((link.filename for link in exception_chain(exc)              # the failed write's file, if named
                 if getattr(link, "filename", None) is not None), None)
    if path is None and isinstance(exc, OutputError):     # a writer's own message names its file
        path = str(exc).split(": ")[0].removeprefix("cannot write ")
    path = path or where
    err = OutputError(f"no space left on device writing {path}: nothing was released and the work directory is "
                      "kept; free space on that file system, then rerun with --restart to finish the run")
    err.no_space = True
    return err
