"""Archive stage: streaming archive index writers (CSV, JSONL, CMOD generic indexer), one entry per document.

Usage, from the render loop (one entry as each document is rendered; nothing held for the run)::

    indexes = write_indexes(("csv", "cmod"), out_dir, "RUN42")        # opened under temporary names
    ...
    facts = renderer.end_document()
    indexes.add(meta, facts, "RUN42_0001.afp", "afp", archive_file="")  # after each document
    ...
    indexes.commit()        # rename into place; on failure: indexes.abort() removes the temporaries

Every writer writes ``<path>.part`` and renames it to ``<path>`` on :meth:`commit`; :meth:`abort` removes
it. Output is deterministic: same calls, same bytes (UTF-8, ``\\n`` line ends, no timestamps).

Formats and files (``basename`` from :func:`write_indexes`):

``{basename}.index.csv``
    Header row, then one row per document. Columns: ``doc_id, customer_id, doc_type, date``, the
    declared index fields (one column per ``meta.index`` name, in declaration order), then
    ``print_file, format, first_page, page_count, sheet_count, offset, length, archive_file,
    verify_text``. ``offset``/``length`` (bytes of the BNG…ENG page group) are filled for AFP and
    empty for PDF. An index field whose name is one of the trailing column names is headed
    ``index_<name>``. Readers find index columns positionally, between ``date`` and ``print_file``.
    If documents declare different index names (several layouts in one run), the header is the
    union in first-seen order and missing values are empty: the file is rebuilt once at commit
    (streaming, from the temporary file and a side file of the deviating rows).
``{basename}.index.jsonl``
    One JSON object per line with the same keys, the declared fields nested as ``"index": {name:
    value}``; ``offset``/``length`` are ``null`` for PDF.
``{basename}.cmod.ind``
    IBM Content Manager OnDemand generic indexer parameter file (afp.md §11.2): ``CODEPAGE:819``
    (ISO 8859-1; the file is encoded in that code page, see :data:`CMOD_CODECS`), one
    ``COMMENT:`` line (plus, for an AFP print file, ``COMMENT:ccm-batch AFP resources=NAME`` naming
    the resource file beside it: :mod:`ccm_batch.archive.resources`), then per document ``GROUP_FIELD_NAME:``/``GROUP_FIELD_VALUE:`` pairs for
    every archive field (:func:`ccm_batch.archive.tle.document_fields`), ``GROUP_OFFSET:``,
    ``GROUP_LENGTH:``, ``GROUP_FILENAME:``. A group always holds exactly one document. AFP:
    offset/length of the document's page group in the print file. PDF: a byte range of a
    multi-document PDF is not a loadable document, so following afp.md ("the generic indexer suits
    one document per file, e.g. the PDF twin") the group names the document's own PDF
    (``archive_file``, from :class:`ArchivePdfWriter`) with ``GROUP_OFFSET:0``/``GROUP_LENGTH:0``
    (= whole file). A PDF document without its own file raises :class:`ConfigError` (a run asking for
    a ``cmod`` index of PDF output always writes per-document PDFs: ``JobConfig.per_document_pdf``).
    With ``group_filename_absolute`` the ``GROUP_FILENAME`` is an absolute path under ``base_dir``
    (the directory the run's outputs land in), as ``arsload`` run elsewhere needs.
    Values are written as given (line breaks become spaces; characters the code page lacks become
    ``?``). At most 128 fields per group (OnDemand's limit): more raises :class:`ConfigError`.

E-invoices (a job with ``[einvoice]``, ``write_indexes(..., einvoice=True)``): each document's e-invoice
files (:mod:`ccm_batch.einvoice`: the Factur-X PDF, the CII / UBL XML in ``einvoice/<platform>/``) are
referenced by their path relative to the output directory and their format and profile. CSV: two more
columns after ``verify_text``, ``einvoice_file`` and ``einvoice_format`` (``factur-x:en16931``), several
files separated by ``;`` in the same order, empty for a document without an e-invoice (a consumer);
JSONL: ``"einvoice": [{"file", "format", "profile"}]``; CMOD: two more group fields ``einvoice_file`` and
``einvoice_format`` (define them in the application group). ``index verify`` checks every referenced
file exists and is a valid Factur-X PDF/A-3 or XML (:mod:`ccm_batch.archive.verify`).

``verify_text`` (CSV/JSONL) is the text :mod:`ccm_batch.archive.verify` looks for on a PDF
document's first page: the value of the field named by ``verify_field`` (default ``doc_id``; falls
back to ``doc_id`` for a document lacking that field). The CMOD file records ``verify_field`` in its
``COMMENT:`` line (``COMMENT:ccm-batch archive index verify_field=doc_id``).
"""
from __future__ import annotations

import csv
import json
import os
from typing import NamedTuple, Protocol

from ..errors import ConfigError, OutputError
from ..pages import DocumentMeta
from ..render.base import DocumentFacts
from .tle import FIXED_FIELDS, document_fields

FORMATS = ("csv", "jsonl", "cmod")
SUFFIXES = {"csv": ".index.csv", "jsonl": ".index.jsonl", "cmod": ".cmod.ind"}
TRAILING_COLUMNS = ("print_file", "format", "first_page", "page_count", "sheet_count",
                    "offset", "length", "archive_file", "verify_text")
EINVOICE_COLUMNS = ("einvoice_file", "einvoice_format")
"""Columns (CSV) and CMOD fields after the others in the indexes of a job with ``[einvoice]``."""
INDEX_PREFIX = "index_"
CMOD_CODECS = {819: "latin-1", 1252: "cp1252", 1208: "utf-8", 850: "cp850", 500: "cp500", 37: "cp037"}
"""CMOD ``CODEPAGE:`` values this writer can encode, with their Python codecs."""
CMOD_MAX_FIELDS = 128
CMOD_COMMENT = "COMMENT:ccm-batch archive index verify_field="
CMOD_RESOURCES = "COMMENT:ccm-batch AFP resources="


class IndexEntry(NamedTuple):
    """One document as an archive index lists it (what writers write and readers return).

    ``fields`` holds the declared index fields only (the fixed four are attributes), deduplicated
    as in :func:`~ccm_batch.archive.tle.document_fields`. ``offset``/``length`` are ``None`` where
    not applicable (PDF). ``first_page``/``page_count``/``sheet_count`` are 0 when the index does not
    carry them (CMOD), ``fmt`` is ``""`` when unknown (CMOD: decided from the file's first bytes).
    ``line`` is the 1-based line in the index file where the entry starts (0 when not read).
    """
    doc_id: str
    customer_id: str
    doc_type: str
    date: str
    fields: tuple
    print_file: str
    fmt: str
    first_page: int
    page_count: int
    sheet_count: int
    offset: int | None
    length: int | None
    archive_file: str = ""
    verify_text: str = ""
    line: int = 0
    resources: str = ""          # CMOD: the AFP resource file the index references ("" = none)
    einvoice: tuple = ()         # the document's e-invoice files: (file, format, profile), see the module docstring

    def archive_fields(self) -> list[tuple[str, str]]:
        """Fixed fields then declared fields, as TLEs and CMOD groups carry them."""
        return [("doc_id", self.doc_id), ("customer_id", self.customer_id),
                ("doc_type", self.doc_type), ("date", self.date)] + list(self.fields)


def make_entry(meta: DocumentMeta, facts: DocumentFacts, print_file: str, fmt: str,
               archive_file: str = "", verify_field: str = "doc_id", einvoice: tuple = ()) -> IndexEntry:
    """The index entry of a rendered document. Raises ``ValueError`` on a bad ``fmt`` or mismatched facts."""
    if fmt not in ("pdf", "afp"):
        raise ValueError(f"index entry format must be 'pdf' or 'afp', not {fmt!r}")
    if facts.doc_id != meta.doc_id:
        raise ValueError(f"document facts for {facts.doc_id!r} given with metadata of {meta.doc_id!r}")
    fields = document_fields(meta)
    verify = dict((name.casefold(), value) for name, value in fields).get(verify_field.casefold())
    afp = fmt == "afp"
    return IndexEntry(
        doc_id=fields[0][1], customer_id=fields[1][1], doc_type=fields[2][1], date=fields[3][1],
        fields=tuple(fields[len(FIXED_FIELDS):]), print_file=print_file, fmt=fmt,
        first_page=facts.first_page, page_count=facts.page_count, sheet_count=facts.sheet_count,
        offset=facts.offset if afp else None, length=facts.length if afp else None,
        archive_file=archive_file or "", verify_text=verify if verify else fields[0][1],
        einvoice=tuple(tuple(e) for e in einvoice))


def einvoice_values(entry: IndexEntry) -> tuple[str, str]:
    """The ``einvoice_file`` and ``einvoice_format`` values of an entry (``;``-separated, '' for none)."""
    return (";".join(e[0] for e in entry.einvoice), ";".join(f"{e[1]}:{e[2]}" for e in entry.einvoice))


def parse_einvoice(files: str, formats: str) -> tuple:
    """The inverse of :func:`einvoice_values`: ``((file, format, profile), ...)``; ValueError when the
    two lists do not match."""
    names = [f for f in (files or "").split(";") if f]
    kinds = [f for f in (formats or "").split(";") if f]
    if len(names) != len(kinds):
        raise ValueError(f"{len(names)} e-invoice file(s) but {len(kinds)} format(s)")
    return tuple((n, *(k.split(":", 1) if ":" in k else (k, ""))) for n, k in zip(names, kinds))


class IndexWriter(Protocol):
    """A streaming archive index: ``open`` once, ``add`` per document, then ``commit`` or ``abort``."""

    path: str

    def open(self, path: str) -> None: ...
    def add(self, meta: DocumentMeta, facts: DocumentFacts, print_file: str, fmt: str,
            archive_file: str = "", einvoice: tuple = ()) -> None: ...
    def commit(self) -> str: ...
    def abort(self) -> None: ...


class _CommitOnExit:
    """``with`` support: ``commit()`` when the block ends normally, ``abort()`` when it raises."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


class _AtomicWriter(_CommitOnExit):
    """Common part: a text file written as ``<path>.part`` and renamed on commit."""

    encoding = "utf-8"

    def __init__(self, verify_field: str = "doc_id", einvoice: bool = False):
        self.verify_field = verify_field
        self.einvoice = einvoice         # the job makes e-invoices: every entry says which (maybe none)
        self.path = ""
        self.count = 0
        self._out = None

    @property
    def temp_path(self) -> str:
        return self.path + ".part"

    def open(self, path: str) -> None:
        """Start writing the index that :meth:`commit` will place at ``path``."""
        self.path = os.fspath(path)
        try:
            self._out = open(self.temp_path, "w", encoding=self.encoding, newline="")
        except OSError as exc:
            raise OutputError(f"cannot write archive index {self.temp_path}: {exc.strerror}") from exc
        self.count = 0
        self._start()

    def add(self, meta: DocumentMeta, facts: DocumentFacts, print_file: str, fmt: str,
            archive_file: str = "", einvoice: tuple = ()) -> None:
        """Write the entry of one rendered document (``fmt`` is the print file's format; ``einvoice`` its
        e-invoice files as ``(file, format, profile)``)."""
        if self._out is None:
            raise RuntimeError("index writer used before open() or after commit()/abort()")
        entry = make_entry(meta, facts, print_file, fmt, archive_file, self.verify_field, einvoice)
        self._write(entry)
        self.count += 1

    def commit(self) -> str:
        """Finish the file and rename it into place; returns the final path."""
        if self._out is None:
            raise RuntimeError("index writer committed before open() or twice")
        try:
            self._end()
            self._out.close()
            self._out = None
            self._finish()
            os.replace(self.temp_path, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write archive index {self.path}: {exc.strerror}") from exc
        return self.path

    def abort(self) -> None:
        """Drop the temporary file(s); the final path is left untouched."""
        if self._out is not None:
            self._out.close()
            self._out = None
        for path in self._temporaries():
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def _temporaries(self) -> list[str]:
        return [self.temp_path] if self.path else []

    def _start(self) -> None:
        pass

    def _write(self, entry: IndexEntry) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        """Last writes to the open temporary file."""

    def _finish(self) -> None:
        """Post-processing of the closed temporary file before the rename."""


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def csv_column(name: str) -> str:
    """The CSV header of a declared index field (prefixed when it clashes with a trailing column)."""
    return INDEX_PREFIX + name if name.casefold() in TRAILING_COLUMNS else name


class CsvIndexWriter(_AtomicWriter):
    """``{basename}.index.csv``: a header row and one row per document (see the module docstring)."""

    def __init__(self, verify_field: str = "doc_id", delimiter: str = ",", einvoice: bool = False):
        super().__init__(verify_field, einvoice)
        self.delimiter = delimiter
        self._names: list[str] | None = None     # header index names (first document's)
        self._union: list[str] = []
        self._side = None                         # deviating rows, for the rebuild at commit

    def _start(self) -> None:
        self._csv = csv.writer(self._out, delimiter=self.delimiter, lineterminator="\n")
        self._names = None
        self._union = []
        self._side = None

    def _temporaries(self) -> list[str]:
        if self._side is not None and not self._side.closed:
            self._side.close()
        if not self.path:
            return []
        return super()._temporaries() + [self.path + ".rows.part", self.path + ".union.part"]

    def _header(self, names: list[str]) -> list[str]:
        return list(FIXED_FIELDS) + [csv_column(n) for n in names] + list(TRAILING_COLUMNS) \
            + (list(EINVOICE_COLUMNS) if self.einvoice else [])

    def _row(self, entry: IndexEntry, names: list[str], values: dict) -> list[str]:
        return ([entry.doc_id, entry.customer_id, entry.doc_type, entry.date]
                + [_flat(values.get(n, "")) for n in names]
                + [entry.print_file, entry.fmt, str(entry.first_page), str(entry.page_count),
                   str(entry.sheet_count), _number(entry.offset), _number(entry.length),
                   entry.archive_file, _flat(entry.verify_text)]
                + (list(einvoice_values(entry)) if self.einvoice else []))

    def _write(self, entry: IndexEntry) -> None:
        names = [n for n, _ in entry.fields]
        values = dict(entry.fields)
        if self._names is None:
            self._names = names
            self._union = list(names)
            self._csv.writerow(self._header(names))
        elif names != self._names:
            new = [n for n in names if n not in self._union]
            self._union.extend(new)
            if self._side is None:
                self._side = open(self.path + ".rows.part", "w", encoding="utf-8", newline="")
            self._side.write(json.dumps([self.count, entry.fields], ensure_ascii=False) + "\n")
        self._csv.writerow(self._row(entry, self._names, values))

    def _end(self) -> None:
        if self._names is None:
            self._csv.writerow(self._header([]))

    def _finish(self) -> None:
        if self._side is None:
            return
        self._side.close()
        if self._union == self._names:
            os.remove(self.path + ".rows.part")
            return
        rebuilt = self.path + ".union.part"
        with open(self.temp_path, encoding="utf-8", newline="") as rows, \
                open(self.path + ".rows.part", encoding="utf-8") as side, \
                open(rebuilt, "w", encoding="utf-8", newline="") as out:
            reader = csv.reader(rows, delimiter=self.delimiter)
            writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\n")
            next(reader)
            writer.writerow(self._header(self._union))
            width = len(self._names)
            pending = _next_side(side)
            for number, row in enumerate(reader):
                values = dict(zip(self._names, row[4:4 + width]))
                if pending is not None and pending[0] == number:
                    values = dict(pending[1])
                    pending = _next_side(side)
                writer.writerow(row[:4] + [_flat(values.get(n, "")) for n in self._union]
                                + row[4 + width:])
        os.replace(rebuilt, self.temp_path)
        os.remove(self.path + ".rows.part")


def _next_side(side) -> tuple | None:
    line = side.readline()
    return json.loads(line) if line else None


def _flat(value: str) -> str:
    """One-line text: CR/LF (and other line separators) become spaces, so every entry is one line."""
    return " ".join(str(value).splitlines()) if value else ""


class JsonlIndexWriter(_AtomicWriter):
    """``{basename}.index.jsonl``: one JSON object per document (see the module docstring)."""

    def _write(self, entry: IndexEntry) -> None:
        record = {
            "doc_id": entry.doc_id, "customer_id": entry.customer_id, "doc_type": entry.doc_type,
            "date": entry.date, "index": dict(entry.fields), "print_file": entry.print_file,
            "format": entry.fmt, "first_page": entry.first_page, "page_count": entry.page_count,
            "sheet_count": entry.sheet_count, "offset": entry.offset, "length": entry.length,
            "archive_file": entry.archive_file, "verify_text": entry.verify_text,
        }
        if self.einvoice:
            record["einvoice"] = [{"file": f, "format": k, "profile": p} for f, k, p in entry.einvoice]
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")


class CmodIndexWriter(_AtomicWriter):
    """``{basename}.cmod.ind``: an OnDemand generic indexer parameter file (see the module docstring).

    ``codepage`` is the ``CODEPAGE:`` value (a key of :data:`CMOD_CODECS`); the file is encoded in it.
    """

    def __init__(self, verify_field: str = "doc_id", codepage: int = 819,
                 group_filename_absolute: bool = False, base_dir: str = "", resource_file: str = "",
                 einvoice: bool = False):
        if codepage not in CMOD_CODECS:
            raise ConfigError(f"CMOD code page {codepage} is not supported "
                              f"(use one of {', '.join(map(str, sorted(CMOD_CODECS)))})")
        super().__init__(verify_field, einvoice)
        self.codepage = codepage
        self.encoding = CMOD_CODECS[codepage]
        self.group_filename_absolute = group_filename_absolute
        self.resource_file = resource_file
        self.base_dir = os.fspath(base_dir) if base_dir else ""
        if group_filename_absolute and not os.path.isabs(self.base_dir):
            raise ConfigError("an absolute GROUP_FILENAME needs the absolute output directory (base_dir)")

    def open(self, path: str) -> None:
        super().open(path)
        self._out.reconfigure(errors="replace")

    def _start(self) -> None:
        self._out.write(f"CODEPAGE:{self.codepage}\n")
        self._out.write(f"{CMOD_COMMENT}{_flat(self.verify_field)}\n")
        if self.resource_file:
            self._out.write(f"{CMOD_RESOURCES}{_flat(self._filename(self.resource_file))}\n")

    def _filename(self, name: str) -> str:
        if self.group_filename_absolute and not os.path.isabs(name):
            return os.path.join(self.base_dir, name)
        return name

    def _write(self, entry: IndexEntry) -> None:
        fields = entry.archive_fields()
        if self.einvoice:
            fields += list(zip(EINVOICE_COLUMNS, einvoice_values(entry)))
        if len(fields) > CMOD_MAX_FIELDS:
            raise ConfigError(f"document {entry.doc_id} has {len(fields)} archive fields; the OnDemand "
                              f"generic indexer accepts at most {CMOD_MAX_FIELDS}")
        lines = []
        if entry.fmt == "afp":
            offset, length, filename = entry.offset or 0, entry.length or 0, entry.print_file
        elif entry.archive_file:
            offset, length, filename = 0, 0, entry.archive_file
        else:
            raise ConfigError(f"document {entry.doc_id}: a CMOD group must hold exactly one document, but "
                              f"it has no per-document PDF and {entry.print_file} holds the whole print file; "
                              f"write per-document PDFs ([index] archive_pdf, implied by a 'cmod' index of "
                              f"a PDF run)")
        filename = self._filename(filename)
        for name, value in fields:
            lines.append(f"GROUP_FIELD_NAME:{_flat(name)}")
            lines.append(f"GROUP_FIELD_VALUE:{_flat(value)}")
        lines += [f"GROUP_OFFSET:{offset}", f"GROUP_LENGTH:{length}", f"GROUP_FILENAME:{_flat(filename)}"]
        self._out.write("\n".join(lines) + "\n")


WRITERS = {"csv": CsvIndexWriter, "jsonl": JsonlIndexWriter, "cmod": CmodIndexWriter}


def index_path(directory: str, basename: str, fmt: str) -> str:
    """Where :func:`write_indexes` puts the ``fmt`` index of ``basename``."""
    return os.path.join(directory, basename + SUFFIXES[fmt])


class IndexSet(_CommitOnExit):
    """The writers of one run, driven together: ``add`` goes to each, ``commit``/``abort`` to all."""

    def __init__(self, writers: dict[str, IndexWriter]):
        self.writers = dict(writers)

    @property
    def paths(self) -> dict[str, str]:
        """Final path per format."""
        return {fmt: w.path for fmt, w in self.writers.items()}

    def add(self, meta: DocumentMeta, facts: DocumentFacts, print_file: str, fmt: str,
            archive_file: str = "", einvoice: tuple = ()) -> None:
        """Add one document's entry to every index."""
        for writer in self.writers.values():
            writer.add(meta, facts, print_file, fmt, archive_file, einvoice)

    def commit(self) -> dict[str, str]:
        """Commit every index (aborting the rest if one fails); returns the final paths per format."""
        done = {}
        try:
            for fmt, writer in self.writers.items():
                done[fmt] = writer.commit()
        except Exception:
            self.abort()
            raise
        return done

    def abort(self) -> None:
        """Remove every index's temporary files."""
        for writer in self.writers.values():
            writer.abort()

    def __iter__(self):
        return iter(self.writers.values())

    def __len__(self) -> int:
        return len(self.writers)


def write_indexes(formats, directory: str, basename: str, *, verify_field: str = "doc_id",
                  cmod_codepage: int = 819, csv_delimiter: str = ",", cmod_absolute_dir: str = "",
                  cmod_resource_file: str = "", einvoice: bool = False) -> IndexSet:
    """Open one index writer per asked format (``csv``, ``jsonl``, ``cmod``) in ``directory``.

    ``cmod_absolute_dir``: write CMOD ``GROUP_FILENAME`` (and the resource file) as absolute paths in
    that directory (where the outputs will be). ``cmod_resource_file``: the AFP resource file the CMOD
    index references. ``einvoice``: the job makes e-invoices, every entry references its files (maybe none).

    Files are ``{basename}.index.csv``, ``{basename}.index.jsonl``, ``{basename}.cmod.ind``, written
    under ``.part`` names until :meth:`IndexSet.commit`. Unknown formats raise :class:`ConfigError`;
    repeated formats are opened once.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown archive index format(s) {', '.join(map(repr, unknown))} "
                          f"(choose from {', '.join(FORMATS)})")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create index directory {directory}: {exc.strerror}") from exc
    writers: dict[str, IndexWriter] = {}
    try:
        for fmt in dict.fromkeys(formats):
            if fmt == "csv":
                writer = CsvIndexWriter(verify_field, delimiter=csv_delimiter, einvoice=einvoice)
            elif fmt == "cmod":
                writer = CmodIndexWriter(verify_field, codepage=cmod_codepage,
                                         group_filename_absolute=bool(cmod_absolute_dir),
                                         base_dir=cmod_absolute_dir, resource_file=cmod_resource_file,
                                         einvoice=einvoice)
            else:
                writer = WRITERS[fmt](verify_field, einvoice)
            writer.open(index_path(directory, basename, fmt))
            writers[fmt] = writer
    except Exception:
        for writer in writers.values():
            writer.abort()
        raise
    return IndexSet(writers)
