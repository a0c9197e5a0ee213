"""Layout stage: the expression language — XPath 1.0 over the record tree, compiled once per layout.

There is no Python ``eval`` anywhere: an expression is an XPath 1.0 expression evaluated by lxml against
the record element (or the current item inside a ``repeat``), with

- **variables** ``$name``: the layout's declared fields and computed variables, and a few the engine
  provides where they make sense (``$page``/``$pages`` on page templates, ``$carry`` in carried-forward
  rows, ``$index``/``$count``/``$item`` (the current node) in repeats, ``$running`` in repeated rows,
  ``$job``, ``$job_date``, ``$record_number`` and ``$language`` everywhere);
- **extension functions** (:mod:`ccm_batch.layout.functions`): ``format-amount``, ``format-date``,
  ``upper``, ``msg`` …

Every expression is scanned at load time: a ``$name`` not in scope or an unknown function is a
``file:line`` :class:`~ccm_batch.errors.LayoutError`, and XPath syntax is checked by compiling it.

A **text template** is literal text with ``{expression}`` holes, as in XSLT attribute value templates:
``Facture N° {$number} du {format-date($date)}``; ``{{`` and ``}}`` are literal braces.

Speed: each :class:`Expr` keeps a precompiled :class:`lxml.etree.XPath` and passes only the variables it
references (passing unused variables costs microseconds per call). ``$name`` alone and literals are
answered without XPath at all.
"""
from __future__ import annotations

import re
from functools import partial

from lxml import etree

from .functions import EXTENSIONS, FUNCTIONS, XPATH_CORE, to_str

_TOKEN = re.compile(r"""
    (?P<str>"[^"]*"|'[^']*')
  | \$(?P<var>[A-Za-z_][\w.\-]*)
  | (?P<axis>[A-Za-z_][\w.\-]*\s*::)
  | (?P<func>[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)\s*\(
  | (?P<other>.)
""", re.X | re.S)

_SIMPLE_VAR = re.compile(r"\s*\$([A-Za-z_][\w.\-]*)\s*$")
_NAME = r"[A-Za-z_][\w.\-]*"
_SIMPLE_PATH = re.compile(rf"\s*({_NAME}(?:/{_NAME})*)(?:/@({_NAME}))?\s*$|\s*@({_NAME})\s*$")
_NUMBER = re.compile(r"\s*-?\d+(\.\d*)?\s*$")
_STRING = re.compile(r"""\s*("[^"]*"|'[^']*')\s*$""")


class ExprError(ValueError):
    """An expression is not valid; the loader turns it into ``file:line: message``."""


def scan(source: str) -> tuple[set, set]:
    """The variable names and function names an XPath expression references."""
    variables, functions = set(), set()
    for m in _TOKEN.finditer(source):
        if m.group("var"):
            variables.add(m.group("var"))
        elif m.group("func"):
            functions.add(m.group("func"))
    return variables, functions


def check(source: str, scope) -> None:
    """Raise :class:`ExprError` when ``source`` uses a variable outside ``scope`` or an unknown function."""
    variables, functions = scan(source)
    for name in sorted(variables):
        if name not in scope:
            raise ExprError(f"unknown field or variable ${name} in expression {source!r}"
                            " (declare it in <fields> or <variables>)")
    for name in sorted(functions):
        if name in XPATH_CORE:
            continue
        if name not in FUNCTIONS:
            raise ExprError(f"unknown function {name}() in expression {source!r}")


def _to_xpath_value(value):
    if isinstance(value, bool) or isinstance(value, (float, str, list)):
        return value
    if isinstance(value, int):
        return float(value)
    if value is None:
        return ""
    if hasattr(value, "xpath"):
        return [value]
    return str(value)


class Expr:
    """A compiled XPath expression in one of the modes ``any``, ``string``, ``number``, ``boolean``, ``nodes``.

    Call :meth:`eval` with the context node and the environment (a dict of variable values).
    """

    __slots__ = ("source", "mode", "_xp", "_names", "_var", "_const", "_has_const", "_path", "_attr", "fast",
                 "child", "_xp_nodes")

    def __init__(self, source: str, mode: str = "any", scope=None):
        self.source = source
        self.mode = mode
        self._var = None
        self._const = None
        self._has_const = False
        self._xp = None
        self._path = None
        self._attr = None
        self.fast = None          # node -> str, for a plain child element name (the hot path of tables)
        self.child = None         # that child element's name (compose reads a row's children in one pass)
        if scope is not None:
            check(source, scope)
        variables, _ = scan(source)
        self._names = tuple(sorted(variables))
        m = _SIMPLE_VAR.match(source)
        if m and mode in ("any", "string", "nodes", "number", "boolean"):
            self._var = m.group(1)
            return
        if mode in ("string", "any") and _STRING.match(source):
            self._const = _STRING.match(source).group(1)[1:-1]
            self._has_const = True
            return
        if mode in ("number", "any") and _NUMBER.match(source):
            self._const = float(source)
            self._has_const = True
            return
        m = _SIMPLE_PATH.match(source)
        if m and mode == "string" and not (m.group(1) or "").split("/")[0] in ("text", "node"):
            # child path / attribute: answered with ElementPath, same result as XPath string()
            self._path = m.group(1)
            self._attr = m.group(2) or m.group(3)
            if self._attr is None and "/" not in self._path:
                self.fast = partial(_child_text, self._path)
                self.child = self._path
            return
        wrapped = {"string": "string(({}))", "number": "number(({}))",
                   "boolean": "boolean(({}))"}.get(mode, "{}").format(source)
        try:
            self._xp = etree.XPath(wrapped, extensions=EXTENSIONS, smart_strings=False)
        except etree.XPathSyntaxError as exc:
            raise ExprError(f"invalid XPath expression {source!r}: {exc}") from None

    @property
    def variables(self) -> tuple:
        return self._names

    @property
    def is_constant(self) -> bool:
        return self._has_const

    def eval(self, node, env: dict):
        """The expression's value on ``node`` (an lxml element) with variables from ``env``."""
        if self._var is not None:
            return self._coerce(env.get(self._var, ""))
        if self._has_const:
            return self._const
        path = self._path
        if path is not None or self._attr is not None:
            return _simple_string(node, path, self._attr)
        names = self._names
        try:
            if names:
                return self._xp(node, **{n: _to_xpath_value(env.get(n, "")) for n in names})
            return self._xp(node)
        except (etree.XPathError, ValueError, TypeError, ArithmeticError, KeyError) as exc:
            # XPath errors, and exceptions raised by extension functions on odd data
            raise ExprError(f"cannot evaluate {self.source!r}: {exc}") from None

    def eval_nodes(self, node, env: dict):
        """Like :meth:`eval`, but attribute and text results keep their owner element
        (``.getparent()``, lxml's "smart strings"): chart items use it for ``..``. Compiled on first
        use; expressions answered without XPath (variables, constants) are :meth:`eval`."""
        if self._xp is None or self._var is not None or self._has_const:
            return self.eval(node, env)
        xp = getattr(self, "_xp_nodes", None)
        if xp is None:
            xp = self._xp_nodes = etree.XPath(self._xp.path, extensions=EXTENSIONS, smart_strings=True)
        names = self._names
        try:
            return xp(node, **{n: _to_xpath_value(env.get(n, "")) for n in names})
        except (etree.XPathError, ValueError, TypeError, ArithmeticError, KeyError) as exc:
            raise ExprError(f"cannot evaluate {self.source!r}: {exc}") from None

    def _coerce(self, value):
        mode = self.mode
        if mode == "string":
            return value if type(value) is str else to_str(value)
        if mode == "number":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            try:
                return float(to_str(value))
            except ValueError:
                return float("nan")
        if mode == "boolean":
            if isinstance(value, str):
                return value != ""
            if isinstance(value, float):
                return value == value and value != 0.0
            return bool(value)
        if mode == "nodes":
            if isinstance(value, list):
                return value
            return [] if value in ("", None) else [value]
        return value

    def __repr__(self):
        return f"Expr({self.source!r}, {self.mode})"


def _child_text(name, node) -> str:
    """String value of the first child element ``name`` of ``node`` ('' if none)."""
    for child in node.iterchildren(name):
        if len(child):
            return "".join(child.itertext())
        return child.text or ""
    return ""


def _simple_string(node, path, attr) -> str:
    """XPath ``string(path/@attr)`` for a plain child path, without the XPath machinery."""
    if node is None:
        return ""
    if path is not None:
        if "/" in path:
            node = node.find(path)
        else:
            node = next(node.iterchildren(path), None)
        if node is None:
            return ""
    if attr is not None:
        return node.get(attr, "")
    if len(node):
        return "".join(node.itertext())
    return node.text or ""


class Template:
    """Literal text with ``{expression}`` holes; :meth:`render` gives the string."""

    __slots__ = ("source", "parts", "const", "single")

    def __init__(self, source: str, scope=None):
        self.source = source
        self.parts = tuple(parse_template(source, scope))
        self._settle()

    def _settle(self):
        parts = self.parts
        self.const = "".join(parts) if all(isinstance(p, str) for p in parts) else None
        self.single = parts[0] if len(parts) == 1 and not isinstance(parts[0], str) else None

    @classmethod
    def from_parts(cls, source: str, parts) -> "Template":
        """A template from already compiled parts (literal strings and Expr)."""
        t = cls.__new__(cls)
        t.source = source
        t.parts = tuple(p for p in parts if p != "")
        t._settle()
        return t

    @property
    def variables(self) -> set:
        out = set()
        for p in self.parts:
            if isinstance(p, Expr):
                out.update(p.variables)
        return out

    def render(self, node, env: dict) -> str:
        if self.const is not None:
            return self.const
        if self.single is not None:
            return self.single.eval(node, env)
        out = []
        for p in self.parts:
            out.append(p if isinstance(p, str) else p.eval(node, env))
        return "".join(out)

    def __repr__(self):
        return f"Template({self.source!r})"


def parse_template(source: str, scope=None) -> list:
    """Split a template into literal strings and :class:`Expr` (string mode) holes."""
    parts, buf = [], []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "{":
            if i + 1 < n and source[i + 1] == "{":
                buf.append("{")
                i += 2
                continue
            j, quote = i + 1, None
            while j < n:
                d = source[j]
                if quote:
                    if d == quote:
                        quote = None
                elif d in "'\"":
                    quote = d
                elif d == "}":
                    break
                j += 1
            if j >= n:
                raise ExprError(f"unclosed '{{' in text {source!r}")
            expr = source[i + 1:j].strip()
            if not expr:
                raise ExprError(f"empty '{{}}' in text {source!r}")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(Expr(expr, "string", scope))
            i = j + 1
        elif c == "}":
            if i + 1 < n and source[i + 1] == "}":
                buf.append("}")
                i += 2
                continue
            raise ExprError(f"single '}}' in text {source!r} (write '}}}}' for a literal brace)")
        else:
            buf.append(c)
            i += 1
    if buf:
        parts.append("".join(buf))
    return parts
