"""Read stage: the job's ``[input]`` table as a frozen :class:`InputConfig`, and :func:`open_records`.

Keys of ``[input]`` (unknown keys are a :class:`~ccm_batch.errors.ConfigError` naming the key):

``path``
    The extract; a relative path resolves against the job file's directory (``base_dir``).
``format``
    ``"xml"`` or ``"csv"``. When absent it is taken from the file suffix (``.xml`` / ``.csv``).
``record``
    XML only, required: the record element. ``invoice`` matches the local name ``invoice`` in *any*
    namespace (the common case of a default namespace in the extract); ``prefix:invoice`` uses the
    ``[input.namespaces]`` prefix → URI map; ``{urn:x}invoice`` is the Clark notation; ``{}invoice``
    means "no namespace" strictly.
``namespaces``
    Table prefix → URI, used for ``record``, ``key`` and field XPaths.
``encoding``
    Overrides the encoding declared in the XML prolog (default: the prolog, else UTF-8); for CSV the
    file encoding (default UTF-8, a UTF-8 byte-order mark is skipped). Only ASCII-compatible
    encodings are accepted (UTF-8, ISO-8859-x, windows-125x…): the readers locate records byte by byte.
``key``
    XPath on the record tree giving the business key (``@id``, ``account``); evaluated as
    ``string(key)``.
``max_record_bytes``, ``max_field_chars``
    Size limits (default 16 MiB per record, 1 Mi characters per text node, attribute value or CSV
    field): a record over them is rejected, read in bounded memory (see :mod:`ccm_batch.records.limits`).
``[input.csv]``
    ``delimiter`` (","), ``quotechar`` ('"'), ``header`` (true: the first line names the columns),
    ``columns`` (a list of names when there is no header row, or a table record type → list when header
    and detail lines have different layouts; the type column must then sit at the same position in
    every layout), ``group_by`` (key column: consecutive lines with the same key form one record),
    ``type_column`` / ``header_type`` / ``detail_type`` (record-type column: a header line starts a
    record, detail lines follow), ``detail_element`` ("line") and ``record_element`` ("record"): the
    element names of the record tree. See :mod:`ccm_batch.records.csv` for the grouping rules.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from lxml import etree

from ..errors import ConfigError
from .limits import DEFAULT_MAX_FIELD_CHARS, DEFAULT_MAX_RECORD_BYTES
from .model import Record

INPUT_KEYS = ("path", "format", "record", "namespaces", "encoding", "key", "csv", "max_record_bytes",
              "max_field_chars")
CSV_KEYS = ("delimiter", "quotechar", "header", "columns", "group_by", "type_column", "header_type",
            "detail_type", "detail_element", "record_element")
FORMATS = ("xml", "csv")

_NCNAME = re.compile(r"^[^\W\d][\w.\-]*$")
_CLARK = re.compile(r"^\{([^}]*)\}(.+)$")


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV extract is split into fields and grouped into records (``[input.csv]``).

    ``columns`` is a tuple of names (same layout for every line) or a tuple of ``(type, names)`` pairs
    (one layout per record type); ``None`` when the header row names the columns or when columns are
    numbered ``col1, col2, …``.
    """
    delimiter: str = ","
    quotechar: str = '"'
    header: bool = True
    columns: tuple | None = None
    group_by: str | None = None
    type_column: str | None = None
    header_type: str | None = None
    detail_type: str | None = None
    detail_element: str = "line"
    record_element: str = "record"

    @property
    def columns_by_type(self) -> dict | None:
        """The per-record-type column layouts, or ``None`` when one layout applies to every line."""
        if self.columns and isinstance(self.columns[0], tuple):
            return {t: list(names) for t, names in self.columns}
        return None


@dataclass(frozen=True)
class InputConfig:
    """The extract to read: where, in which format and encoding, what one record is, its key.

    ``record_tag`` is the lxml tag filter derived from ``record`` (``{uri}name``, ``{*}name`` or
    ``{}name``); ``namespaces`` a tuple of ``(prefix, uri)`` pairs (see :attr:`namespace_map`).
    """
    path: Path
    format: str
    record: str = ""
    record_tag: str = ""
    namespaces: tuple = ()
    encoding: str | None = None
    key: str | None = None
    csv: CsvOptions | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS

    @property
    def namespace_map(self) -> dict:
        """``[input.namespaces]`` as a dict (prefix → URI), for XPath evaluation."""
        return dict(self.namespaces)

    @classmethod
    def from_dict(cls, table: dict, base_dir: Path) -> "InputConfig":
        """Build from the job TOML's ``[input]`` table; relative ``path`` resolves against ``base_dir``."""
        if not isinstance(table, dict):
            raise ConfigError("[input] must be a table")
        for key in table:
            if key not in INPUT_KEYS:
                raise ConfigError(f"[input] unknown key {key!r} (expected: {', '.join(INPUT_KEYS)})")
        if not table.get("path"):
            raise ConfigError("[input] path: missing (the extract to read)")
        path = Path(str(table["path"])).expanduser()
        if not path.is_absolute():
            path = Path(base_dir) / path
        fmt = table.get("format")
        if fmt is None:
            fmt = path.suffix.lower().lstrip(".")
            if fmt not in FORMATS:
                raise ConfigError(f"[input] format: missing and not guessable from {path.name!r} "
                                  "(expected \"xml\" or \"csv\")")
        fmt = str(fmt).lower()
        if fmt not in FORMATS:
            raise ConfigError(f"[input] format: {fmt!r} is not supported (expected \"xml\" or \"csv\")")

        namespaces = table.get("namespaces", {}) or {}
        if not isinstance(namespaces, dict) or not all(isinstance(v, str) for v in namespaces.values()):
            raise ConfigError("[input.namespaces] must be a table of prefix = \"URI\"")
        ns_pairs = tuple(sorted((str(k), v) for k, v in namespaces.items()))

        encoding = table.get("encoding")
        if encoding is not None:
            encoding = _check_encoding(str(encoding))

        record, record_tag = str(table.get("record") or ""), ""
        if fmt == "xml":
            if not record:
                raise ConfigError("[input] record: missing (the name of the record element, e.g. \"invoice\")")
            record_tag = _record_tag(record, dict(ns_pairs))
            if "csv" in table:
                raise ConfigError("[input] csv: a [input.csv] table only applies to format = \"csv\"")
        elif record:
            raise ConfigError("[input] record: only applies to format = \"xml\" "
                              "(CSV records are built from lines; see [input.csv] record_element)")

        key = table.get("key")
        if key is not None:
            key = str(key)
            try:
                etree.XPath(f"string({key})", namespaces=dict(ns_pairs) or None)
            except etree.XPathError as exc:
                raise ConfigError(f"[input] key: {key!r} is not a valid XPath ({exc})") from None

        csv_opts = _csv_options(table.get("csv", {})) if fmt == "csv" else None
        limits = {}
        for name in ("max_record_bytes", "max_field_chars"):
            if name in table:
                value = table[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"[input] {name}: expected an integer ≥ 1, got {value!r}")
                limits[name] = value
        return cls(path=path, format=fmt, record=record, record_tag=record_tag, namespaces=ns_pairs,
                   encoding=encoding, key=key, csv=csv_opts, **limits)


def _check_encoding(name: str) -> str:
    from .xml import ascii_compatible
    try:
        codecs.lookup(name)
    except LookupError:
        raise ConfigError(f"[input] encoding: {name!r} is not a known encoding") from None
    if not ascii_compatible(name):
        raise ConfigError(f"[input] encoding: {name!r} is not supported; convert the extract to UTF-8 "
                          "(records are located byte by byte, which needs an ASCII-compatible encoding)")
    return name


def _record_tag(record: str, namespaces: dict) -> str:
    """The lxml tag filter for ``record`` (see the module docstring for the three notations)."""
    m = _CLARK.match(record)
    if m:
        uri, local = m.groups()
        if not _NCNAME.match(local):
            raise ConfigError(f"[input] record: {local!r} is not an XML element name")
        return f"{{{uri}}}{local}"
    if ":" in record:
        prefix, local = record.split(":", 1)
        if prefix not in namespaces:
            raise ConfigError(f"[input] record: prefix {prefix!r} is not declared in [input.namespaces]")
        if not _NCNAME.match(local):
            raise ConfigError(f"[input] record: {local!r} is not an XML element name")
        return f"{{{namespaces[prefix]}}}{local}"
    if not _NCNAME.match(record):
        raise ConfigError(f"[input] record: {record!r} is not an XML element name")
    return f"{{*}}{record}"


def _csv_options(table) -> CsvOptions:
    if not isinstance(table, dict):
        raise ConfigError("[input.csv] must be a table")
    for key in table:
        if key not in CSV_KEYS:
            raise ConfigError(f"[input.csv] unknown key {key!r} (expected: {', '.join(CSV_KEYS)})")
    opts = dict(table)
    for name in ("delimiter", "quotechar"):
        if name in opts and (not isinstance(opts[name], str) or len(opts[name]) != 1):
            raise ConfigError(f"[input.csv] {name}: expected one character, got {opts[name]!r}")
    if "header" in opts and not isinstance(opts["header"], bool):
        raise ConfigError("[input.csv] header: expected true or false")
    for name in ("detail_element", "record_element"):
        if name in opts and not (isinstance(opts[name], str) and _NCNAME.match(opts[name])):
            raise ConfigError(f"[input.csv] {name}: {opts.get(name)!r} is not an XML element name")
    for name in ("group_by", "type_column", "header_type", "detail_type"):
        if name in opts and not isinstance(opts[name], str):
            raise ConfigError(f"[input.csv] {name}: expected a string")

    columns = opts.get("columns")
    if columns is not None:
        if isinstance(columns, list) and all(isinstance(c, str) for c in columns) and columns:
            opts["columns"] = tuple(columns)
        elif isinstance(columns, dict) and columns and all(
                isinstance(v, list) and v and all(isinstance(c, str) for c in v) for v in columns.values()):
            opts["columns"] = tuple((str(t), tuple(v)) for t, v in columns.items())
        else:
            raise ConfigError("[input.csv] columns: expected a list of column names, or a table "
                              "record type = [column names]")
    cfg = CsvOptions(**opts)

    if cfg.type_column:
        if not (cfg.header_type and cfg.detail_type):
            raise ConfigError("[input.csv] type_column needs header_type and detail_type "
                              "(the values that mark header and detail lines)")
        if cfg.header_type == cfg.detail_type:
            raise ConfigError("[input.csv] header_type and detail_type must differ")
    elif cfg.header_type or cfg.detail_type:
        raise ConfigError("[input.csv] header_type / detail_type need type_column")
    by_type = cfg.columns_by_type
    if by_type is not None:
        if not cfg.type_column:
            raise ConfigError("[input.csv] columns per record type need type_column")
        for t in (cfg.header_type, cfg.detail_type):
            if t not in by_type:
                raise ConfigError(f"[input.csv] columns: no layout for record type {t!r}")
        positions = {names.index(cfg.type_column) if cfg.type_column in names else -1
                     for names in by_type.values()}
        if len(positions) != 1 or -1 in positions:
            raise ConfigError(f"[input.csv] columns: type column {cfg.type_column!r} must be at the same "
                              "position in every record type's layout")
        if cfg.group_by and cfg.group_by not in by_type[cfg.header_type]:
            raise ConfigError(f"[input.csv] group_by: {cfg.group_by!r} is not a column of the "
                              f"{cfg.header_type!r} layout")
    elif cfg.columns is not None:
        for name in (cfg.group_by, cfg.type_column):
            if name and name not in cfg.columns:
                raise ConfigError(f"[input.csv] {name!r} is not one of the columns")
    elif not cfg.header and (cfg.group_by or cfg.type_column):
        for name in (cfg.group_by, cfg.type_column):
            if name and not re.fullmatch(r"col[1-9]\d*", name):
                raise ConfigError(f"[input.csv] {name!r}: without a header row or columns, columns are "
                                  "named col1, col2, …")
    return cfg


def open_records(cfg: InputConfig, start_number: int = 1,
                 select: Callable[[int], bool] | None = None) -> Iterator[Record]:
    """Stream the records of ``cfg``'s extract, numbered from ``start_number``.

    Returns an iterator (an :class:`~ccm_batch.records.xml.XmlRecordReader` or
    :class:`~ccm_batch.records.csv.CsvRecordReader`) whose ``encoding`` and, for CSV, ``header``
    (the raw header line, or ``None``) attributes are known once the first record has been read.
    A missing or unreadable file raises :class:`~ccm_batch.errors.InputError`.

    ``select(number) -> bool`` is a hint for callers that use only some records (a compose worker
    and its chunks): the XML reader still yields every record, in order, with exact ``raw``,
    ``offset`` and ``line``, but builds no tree for the records ``select`` rejects (``tree=None``,
    ``key=""``). The CSV reader ignores it (every record has its tree).
    """
    if cfg.format == "xml":
        from .xml import XmlRecordReader
        return XmlRecordReader(cfg, start_number, select=select)
    from .csv import CsvRecordReader
    return CsvRecordReader(cfg, start_number)
