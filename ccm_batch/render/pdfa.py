"""Render stage: PDF/A-2b pieces for the PDF backend — dates, XMP metadata, the sRGB output intent.

Decisions:

* Dates come from the job (``PdfOptions.creation_date`` or ``StreamInfo.job_date``), never from the
  clock. An ISO date or date-time without a zone is taken as UTC, so the Info dictionary
  (``D:20250131000000+00'00'``) and the XMP (``2025-01-31T00:00:00+00:00``) always agree, as PDF/A
  requires.
* The output intent's ICC profile is Little CMS's built-in sRGB (through Pillow's ``ImageCms``), an
  ICC v4 display profile (allowed by PDF/A-2, which follows ISO 32000-1). Little CMS stamps the
  profile header with the current time; bytes 24–35 are overwritten with a fixed date so the
  output stays byte-identical from run to run.
* The XMP packet is written uncompressed (PDF/A forbids filters on the metadata stream) and
  mirrors the Info dictionary: ``dc:title`` ↔ ``/Title``, ``dc:creator`` ↔ ``/Author``,
  ``xmp:CreatorTool`` ↔ ``/Creator``, ``pdf:Producer`` ↔ ``/Producer``, ``xmp:CreateDate`` ↔
  ``/CreationDate``, ``xmp:ModifyDate`` ↔ ``/ModDate``.
"""
from __future__ import annotations

import datetime as _dt
import struct
from functools import lru_cache
from xml.sax.saxutils import escape

from ..errors import ConfigError

SRGB_CONDITION = "sRGB IEC61966-2.1"


def parse_date(value) -> _dt.datetime | None:
    """A job date (``date``, ``datetime`` or ISO 8601 text) as an aware datetime; None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, _dt.date):
        moment = _dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = _dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ConfigError(f"invalid PDF creation date {value!r}: use ISO 8601 (2025-01-31)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.replace(microsecond=0)


def _offset(moment: _dt.datetime) -> tuple[str, int, int]:
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return sign, abs(minutes) // 60, abs(minutes) % 60


def pdf_date(moment: _dt.datetime) -> str:
    """``D:YYYYMMDDHHmmSS+HH'mm'`` for the Info dictionary."""
    sign, hours, minutes = _offset(moment)
    return moment.strftime("D:%Y%m%d%H%M%S") + f"{sign}{hours:02d}'{minutes:02d}'"


def xmp_date(moment: _dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+HH:MM`` for XMP."""
    sign, hours, minutes = _offset(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"


@lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes:
    """The sRGB ICC profile bytes for the PDF/A output intent (deterministic header date)."""
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return bytes(profile)


def xmp_metadata(*, title: str, author: str, creator: str, producer: str,
                 created: _dt.datetime | None, lang: str = "") -> bytes:
    """The XMP packet declaring PDF/A-2b (``pdfaid:part`` 2, ``pdfaid:conformance`` B)."""
    dc = ["<dc:format>application/pdf</dc:format>"]
    if title:
        dc.append('<dc:title><rdf:Alt><rdf:li xml:lang="x-default">%s</rdf:li></rdf:Alt></dc:title>'
                  % escape(title))
    if author:
        dc.append("<dc:creator><rdf:Seq><rdf:li>%s</rdf:li></rdf:Seq></dc:creator>" % escape(author))
    if lang:
        dc.append("<dc:language><rdf:Bag><rdf:li>%s</rdf:li></rdf:Bag></dc:language>" % escape(lang))
    xmp = ["<xmp:CreatorTool>%s</xmp:CreatorTool>" % escape(creator)]
    if created is not None:
        stamp = xmp_date(created)
        xmp += [f"<xmp:CreateDate>{stamp}</xmp:CreateDate>",
                f"<xmp:ModifyDate>{stamp}</xmp:ModifyDate>",
                f"<xmp:MetadataDate>{stamp}</xmp:MetadataDate>"]
    packet = "\n".join([
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">',
        "<pdfaid:part>2</pdfaid:part>",
        "<pdfaid:conformance>B</pdfaid:conformance>",
        "</rdf:Description>",
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">',
        *dc,
        "</rdf:Description>",
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">',
        *xmp,
        "</rdf:Description>",
        '<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">',
        "<pdf:Producer>%s</pdf:Producer>" % escape(producer),
        "</rdf:Description>",
        "</rdf:RDF>",
        "</x:xmpmeta>",
        '<?xpacket end="w"?>',
    ])
    return packet.encode("utf-8")
