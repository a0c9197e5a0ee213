"""Layout stage: the channel variants of a layout (``<channels>``: email, SMS, portal) read and compiled.

A variant reuses the layout's fields, variables and messages: every text is a template with
``{expression}`` holes checked against the layout's scope at load time, like page content. Texts may
carry ``if`` (shown when true) and ``lang`` (shown for that document language only). Whitespace
collapses as in paragraphs. The variants are compiled to :class:`EmailVariant`, :class:`SmsVariant`
and :class:`PortalVariant`; :mod:`ccm_batch.compose.variants` evaluates them for a record.
"""
from __future__ import annotations

import re
from typing import NamedTuple

CHANNELS = ("paper", "email", "sms", "portal")
_WS = re.compile(r"[ \t\r\n]+")


class VariantText(NamedTuple):
    """One text of a variant: ``kind`` (heading, p, button, footer, text), template, condition,
    language, and for a button its ``href`` template."""
    kind: str
    template: object
    cond: object = None
    lang: str | None = None
    href: object = None


class EmailVariant(NamedTuple):
    """``<email>``: subjects and preheaders (the inbox preview line; the first shown of each is used)
    and the body's blocks in order."""
    subject: tuple
    preheader: tuple
    blocks: tuple
    brand_color: str
    src: str


class SmsVariant(NamedTuple):
    """``<sms>``: the candidate texts (the first whose condition holds is sent) and the segment limit."""
    texts: tuple
    max_segments: int | None
    src: str


class PortalVariant(NamedTuple):
    """``<portal>``: the titles (the first shown is used) and paragraphs of the accessible HTML version."""
    title: tuple
    paragraphs: tuple
    src: str


def _text(el) -> str:
    return _WS.sub(" ", el.text or "").strip()


def read_channel_variants(loader, el, scope) -> dict:
    """The variants under ``el`` (``<channels>`` or None) by channel name; errors name file:line."""
    if el is None:
        return {}
    out = {}

    def text(child, kind):
        cond = loader._opt_expr(child, "if", scope, "boolean")
        href = loader.template(child, child.get("href"), scope, "href") if child.get("href") else None
        return VariantText(kind, loader.template(child, _text(child), scope), cond, child.get("lang"), href)

    email = el.find("email")
    if email is not None:
        blocks = tuple(text(c, c.tag) for c in email if isinstance(c.tag, str)
                       and c.tag in ("heading", "p", "button", "footer"))
        out["email"] = EmailVariant(tuple(text(c, "subject") for c in email.findall("subject")),
                                    tuple(text(c, "preheader") for c in email.findall("preheader")),
                                    blocks, email.get("brand-color", "#0b5d7a").strip(), loader.where(email))
    sms = el.find("sms")
    if sms is not None:
        limit = sms.get("max-segments")
        out["sms"] = SmsVariant(tuple(text(c, "text") for c in sms.findall("text")),
                                int(limit) if limit else None, loader.where(sms))
    portal = el.find("portal")
    if portal is not None:
        out["portal"] = PortalVariant(tuple(text(c, "title") for c in portal.findall("title")),
                                      tuple(text(c, "p") for c in portal.findall("p")), loader.where(portal))
    return out
