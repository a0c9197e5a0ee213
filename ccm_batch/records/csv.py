"""Read stage: stream a CSV extract as :class:`Record`\\ s, grouping header and detail lines.

The file is read line by line in binary; each physical line is decoded and handed to :mod:`csv`,
which pulls further lines only when a quoted field spans several of them. So every CSV row knows
its exact bytes (line endings included), byte offset and first line number, and memory holds one
record at a time.

Each record becomes an lxml tree that layouts query with XPath like an XML record::

    <record>                      (``record_element``)
      <type>H</type><account>1000234567</account>…        the header line's columns
      <line><type>D</type><post_date>2026-10-02</post_date>…</line>   (``detail_element``) per detail
    </record>

Grouping rules (``[input.csv]``):

* neither ``group_by`` nor ``type_column``: every line is one record (no ``<line>`` children);
* ``type_column`` (with ``header_type`` / ``detail_type``): a header line starts a record and the
  detail lines that follow are its ``<line>``\\ s. A detail line before any header line, a line of
  another type, or (when ``group_by`` is also set) a detail whose key differs from its header's key
  raises :class:`~ccm_batch.errors.InputError` naming ``file:line``: the extract is inconsistent;
* ``group_by`` alone: consecutive lines with the same key form one record; the first line gives the
  record-level columns and *every* line (the first included) is a ``<line>`` (a denormalised file).

Decisions: column names are sanitised to XML names (characters other than letters, digits, ``_ . -``
become ``_``, runs of ``_`` collapse and leading/trailing ones go: ``Montant (€)`` → ``Montant``; a
leading digit gets a ``_`` prefix; duplicates get ``_2``, ``_3``; empty names and
fields beyond the named columns are ``colN``, N 1-based). Missing trailing fields give no element.
Quoting is strict (:mod:`csv` ``strict=True``): an unclosed quote or text after a closing quote is an
:class:`~ccm_batch.errors.InputError` naming the line. Lines are read with a bound: a row over
``max_record_bytes`` is followed to its end by its quotes without being kept and yielded rejected (its
``raw`` a :class:`~ccm_batch.records.model.SourceSpan`), or, if its quote never closes, stops the
extract naming the line where it opened. With ``type_column``, such a row belongs to the record being
read, which is rejected whole (up to the next header line); with ``group_by`` alone it stops the extract
(its key is unknown, so its record cannot be delimited). A field over ``max_field_chars`` rejects its record, naming the column. Values are kept verbatim (no stripping); characters XML cannot hold (C0 controls) become U+FFFD.
Blank lines outside a record are skipped; inside a grouped record they stay in ``raw`` so that
``raw`` remains the contiguous bytes ``file[offset:offset + len(raw)]``. A UTF-8 byte-order mark is
not part of any record's ``raw`` (the first offset is then 3). With ``header = true`` the first
line names the columns (``columns``, if also given, wins) and is exposed as ``reader.header`` (bytes)
for the rejects file.
"""
from __future__ import annotations

import csv
import re
from typing import Iterator

from lxml import etree

from ..errors import InputError
from .config import CsvOptions
from .limits import csv_row_end, field_too_long, record_too_large
from .model import Record, RecordStream, SourceSpan

_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NAME_BAD = re.compile(r"[^\w.\-]")


def xml_name(name: str, position: int) -> str:
    """A column name made into an XML element name (``position`` is 1-based, for ``colN``)."""
    name = re.sub(r"_+", "_", _NAME_BAD.sub("_", name.strip())).strip("_") or name.strip("_ ")
    if not name or _NAME_BAD.search(name):
        return f"col{position}"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "_" + name
    return name


def xml_names(names) -> list[str]:
    """Sanitised, de-duplicated element names for a list of column names."""
    out, seen = [], {}
    for i, name in enumerate(names, 1):
        n = xml_name(name, i)
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 1)
        out.append(n)
    return out


class _Row:
    """One CSV row: its fields and where its bytes are; ``problem`` when it is over a size limit
    (``fields`` is then ``None`` and ``raw`` a :class:`SourceSpan`)."""
    __slots__ = ("fields", "raw", "offset", "line", "problem")

    def __init__(self, fields, raw, offset, line, problem=None):
        self.fields, self.raw, self.offset, self.line, self.problem = fields, raw, offset, line, problem


class _Oversize(Exception):
    """The row being read is over ``max_record_bytes``."""


class CsvRecordReader(RecordStream):
    """Iterator over the records of a CSV extract (see the module docstring).

    ``header`` is the raw header line (bytes, line ending included) when the file has one, known once
    iteration has started; ``encoding`` the encoding used; ``records`` how many were yielded.
    """

    def __init__(self, cfg, start_number: int = 1):
        super().__init__(cfg, start_number)
        self.opts = cfg.csv or CsvOptions()
        self.encoding = cfg.encoding or "utf-8"
        self.header: bytes | None = None

    # -- rows ------------------------------------------------------------------------------

    def _rows(self, f) -> Iterator[_Row]:
        pending: list = []                 # raw lines pulled by csv since the last row
        where = {"offset": 0, "line": 0, "first_offset": 0, "first_line": 1, "pending": 0}
        decode = self.encoding
        max_bytes = self.cfg.max_record_bytes
        csv.field_size_limit(max(max_bytes, 131072))   # a row is bounded by max_record_bytes anyway

        def lines():
            while True:
                # never more than max_record_bytes of one row in memory: past it, _Oversize
                raw = f.readline(max_bytes - where["pending"] + 1)
                if not raw:
                    return
                if where["offset"] == 0 and raw.startswith(b"\xef\xbb\xbf") \
                        and decode.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
                    where["offset"] = 3
                    raw = raw[3:]
                if not pending:
                    where["first_offset"], where["first_line"] = where["offset"], where["line"] + 1
                    where["pending"] = 0
                pending.append(raw)
                where["offset"] += len(raw)
                where["pending"] += len(raw)
                if where["pending"] > max_bytes:
                    raise _Oversize()
                where["line"] += 1
                try:
                    yield raw.decode(decode)
                except UnicodeDecodeError as exc:
                    raise InputError(f"{self.source}:{where['line']}:{exc.start + 1}: byte "
                                     f"0x{raw[exc.start]:02X} is not valid {decode} "
                                     "(set [input] encoding)") from None

        def reader():
            return csv.reader(lines(), delimiter=self.opts.delimiter, quotechar=self.opts.quotechar,
                              strict=True)

        rows = reader()
        while True:
            try:
                fields = next(rows)
            except StopIteration:
                if pending:                # csv swallowed trailing lines without a row (blank)
                    pending.clear()
                return
            except _Oversize:
                yield self._skip_row(f, pending, where)
                rows = reader()
                continue
            except csv.Error as exc:
                raise InputError(f"{self.source}:{where['first_line']}: {exc} "
                                 "(an unclosed quote?)") from None
            raw = b"".join(pending)
            pending.clear()
            yield _Row(fields, raw, where["first_offset"], where["first_line"])

    def _skip_row(self, f, pending: list, where: dict) -> _Row:
        """The row being read is over ``max_record_bytes``: find its end by following its quotes,
        block by block, without keeping it; a quote still open at the end of the file stops the
        extract, naming the line where the row (and the quote) started."""
        start, line = where["first_offset"], where["first_line"]
        pending.clear()
        end, newlines, closed = csv_row_end(f, start, self.opts.quotechar.encode(self.encoding))
        if not closed:
            raise InputError(f"{self.source}:{line}: a quoted field opened on this line is not closed "
                             f"within [input] max_record_bytes = {self.cfg.max_record_bytes:,} bytes, nor "
                             "before the end of the file: an unclosed quote? Fix the extract.")
        f.seek(end)
        where["offset"], where["line"], where["pending"] = end, line - 1 + newlines, 0
        return _Row(None, SourceSpan(self.source, start, end - start), start, line,
                    record_too_large(end - start, self.cfg.max_record_bytes))

    # -- records -----------------------------------------------------------------------------

    def _read(self) -> Iterator[Record]:
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise InputError(f"{self.source}: cannot open the extract: {exc.strerror}") from None
        with f:
            yield from self._group(self._rows(f))

    def _column_index(self, column: str, layout) -> int:
        """Position of ``column`` in ``layout`` (configured or header-row names), or ``colN``."""
        if layout and column in layout:
            return layout.index(column)
        if layout and column in xml_names(layout):
            return xml_names(layout).index(column)
        m = re.fullmatch(r"col([1-9]\d*)", column)
        if m:
            return int(m.group(1)) - 1
        raise InputError(f"{self.source}: column {column!r} is not in the header row "
                         f"({', '.join(layout or ())})")

    def _group(self, rows: Iterator[_Row]) -> Iterator[Record]:
        opts = self.opts
        by_type = opts.columns_by_type                   # raw names per record type, or None
        layout = list(opts.columns) if opts.columns and by_type is None else None
        if opts.header:
            for row in rows:
                if row.problem:
                    raise InputError(f"{self.source}:{row.line}: the header row is over the limit "
                                     f"[input] max_record_bytes = {self.cfg.max_record_bytes:,}")
                if row.fields:
                    self.header = row.raw
                    if layout is None and by_type is None:
                        layout = list(row.fields)
                    break
        names = xml_names(layout) if layout else None
        type_names = {t: xml_names(n) for t, n in by_type.items()} if by_type else None
        head_layout = by_type[opts.header_type] if by_type else layout
        type_index = self._column_index(opts.type_column, head_layout) if opts.type_column else None
        key_index = self._column_index(opts.group_by, head_layout) if opts.group_by else None
        detail_key_index = key_index
        if by_type and opts.group_by:
            detail = by_type[opts.detail_type]
            detail_key_index = detail.index(opts.group_by) if opts.group_by in detail else None

        def field(fields, index):
            return fields[index] if index is not None and index < len(fields) else None

        number = self.start_number
        current = None                      # [element, raws, offset, line, key, problems]
        max_chars = self.cfg.max_field_chars
        for row in rows:
            fields = row.fields
            if row.problem:
                if type_index is not None:      # it belongs to the record being read: rejected whole
                    if current is None:
                        current = [etree.Element(opts.record_element), [], row.offset, row.line, None, []]
                    current[1].append(row.raw)
                    current[5].append(("record", row.problem))
                    continue
                if key_index is not None:
                    raise InputError(f"{self.source}:{row.line}: a line over the limit [input] max_record_bytes "
                                     f"= {self.cfg.max_record_bytes:,} in an extract grouped by {opts.group_by}: "
                                     "its record cannot be delimited. Fix the extract or raise the limit.")
                self.records += 1
                yield Record(self.source, number, row.offset, row.line, row.raw, None, "",
                             (("record", row.problem),))
                number += 1
                continue
            long = self._long_field(fields, max_chars, row, names, type_names, type_index) \
                if fields and row.raw and len(row.raw) > max_chars else None
            if long is not None and type_index is None and key_index is None:
                self.records += 1
                yield Record(self.source, number, row.offset, row.line, row.raw, None, "", (long,))
                number += 1
                continue
            if not fields:
                if current is not None:     # a blank line inside a grouped record stays in raw
                    current[1].append(row.raw)
                continue
            if type_index is None and key_index is None:
                yield self._record(number, self._element(opts.record_element, names, fields),
                                   [row.raw], row.offset, row.line)
                number += 1
                continue
            if type_index is None:          # group_by alone: a new key starts a record
                key = field(fields, key_index)
                if current is None or key != current[4]:
                    if current is not None:
                        yield self._record(number, *current[:4], current[5])
                        number += 1
                    current = [self._element(opts.record_element, names, fields), [], row.offset,
                               row.line, key, []]
                current[0].append(self._element(opts.detail_element, names, fields))
                current[1].append(row.raw)
                if long is not None:
                    current[5].append(long)
                continue
            rtype = (field(fields, type_index) or "").strip()
            if rtype == opts.header_type:
                if current is not None:
                    yield self._record(number, *current[:4], current[5])
                    number += 1
                current = [self._element(opts.record_element,
                                         type_names[rtype] if type_names else names, fields),
                           [row.raw], row.offset, row.line, field(fields, key_index), []]
                if long is not None:
                    current[5].append(long)
            elif rtype == opts.detail_type:
                if current is None:
                    raise InputError(f"{self.source}:{row.line}: detail line ({opts.type_column} "
                                     f"{rtype!r}) before any header line ({opts.header_type!r})")
                if detail_key_index is not None and not current[5]:
                    key = field(fields, detail_key_index)
                    if key != current[4]:
                        raise InputError(f"{self.source}:{row.line}: detail line for {opts.group_by} "
                                         f"{key!r} follows the header line of {current[4]!r}")
                current[0].append(self._element(opts.detail_element,
                                                type_names[rtype] if type_names else names, fields))
                current[1].append(row.raw)
                if long is not None:
                    current[5].append(long)
            else:
                raise InputError(f"{self.source}:{row.line}: unknown record type {rtype!r} in column "
                                 f"{opts.type_column!r} (expected {opts.header_type!r} or "
                                 f"{opts.detail_type!r})")
        if current is not None:
            yield self._record(number, *current[:4], current[5])

    def _element(self, tag: str, names, fields):
        elem = etree.Element(tag)
        for i, value in enumerate(fields):
            name = names[i] if names and i < len(names) else f"col{i + 1}"
            child = etree.SubElement(elem, name)
            if value:
                child.text = _BAD_XML_CHARS.sub("\ufffd", value)
        return elem

    def _record(self, number, tree, raws, offset, line, problems=()) -> Record:
        self.records += 1
        if problems:
            if any(isinstance(r, SourceSpan) for r in raws):      # contiguous: one span of the extract
                raw = SourceSpan(self.source, offset, sum(len(r) for r in raws))
            else:
                raw = b"".join(raws)
            return Record(self.source, number, offset, line, raw, None, "", (problems[0],))
        key = self._key(tree) if self._key is not None else ""
        return Record(self.source, number, offset, line, b"".join(raws), tree, str(key).strip())

    @staticmethod
    def _long_field(fields, limit: int, row, names, type_names, type_index):
        """``(column, message)`` for the first field of ``fields`` over ``limit`` characters."""
        for i, value in enumerate(fields):
            if len(value) > limit:
                layout = names
                if type_names and type_index is not None and type_index < len(fields):
                    layout = type_names.get(fields[type_index].strip(), names)
                column = layout[i] if layout and i < len(layout) else f"col{i + 1}"
                return column, field_too_long(len(value), limit, f"field {column}")
        return None


def read_csv(cfg, start_number: int = 1) -> Iterator[Record]:
    """Stream the records of a CSV extract (``cfg`` is an :class:`~ccm_batch.records.config.InputConfig`)."""
    return CsvRecordReader(cfg, start_number)
