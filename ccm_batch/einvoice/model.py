"""E-invoice stage: the EN 16931 invoice of one record, read through a mapping (business terms, Decimal amounts).

:func:`read_invoice` evaluates the mapping on the record element and returns an :class:`Invoice`;
data that cannot form an invoice (an amount that is not a number, a unit with no code, a date that is
not a date) raises :class:`InvoiceProblem` with a rule id (``EINV-DATA``) and the business term, so the
record is rejected with a reason instead of producing a file a platform would refuse.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .mapping import Mapping

CENT = Decimal("0.01")
_CODE = re.compile(r"^[A-Z0-9]{2,3}$")


class InvoiceProblem(Exception):
    """An invoice that cannot be released: ``rule`` (BR-xx, BR-CO-xx, XSD, EINV-…) and ``message``."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"{rule}: {message}")
        self.rule, self.message = rule, message


@dataclass(frozen=True)
class Party:
    """Seller (BG-4) or buyer (BG-7)."""
    name: str
    siren: str = ""
    siret: str = ""
    vat_id: str = ""
    lines: tuple = ()
    postcode: str = ""
    city: str = ""
    country: str = ""
    email: str = ""
    pdp: str = ""


@dataclass(frozen=True)
class Line:
    """An invoice line (BG-25)."""
    id: str
    name: str
    quantity: Decimal
    unit: str
    net_price: Decimal
    vat_category: str
    vat_rate: Decimal
    amount: Decimal
    period: tuple = ()


@dataclass(frozen=True)
class Allowance:
    """A document-level allowance (BG-20)."""
    amount: Decimal
    vat_category: str
    vat_rate: Decimal
    reason: str


@dataclass(frozen=True)
class VatBreakdown:
    """One VAT category and rate (BG-23)."""
    category: str
    rate: Decimal
    basis: Decimal
    amount: Decimal
    exemption_reason: str = ""


@dataclass(frozen=True)
class Payment:
    """Payment instructions (BG-16) and terms (BT-20)."""
    means_code: str = ""
    iban: str = ""
    bic: str = ""
    reference: str = ""
    creditor_id: str = ""
    mandate: str = ""
    debtor_iban: str = ""
    terms: str = ""


@dataclass(frozen=True)
class Invoice:
    """One EN 16931 invoice."""
    number: str
    type_code: str
    issue_date: _dt.date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple
    vat: tuple
    tax_basis: Decimal           # BT-109
    tax_total: Decimal           # BT-110
    grand_total: Decimal         # BT-112
    due_payable: Decimal         # BT-115
    prepaid: Decimal = Decimal("0.00")
    allowances: tuple = ()
    due_date: _dt.date | None = None
    buyer_reference: str = ""
    period: tuple = ()
    notes: tuple = ()
    business_process: str = ""
    payment: Payment = field(default_factory=Payment)

    @property
    def line_total(self) -> Decimal:
        """BT-106: the sum of the line net amounts."""
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    @property
    def allowance_total(self) -> Decimal:
        """BT-107: the sum of the document-level allowances."""
        return sum((a.amount for a in self.allowances), Decimal("0.00"))

    def amounts(self, term: str) -> list[Decimal]:
        """The amounts of business term ``term`` (one for header terms, several for BT-117/BT-131)."""
        single = {"BT-106": self.line_total, "BT-107": self.allowance_total, "BT-109": self.tax_basis,
                  "BT-110": self.tax_total, "BT-112": self.grand_total, "BT-113": self.prepaid,
                  "BT-115": self.due_payable}
        if term in single:
            return [single[term]]
        if term == "BT-117":
            return [v.amount for v in self.vat]
        if term == "BT-131":
            return [line.amount for line in self.lines] + [-a.amount for a in self.allowances]
        raise KeyError(term)


def _amount(text: str, term: str, places: Decimal | None = CENT) -> Decimal:
    try:
        value = Decimal(text.replace("\u00a0", "").replace(" ", ""))
    except InvalidOperation:
        raise InvoiceProblem("EINV-DATA", f"{term} {text!r} is not a number") from None
    if not value.is_finite():
        raise InvoiceProblem("EINV-DATA", f"{term} {text!r} is not a number")
    return value.quantize(places) if places is not None else value


def _date(text: str, term: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(text[:10])
    except ValueError:
        raise InvoiceProblem("EINV-DATA", f"{term} {text!r} is not a date (YYYY-MM-DD)") from None


def _party(mapping: Mapping, table: str, node) -> Party:
    get = lambda key: mapping.value(table, key, node)          # noqa: E731
    lines = tuple(v for v in (get("line1"), get("line2"), get("line3")) if v)
    return Party(name=get("name"), siren=get("siren").replace(" ", ""), siret=get("siret").replace(" ", ""),
                 vat_id=get("vat_id").replace(" ", ""), lines=lines, postcode=get("postcode"),
                 city=get("city"), country=get("country").upper(), email=get("email"), pdp=get("pdp"))


def _unit(mapping: Mapping, label: str) -> str:
    if label in mapping.units:
        return mapping.units[label]
    if _CODE.match(label):
        return label
    raise InvoiceProblem("EINV-UNIT", f"unit {label!r} has no UN/ECE Rec 20 code: add it to [units] in "
                                      f"{mapping.path.name}")


def read_invoice(node, mapping: Mapping) -> Invoice:
    """The invoice of the record element ``node``; :class:`InvoiceProblem` when its data cannot form one."""
    inv = lambda key: mapping.value("invoice", key, node)      # noqa: E731
    lines, allowances = [], []
    for position, item in enumerate(mapping.lines_select(node), start=1):
        get = lambda key: mapping.value("lines", key, item)    # noqa: E731
        amount = _amount(get("amount"), f"line {position} BT-131")
        rate = _amount(get("vat_rate"), f"line {position} BT-152", None).normalize()
        category = get("vat_category") or "S"
        if amount < 0 and mapping.negative == "allowance":
            allowances.append(Allowance(-amount, category, rate, get("name")))
            continue
        price = _amount(get("net_price"), f"line {position} BT-146", None)
        if price < 0:
            raise InvoiceProblem("BR-27", f"line {position}: item net price {price} is negative (set "
                                          "[lines] negative = \"allowance\" for credits)")
        period = (get("period_start"), get("period_end")) if mapping.has("lines", "period_start") else ()
        lines.append(Line(str(len(lines) + 1), get("name"), _amount(get("quantity"), f"line {position} BT-129",
                                                                    None),
                          _unit(mapping, get("unit") or "C62"), price, category, rate, amount,
                          tuple(_date(p, "line period") for p in period if p)))
    vat = []
    for item in mapping.vat_select(node):
        get = lambda key: mapping.value("vat", key, item)      # noqa: E731
        vat.append(VatBreakdown(get("category") or "S", _amount(get("rate"), "BT-119", None).normalize(),
                                _amount(get("basis"), "BT-116"), _amount(get("amount"), "BT-117"),
                                get("exemption_reason")))
    tot = lambda key, term: _amount(mapping.value("totals", key, node), term)  # noqa: E731
    pay = lambda key: mapping.value("payment", key, node)      # noqa: E731
    means = pay("means")
    payment = Payment(mapping.means_codes.get(means, means), pay("iban").replace(" ", ""), pay("bic"),
                      pay("reference"), pay("creditor_id"), pay("mandate"),
                      pay("debtor_iban").replace(" ", ""), pay("terms"))
    due = inv("due_date")
    start, end = inv("period_start"), inv("period_end")
    return Invoice(
        number=inv("number"), type_code=inv("type_code") or "380", issue_date=_date(inv("issue_date"), "BT-2"),
        currency=inv("currency"), seller=_party(mapping, "seller", node), buyer=_party(mapping, "buyer", node),
        lines=tuple(lines), vat=tuple(vat), tax_basis=tot("tax_basis", "BT-109"),
        tax_total=tot("tax_total", "BT-110"), grand_total=tot("grand_total", "BT-112"),
        due_payable=tot("due_payable", "BT-115"),
        prepaid=tot("prepaid", "BT-113") if mapping.has("totals", "prepaid") else Decimal("0.00"),
        allowances=tuple(allowances), due_date=_date(due, "BT-9") if due else None,
        buyer_reference=inv("buyer_reference"),
        period=(_date(start, "BT-73"), _date(end, "BT-74")) if start and end else (),
        notes=tuple(n for n in (str(x(node)).strip() for x in mapping.notes) if n),
        business_process=inv("business_process"), payment=payment)
