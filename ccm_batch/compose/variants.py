"""Compose stage: a record's channel variants (email, SMS, portal texts) evaluated into plain content.

:func:`compose_variants` evaluates the layout's ``<channels>`` variants for one record with the same
fields, variables, language, locale and messages as its pages (the same :class:`Composer`
environment). The result holds plain strings only: channels never see records or layout internals.
An expression that fails rejects the record, as on paper.
"""
from __future__ import annotations

from typing import NamedTuple

from ..errors import RecordError
from ..layout.expr import ExprError
from ..layout.functions import to_str
from .document import Composer


class EmailContent(NamedTuple):
    """Subject, preheader and body blocks ``(kind, text, href)`` of one document's email."""
    subject: str
    preheader: str
    blocks: tuple
    brand_color: str


class SmsContent(NamedTuple):
    """The SMS text and the layout's segment limit (None: the job's)."""
    text: str
    max_segments: int | None


class PortalContent(NamedTuple):
    """Title and paragraphs of the accessible HTML version for the customer portal."""
    title: str
    paragraphs: tuple


def _s(value) -> str:
    return (value if type(value) is str else to_str(value)).strip()


def compose_variants(layout, record, *, job: str, job_date: str, channels=None) -> dict:
    """``{channel: content}`` for the layout's variants (only ``channels`` if given).

    Raises :class:`~ccm_batch.errors.RecordError` when an expression cannot be evaluated.
    """
    variants = layout.channels
    wanted = [c for c in ("email", "sms", "portal") if c in variants and (channels is None or c in channels)]
    if not wanted:
        return {}
    composer = Composer(layout, record, job, job_date)
    env = composer.build_env()
    root = record.tree
    lang = composer.language

    def render(tmpl, what):
        try:
            return _s(tmpl.render(root, env))
        except ExprError as exc:
            raise RecordError(f"{what}: {exc}", field=what) from None

    def shown(t, what) -> bool:
        if t.lang is not None and t.lang != lang:
            return False
        try:
            return t.cond is None or bool(t.cond.eval(root, env))
        except ExprError as exc:
            raise RecordError(f"{what}: {exc}", field=what) from None

    def first(texts, what) -> str:
        for t in texts:
            if shown(t, what):
                return render(t.template, what)
        return ""

    out = {}
    for channel in wanted:
        v = variants[channel]
        where = f"{channel} variant ({v.src})"
        if channel == "email":
            blocks = tuple((t.kind, render(t.template, where),
                            render(t.href, where) if t.href is not None else "")
                           for t in v.blocks if shown(t, where))
            subject = first(v.subject, where)
            if not subject:
                raise RecordError(f"{where}: no subject for this document (language {lang})", field="email")
            out["email"] = EmailContent(subject, first(v.preheader, where), blocks, v.brand_color)
        elif channel == "sms":
            out["sms"] = SmsContent(first(v.texts, where), v.max_segments)
        else:
            out["portal"] = PortalContent(first(v.title, where),
                                          tuple(render(t.template, where) for t in v.paragraphs
                                                if shown(t, where)))
    return out
