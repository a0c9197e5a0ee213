"""E-invoice stage: the mapping file — which extract fields give the EN 16931 business terms.

A mapping is a TOML file (``[einvoice] mapping`` in the job, relative to the job file). Every value
is an XPath 1.0 expression evaluated on the record element, as in layouts: a constant is a quoted
string (``"'380'"``). Tables and their keys (business term ids in brackets):

``[invoice]``  ``number`` (BT-1), ``type_code`` (BT-3, default ``'380'``), ``issue_date`` (BT-2),
``currency`` (BT-5), ``due_date`` (BT-9), ``buyer_reference`` (BT-10), ``period_start`` /
``period_end`` (BT-73/74), ``notes`` (BT-22, a list of expressions), ``business_process`` (BT-23).

``[seller]`` / ``[buyer]``  ``name`` (BT-27/44), ``siren`` (BT-30/47, scheme 0002), ``siret``
(BT-29/46, scheme 0009), ``vat_id`` (BT-31/48), ``line1`` ``line2`` ``line3`` ``postcode`` ``city``
``country`` (BG-5/8), ``email`` (BT-34/49, the electronic address); ``[buyer] pdp`` the buyer's
platform (the drop directory its files are handed to).

``[payment]``  ``means`` (a value looked up in ``[payment.means_codes]``, or a UNTDID 4461 code
directly), ``iban`` (BT-84), ``bic`` (BT-86), ``reference`` (BT-83), ``creditor_id`` (BT-90),
``mandate`` (BT-89), ``debtor_iban`` (BT-91), ``terms`` (BT-20).

``[lines]``  ``select`` (the line nodes), then per line ``name`` (BT-153), ``quantity`` (BT-129),
``unit`` (BT-130: a label looked up in ``[units]``, or a UN/ECE Rec 20 code), ``net_price``
(BT-146), ``vat_rate`` (BT-152), ``vat_category`` (BT-151, default ``'S'``), ``amount`` (BT-131),
``period_start``/``period_end``; ``negative = "allowance"`` turns a line with a negative amount (a
credit such as a commercial gesture; EN 16931 forbids negative prices, BR-27) into a document-level
allowance (BG-20) with the line's VAT rate and its name as the reason.

``[vat]``  ``select`` (one node per VAT rate), ``rate`` (BT-119), ``basis`` (BT-116), ``amount``
(BT-117), ``category`` (BT-118, default ``'S'``), ``exemption_reason`` (BT-120).

``[totals]``  ``tax_basis`` (BT-109), ``tax_total`` (BT-110), ``grand_total`` (BT-112),
``prepaid`` (BT-113), ``due_payable`` (BT-115). BT-106 (sum of line net amounts) and BT-107 (sum of
allowances) are computed from the lines, never typed.

``[printed] amounts``  the business terms whose amounts must appear on the composed document,
formatted as the layout formats them (``format-amount`` in the layout's locale and currency);
default: ``["BT-109", "BT-110", "BT-112", "BT-115", "BT-117", "BT-131"]``; ``[printed] style``
``"plain"`` when the layout prints the extract's numbers as they are (``1234.50``).

A missing table or an unknown key is an error at load, with the file and the key.
"""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..errors import ConfigError

PARTY_KEYS = ("name", "siren", "siret", "vat_id", "line1", "line2", "line3", "postcode", "city",
              "country", "email", "pdp")
TABLES = {
    "invoice": ("number", "type_code", "issue_date", "currency", "due_date", "buyer_reference",
                "period_start", "period_end", "notes", "business_process"),
    "seller": PARTY_KEYS,
    "buyer": PARTY_KEYS,
    "payment": ("means", "means_codes", "iban", "bic", "reference", "creditor_id", "mandate",
                "debtor_iban", "terms"),
    "lines": ("select", "name", "quantity", "unit", "net_price", "vat_rate", "vat_category", "amount",
              "period_start", "period_end", "negative"),
    "vat": ("select", "rate", "basis", "amount", "category", "exemption_reason"),
    "totals": ("tax_basis", "tax_total", "grand_total", "prepaid", "due_payable"),
    "units": None,            # free keys: label -> code
    "printed": ("amounts", "style"),
}
REQUIRED = {
    "invoice": ("number", "issue_date", "currency"),
    "seller": ("name", "country"),
    "buyer": ("name",),
    "lines": ("select", "name", "quantity", "net_price", "vat_rate", "amount"),
    "vat": ("select", "rate", "basis", "amount"),
    "totals": ("tax_basis", "tax_total", "grand_total", "due_payable"),
}
PRINTED_TERMS = ("BT-106", "BT-107", "BT-109", "BT-110", "BT-112", "BT-113", "BT-115", "BT-117", "BT-131")
DEFAULT_PRINTED = ("BT-109", "BT-110", "BT-112", "BT-115", "BT-117", "BT-131")


@dataclass(frozen=True)
class Mapping:
    """A loaded mapping: compiled XPath expressions per table and key (see the module docstring)."""
    path: Path
    tables: dict                         # table -> {key: compiled XPath (string result)}
    notes: tuple = ()                    # compiled XPaths of BT-22
    lines_select: object = None          # compiled XPath returning nodes
    vat_select: object = None
    units: dict = field(default_factory=dict)
    means_codes: dict = field(default_factory=dict)
    negative: str = "reject"             # "reject" | "allowance"
    printed: tuple = DEFAULT_PRINTED
    printed_style: str = "format-amount"  # "format-amount" (as the layout's format-amount) | "plain" (1234.50)

    def value(self, table: str, key: str, node) -> str:
        """The string value of ``table.key`` on ``node`` ('' when unmapped or empty)."""
        xpath = self.tables.get(table, {}).get(key)
        if xpath is None:
            return ""
        return str(xpath(node)).strip()

    def has(self, table: str, key: str) -> bool:
        return key in self.tables.get(table, {})


def _where(path: Path, table: str, key: str | None = None) -> str:
    return f"{path}: [{table}]" + (f" {key}" if key else "")


def _compile(path: Path, table: str, key: str, expr, namespaces: dict, nodes: bool = False):
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"{_where(path, table, key)}: must be a non-empty XPath expression (a constant "
                          "is quoted: \"'380'\")")
    try:
        return etree.XPath(expr if nodes else f"string({expr})", namespaces=namespaces or None)
    except etree.XPathSyntaxError as exc:
        raise ConfigError(f"{_where(path, table, key)}: invalid XPath {expr!r}: {exc}") from None


def _unknown(path: Path, table: str, key: str, known) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
    where = f"{path}: [{table}] {key}" if table else f"{path}: [{key}]"
    return ConfigError(f"{where}: unknown {'key' if table else 'table'}{hint}")


def load_mapping(path: Path, namespaces: dict | None = None) -> Mapping:
    """Load and compile a mapping file; every error names the file and the table/key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: e-invoice mapping file not found ([einvoice] mapping)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML file: {exc}") from None
    data.pop("version", None)
    for name, table in data.items():
        if name not in TABLES:
            raise _unknown(path, "", name, TABLES)
        if isinstance(table, dict) and TABLES[name] is not None:
            for key in table:
                if key not in TABLES[name]:
                    raise _unknown(path, name, key, TABLES[name])
    for name, keys in REQUIRED.items():
        table = data.get(name)
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] table missing (required keys: {', '.join(keys)})")
        for key in keys:
            if key not in table:
                raise ConfigError(f"{_where(path, name, key)}: required key missing")
    ns = namespaces or {}
    tables, notes, units, means_codes = {}, (), {}, {}
    lines_select = vat_select = None
    negative, printed, style = "reject", DEFAULT_PRINTED, "format-amount"
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{_where(path, name)}: must be a table")
        known = TABLES[name]
        compiled = {}
        for key, expr in table.items():
            if known is not None and key not in known:
                raise _unknown(path, name, key, known)
            if name == "units":
                if not isinstance(expr, str) or not expr.strip():
                    raise ConfigError(f"{_where(path, name, key)}: must be a UN/ECE Rec 20 unit code")
                units[key] = expr.strip()
            elif (name, key) == ("printed", "style"):
                if expr not in ("format-amount", "plain"):
                    raise ConfigError(f"{_where(path, name, key)}: 'format-amount' or 'plain'")
                style = expr
            elif name == "printed":
                if not isinstance(expr, list) or any(t not in PRINTED_TERMS for t in expr):
                    raise ConfigError(f"{_where(path, name, key)}: a list of business terms among "
                                      + ", ".join(PRINTED_TERMS))
                printed = tuple(expr)
            elif (name, key) == ("invoice", "notes"):
                exprs = expr if isinstance(expr, list) else [expr]
                notes = tuple(_compile(path, name, key, e, ns) for e in exprs)
            elif (name, key) == ("payment", "means_codes"):
                if not isinstance(expr, dict) or not all(isinstance(v, str) for v in expr.values()):
                    raise ConfigError(f"{_where(path, name, key)}: a table of value = UNTDID 4461 code")
                means_codes = dict(expr)
            elif (name, key) == ("lines", "negative"):
                if expr not in ("reject", "allowance"):
                    raise ConfigError(f"{_where(path, name, key)}: 'reject' or 'allowance'")
                negative = expr
            elif key == "select":
                selected = _compile(path, name, key, expr, ns, nodes=True)
                if name == "lines":
                    lines_select = selected
                else:
                    vat_select = selected
            else:
                compiled[key] = _compile(path, name, key, expr, ns)
        tables[name] = compiled
    return Mapping(path, tables, notes, lines_select, vat_select, units, means_codes, negative, printed, style)
