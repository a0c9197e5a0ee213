"""Errors and exit codes shared by every stage (mainframe convention: 0, 4, 8, 12, 16)."""
from __future__ import annotations

EXIT_OK = 0            # all good
EXIT_WARNING = 4       # completed with warnings or rejects under the limit
EXIT_INCOMPLETE = 8    # completed but reject limit exceeded or output incomplete
EXIT_CONFIG = 12       # job / layout / configuration error: nothing trustworthy produced
EXIT_FAILURE = 16      # I/O or internal failure


def exception_chain(exc: BaseException | None):
    """``exc`` and what led to it, outermost first: each exception's cause, else its context (once each)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


class CcmError(Exception):
    """Base of the errors a user can act on; ``exit_code`` and ``msgid`` say how to report it."""
    exit_code = EXIT_FAILURE
    msgid = "CCM0900E"


class ConfigError(CcmError):
    """A job file, layout or option is wrong (exit 12). Message names file:line where known."""
    exit_code = EXIT_CONFIG
    msgid = "CCM0100E"


class LayoutError(ConfigError):
    """A layout definition is invalid (schema error, unknown field): ``file:line: message``."""
    msgid = "CCM0110E"


class InputError(CcmError):
    """An extract cannot be read any further (not well-formed XML, bad encoding): stops the run (exit 8)."""
    exit_code = EXIT_INCOMPLETE
    msgid = "CCM0300E"


class InputNotFound(CcmError):
    """An input file is missing or unreadable: an I/O failure (exit 16), as the README's table says."""
    exit_code = EXIT_FAILURE
    msgid = "CCM0300E"


class OutputError(CcmError):
    """An output cannot be written (unwritable directory, disk full): exit 16."""
    exit_code = EXIT_FAILURE
    msgid = "CCM0500E"


class RecordError(Exception):
    """One record cannot be used (validation or composition failure): it is rejected, the run goes on.

    ``field`` names the field or layout element at fault, ``page`` the page being composed if any.
    """

    def __init__(self, message: str, field: str = "", page: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.page = page
