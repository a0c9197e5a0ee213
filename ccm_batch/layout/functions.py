"""Layout stage: formatting (numbers, money, dates per locale, with Babel) and the XPath extension functions.

Layout expressions are XPath 1.0 over the record tree (see :mod:`ccm_batch.layout.expr`); this module
provides the functions a layout designer calls on top of XPath's own (``sum``, ``count``, ``concat``,
``substring``, ``translate``, ``normalize-space``, ``round``, ...). They are registered in the default
namespace, so a layout writes ``format-amount($total)`` with no prefix.

Formatting depends on the document's locale and currency, which can come from the record (a customer's
language). The composer sets them per document with :func:`set_locale` before evaluating anything; the
functions read the current :class:`FormatState`. Compose runs one document at a time per process, so a
module-level state is enough (and keeps extension calls cheap).

Decisions:
- Babel's narrow no-break space (U+202F, French thousands separator) is printed as U+00A0 (no-break
  space): every print font and AFP code page has it. Amounts stay unbreakable on a line either way.
- Amounts are formatted from ``Decimal(str(value))`` so a float sum such as 0.1 + 0.2 prints 0.30, and
  rounding is half-even as Babel does (banking rounding); the records carry exact 2-decimal amounts.
- ``round-to(x, n)`` rounds half up (commercial rounding: 2.345 → 2.35), unlike XPath ``round``.
- An empty value (missing optional field) formats as the empty string, never as "NaN" or an error, so
  ``default()`` can supply a replacement.
- A number shown as text (a ``{$x}`` hole on a variable, a metadata or index field bound to a number)
  is canonical (:func:`canonical_number`): an integer without ``.0``, else the shortest decimal of
  the value rounded to 12 significant digits (``163.14999999999998`` → ``163.15``), never an exponent.
  12 digits absorb the binary noise of sums of amounts and keep cents exact up to 10 000 000 000.
"""
from __future__ import annotations

import datetime
import math
import re
import unicodedata
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency as _babel_format_currency
from babel.numbers import format_decimal as _babel_format_decimal
from lxml.etree import _Element

NBSP = "\u00a0"


class FormatState:
    """The locale, currency and message language current for the document being composed."""

    __slots__ = ("locale", "currency", "language", "messages")

    def __init__(self):
        self.locale = "fr_FR"
        self.currency = "EUR"
        self.language = "fr"
        self.messages = {}


STATE = FormatState()


def set_locale(locale: str, currency: str, language: str, messages: dict | None = None) -> None:
    """Make ``locale``/``currency``/``language`` current for the next evaluations (one document)."""
    STATE.locale = locale
    STATE.currency = currency
    STATE.language = language
    if messages is not None:
        STATE.messages = messages


@lru_cache(maxsize=64)
def check_locale(name: str) -> str:
    """The Babel locale id for ``name`` ('fr', 'fr_FR', 'en-US'); ValueError if Babel does not know it."""
    try:
        return str(Locale.parse(name.replace("-", "_")))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"unknown locale {name!r}") from exc


# -- value coercion (XPath results arrive as node lists, strings, floats or booleans) ------------------

def to_str(value) -> str:
    """XPath string value of an argument: first node's text, a number without '.0', a string."""
    if isinstance(value, list):
        if not value:
            return ""
        value = value[0]
        if type(value) is _Element and not len(value):     # a leaf element: its text (itertext is slow)
            return value.text or ""
        if hasattr(value, "xpath"):             # element: its string value
            return "".join(value.itertext())
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return canonical_number(value)
    return str(value)


NUMBER_DIGITS = 12          # significant digits of a number shown as text (see the module docstring)


def canonical_number(value: float) -> str:
    """A number as text: ``3`` (not ``3.0``), ``163.15`` (not ``163.14999999999998``), ``''`` for NaN.

    Integers (up to 10**15) print whole; other values are rounded to :data:`NUMBER_DIGITS`
    significant digits and printed in positional notation without trailing zeros.
    """
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = format(Decimal(f"{value:.{NUMBER_DIGITS}g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def to_decimal(value) -> Decimal | None:
    """A number argument as Decimal, or None when empty / not a number."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return None
        # 15 significant digits: absorbs binary noise of XPath sums and of libxml2's number parser
        return Decimal(f"{value:.15g}") if isinstance(value, float) else Decimal(value)
    text = to_str(value).strip().replace(NBSP, "").replace(" ", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def to_date(value) -> datetime.date | None:
    """An ISO date (``YYYY-MM-DD``, also ``YYYY-MM`` = first of month) as a date, or None."""
    text = to_str(value).strip()
    if not text:
        return None
    try:
        if len(text) == 7:
            return datetime.date(int(text[:4]), int(text[5:7]), 1)
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _clean(text: str) -> str:
    return text.replace("\u202f", NBSP)


# -- formatting (usable from Python too) ---------------------------------------------------------

def _unsigned_zero(value: Decimal, formatted, fmt) -> str:
    """``fmt(value)``, except that an amount that prints as zero (``-0``, ``-0.001`` at two decimals)
    prints without a sign: the result never depends on the sign of a zero."""
    text = formatted
    if value.is_signed() and not any(c.isdigit() and unicodedata.digit(c, 0) for c in text):
        text = fmt(-value)
    return text


def format_amount(value: Decimal, currency: str, locale: str) -> str:
    """Money per locale: ``1 234,56 €`` (fr_FR, EUR), ``$1,234.56`` (en_US, USD). Zero prints unsigned."""
    return _format_amount(str(value), currency, locale)


@lru_cache(maxsize=4096)
def _format_amount(value: str, currency: str, locale: str) -> str:
    # keyed by the decimal's text: Decimal('-0') == Decimal('0') (same hash), so a cache keyed by the
    # Decimal would print whichever sign was met first
    number = Decimal(value)
    fmt = lambda v: _clean(_babel_format_currency(v, currency, locale=locale))  # noqa: E731
    return _unsigned_zero(number, fmt(number), fmt)


def format_price(value: Decimal, decimals: int, currency: str, locale: str) -> str:
    """Money with ``decimals`` fraction digits, in the locale's currency pattern (unit prices:
    ``0,2516 €`` fr_FR, ``€0.2516`` en_IE, ``0,2516 €`` de_DE). Zero prints unsigned."""
    return _format_price(str(value), decimals, currency, locale)


@lru_cache(maxsize=4096)
def _format_price(value: str, decimals: int, currency: str, locale: str) -> str:
    from babel import Locale
    number = Decimal(value)
    pattern = Locale.parse(locale).currency_formats["standard"].pattern.split(";")[0]
    digits = "0." + "0" * decimals if decimals > 0 else "0"
    pattern = re.sub(r"0(\.0+)?", digits, pattern, count=1)
    fmt = lambda v: _clean(_babel_format_currency(v, currency, format=pattern, locale=locale,  # noqa: E731
                                                  currency_digits=False))
    return _unsigned_zero(number, fmt(number), fmt)


def format_number(value: Decimal, pattern: str, locale: str) -> str:
    """A number per locale; ``pattern`` is a CLDR pattern (``#,##0.00``) or '' for the locale default.
    Zero prints unsigned."""
    return _format_number(str(value), pattern, locale)


@lru_cache(maxsize=4096)
def _format_number(value: str, pattern: str, locale: str) -> str:
    number = Decimal(value)
    fmt = lambda v: _clean(_babel_format_decimal(v, format=pattern or None, locale=locale))  # noqa: E731
    return _unsigned_zero(number, fmt(number), fmt)


@lru_cache(maxsize=4096)
def format_date(value: datetime.date, pattern: str, locale: str) -> str:
    """A date per locale; ``pattern`` is short/medium/long/full or a CLDR pattern (``d MMMM yyyy``)."""
    return _clean(_babel_format_date(value, format=pattern or "medium", locale=locale))


# -- extension functions: signature (context, *args) as lxml calls them ----------------------------

def _unsigned_when_zero(number: Decimal, digits: int) -> Decimal:
    """A value that prints as zero never carries a sign: ``-0`` and ``-0.001`` print ``0,00``."""
    if number.is_signed() and not number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN):
        return abs(number)                  # Babel rounds half-even too
    return number


def _fn_format_amount(_ctx, value, currency=None, locale=None):
    number = to_decimal(value)
    if number is None:
        return ""
    currency = to_str(currency) if currency is not None else STATE.currency
    number = _unsigned_when_zero(number, _currency_digits(currency))
    return format_amount(number, currency, to_str(locale) if locale is not None else STATE.locale)


@lru_cache(maxsize=64)
def _currency_digits(currency: str) -> int:
    from babel.numbers import get_currency_precision
    try:
        return get_currency_precision(currency)
    except Exception:           # an unknown code: Babel itself then reports it when formatting
        return 2


def _fn_format_price(_ctx, value, decimals=4):
    number = to_decimal(value)
    if number is None:
        return ""
    places = int(to_decimal(decimals) or 0)
    if not 0 <= places <= 8:
        raise ValueError(f"format-price: decimals must be 0 to 8, not {places}")
    number = _unsigned_when_zero(number, places)
    return format_price(number, places, STATE.currency, STATE.locale)


def _fn_format_number(_ctx, value, pattern="", locale=None):
    number = to_decimal(value)
    if number is None:
        return ""
    if not number:
        number = abs(number)                # -0 prints 0
    return format_number(number, to_str(pattern), to_str(locale) if locale is not None else STATE.locale)


def _fn_format_date(_ctx, value, pattern="long", locale=None):
    date = to_date(value)
    if date is None:
        return to_str(value)
    return format_date(date, to_str(pattern), to_str(locale) if locale is not None else STATE.locale)


def _fn_upper(_ctx, value):
    return to_str(value).upper()


def _fn_lower(_ctx, value):
    return to_str(value).lower()


def _fn_capitalize(_ctx, value):
    text = to_str(value)
    return text[:1].upper() + text[1:]


def strip_accents(text: str) -> str:
    """``SAINT-ÉTIENNE`` → ``SAINT-ETIENNE`` (decomposes and drops combining marks)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _fn_strip_accents(_ctx, value):
    return strip_accents(to_str(value))


def _fn_default(_ctx, value, fallback):
    text = to_str(value)
    return text if text.strip() else to_str(fallback)


def _fn_when(_ctx, test, then, otherwise=""):
    if isinstance(test, list):              # a node set: true when non-empty (XPath boolean())
        test = bool(test)
    elif isinstance(test, str):
        test = test != ""
    elif isinstance(test, float):
        test = test == test and test != 0.0   # NaN is false
    return then if test else otherwise


def _fn_join(_ctx, values, separator=", "):
    sep = to_str(separator)
    if not isinstance(values, list):
        return to_str(values)
    return sep.join(s for s in (to_str([v]) for v in values) if s.strip())


def _fn_replace(_ctx, value, old, new):
    return to_str(value).replace(to_str(old), to_str(new))


def _numbers(values):
    if not isinstance(values, list):
        values = [values]
    out = []
    for v in values:
        d = to_decimal([v] if not isinstance(v, (int, float)) else v)
        if d is not None:
            out.append(float(d))
    return out


def _fn_max(_ctx, values):
    nums = _numbers(values)
    return max(nums) if nums else float("nan")


def _fn_min(_ctx, values):
    nums = _numbers(values)
    return min(nums) if nums else float("nan")


def _fn_abs(_ctx, value):
    d = to_decimal(value)
    return float(abs(d)) if d is not None else float("nan")


def _fn_round_to(_ctx, value, digits=2):
    d = to_decimal(value)
    if d is None:
        return float("nan")
    places = int(float(to_str(digits) or 0))
    return float(d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _fn_msg(_ctx, key, *args):
    """A message of the layout's ``<messages>`` in the document language; ``{1}``… replaced by args."""
    name = to_str(key)
    texts = STATE.messages.get(name)
    if texts is None:
        return name
    text = texts.get(STATE.language) or next(iter(texts.values()))
    for i, arg in enumerate(args, 1):
        text = text.replace("{%d}" % i, to_str(arg))
    return text


def _fn_pad(_ctx, value, width, char="0"):
    return to_str(value).rjust(int(float(to_str(width))), (to_str(char) or " ")[0])


def _fn_iban(_ctx, value):
    """An IBAN in groups of four: ``FR76 3000 4000 ...``."""
    text = to_str(value).replace(" ", "")
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def _fn_language(_ctx):
    return STATE.language


# name → (function, min args, max args); max None = variadic
FUNCTIONS = {
    "format-amount": (_fn_format_amount, 1, 3),
    "format-number": (_fn_format_number, 1, 3),
    "format-price": (_fn_format_price, 1, 2),
    "format-date": (_fn_format_date, 1, 3),
    "upper": (_fn_upper, 1, 1),
    "lower": (_fn_lower, 1, 1),
    "capitalize": (_fn_capitalize, 1, 1),
    "strip-accents": (_fn_strip_accents, 1, 1),
    "default": (_fn_default, 2, 2),
    "when": (_fn_when, 2, 3),
    "join": (_fn_join, 1, 2),
    "replace": (_fn_replace, 3, 3),
    "max": (_fn_max, 1, 1),
    "min": (_fn_min, 1, 1),
    "abs": (_fn_abs, 1, 1),
    "round-to": (_fn_round_to, 1, 2),
    "msg": (_fn_msg, 1, None),
    "pad": (_fn_pad, 2, 3),
    "iban": (_fn_iban, 1, 1),
    "language": (_fn_language, 0, 0),
}

EXTENSIONS = {(None, name): fn for name, (fn, _lo, _hi) in FUNCTIONS.items()}

# XPath 1.0 core functions (and node tests that look like calls)
XPATH_CORE = {
    "last", "position", "count", "id", "local-name", "namespace-uri", "name", "string", "concat",
    "starts-with", "contains", "substring-before", "substring-after", "substring", "string-length",
    "normalize-space", "translate", "boolean", "not", "true", "false", "lang", "number", "sum", "floor",
    "ceiling", "round", "node", "text", "comment", "processing-instruction",
}
