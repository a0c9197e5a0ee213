"""Layout stage: named carried-forward values of a table (``<carry name="paid" value="…"/>``).

A table's ``carry="expr"`` carries one number ("Solde à reporter"). Bank and insurance statements
carry several columns at once ("Report / À reporter" of amount paid, social security share, insurer
share, left to pay), so a table may also declare named carries::

    <table carry="1">
      <carry name="paid" value="sum(amount_paid)"/>
      <carry name="ss"   value="sum(ss_share)" initial="$ssBroughtForward"/>
      …
      <carry-out><cell>À reporter</cell><cell>{format-amount($carry_paid)}</cell>…</carry-out>

Each ``value`` is evaluated for every repeated row, in the row's context (``$item``, ``$index`` set),
like ``carry``; ``initial`` (default 0) is evaluated once on the table's context. In the
``carry-in``/``carry-out`` rows, ``$carry_NAME`` is ``initial`` plus the values of the rows placed so
far, and ``$carry`` the table's own ``carry`` (0 when the table has none).

How: compose carries one number per table (:mod:`ccm_batch.compose.table`: the carried value of a
row is added to the carry of the segment, ``round(carry + row.carry, 9)``). :class:`CarrySet` stands
in for the table's ``carry`` (and ``carry-initial``) expression and evaluates to a
:class:`CarryValue`: a float (the table's ``carry``, so ``$carry`` and ``$running`` keep working) that
also holds the named values and adds and rounds them component-wise. Compose only has to put
:attr:`CarryValue.named` into the environment of the carry rows. A NaN value (``number()`` of an
empty element) counts as 0, as for ``carry``.
"""
from __future__ import annotations

import math


class CarryValue(float):
    """The table's carried number plus the named carries: ``named`` is ``(("carry_NAME", value), …)``."""

    __slots__ = ("named",)

    def __new__(cls, main: float, named: tuple):
        self = super().__new__(cls, main)
        self.named = named
        return self

    def __add__(self, other):
        if isinstance(other, CarryValue):
            return CarryValue(float(self) + float(other),
                              tuple((k, a + b) for (k, a), (_, b) in zip(self.named, other.named)))
        if isinstance(other, (int, float)):
            return CarryValue(float(self) + other, self.named)
        return NotImplemented

    __radd__ = __add__

    def __round__(self, ndigits=None):
        if ndigits is None:
            return round(float(self))
        return CarryValue(round(float(self), ndigits), tuple((k, round(v, ndigits)) for k, v in self.named))

    def __reduce__(self):
        return (CarryValue, (float(self), self.named))

    def __repr__(self):
        return f"CarryValue({float(self)!r}, {self.named!r})"


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(value) else value


class CarrySet:
    """The table's ``carry`` (or ``carry-initial``) together with its named carries; quacks like an
    :class:`~ccm_batch.layout.expr.Expr` (``eval(node, env)``, ``source``, ``variables``).

    ``main`` is the Expr of the table's own attribute or None (0); ``named`` is ``((name, Expr or
    None), …)`` in declaration order (None: 0).
    """

    __slots__ = ("main", "named", "source", "mode")

    def __init__(self, main, named):
        self.main = main
        self.named = tuple(named)
        self.mode = "number"
        self.source = "; ".join(([main.source] if main is not None else []) +
                                [f"{n}: {e.source}" for n, e in self.named if e is not None])

    @property
    def variables(self) -> tuple:
        out = set(self.main.variables) if self.main is not None else set()
        for _, e in self.named:
            if e is not None:
                out.update(e.variables)
        return tuple(sorted(out))

    @property
    def is_constant(self) -> bool:
        return False

    def eval(self, node, env):
        """A :class:`CarryValue` of the row (or table) ``node``; raises ExprError as an Expr does."""
        main = _number(self.main.eval(node, env)) if self.main is not None else 0.0
        return CarryValue(main, tuple(("carry_" + name, _number(e.eval(node, env)) if e is not None else 0.0)
                                      for name, e in self.named))

    def __repr__(self):
        return f"CarrySet({self.source!r})"
