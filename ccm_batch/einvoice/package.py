"""E-invoice stage: the Factur-X hybrid PDF — the composed invoice as PDF/A-3b with its CII embedded as factur-x.xml.

The composed document is rendered by the PDF backend as PDF/A (fonts embedded, sRGB output intent,
the job date as its date); the ``factur-x`` library then embeds the XML (``/AF`` with
``AFRelationship /Data``), writes the Factur-X XMP extension schema (document type, file name,
version, conformance level) and declares PDF/A-3B. That library stamps the current time into the
PDF; it is run with the clock set to the job date so that the same invoice gives the same bytes on
every run.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os

from ..pages import DocumentMeta

LEVELS = {"minimum": "minimum", "basicwl": "basicwl", "basic": "basic", "en16931": "en16931",
          "extended": "extended"}


@contextlib.contextmanager
def _clock(moment: _dt.datetime):
    """Make ``factur-x``'s timestamps the job date (it reads ``datetime.now`` in its module)."""
    from facturx import facturx as module

    real = module.datetime

    class Frozen(real):                      # noqa: D401 - a datetime whose now() is fixed
        @classmethod
        def now(cls, tz=None):
            return moment if tz is None else moment.astimezone(tz)

    module.datetime = Frozen
    try:
        yield
    finally:
        module.datetime = real


def render_pdfa(meta: DocumentMeta, pages, job_date: str, scratch: str) -> bytes:
    """The PDF/A rendering of one composed document (the visual part of the Factur-X), made in the
    file ``scratch`` (removed afterwards)."""
    from ..archive.pdf_archive import default_renderer_factory
    from ..render.base import StreamInfo

    renderer = default_renderer_factory(meta, job_date)
    renderer.start_file(scratch, StreamInfo(job=meta.doc_type, stream="facturx", seq=1,
                                            title=f"{meta.doc_type} {meta.doc_id}".strip(), job_date=job_date))
    try:
        renderer.start_document(meta)
        for page in pages:
            renderer.page(page)
        renderer.end_document()
        renderer.end_file()
        with open(scratch, "rb") as f:
            return f.read()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)


def facturx_pdf(pdf: bytes, xml: bytes, profile: str, job_date: str, title: str, lang: str = "fr-FR") -> bytes:
    """Wrap a PDF/A and its CII into a Factur-X PDF/A-3b (the XML was validated before)."""
    from facturx import generate_from_binary

    moment = _dt.datetime.fromisoformat(job_date).replace(tzinfo=_dt.timezone.utc)
    metadata = {"author": "ccm-batch", "keywords": "Factur-X, invoice", "title": title,
                "subject": f"Factur-X {LEVELS[profile]} {title}"}
    with _clock(moment):
        return generate_from_binary(pdf, xml, flavor="factur-x", level=LEVELS[profile], check_xsd=False,
                                    pdf_metadata=metadata, lang=lang, afrelationship="data")
