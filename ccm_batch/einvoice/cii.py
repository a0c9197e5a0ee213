"""E-invoice stage: UN/CEFACT Cross Industry Invoice (D16B, the XML inside Factur-X) for each profile.

:func:`write_cii` writes an :class:`~.model.Invoice` as CII for the Factur-X profiles ``minimum``,
``basicwl``, ``basic``, ``en16931`` (the default) and ``extended``; the profile decides the guideline
id (BT-24) and which groups are written (MINIMUM and BASIC WL carry no lines). Element order follows
the Factur-X 1.0 XSDs; amounts have two decimals, dates the 102 format (YYYYMMDD). The same invoice
always gives the same bytes.
"""
from __future__ import annotations

from decimal import Decimal

from lxml import etree

from .model import Invoice, Party

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}

GUIDELINES = {
    "minimum": "urn:factur-x.eu:1p0:minimum",
    "basicwl": "urn:factur-x.eu:1p0:basicwl",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "en16931": "urn:cen.eu:en16931:2017",
    "extended": "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
}
PROFILES = tuple(GUIDELINES)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def number(value: Decimal) -> str:
    """A quantity, price or rate without trailing zeros or exponent (``20``, ``5.5``, ``0.2068``)."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"


def _el(parent, tag: str, text: str | None = None, **attrs):
    ns, name = tag.split(":")
    el = etree.SubElement(parent, f"{{{NSMAP[ns]}}}{name}", {k: v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _date(parent, tag: str, day) -> None:
    holder = _el(parent, tag)
    _el(holder, "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _party(parent, tag: str, party: Party, profile: str) -> None:
    el = _el(parent, tag)
    if party.siret and profile not in ("minimum",):
        _el(el, "ram:GlobalID", party.siret, schemeID="0009")
    _el(el, "ram:Name", party.name)
    if party.siren:
        legal = _el(el, "ram:SpecifiedLegalOrganization")
        _el(legal, "ram:ID", party.siren, schemeID="0002")
    if tag.endswith("SellerTradeParty") or profile not in ("minimum",):
        if party.country:
            address = _el(el, "ram:PostalTradeAddress")
            if profile != "minimum":
                if party.postcode:
                    _el(address, "ram:PostcodeCode", party.postcode)
                for name, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), party.lines):
                    _el(address, name, line)
                if party.city:
                    _el(address, "ram:CityName", party.city)
            _el(address, "ram:CountryID", party.country)
    if party.email and profile != "minimum":
        uri = _el(el, "ram:URIUniversalCommunication")
        _el(uri, "ram:URIID", party.email, schemeID="EM")
    if party.vat_id:
        reg = _el(el, "ram:SpecifiedTaxRegistration")
        _el(reg, "ram:ID", party.vat_id, schemeID="VA")


def _tax(parent, tag: str, category: str, rate: Decimal, **amounts) -> None:
    el = _el(parent, tag)
    if "calculated" in amounts:
        _el(el, "ram:CalculatedAmount", money(amounts["calculated"]))
    _el(el, "ram:TypeCode", "VAT")
    if amounts.get("exemption"):
        _el(el, "ram:ExemptionReason", amounts["exemption"])
    if "basis" in amounts:
        _el(el, "ram:BasisAmount", money(amounts["basis"]))
    _el(el, "ram:CategoryCode", category)
    if category != "O":
        _el(el, "ram:RateApplicablePercent", number(rate))


def write_cii(invoice: Invoice, profile: str = "en16931") -> bytes:
    """The CII XML of ``invoice`` for Factur-X ``profile`` (UTF-8, with an XML declaration)."""
    if profile not in GUIDELINES:
        raise ValueError(f"unknown Factur-X profile {profile!r} (one of {', '.join(PROFILES)})")
    with_lines = profile in ("basic", "en16931", "extended")
    full = profile != "minimum"
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    if invoice.business_process:
        _el(_el(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID",
            invoice.business_process)
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINES[profile])
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number)
    _el(document, "ram:TypeCode", invoice.type_code)
    _date(document, "ram:IssueDateTime", invoice.issue_date)
    if full:
        for note in invoice.notes:
            _el(_el(document, "ram:IncludedNote"), "ram:Content", note)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    if with_lines:
        for line in invoice.lines:
            item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
            _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", line.id)
            _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.name)
            agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
            _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", number(line.net_price))
            _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", number(line.quantity),
                unitCode=line.unit)
            settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
            _tax(settlement, "ram:ApplicableTradeTax", line.vat_category, line.vat_rate)
            if len(line.period) == 2:
                period = _el(settlement, "ram:BillingSpecifiedPeriod")
                _date(period, "ram:StartDateTime", line.period[0])
                _date(period, "ram:EndDateTime", line.period[1])
            _el(_el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"), "ram:LineTotalAmount",
                money(line.amount))
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.buyer_reference:
        _el(agreement, "ram:BuyerReference", invoice.buyer_reference)
    _party(agreement, "ram:SellerTradeParty", invoice.seller, profile)
    _party(agreement, "ram:BuyerTradeParty", invoice.buyer, profile)
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    pay = invoice.payment
    if full and pay.creditor_id:
        _el(settlement, "ram:CreditorReferenceID", pay.creditor_id)
    if full and pay.reference:
        _el(settlement, "ram:PaymentReference", pay.reference)
    _el(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    if full and pay.means_code:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", pay.means_code)
        if pay.debtor_iban:
            _el(_el(means, "ram:PayerPartyDebtorFinancialAccount"), "ram:IBANID", pay.debtor_iban)
        if pay.iban and pay.means_code not in ("49", "59"):
            _el(_el(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", pay.iban)
        if pay.bic and pay.means_code not in ("49", "59") and profile in ("en16931", "extended"):
            _el(_el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", pay.bic)
    if full:
        for vat in invoice.vat:
            _tax(settlement, "ram:ApplicableTradeTax", vat.category, vat.rate, calculated=vat.amount,
                 basis=vat.basis, exemption=vat.exemption_reason)
        if invoice.period:
            period = _el(settlement, "ram:BillingSpecifiedPeriod")
            _date(period, "ram:StartDateTime", invoice.period[0])
            _date(period, "ram:EndDateTime", invoice.period[1])
        for allowance in invoice.allowances:
            el = _el(settlement, "ram:SpecifiedTradeAllowanceCharge")
            _el(_el(el, "ram:ChargeIndicator"), "udt:Indicator", "false")
            _el(el, "ram:ActualAmount", money(allowance.amount))
            if allowance.reason:
                _el(el, "ram:Reason", allowance.reason)
            _tax(el, "ram:CategoryTradeTax", allowance.vat_category, allowance.vat_rate)
        if invoice.due_date or pay.terms or pay.mandate:
            terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
            if pay.terms:
                _el(terms, "ram:Description", pay.terms)
            if invoice.due_date:
                _date(terms, "ram:DueDateDateTime", invoice.due_date)
            if pay.mandate:
                _el(terms, "ram:DirectDebitMandateID", pay.mandate)
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    if full:
        _el(totals, "ram:LineTotalAmount", money(invoice.line_total))
        if invoice.allowances:
            _el(totals, "ram:AllowanceTotalAmount", money(invoice.allowance_total))
    _el(totals, "ram:TaxBasisTotalAmount", money(invoice.tax_basis))
    _el(totals, "ram:TaxTotalAmount", money(invoice.tax_total), currencyID=invoice.currency)
    _el(totals, "ram:GrandTotalAmount", money(invoice.grand_total))
    if full and invoice.prepaid:
        _el(totals, "ram:TotalPrepaidAmount", money(invoice.prepaid))
    _el(totals, "ram:DuePayableAmount", money(invoice.due_payable))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
