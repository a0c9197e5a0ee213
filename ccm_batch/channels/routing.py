"""Channels, routing: which channels each composed document goes to, and why.

:func:`route_document` walks the rule's allowed channels (the customer's preferred channel first when
the rule allows it) and takes the first one possible:

* **paper** needs address lines and no returned letter for that customer;
* **email** needs an address that looks valid, consent when the rule asks for it, and no hard bounce of
  that address;
* **sms** needs a mobile number in international or national form, consent when asked, no failed
  delivery to that number (the text's length is checked when it is composed: a text over the segment
  limit rejects the record);
* **portal** needs a customer id and consent when asked;
* **einvoice** (the job's ``[einvoice]``: Factur-X, CII or UBL handed to the customer's platform) needs a
  business customer — a SIREN (9 digits, or a 14-digit SIRET whose first 9 are the SIREN) from the
  preferences or the e-invoice mapping, unless ``[einvoice] route = "all"`` — consent when the rule
  asks for it, and no rejection by the platform fed back for that customer (then the next run falls
  back, e.g. to paper). Whether the invoice itself passes the XSD and EN 16931 rules is checked after
  routing: a failure rejects the record (it is never printed instead).

When none is possible the rule's ``fallback`` applies: ``paper`` (the document is printed; without an
address it lands in the mail plan's ``invalid`` stream) or ``suppress``. Channels the rule ``required``
(e.g. a formal notice always on paper) are added as copies. The reason names each step, e.g.
``email: consent 2026-03-02; paper copy: required for formal_notice``.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from .config import Rule
from .preferences import Preferences

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_SIREN = re.compile(r"^[0-9]{9}(?:[0-9]{5})?$")
_MOBILE = re.compile(r"^(\+[1-9][0-9]{7,14}|00[1-9][0-9]{7,14}|0[1-9][0-9]{8})$")   # E.164 or national (0…)


class Decision(NamedTuple):
    """Where a document goes: ``primary`` (paper, email, sms, portal, einvoice or suppressed), every channel it
    goes to (primary first, then copies), and the reason."""
    primary: str
    channels: tuple
    reason: str


def normalise_mobile(number: str) -> str:
    """Digits and a leading + only ('06 12 34 56 78' -> '0612345678')."""
    return re.sub(r"[\s.()-]", "", number or "")


def _blocked(blocks: dict, customer_id: str, channel: str, address: str):
    for addr, date, detail in blocks.get((customer_id, channel), ()):
        if channel in ("paper", "einvoice") or addr.lower() == (address or "").lower():
            return date, detail
    return None


def normalise_siren(value: str) -> str:
    """Digits only ('991 875 139' -> '991875139')."""
    return re.sub(r"[\s.-]", "", value or "")


def _possible(channel: str, rule: Rule, prefs: Preferences, meta, blocks: dict, b2b_only: bool = True):
    """``(True, why)`` when ``channel`` can carry the document, else ``(False, why not)``."""
    cid = meta.customer_id
    consent = prefs.consent(channel) if channel != "paper" else None
    if channel in rule.consent and channel != "paper" and consent is None:
        return False, "no consent"
    if channel == "paper":
        if not meta.address:
            return False, "no postal address"
        hit = _blocked(blocks, cid, "paper", "")
        if hit:
            return False, f"returned letter {hit[0]}" + (f" ({hit[1]})" if hit[1] else "")
        return True, "postal address"
    if channel == "email":
        if not prefs.email:
            return False, "no email address"
        if not _EMAIL.match(prefs.email):
            return False, f"invalid email address {prefs.email!r}"
        hit = _blocked(blocks, cid, "email", prefs.email)
        if hit:
            return False, f"hard bounce {hit[0]}" + (f" ({hit[1]})" if hit[1] else "")
    elif channel == "sms":
        mobile = normalise_mobile(prefs.mobile)
        if not mobile:
            return False, "no mobile number"
        if not _MOBILE.match(mobile):
            return False, f"invalid mobile number {prefs.mobile!r}"
        hit = _blocked(blocks, cid, "sms", mobile)
        if hit:
            return False, f"failed delivery {hit[0]}" + (f" ({hit[1]})" if hit[1] else "")
    elif channel == "portal" and not cid:
        return False, "no customer id"
    elif channel == "einvoice":
        siren = normalise_siren(prefs.siren)
        if b2b_only and not siren:
            return False, "no SIREN: not a business customer"
        if siren and not _SIREN.match(siren):
            return False, f"invalid SIREN {prefs.siren!r}"
        hit = _blocked(blocks, cid, "einvoice", siren)
        if hit:
            return False, f"platform rejection {hit[0]}" + (f" ({hit[1]})" if hit[1] else "")
        where = ", ".join(x for x in (f"SIREN {siren[:9]}" if siren else "", f"platform {prefs.pdp}"
                                                                            if prefs.pdp else "") if x)
        return True, (consent + ", " if consent else "") + f"business customer ({where})"
    return True, consent or "no consent needed"


def route_document(meta, prefs: Preferences, rule: Rule, blocks: dict, b2b_only: bool = True) -> Decision:
    """The decision for one document (``meta``: :class:`ccm_batch.pages.DocumentMeta`). ``b2b_only``:
    the e-invoice channel needs a SIREN (``[einvoice] route = "b2b"``)."""
    order = list(rule.allowed)
    if prefs.preferred in order:
        order.remove(prefs.preferred)
        order.insert(0, prefs.preferred)
    refused = []
    primary, why = None, ""
    for channel in order:
        ok, text = _possible(channel, rule, prefs, meta, blocks, b2b_only)
        if ok:
            primary, why = channel, text
            break
        refused.append(f"{channel} impossible: {text}")
    if primary is None:
        primary = "paper" if rule.fallback == "paper" else "suppressed"
        why = "fallback"
    parts = [f"{primary}: {why}" + (f" ({', '.join(refused)})" if refused else "")]
    channels = [primary] if primary != "suppressed" else []
    for channel in rule.required:
        if channel in channels:
            continue
        ok, text = _possible(channel, Rule(consent=()), prefs, meta, blocks, b2b_only)
        if ok or channel == "paper":
            channels.append(channel)
            parts.append(f"{channel} copy: required for {meta.doc_type}")
        else:
            parts.append(f"{channel} copy impossible: {text}")
    if primary == "suppressed" and channels:
        primary = channels[0]
    return Decision(primary, tuple(channels), "; ".join(parts))
