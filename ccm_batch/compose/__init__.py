"""Compose stage: record + compiled layout → :class:`ccm_batch.pages.Document` (device-independent pages).

``compose_document(layout, record, *, job, job_date, missing_glyphs) -> ComposeResult`` is what the runner calls for
every record. Modules: ``document`` (binding, pagination, fixed content, metadata), ``flow`` (flow
blocks and the region filler), ``table`` (tables over pages, carried-forward totals), ``graphics``
(images, rules, boxes, bar codes, EPC QR, bar charts), ``address`` (postal norms, window fit),
``text`` (line breaking, by the fonts engineer), ``preview`` (compose a few records of a data file).
"""
from __future__ import annotations

from typing import NamedTuple

from ..pages import Document
from .document import Composer


class ComposeResult(NamedTuple):
    """A composed document and the warnings raised while composing it (each names record and element)."""
    document: Document
    warnings: list


def compose_document(layout, record, *, job: str, job_date: str,
                     missing_glyphs: str = "reject") -> ComposeResult:
    """Compose ``record`` (:class:`ccm_batch.records.model.Record`) with ``layout`` (from ``load_layout``).

    ``missing_glyphs``: ``reject`` (a character no font draws rejects the record) or
    ``substitute`` (printed as ``?`` with a warning). Raises
    :class:`ccm_batch.errors.RecordError` when the record cannot be laid out.
    """
    document, warnings = Composer(layout, record, job, job_date, missing_glyphs).run()
    return ComposeResult(document, warnings)


__all__ = ["ComposeResult", "compose_document"]
