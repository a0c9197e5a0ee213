"""Read stage: write rejected records byte for byte, with the reasons, as a re-runnable extract.

For a job ``<basename>`` a :class:`RejectWriter` writes two files in ``directory``:

``<basename>.rejects.xml`` (or ``.rejects.csv``)
    The rejected records' exact bytes (``Record.raw``), in the order added. For XML they are wrapped
    in the source's root element (its start tag copied byte for byte from the source, so namespace
    declarations and attributes are kept; ``<rejects>`` when the source cannot be read or the record
    is the root itself) after an XML declaration naming the source encoding, one record per line: the
    file is a valid extract in the same encoding that the same job can re-run once fixed. For CSV the
    source's header line comes first when it had one, then the rejected lines.
``<basename>.reasons.csv``
    UTF-8, ``\\n`` line ends, columns ``record,key,source,line,field,message``: one row per problem
    (a record with three problems has three rows). ``source`` is the extract's file name (not its
    full path, so the file is the same on every machine).

Both are written under temporary names (``.tmp`` suffix) and renamed by :meth:`RejectWriter.commit`;
:meth:`RejectWriter.abort` removes them. Decision: when nothing was rejected, ``commit`` writes no
file (unless ``always=True``, which writes a reasons file holding only its header and an empty
extract). Output is deterministic: no dates, no absolute paths.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from ..errors import OutputError, RecordError
from .model import SourceSpan
from .xml import TAG_REST, detect_encoding, root_start

REASON_COLUMNS = ("record", "key", "source", "line", "field", "message")


def normalise_problems(problems) -> list[tuple[str, str]]:
    """``(field, message)`` pairs from a Problem, a ``(field, message)`` tuple, a RecordError, a str or a list."""
    if problems is None:
        return [("", "rejected")]
    if isinstance(problems, (str, RecordError)) or (isinstance(problems, tuple) and len(problems) == 2
                                                     and all(isinstance(x, str) for x in problems)):
        problems = [problems]
    out = []
    for p in problems:
        if isinstance(p, RecordError):
            out.append((p.field or "", p.message + (f" (page {p.page})" if p.page else "")))
        elif isinstance(p, str):
            out.append(("", p))
        elif hasattr(p, "field") and hasattr(p, "message"):
            out.append((str(p.field), str(p.message)))
        else:
            field, message = p
            out.append((str(field), str(message)))
    return out or [("", "rejected")]


def read_envelope(source: str | Path, max_bytes: int = 1 << 20) -> tuple[bytes, bytes, int] | None:
    """``(root start tag, root qname, offset of the start tag)`` read from an XML file's head, or None."""
    try:
        with open(source, "rb") as f:
            head = f.read(max_bytes)
    except OSError:
        return None
    try:
        at = root_start(head)
    except Exception:  # noqa: BLE001 - a damaged head: fall back to <rejects>
        return None
    if at is None:
        return None
    m = TAG_REST.match(head, at + 1)
    if not m:
        return None
    tag = head[at:m.end()]
    name = re.match(rb"<([^\s/>]+)", tag)
    if not name or tag.endswith(b"/>"):
        return None
    return tag, name.group(1), at


def read_header_line(source: str | Path) -> bytes | None:
    """The first non-blank line of a CSV file (its header row), line ending included."""
    try:
        with open(source, "rb") as f:
            for line in f:
                if line.strip(b"\xef\xbb\xbf \t\r\n"):
                    return line
    except OSError:
        return None
    return None


class RejectWriter:
    """Writes rejected records and their reasons (see the module docstring).

    ``input_format`` is ``"xml"`` or ``"csv"``, or the job's
    :class:`~ccm_batch.records.config.InputConfig` (then its format, encoding and CSV ``header``
    setting are used). ``encoding`` names the source encoding for the XML declaration (default: the
    one the source declares, else UTF-8). ``header`` is the CSV header line: bytes, ``True`` (read
    it from the source file), ``False``/``None`` (none; the default unless an InputConfig says the
    file has a header row).
    """

    def __init__(self, directory, basename: str, input_format, encoding: str | None = None, *,
                 header: bytes | bool | None = None, always: bool = False):
        if not isinstance(input_format, str) and hasattr(input_format, "format"):
            cfg = input_format
            input_format = cfg.format
            encoding = encoding or getattr(cfg, "encoding", None)
            if header is None and cfg.format == "csv" and getattr(cfg, "csv", None) is not None:
                header = bool(cfg.csv.header)
        if input_format not in ("xml", "csv"):
            raise ValueError(f"input_format must be 'xml' or 'csv', not {input_format!r}")
        self.directory = Path(directory)
        self.basename = basename
        self.format = input_format
        self.encoding = encoding
        self.header = header
        self.always = always
        self.rejects_path = self.directory / f"{basename}.rejects.{input_format}"
        self.reasons_path = self.directory / f"{basename}.reasons.csv"
        self.count = 0
        self._data = None
        self._reasons = None
        self._csv = None
        self._close_tag = b""
        self._eol = b"\n"

    # -- temporary files ---------------------------------------------------------------------

    @staticmethod
    def _tmp(path: Path) -> Path:
        return path.with_name(path.name + ".tmp")

    def _open(self, source: str | None, first_offset: int | None, first_raw: bytes = b"") -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._data = open(self._tmp(self.rejects_path), "wb")
            self._reasons = open(self._tmp(self.reasons_path), "w", encoding="utf-8", newline="")
        except OSError as exc:
            self._close_files()
            raise OutputError(f"{self.directory}: cannot write the rejects files: {exc.strerror}") from None
        self._csv = csv.writer(self._reasons, lineterminator="\n")
        self._csv.writerow(REASON_COLUMNS)
        if self.format == "xml":
            self._data.write(self._xml_start(source, first_offset, first_raw))
        else:
            header = self.header
            if header is True:
                header = read_header_line(source) if source else None
            if isinstance(header, (bytes, bytearray)) and header:
                header = bytes(header)
                if header.endswith(b"\r\n"):
                    self._eol = b"\r\n"
                self._data.write(header if header.endswith(b"\n") else header + self._eol)

    def _xml_start(self, source: str | None, first_offset: int | None, first_raw: bytes) -> bytes:
        encoding = self.encoding
        envelope = read_envelope(source) if source else None
        if encoding is None and source:
            try:
                with open(source, "rb") as f:
                    encoding = detect_encoding(f.read(4096))
            except Exception:  # noqa: BLE001 - unreadable source: declare UTF-8
                encoding = None
        encoding = encoding or "UTF-8"
        if envelope is None or envelope[2] == first_offset or first_raw.startswith(envelope[0]):
            start, name = b"<rejects>", b"rejects"
        else:
            start, name = envelope[0], envelope[1]
        self._close_tag = b"</" + name + b">\n"
        return f'<?xml version="1.0" encoding="{encoding}"?>\n'.encode("ascii") + start + b"\n"

    def _close_files(self) -> None:
        for f in (self._data, self._reasons):
            if f is not None and not f.closed:
                f.close()

    # -- public API --------------------------------------------------------------------------

    def add(self, record, problems) -> None:
        """Reject ``record`` (a :class:`~ccm_batch.records.model.Record`) for ``problems``."""
        self.add_raw(record.number, record.key, record.source, record.line, record.raw, problems,
                     offset=record.offset)

    def add_raw(self, number: int, key: str, source: str, line: int, raw: bytes, problems, *,
                offset: int | None = None) -> None:
        """Reject a record given by its parts (as the runner keeps them in its spool)."""
        span = raw if isinstance(raw, SourceSpan) else None
        if self._data is None:
            self._open(source, offset, span.head(4096) if span else raw)
        try:
            if span is not None:          # a record over the size limit: copied from the extract
                for block in span.blocks():
                    self._data.write(block)
                raw = span.tail(2)
            else:
                self._data.write(raw)
            if self.format == "xml":
                self._data.write(b"\n")
            elif raw.endswith(b"\n"):
                self._eol = b"\r\n" if raw.endswith(b"\r\n") else b"\n"
            else:                        # the source's last line had no line end: use the file's
                self._data.write(self._eol)
            name = Path(source).name if source else ""
            for field, message in normalise_problems(problems):
                self._csv.writerow((number, key or "", name, line, field, message))
        except OSError as exc:
            raise OutputError(f"{self.directory}: cannot write the rejects files: {exc.strerror}") from None
        self.count += 1

    def commit(self) -> list[Path]:
        """Finish both files and move them to their final names; returns the paths written."""
        if self._data is None:
            if not self.always:
                return []
            self._open(None, None)
        try:
            if self.format == "xml":
                self._data.write(self._close_tag)
            self._close_files()
            os.replace(self._tmp(self.rejects_path), self.rejects_path)
            os.replace(self._tmp(self.reasons_path), self.reasons_path)
        except OSError as exc:
            raise OutputError(f"{self.directory}: cannot write the rejects files: {exc.strerror}") from None
        return [self.rejects_path, self.reasons_path]

    def abort(self) -> None:
        """Close and remove the temporary files (nothing is delivered)."""
        self._close_files()
        for path in (self.rejects_path, self.reasons_path):
            try:
                self._tmp(path).unlink()
            except FileNotFoundError:
                pass
        self._data = self._reasons = None

    def __enter__(self) -> "RejectWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

