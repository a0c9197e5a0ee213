"""Job file check: the declared schema of every section and key of the job TOML, and where each key is.

:data:`SCHEMA` declares every section, sub-table and key a job file may hold, with its type and
allowed values. :func:`check` walks a parsed job file against it and returns every problem at once
(unknown sections and keys, wrong types, values out of range or not among the allowed ones), each
with a "did you mean …?" suggestion where a known name is close. :class:`TomlSource` finds the line
of a section or key in the TOML text (``tomllib`` gives no positions), so that every problem reads
``job.toml:LINE: [section] key: message``. This runs before any record is read: ``run`` and
``validate`` share it through :func:`ccm_batch.job.load_job`.

To add a job key, add it to :data:`SCHEMA` (and read it in :mod:`ccm_batch.job` or the stage's
config); the check, the line lookup and the suggestions follow.
"""
from __future__ import annotations

import datetime as _dt
import difflib
import json
import re
from dataclasses import dataclass


def show(value) -> str:
    """A value as the operator wrote it in TOML (strings double-quoted, booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def did_you_mean(word: str, choices) -> str:
    """`` (did you mean X?)`` for the closest of ``choices`` to ``word``, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=2, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {' or '.join(close)}?)"


@dataclass
class Problem:
    """One thing wrong in the job file: the table (``mail.omr``), the key (``""`` for the table
    itself) and the message."""
    section: str
    key: str
    message: str


class Type:
    """A key's declared type; :meth:`check` returns an error message, or ``None`` when the value fits."""
    describe = "a value"

    def check(self, value) -> str | None:
        return None


class Str(Type):
    def __init__(self, choices: tuple = (), nonempty: bool = False, length: int | None = None):
        self.choices, self.nonempty, self.length = tuple(choices), nonempty, length
        if choices:
            self.describe = "one of " + ", ".join(json.dumps(c) for c in choices)
        elif length:
            self.describe = f"a string of {length} character{'s' if length > 1 else ''}"
        else:
            self.describe = "a non-empty string" if nonempty else "a string"

    def check(self, value):
        if not isinstance(value, str):
            return f"expected {self.describe}, got {show(value)}"
        if self.choices and value not in self.choices:
            return f"{show(value)} is not allowed: expected {self.describe}" + did_you_mean(value, self.choices)
        if self.nonempty and not value:
            return f"expected {self.describe}"
        if self.length and len(value) != self.length:
            return f"expected {self.describe}, got {show(value)}"
        return None


class Int(Type):
    """An integer (never a boolean) within ``[lo, hi]``; ``also`` lists accepted string spellings."""

    def __init__(self, lo: int | None = None, hi: int | None = None, also: tuple = (), note: str = "",
                 choices: tuple = ()):
        self.lo, self.hi, self.also, self.choices = lo, hi, tuple(also), tuple(choices)
        if choices:
            self.describe = "one of " + ", ".join(map(str, choices))
        elif lo is not None and hi is not None:
            self.describe = f"an integer {lo}–{hi}"
        elif lo is not None:
            self.describe = f"an integer ≥ {lo}"
        else:
            self.describe = "an integer"
        if also:
            self.describe += " or " + " or ".join(json.dumps(a) for a in also)
        if note:
            self.describe += f" ({note})"

    def check(self, value):
        if isinstance(value, str) and value in self.also:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected {self.describe}, got {show(value)}"
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi) or \
                (self.choices and value not in self.choices):
            return f"expected {self.describe}, got {show(value)}"
        return None


class Num(Type):
    """A number (integer or float, never a boolean) within ``[lo, hi]``; ``positive``: above 0."""

    def __init__(self, lo: float | None = None, hi: float | None = None, positive: bool = False):
        self.lo, self.hi, self.positive = lo, hi, positive
        if positive:
            self.describe = "a number > 0"
        elif lo is not None and hi is not None:
            self.describe = f"a number between {lo:g} and {hi:g}"
        elif lo is not None:
            self.describe = f"a number ≥ {lo:g}"
        else:
            self.describe = "a number"

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected {self.describe}, got {show(value)}"
        if (self.positive and value <= 0) or (self.lo is not None and value < self.lo) or \
                (self.hi is not None and value > self.hi):
            return f"expected {self.describe}, got {show(value)}"
        return None


class Bool(Type):
    describe = "true or false"

    def check(self, value):
        if not isinstance(value, bool):
            return f"expected {self.describe}, got {show(value)}"
        return None


class Date(Type):
    describe = "a date YYYY-MM-DD"

    def check(self, value):
        if isinstance(value, _dt.datetime) or not isinstance(value, (_dt.date, str)):
            return f"expected {self.describe}, got {show(value)}"
        if isinstance(value, str):
            try:
                _dt.date.fromisoformat(value)
            except ValueError:
                return f"{show(value)} is not a date (YYYY-MM-DD)"
        return None


class ListOf(Type):
    """A list of ``item``; ``single``: one bare item is also accepted (``formats = "pdf"``)."""

    def __init__(self, item: Type, single: bool = False, nonempty: bool = False):
        self.item, self.single, self.nonempty = item, single, nonempty
        self.describe = f"a list of {_plural(item.describe)}"

    def check(self, value):
        if self.single and not isinstance(value, list) and self.item.check(value) is None:
            return None
        if not isinstance(value, list):
            return f"expected {self.describe}, got {show(value)}"
        if self.nonempty and not value:
            return f"expected {self.describe} (at least one)"
        for item in value:
            error = self.item.check(item)
            if error:
                return f"{error} (in the list)"
        return None


class AnyOf(Type):
    """The first of ``types`` the value fits."""

    def __init__(self, *types: Type):
        self.types = types
        self.describe = " or ".join(t.describe for t in types)

    def check(self, value):
        for t in self.types:
            if isinstance(t, (Table, MapOf)):
                if isinstance(value, dict):
                    return None             # the table is checked key by key by the walker
            elif t.check(value) is None:
                return None
        return f"expected {self.describe}, got {show(value)}"


class Table(Type):
    """A table with declared keys; ``required`` must be present."""

    def __init__(self, keys: dict, required: tuple = (), describe: str = "a table"):
        self.keys, self.required, self.describe = keys, tuple(required), describe


class MapOf(Type):
    """A table whose keys the job chooses (names, carriers, prefixes), each holding ``value``."""

    def __init__(self, value: Type, describe: str = "a table"):
        self.value, self.describe = value, describe


def _plural(describe: str) -> str:
    return re.sub(r"^an? ", "", describe)


def _choices(name: str) -> tuple:
    """Allowed values of a key defined by its stage (imported late: the stages import this module)."""
    if name == "field_types":
        from .records.validate import TYPES
        return TYPES
    if name.startswith("einvoice_"):
        from .einvoice import config as einvoice
        return {"einvoice_profile": tuple(einvoice.PROFILES), "einvoice_formats": einvoice.FORMATS,
                "einvoice_route": einvoice.ROUTES}[name]
    if name == "executor":
        from .job import EXECUTORS
        return EXECUTORS
    if name == "cmod_codepage":
        from .archive.index import CMOD_CODECS
        return tuple(sorted(CMOD_CODECS))
    from .mail import config as mail
    from .mail.rules import POLICIES
    return {"householding": mail.HOUSEHOLDING, "split": mail.SPLITS, "control": mail.CONTROLS,
            "policy": ("cheapest",) + tuple(POLICIES)}[name]


MM = Num(lo=0)
MONEY = AnyOf(Num(), Str())     # an amount: 0.012 or "0.012" (range checked by ccm_batch.history.config)
TEMPLATE = Str(nonempty=True)
SIZE = Int(lo=1)


def _schema() -> Table:
    fmt_out = ("pdf", "afp", "debug")
    fmt_index = ("csv", "jsonl", "cmod")
    field_spec = Table({"path": Str(nonempty=True), "type": Str(_choices("field_types")), "required": Bool(),
                        "values": ListOf(Str()), "pattern": Str(), "max_length": Int(lo=1)},
                       describe="a table like { path = \"amount\", type = \"amount\" }")
    insert = AnyOf(Int(1, 8), Table({"feeder": Int(1, 8), "weight_g": MM, "thickness_mm": MM},
                                    required=("feeder",)))
    return Table({
        "job": Table({"name": Str(nonempty=True), "date": Date(), "title": Str(),
                      "deadline": Type()}),     # checked by ccm_batch.history.config
        "input": Table({
            "path": Str(nonempty=True), "format": Str(("xml", "csv")), "record": Str(nonempty=True),
            "namespaces": MapOf(Str(), describe="a table of prefix = \"URI\""),
            "encoding": Str(), "key": Str(),
            "max_record_bytes": SIZE, "max_field_chars": SIZE,
            "csv": Table({
                "delimiter": Str(length=1), "quotechar": Str(length=1), "header": Bool(),
                "columns": AnyOf(ListOf(Str(), nonempty=True),
                                 MapOf(ListOf(Str(), nonempty=True),
                                       describe="a table record type = [column names]")),
                "group_by": Str(), "type_column": Str(), "header_type": Str(), "detail_type": Str(),
                "detail_element": Str(nonempty=True), "record_element": Str(nonempty=True)}),
        }, required=("path",)),
        "layout": Table({"path": Str(nonempty=True),
                         "image_dirs": AnyOf(ListOf(Str(nonempty=True)), Str(nonempty=True))}, required=("path",)),
        "output": Table({"dir": Str(nonempty=True), "formats": ListOf(Str(fmt_out), single=True, nonempty=True),
                         "name": TEMPLATE, "work_dir": Str(nonempty=True)}),
        "index": Table({"formats": ListOf(Str(fmt_index), single=True), "archive_pdf": Bool(),
                        "archive_name": TEMPLATE, "verify_field": Str(nonempty=True),
                        "cmod_codepage": Int(choices=_choices("cmod_codepage")),
                        "cmod_absolute_filename": Bool()}),
        "rejects": Table({"max_rejects": Int(lo=0), "max_reject_rate": Num(0, 1),
                          "min_records_for_rate": Int(lo=0)}),
        "run": Table({"workers": Int(lo=0, also=("auto",), note="0 = one per core"),
                      "chunk_size": Int(lo=1), "executor": Str(_choices("executor")),
                      "scheduler": Str(), "scheduler_file": Str(nonempty=True)}),
        # [history], [costs], [monitoring]: values checked by ccm_batch.history.config
        "history": Table({"url": Str(nonempty=True), "path": Str(nonempty=True), "enabled": Bool(),
                           "keep_days": Int(lo=1, note="days of runs kept in the history")}),
        "monitoring": Table({"textfile_dir": Str(nonempty=True)}),
        "costs": Table({"file": Str(nonempty=True), "currency": Str(), "colour": Bool(),
                        "envelopes": MapOf(MONEY), "inserts": MapOf(MONEY),
                        **{k: MONEY for k in ("paper_per_sheet", "click_mono_per_side", "click_colour_per_side",
                                              "envelope", "insert", "inserting_per_piece", "email_per_message",
                                              "sms_per_segment", "portal_per_document",
                                              "einvoice_per_document")}}),
        "channels": Type(),     # [channels]: every key checked by ccm_batch.channels.config.read_channels
        # [fonts]: face files and fallback families checked by ccm_batch.job._fonts_section
        "fonts": Table({"missing_glyphs": Str(("reject", "substitute")),
                        "fallback": AnyOf(ListOf(Str(nonempty=True)), Str(nonempty=True)), "face": Type()}),
        # [media.NAME]: the paper stocks page templates name (paper="NAME"): input bin and label
        "media": MapOf(Table({"bin": Int(1, 4), "description": Str()}, required=("bin",),
                             describe="a table like { bin = 2, description = \"letterhead\" }"),
                       describe="a table of media name = { bin = N, description = … }"),
        "fields": MapOf(field_spec, describe="a table of field name = { path, type, … }"),
        "einvoice": Table({"mapping": Str(nonempty=True), "profile": Str(_choices("einvoice_profile")),
                           "formats": ListOf(Str(_choices("einvoice_formats")), single=True, nonempty=True),
                           "route": Str(_choices("einvoice_route")), "default_pdp": Str(nonempty=True)},
                          required=("mapping",)),
        "mail": Table({
            "enabled": Bool(), "rules_dir": Str(nonempty=True),
            "householding": Str(_choices("householding")),
            "address_carrier_types": ListOf(Str()), "split": Str(_choices("split")),
            "policy": Str(_choices("policy")),
            "carriers": MapOf(Str(nonempty=True), describe="a table of country = \"CARRIER\""),
            "international_carrier": Str(nonempty=True),
            "envelopes": MapOf(Table({"standard": Str(nonempty=True), "large": Str(nonempty=True)}),
                               describe="a table of carrier = { standard = …, large = … }"),
            "paper_gsm": Num(positive=True), "caliper_mm": Num(positive=True),
            "inserts": MapOf(insert, describe="a table of insert name = { feeder = N, … }"),
            "max_pieces_per_file": Int(lo=0), "max_sheets_per_file": Int(lo=0),
            "name_template": TEMPLATE, "control": Str(_choices("control")), "separators": Bool(),
            "validate_addresses": Bool(),
            "omr": Table({"positions": ListOf(Str(), nonempty=True), "x_mm": MM, "y_mm": MM,
                          "pitch_mm": Num(positive=True), "length_mm": Num(positive=True),
                          "thickness_mm": Num(positive=True), "parity": Str(("even", "odd")),
                          "select_feed_on": Str(("last", "every"))}),
            "datamatrix": Table({"x_mm": MM, "y_mm": MM, "module_mm": Num(positive=True), "version": Str()}),
            "imb": Table({"enabled": Bool(), "mailer_id": Str(), "service_type": Str(), "barcode_id": Str(),
                          "serial_start": Int(lo=0), "serial_scheme": Str(("job_date", "piece")),
                          "x_mm": MM, "y_mm": MM}),
            "piece_id_start": Int(1, 99999999),
            "part_label": Table({"x_mm": MM, "y_mm": MM, "size_pt": Num(positive=True), "text": TEMPLATE}),
        }),
    })


_SCHEMA: Table | None = None


def schema() -> Table:
    """The job file's schema (built on first use)."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = _schema()
    return _SCHEMA


def check(data: dict) -> list[Problem]:
    """Every problem of the parsed job file ``data`` against :func:`schema`, in file order of tables."""
    problems: list[Problem] = []
    _walk(schema(), data, "", problems)
    return problems


def _walk(table: Table, data: dict, where: str, problems: list) -> None:
    for key, value in data.items():
        spec = table.keys.get(key)
        if spec is None:
            if not where:
                problems.append(Problem(key, "", "unknown section" + _known(key, table.keys, section=True)))
            else:
                problems.append(Problem(where, key, "unknown key" + _known(key, table.keys)))
            continue
        _value(spec, value, where, key, problems)
    for key in table.required:
        if key not in data:
            problems.append(Problem(where, key, f"missing ({_describe_required(where, key)})"))


def _value(spec: Type, value, where: str, key: str, problems: list) -> None:
    inner = f"{where}.{key}" if where else key
    if isinstance(spec, AnyOf):
        error = spec.check(value)
        if error:
            problems.append(Problem(where, key, error))
            return
        spec = next((t for t in spec.types if isinstance(t, (Table, MapOf))), None) \
            if isinstance(value, dict) else None
        if spec is None:
            return
    if isinstance(spec, (Table, MapOf)):
        if not isinstance(value, dict):
            if where:
                problems.append(Problem(where, key, f"expected {spec.describe}, got {show(value)}"))
            else:
                problems.append(Problem(key, "", f"must be a [{key}] table, got {show(value)}"))
            return
        if isinstance(spec, Table):
            _walk(spec, value, inner, problems)
        else:
            for name, item in value.items():
                _value(spec.value, item, inner, name, problems)
        return
    error = spec.check(value)
    if error:
        problems.append(Problem(where, key, error))


def _known(key: str, keys, section: bool = False) -> str:
    hint = did_you_mean(key, keys)
    if section and hint:
        hint = re.sub(r"mean (.+)\?\)$", lambda m: "mean " + " or ".join(
            f"[{n}]" for n in m.group(1).split(" or ")) + "?)", hint)
    return hint or f" (expected one of: {', '.join(sorted(keys))})"


_REQUIRED = {("input", "path"): "the extract to read", ("layout", "path"): "the layout definition to use"}


def _describe_required(where: str, key: str) -> str:
    return _REQUIRED.get((where, key), "required")


# -- where keys are in the TOML text --------------------------------------------------------------

_BARE = r"[A-Za-z0-9_\-]+"
_KEY_PART = rf"(?:{_BARE}|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_KEYLINE = re.compile(rf"^\s*({_DOTTED})\s*=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY_PART)


def _parts(dotted: str) -> tuple:
    out = []
    for m in _PART.finditer(dotted):
        p = m.group(0)
        out.append(json.loads(p) if p.startswith('"') else p.strip("'"))
    return tuple(out)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _brackets(text: str) -> int:
    """Opening minus closing brackets and braces of ``text`` outside strings and comments."""
    text = _STRING.sub("", text).split("#", 1)[0]
    return text.count("[") + text.count("{") - text.count("]") - text.count("}")


class TomlSource:
    """Line numbers of the tables and keys of a TOML text, by their full dotted path.

    A small line scanner (tables ``[a.b]``, keys ``k = …`` and dotted keys, keys of inline tables on
    their line; multi-line strings skipped): enough to point the operator at the right line.
    """

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        prefix: tuple = ()
        in_string = None
        depth = 0                           # open brackets of a multi-line array or table value
        for number, line in enumerate(text.splitlines(), 1):
            if in_string:
                if in_string in line:
                    in_string = None
                continue
            if depth:
                depth += _brackets(line)
                continue
            m = _HEADER.match(line)
            if m and not _KEYLINE.match(line):
                prefix = _parts(m.group(1))
                self.lines.setdefault(prefix, number)
                continue
            m = _KEYLINE.match(line)
            if not m:
                continue
            path = prefix + _parts(m.group(1))
            self.lines.setdefault(path, number)
            rest = line[m.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_string = quote
            if not in_string:
                depth = max(0, _brackets(rest))
            if rest.lstrip().startswith("{"):
                for inner in _INLINE_KEY.finditer(rest):
                    self.lines.setdefault(path + _parts(inner.group(1)), number)

    def line_of(self, section: str, key: str = "") -> int | None:
        """Line of ``[section] key`` (``section`` dotted, ``key`` may be empty), else of the nearest
        enclosing table that is written in the file, else ``None``."""
        path = tuple(section.split(".")) if section else ()
        if key:
            path += (key,)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def located(file, source: TomlSource | None, section: str, key: str, message: str) -> str:
    """``file:LINE: [section] key: message`` (``file: [section] …`` when the line is unknown)."""
    line = source.line_of(section, key) if source is not None else None
    where = f"{file}:{line}" if line else f"{file}"
    what = f"[{section}]" + (f" {key}" if key else "")
    return f"{where}: {what}: {message}"


_MESSAGE_WHERE = re.compile(r"^\[([\w.\-]+)\]:?\s*(?:unknown key\(?s?\)? '?([\w\-]+)'?|([\w\-]+)(?=[\s:=]))?")


def locate_message(file, source: TomlSource | None, message: str) -> str:
    """A stage's own ``[section] key …`` error message, given its file and line."""
    m = _MESSAGE_WHERE.match(message)
    if not m:
        return f"{file}: {message}"
    section, key = m.group(1), m.group(2) or m.group(3) or ""
    line = source.line_of(section, key) if source is not None else None
    return f"{file}:{line}: {message}" if line else f"{file}: {message}"
