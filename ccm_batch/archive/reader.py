"""Archive stage: reading archive indexes back (CSV, JSONL, CMOD generic indexer) as a stream of entries.

:func:`read_index` picks the format from the file name (``.csv``, ``.jsonl``, ``.ind``), or from the
first line when the name says nothing (``CODEPAGE:`` → CMOD, ``{`` → JSONL, else CSV), and yields
:class:`~ccm_batch.archive.index.IndexEntry` objects one at a time with their line numbers. A malformed
line raises :class:`IndexFormatError` carrying the line number; entries before it have been yielded.

CMOD groups carry no page numbers: their entries have ``first_page = page_count = sheet_count = 0``
(except a PDF group written without a per-document file, whose ``COMMENT:document … is pages a-b of …``
line gives ``first_page``/``page_count``),
``fmt = ""`` (the verifier sniffs the file), ``offset``/``length`` from ``GROUP_OFFSET``/
``GROUP_LENGTH``, ``print_file`` from ``GROUP_FILENAME`` (a blank one repeats the previous group's, as
OnDemand does), and ``verify_text`` from the field named in the ``COMMENT:ccm-batch … verify_field=``
line (``doc_id`` when absent). ``line`` is the line of the group's first ``GROUP_`` line.
"""
from __future__ import annotations

import csv
import json
import os
import re
from typing import Iterator

from ..errors import InputError
from .index import (CMOD_CODECS, CMOD_COMMENT, CMOD_RESOURCES, EINVOICE_COLUMNS, INDEX_PREFIX, TRAILING_COLUMNS,
                    IndexEntry, parse_einvoice)
from .tle import FIXED_FIELDS, merge_fields

_PAGE_RANGE = re.compile(r"COMMENT:document .* is pages (\d+)-(\d+) of ")


class IndexFormatError(InputError):
    """An archive index file cannot be read at ``line`` (exit 8)."""
    msgid = "CCM0610E"

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


def index_format(path: str) -> str:
    """``csv``, ``jsonl`` or ``cmod`` for an index file, from its name or its first line."""
    name = os.path.basename(path).lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".ind"):
        return "cmod"
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    if head.startswith(b"CODEPAGE:"):
        return "cmod"
    return "jsonl" if head.startswith(b"{") else "csv"


def read_index(path: str) -> Iterator[IndexEntry]:
    """The entries of an archive index, in file order (streaming)."""
    fmt = index_format(path)
    try:
        if fmt == "csv":
            yield from _read_csv(path)
        elif fmt == "jsonl":
            yield from _read_jsonl(path)
        else:
            yield from _read_cmod(path)
    except UnicodeDecodeError as exc:
        raise IndexFormatError(path, 0, f"not valid text in the expected encoding: {exc.reason}") from None


def _int(path: str, line: int, name: str, text, optional: bool = False) -> int | None:
    if text is None or text == "":
        if optional:
            return None
        raise IndexFormatError(path, line, f"{name} is empty")
    if isinstance(text, bool):
        raise IndexFormatError(path, line, f"{name} {text!r} is not a whole number")
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise IndexFormatError(path, line, f"{name} {text!r} is not a whole number") from None
    if value < 0:
        raise IndexFormatError(path, line, f"{name} {value} is negative")
    return value


def _field_name(column: str) -> str:
    if column.startswith(INDEX_PREFIX) and column[len(INDEX_PREFIX):].casefold() in TRAILING_COLUMNS:
        return column[len(INDEX_PREFIX):]
    return column


def _read_csv(path: str) -> Iterator[IndexEntry]:
    with open(path, encoding="utf-8", newline="") as f:
        sample = f.readline()
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        f.seek(0)
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise IndexFormatError(path, 1, "empty file: no header row")
        missing = [c for c in FIXED_FIELDS + TRAILING_COLUMNS if c not in header]
        if missing or header[:4] != list(FIXED_FIELDS):
            raise IndexFormatError(path, 1, "header lacks column(s) "
                                   + ", ".join(missing or FIXED_FIELDS) + " (not a ccm-batch index?)")
        start = header.index("print_file")
        names = [_field_name(c) for c in header[4:start]]
        trailing = {c: header.index(c) for c in TRAILING_COLUMNS + EINVOICE_COLUMNS if c in header}
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise IndexFormatError(path, line, f"{len(row)} columns, the header has {len(header)}")
            fields = tuple((n, v) for n, v in zip(names, row[4:start]) if v != "")
            yield _entry(path, line, row[0], row[1], row[2], row[3], fields,
                         {c: row[i] for c, i in trailing.items()})


def _read_jsonl(path: str) -> Iterator[IndexEntry]:
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise IndexFormatError(path, line, f"not JSON: {exc.msg} at column {exc.colno}") from None
            if not isinstance(record, dict):
                raise IndexFormatError(path, line, "not a JSON object")
            missing = [k for k in FIXED_FIELDS + TRAILING_COLUMNS if k not in record]
            if missing:
                raise IndexFormatError(path, line, "missing key(s) " + ", ".join(missing))
            index = record.get("index") or {}
            if not isinstance(index, dict):
                raise IndexFormatError(path, line, "'index' is not an object")
            fields = tuple((str(k), "" if v is None else str(v)) for k, v in index.items())
            cols = {k: record[k] for k in TRAILING_COLUMNS}
            einvoice = record.get("einvoice") or []
            if not isinstance(einvoice, list) or any(not isinstance(e, dict) or not e.get("file")
                                                     for e in einvoice):
                raise IndexFormatError(path, line, "'einvoice' is not a list of {file, format, profile}")
            cols["einvoice"] = tuple((str(e["file"]), str(e.get("format") or ""), str(e.get("profile") or ""))
                                     for e in einvoice)
            yield _entry(path, line, *(str(record[k]) for k in FIXED_FIELDS), fields, cols)


def _entry(path: str, line: int, doc_id: str, customer_id: str, doc_type: str, date: str,
           fields: tuple, cols: dict) -> IndexEntry:
    fmt = str(cols["format"] or "")
    if fmt not in ("pdf", "afp"):
        raise IndexFormatError(path, line, f"format {fmt!r} is neither 'pdf' nor 'afp'")
    afp = fmt == "afp"
    entry = IndexEntry(
        doc_id=doc_id, customer_id=customer_id, doc_type=doc_type, date=date,
        fields=tuple(merge_fields([], fields)), print_file=str(cols["print_file"] or ""), fmt=fmt,
        first_page=_int(path, line, "first_page", cols["first_page"]),
        page_count=_int(path, line, "page_count", cols["page_count"]),
        sheet_count=_int(path, line, "sheet_count", cols["sheet_count"]),
        offset=_int(path, line, "offset", cols["offset"], optional=not afp),
        length=_int(path, line, "length", cols["length"], optional=not afp),
        archive_file=str(cols["archive_file"] or ""), verify_text=str(cols["verify_text"] or ""),
        line=line, einvoice=cols.get("einvoice") or _einvoice(path, line, cols))
    if not entry.print_file:
        raise IndexFormatError(path, line, "print_file is empty")
    return entry


def _einvoice(path: str, line: int, cols: dict) -> tuple:
    """The e-invoice files of a CSV row or CMOD group (``einvoice_file`` / ``einvoice_format``)."""
    try:
        return parse_einvoice(cols.get("einvoice_file", ""), cols.get("einvoice_format", ""))
    except ValueError as exc:
        raise IndexFormatError(path, line, f"einvoice_file / einvoice_format: {exc}") from None


def _cmod_codepage(path: str) -> str:
    with open(path, "rb") as f:
        first = f.readline().decode("ascii", errors="replace").strip()
    if not first.startswith("CODEPAGE:"):
        raise IndexFormatError(path, 1, "a generic indexer file must start with a CODEPAGE: line")
    try:
        codepage = int(first[len("CODEPAGE:"):].strip())
    except ValueError:
        raise IndexFormatError(path, 1, f"bad {first!r}") from None
    if codepage not in CMOD_CODECS:
        raise IndexFormatError(path, 1, f"code page {codepage} cannot be decoded here")
    return CMOD_CODECS[codepage]


def _read_cmod(path: str) -> Iterator[IndexEntry]:
    codec = _cmod_codepage(path)
    verify_field = "doc_id"
    group: list[tuple[str, str]] = []
    pending_name: str | None = None
    offset = length = None
    start = 0
    pages = (0, 0)           # (first page, page count) from a "COMMENT:document … is pages a-b of …" line
    previous_file = ""
    resources = ""
    with open(path, encoding=codec, newline="") as f:
        for line, text in enumerate(f, 1):
            text = text.rstrip("\r\n")
            if line == 1 or not text.strip():
                continue
            key, sep, value = text.partition(":")
            key = key.strip().upper().replace(" ", "_")
            if not sep:
                raise IndexFormatError(path, line, f"not a KEY:value line: {text[:60]!r}")
            if key == "COMMENT":
                if text.startswith(CMOD_RESOURCES):
                    resources = text[len(CMOD_RESOURCES):].strip()
                elif text.startswith(CMOD_COMMENT):
                    verify_field = value.rpartition("verify_field=")[2].strip() or "doc_id"
                elif (match := _PAGE_RANGE.match(text)):
                    pages = (int(match.group(1)), int(match.group(2)) - int(match.group(1)) + 1)
                continue
            if not start:
                start = line
            if key == "GROUP_FIELD_NAME":
                if pending_name is not None:
                    raise IndexFormatError(path, line, f"GROUP_FIELD_NAME {pending_name!r} has no value")
                pending_name = value
            elif key == "GROUP_FIELD_VALUE":
                if pending_name is None:
                    raise IndexFormatError(path, line, "GROUP_FIELD_VALUE without GROUP_FIELD_NAME")
                group.append((pending_name, value))
                pending_name = None
            elif key == "GROUP_OFFSET":
                offset = _int(path, line, "GROUP_OFFSET", value.strip())
            elif key == "GROUP_LENGTH":
                length = _int(path, line, "GROUP_LENGTH", value.strip())
            elif key == "GROUP_FILENAME":
                filename = value.strip() or previous_file
                if not filename:
                    raise IndexFormatError(path, line, "GROUP_FILENAME is empty and no previous group names one")
                if pending_name is not None:
                    raise IndexFormatError(path, line, f"GROUP_FIELD_NAME {pending_name!r} has no value")
                yield _cmod_entry(path, start, group, offset, length, filename, verify_field, pages)._replace(
                    resources=resources)
                previous_file = filename
                group, offset, length, start, pages = [], None, None, 0, (0, 0)
            else:
                raise IndexFormatError(path, line, f"unknown generic indexer parameter {key}:")
    if start:
        raise IndexFormatError(path, start, "group without GROUP_FILENAME: at end of file")


def _cmod_entry(path: str, line: int, group: list, offset, length, filename: str,
                verify_field: str, pages: tuple[int, int]) -> IndexEntry:
    values = {}
    for name, value in group:
        values.setdefault(name.casefold(), value)
    missing = [n for n in FIXED_FIELDS if n not in values]
    if missing:
        raise IndexFormatError(path, line, "group lacks field(s) " + ", ".join(missing))
    einvoice = _einvoice(path, line, values)          # e-invoice references: not archive fields of the document
    group = [(n, v) for n, v in group if n.casefold() not in EINVOICE_COLUMNS]
    fields = tuple(merge_fields([(n, values[n]) for n in FIXED_FIELDS], group)[len(FIXED_FIELDS):])
    return IndexEntry(
        doc_id=values["doc_id"], customer_id=values["customer_id"], doc_type=values["doc_type"],
        date=values["date"], fields=fields, print_file=filename, fmt="",
        first_page=pages[0], page_count=pages[1], sheet_count=0,
        offset=0 if offset is None else offset, length=0 if length is None else length,
        archive_file="", verify_text=values.get(verify_field.casefold()) or values["doc_id"], line=line,
        einvoice=einvoice)
