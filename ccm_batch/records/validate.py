"""Read stage: check a record's fields (presence, type, allowed values) before it is composed.

A :class:`FieldSpec` names a field, where it is in the record tree (an XPath relative to the record
element, e.g. ``totals/total_ttc``, ``@id``, ``customer/address/line``) and what it must look like.
:func:`validate_record` returns a list of :class:`Problem` (empty when the record is good); a record
with problems is rejected by the runner and the run goes on. Messages are written for the operator
who has to fix the extract: ``amount 'x12' is not a number``, ``due_date is missing``.

Types:

``string``   any text (``pattern``, ``max_length``, ``values`` apply)
``integer``  optional sign and digits: ``-12``, ``42``
``number``   decimal with ``.`` separator, optional sign: ``0.2516``, ``-3``, ``12.``  (no exponent)
``amount``   ``number`` with at most 2 decimals: ``1234.56``, ``-12.3``
``date``     ISO ``YYYY-MM-DD`` and a real calendar date
``enum``     one of ``values`` (compared after stripping spaces)
``list``     a repeated element: only its presence is checked (at least one node when required)

Decisions: values are stripped of surrounding white space before checking; an empty value counts as
missing; when a path selects several nodes the first one is checked (use ``list`` for repeated
elements); the string value of an element is all its text (XPath ``string()``). ``default`` is used
by :func:`read_fields` when an optional field is missing. XPaths are compiled once per process and
cached (a :class:`FieldSpec` stays a plain, picklable value).
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from lxml import etree

TYPES = ("string", "integer", "number", "amount", "date", "enum", "list")

_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+$")

_XPATHS: dict = {}


class Problem(NamedTuple):
    """Why a record cannot be used: the field at fault and a message for the operator."""
    field: str
    message: str


@dataclass(frozen=True)
class FieldSpec:
    """One field a layout or job relies on: where it is in the record and what it must look like.

    ``path`` is an XPath relative to the record element; ``type`` one of :data:`TYPES`; ``values``
    the allowed values (required for ``enum``, optional restriction for the other scalar types);
    ``pattern`` a regular expression the whole value must match; ``max_length`` in characters;
    ``default`` the value :func:`read_fields` returns for a missing optional field.
    """
    name: str
    path: str
    type: str = "string"
    required: bool = True
    values: tuple = ()
    pattern: str | None = None
    max_length: int | None = None
    default: Any = None

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r} (expected: {', '.join(TYPES)})")
        if self.type == "enum" and not self.values:
            raise ValueError(f"field {self.name}: type enum needs values")
        if not isinstance(self.values, tuple):
            object.__setattr__(self, "values", tuple(self.values))
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"field {self.name}: invalid pattern {self.pattern!r} ({exc})") from None
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 1):
            raise ValueError(f"field {self.name}: max_length must be a whole number ≥ 1")
        try:
            _xpath(self.path, None)
        except etree.XPathError as exc:
            raise ValueError(f"field {self.name}: {self.path!r} is not a valid XPath ({exc})") from None


def _xpath(path: str, namespaces: dict | None):
    key = (path, tuple(sorted(namespaces.items())) if namespaces else ())
    compiled = _XPATHS.get(key)
    if compiled is None:
        compiled = _XPATHS[key] = etree.XPath(path, namespaces=namespaces or None)
    return compiled


def _string_value(node) -> str:
    if isinstance(node, etree._Element):
        if type(node) is etree._Element and not len(node):    # a leaf: its text (itertext is slow)
            return node.text or ""
        return "".join(node.itertext())
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, float) and node.is_integer():
        return str(int(node))
    return str(node)


def _nodes(tree, spec: FieldSpec, namespaces: dict | None) -> list:
    """What ``spec.path`` selects in ``tree``, as a list (a string or number result is one item)."""
    result = _xpath(spec.path, namespaces)(tree)
    return result if isinstance(result, list) else [result]


def field_values(record_or_tree, spec: FieldSpec, namespaces: dict | None = None) -> list[str]:
    """The stripped string value of every node ``spec.path`` selects in a record (or a bare tree)."""
    tree = getattr(record_or_tree, "tree", record_or_tree)
    return [_string_value(n).strip() for n in _nodes(tree, spec, namespaces)]


def _show(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def check_value(spec: FieldSpec, value: str) -> str | None:
    """The problem with one non-empty ``value`` of ``spec``, or ``None`` when it is fine."""
    name, t = spec.name, spec.type
    shown = _show(value)
    if t == "integer" and not _INTEGER.match(value):
        return f"{name} '{shown}' is not a whole number"
    if t in ("number", "amount") and not _NUMBER.match(value):
        if _COMMA_DECIMAL.match(value):
            return f"{name} '{shown}' is not a number (use '.' as the decimal separator)"
        return f"{name} '{shown}' is not a number"
    if t == "amount" and "." in value and len(value.split(".", 1)[1]) > 2:
        return f"{name} '{shown}' has more than 2 decimals"
    if t == "date":
        if not _DATE.match(value):
            return f"{name} '{shown}' is not a date (expected YYYY-MM-DD)"
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            return f"{name} '{shown}' is not a valid date"
    if spec.values and value not in spec.values:
        allowed = ", ".join(str(v) for v in spec.values)
        return f"{name} '{shown}' is not one of {allowed}"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"{name} is {len(value)} characters long, at most {spec.max_length} allowed"
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        return f"{name} '{shown}' does not have the expected form ({spec.pattern})"
    return None


def validate_record(record, specs, namespaces: dict | None = None) -> list[Problem]:
    """Check ``record`` (a :class:`~ccm_batch.records.model.Record` or a tree) against ``specs``.

    Returns the problems in the order of ``specs`` (at most one per field); ``[]`` means valid.
    """
    problems = []
    tree = getattr(record, "tree", record)
    for spec in specs:
        if spec.type == "list" and not spec.required:
            continue                        # nothing to check
        try:
            nodes = _nodes(tree, spec, namespaces)
        except etree.XPathError as exc:
            problems.append(Problem(spec.name, f"{spec.name}: cannot evaluate {spec.path!r} ({exc})"))
            continue
        if spec.type == "list":             # only the presence of a node is checked: no string values
            if not nodes:
                problems.append(Problem(spec.name, f"{spec.name} is missing (at least one expected)"))
            continue
        value = _string_value(nodes[0]).strip() if nodes else ""     # the first value is checked
        if not value:
            if spec.required:
                problems.append(Problem(spec.name, f"{spec.name} is missing"))
            continue
        message = check_value(spec, value)
        if message:
            problems.append(Problem(spec.name, message))
    return problems


def convert(spec: FieldSpec, value: str):
    """A checked value as a Python value: int, Decimal, date or str (list: the count)."""
    if spec.type == "integer":
        return int(value)
    if spec.type in ("number", "amount"):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{spec.name} '{value}' is not a number") from None
    if spec.type == "date":
        return _dt.date.fromisoformat(value)
    return value


def read_fields(record, specs, namespaces: dict | None = None) -> dict:
    """Typed values of a *valid* record's fields, by name; missing optional fields get ``default``.

    ``list`` fields give the list of string values.
    """
    out = {}
    for spec in specs:
        values = field_values(record, spec, namespaces)
        if spec.type == "list":
            out[spec.name] = values
        elif values and values[0]:
            out[spec.name] = convert(spec, values[0])
        else:
            out[spec.name] = spec.default
    return out
