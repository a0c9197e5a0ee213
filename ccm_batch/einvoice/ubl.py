"""E-invoice stage: OASIS UBL 2.1 Invoice (EN 16931 core) of an invoice, the other syntax platforms accept.

:func:`write_ubl` writes the same :class:`~.model.Invoice` as :mod:`.cii` does, in UBL 2.1 element
order (customization id ``urn:cen.eu:en16931:2017``); the two carry the same business terms.
"""
from __future__ import annotations

from lxml import etree

from .cii import money, number
from .model import Invoice, Party

INV = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NSMAP = {None: INV, "cac": CAC, "cbc": CBC}


def _el(parent, tag: str, text: str | None = None, **attrs):
    ns, name = tag.split(":")
    el = etree.SubElement(parent, f"{{{CAC if ns == 'cac' else CBC}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def _tax_category(parent, tag: str, category: str, rate, reason: str = "") -> None:
    el = _el(parent, tag)
    _el(el, "cbc:ID", category)
    if category != "O":
        _el(el, "cbc:Percent", number(rate))
    if reason:
        _el(el, "cbc:TaxExemptionReason", reason)
    _el(_el(el, "cac:TaxScheme"), "cbc:ID", "VAT")


def _party(parent, tag: str, party: Party) -> None:
    el = _el(_el(parent, tag), "cac:Party")
    if party.email:
        _el(el, "cbc:EndpointID", party.email, schemeID="EM")
    if party.siret:
        _el(_el(el, "cac:PartyIdentification"), "cbc:ID", party.siret, schemeID="0009")
    address = _el(el, "cac:PostalAddress")
    if party.lines:
        _el(address, "cbc:StreetName", party.lines[0])
    if len(party.lines) > 1:
        _el(address, "cbc:AdditionalStreetName", party.lines[1])
    if party.city:
        _el(address, "cbc:CityName", party.city)
    if party.postcode:
        _el(address, "cbc:PostalZone", party.postcode)
    if len(party.lines) > 2:
        _el(_el(address, "cac:AddressLine"), "cbc:Line", party.lines[2])
    _el(_el(address, "cac:Country"), "cbc:IdentificationCode", party.country)
    if party.vat_id:
        scheme = _el(el, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", party.vat_id)
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
    legal = _el(el, "cac:PartyLegalEntity")
    _el(legal, "cbc:RegistrationName", party.name)
    if party.siren:
        _el(legal, "cbc:CompanyID", party.siren, schemeID="0002")


def write_ubl(invoice: Invoice) -> bytes:
    """The UBL 2.1 Invoice XML of ``invoice`` (UTF-8, with an XML declaration)."""
    cur = invoice.currency
    root = etree.Element(f"{{{INV}}}Invoice", nsmap=NSMAP)
    _el(root, "cbc:CustomizationID", "urn:cen.eu:en16931:2017")
    if invoice.business_process:
        _el(root, "cbc:ProfileID", invoice.business_process)
    _el(root, "cbc:ID", invoice.number)
    _el(root, "cbc:IssueDate", invoice.issue_date.isoformat())
    if invoice.due_date:
        _el(root, "cbc:DueDate", invoice.due_date.isoformat())
    _el(root, "cbc:InvoiceTypeCode", invoice.type_code)
    for note in invoice.notes:
        _el(root, "cbc:Note", note)
    _el(root, "cbc:DocumentCurrencyCode", cur)
    if invoice.buyer_reference:
        _el(root, "cbc:BuyerReference", invoice.buyer_reference)
    if invoice.period:
        period = _el(root, "cac:InvoicePeriod")
        _el(period, "cbc:StartDate", invoice.period[0].isoformat())
        _el(period, "cbc:EndDate", invoice.period[1].isoformat())
    _party(root, "cac:AccountingSupplierParty", invoice.seller)
    _party(root, "cac:AccountingCustomerParty", invoice.buyer)
    pay = invoice.payment
    if pay.means_code:
        means = _el(root, "cac:PaymentMeans")
        _el(means, "cbc:PaymentMeansCode", pay.means_code)
        if pay.reference:
            _el(means, "cbc:PaymentID", pay.reference)
        if pay.iban and pay.means_code not in ("49", "59"):
            account = _el(means, "cac:PayeeFinancialAccount")
            _el(account, "cbc:ID", pay.iban)
            if pay.bic:
                _el(_el(account, "cac:FinancialInstitutionBranch"), "cbc:ID", pay.bic)
        if pay.mandate:
            mandate = _el(means, "cac:PaymentMandate")
            _el(mandate, "cbc:ID", pay.mandate)
            if pay.debtor_iban:
                _el(_el(mandate, "cac:PayerFinancialAccount"), "cbc:ID", pay.debtor_iban)
    if pay.terms:
        _el(_el(root, "cac:PaymentTerms"), "cbc:Note", pay.terms)
    for allowance in invoice.allowances:
        el = _el(root, "cac:AllowanceCharge")
        _el(el, "cbc:ChargeIndicator", "false")
        if allowance.reason:
            _el(el, "cbc:AllowanceChargeReason", allowance.reason)
        _el(el, "cbc:Amount", money(allowance.amount), currencyID=cur)
        _tax_category(el, "cac:TaxCategory", allowance.vat_category, allowance.vat_rate)
    total = _el(root, "cac:TaxTotal")
    _el(total, "cbc:TaxAmount", money(invoice.tax_total), currencyID=cur)
    for vat in invoice.vat:
        sub = _el(total, "cac:TaxSubtotal")
        _el(sub, "cbc:TaxableAmount", money(vat.basis), currencyID=cur)
        _el(sub, "cbc:TaxAmount", money(vat.amount), currencyID=cur)
        _tax_category(sub, "cac:TaxCategory", vat.category, vat.rate, vat.exemption_reason)
    sums = _el(root, "cac:LegalMonetaryTotal")
    _el(sums, "cbc:LineExtensionAmount", money(invoice.line_total), currencyID=cur)
    _el(sums, "cbc:TaxExclusiveAmount", money(invoice.tax_basis), currencyID=cur)
    _el(sums, "cbc:TaxInclusiveAmount", money(invoice.grand_total), currencyID=cur)
    if invoice.allowances:
        _el(sums, "cbc:AllowanceTotalAmount", money(invoice.allowance_total), currencyID=cur)
    if invoice.prepaid:
        _el(sums, "cbc:PrepaidAmount", money(invoice.prepaid), currencyID=cur)
    _el(sums, "cbc:PayableAmount", money(invoice.due_payable), currencyID=cur)
    for line in invoice.lines:
        el = _el(root, "cac:InvoiceLine")
        _el(el, "cbc:ID", line.id)
        _el(el, "cbc:InvoicedQuantity", number(line.quantity), unitCode=line.unit)
        _el(el, "cbc:LineExtensionAmount", money(line.amount), currencyID=cur)
        if len(line.period) == 2:
            period = _el(el, "cac:InvoicePeriod")
            _el(period, "cbc:StartDate", line.period[0].isoformat())
            _el(period, "cbc:EndDate", line.period[1].isoformat())
        item = _el(el, "cac:Item")
        _el(item, "cbc:Name", line.name)
        _tax_category(item, "cac:ClassifiedTaxCategory", line.vat_category, line.vat_rate)
        _el(_el(el, "cac:Price"), "cbc:PriceAmount", number(line.net_price), currencyID=cur)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
