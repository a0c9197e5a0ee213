"""Run orchestration: a full disk (or quota) named as such — one line naming the path, exit 16, nothing
released, the work directory kept so that ``--restart`` finishes the run once space is freed."""
from __future__ import annotations

import errno
import sqlite3

from ..errors import OutputError

NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
EXIT_NO_SPACE = 28          # a worker's exit status when the disk is too full even for its status file


def is_no_space(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is a full disk or an exceeded quota."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
            return True
        if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def no_space_error(exc: BaseException | None, where) -> OutputError:
    """The operator's error: the file the failed write named, else the directory being written."""
    if getattr(exc, "no_space", False):                  # already ours (raised deeper in the run)
        return exc
    top, path, seen = exc, None, set()
    while exc is not None and path is None and id(exc) not in seen:    # the failed write's file, if named
        seen.add(id(exc))
        path = getattr(exc, "filename", None)
        exc = exc.__cause__ or exc.__context__
    if path is None and isinstance(top, OutputError):     # a writer's own message names its file
        path = str(top).split(": ")[0].removeprefix("cannot write ")
    path = path or where
    err = OutputError(f"no space left on device writing {path}: nothing was released and the work directory is "
                      "kept; free space on that file system, then rerun with --restart to finish the run")
    err.no_space = True
    return err
