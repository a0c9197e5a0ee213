"""Layout stage: extract paths checked — the element and attribute names a layout reads, against the extract.

A typo in a relative path (``tx/amout``) makes XPath answer "nothing" and prints ``0,00 €``: nothing
fails. So the loader records every name test of every expression it compiles (element names of
child steps, ``@attribute`` names; functions, variables, axes, string literals and operators left
out) with the ``file:line`` of the expression (:func:`names_in`). :func:`check_paths` then compares
them with what the extract holds:

- the names **declared** by the layout's optional ``<extract>`` section — ``<path>`` children
  (``statement/tx/amount``, ``@language``: every step's name is declared) and/or ``xsd="file.xsd"``
  (every ``xs:element`` and ``xs:attribute`` name of the schema);
- else, or as well, the names **seen** in sampled records (every element and attribute of their trees).

A name found in neither is a warning naming the expression and its place:
``invoice.xml:88: path 'tx/amout' matches nothing in the sampled records (no element 'amout')``.
``ccm-batch validate`` prints them and ``run`` writes them as warnings of its first chunk.
Names are checked one by one, not whole paths in their context (a name that exists elsewhere in
the record passes): cheap, and it catches the typos that matter.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, NamedTuple

from lxml import etree

_STRING = re.compile(r"\"[^\"]*\"|'[^']*'")
_TOKEN = re.compile(r"(\$?@?)([A-Za-z_][\w.\-]*)(\s*(?:\(|::))?")
_OPERATORS = frozenset({"and", "or", "div", "mod"})


class PathUse(NamedTuple):
    """A name an expression reads: ``kind`` is ``element`` or ``attribute``."""
    kind: str
    name: str
    source: str
    where: str


def names_in(source: str) -> list[tuple[str, str]]:
    """``(kind, name)`` of the element and attribute name tests in an XPath expression."""
    text = _STRING.sub("''", source)
    out = []
    for m in _TOKEN.finditer(text):
        prefix, name, follow = m.groups()
        start = m.start()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_-."):
            continue                      # the middle of a longer token (a number, a QName…)
        if "$" in prefix or follow:
            continue                      # a variable, a function call, node()/text(), an axis
        if name in _OPERATORS and not prefix:
            before = text[:start].rstrip()
            if before and before[-1] not in "/[(@,|":
                continue                  # an operator, not a child named 'and'
        if ":" in name:
            continue
        out.append(("attribute" if prefix == "@" else "element", name))
    return out


def declared_names(paths: Iterable[str], xsd: str | None) -> set[tuple[str, str]]:
    """The names an ``<extract>`` section declares (paths and the XSD's elements and attributes)."""
    names: set = set()
    for p in paths:
        names.update(names_in(p))
    if xsd:
        tree = etree.parse(xsd)
        ns = "{http://www.w3.org/2001/XMLSchema}"
        for el in tree.iter(ns + "element"):
            if el.get("name"):
                names.add(("element", el.get("name")))
        for el in tree.iter(ns + "attribute"):
            if el.get("name"):
                names.add(("attribute", el.get("name")))
    return names


def seen_names(trees: Iterable) -> set[tuple[str, str]]:
    """Every element and attribute name in the record trees."""
    names: set = set()
    for tree in trees:
        if tree is None or not hasattr(tree, "iter"):
            continue
        for el in tree.iter():
            if isinstance(el.tag, str):
                names.add(("element", etree.QName(el).localname))
                for a in el.attrib:
                    names.add(("attribute", etree.QName(a).localname))
    return names


def check_paths(layout, trees: Iterable = ()) -> list[str]:
    """Warnings for the names the layout reads that neither its ``<extract>`` declaration nor the
    sampled record ``trees`` hold (see the module docstring). No declaration and no record: none."""
    uses = getattr(layout, "path_uses", ())
    declared = getattr(layout, "extract_names", None)
    seen = seen_names(trees)
    if not uses or (declared is None and not seen):
        return []
    known = set(seen) | (declared or set())
    what = "the declared extract" if declared is not None and not seen else (
        "the sampled records" if declared is None else "the declared extract or the sampled records")
    out, done = [], set()
    for use in uses:
        key = (use.kind, use.name)
        if key in known or (use.where, key) in done:
            continue
        done.add((use.where, key))
        label = f"@{use.name}" if use.kind == "attribute" else use.name
        out.append(f"{use.where}: path {use.source.strip()!r} matches nothing in {what} "
                   f"(no {use.kind} '{label.lstrip('@')}')")
    return out


def read_extract(el, base: Path, fail) -> set | None:
    """The names an ``<extract>`` element declares (None when the layout has none)."""
    if el is None:
        return None
    paths = [(p.text or "").strip() for p in el.findall("path")]
    xsd = el.get("xsd")
    xsd_path = None
    if xsd:
        xsd_path = (base / xsd).resolve()
        if not xsd_path.is_file():
            fail(el, f"extract schema {xsd!r} not found ({xsd_path})")
    try:
        return declared_names(paths, str(xsd_path) if xsd_path else None)
    except etree.XMLSyntaxError as exc:
        fail(el, f"extract schema {xsd!r}: {exc}")
