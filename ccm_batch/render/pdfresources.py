"""Render stage: PDF resources besides fonts — image XObjects, and the PDF/A-2b metadata and output intent.

Images. An image is written once per print file, the first time a page shows it; pages then refer
to it by resource name. Decisions:

* Baseline and progressive JPEGs in RGB or greyscale are copied as they are (``/DCTDecode``): no
  recompression, no quality loss, no decoding cost.
* Everything else is decoded with Pillow and stored as 8-bit DeviceRGB or DeviceGray samples,
  Flate-compressed (deterministic). Palette images are expanded, 16-bit greyscale reduced to 8 bits,
  CMYK converted to RGB (one output intent, sRGB, for the whole file).
* Transparency: for ordinary PDFs the alpha channel becomes a soft mask (``/SMask``). PDF/A output
  must have no transparency (the archive's rule), so there the image is flattened onto white.

PDF/A-2b. Decisions:

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
import os
import struct
import threading
import zlib
from collections import OrderedDict
from functools import lru_cache
from xml.sax.saxutils import escape

from ..errors import ConfigError
from .pdfwriter import PdfWriter


# -- images --------------------------------------------------------------------------------------

_IMAGE_CACHE: OrderedDict = OrderedDict()
_IMAGE_CACHE_LOCK = threading.Lock()
_IMAGE_CACHE_ENTRIES = 32
_IMAGE_CACHE_MAX_BYTES = 4 << 20


def write_image(writer: PdfWriter, path: str, *, pdfa: bool = False) -> int:
    """Write the image file ``path`` as an image XObject; return its object number."""
    entries, data, mask = _image_streams(path, pdfa)
    if mask is not None:
        mask_entries, mask_data = mask
        entries += b"/SMask %d 0 R" % writer.add_stream(mask_data, mask_entries, compress=False)
    return writer.add_stream(data, entries, compress=False)


def _image_streams(path: str, pdfa: bool):
    """``(entries, data, (mask entries, mask data) or None)`` of an image, encoded for PDF.

    Encoded images are kept in a small per-process cache (keyed by path, modification time and
    size), so the archive's one-PDF-per-document mode decodes a logo once, not once per file.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"image resource not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read image resource {path}: {exc}") from exc
    key = (path, pdfa, stat.st_mtime_ns, stat.st_size)
    with _IMAGE_CACHE_LOCK:
        streams = _IMAGE_CACHE.get(key)
        if streams is not None:
            _IMAGE_CACHE.move_to_end(key)
            return streams
    streams = _encode_image(path, pdfa)
    if len(streams[1]) + (len(streams[2][1]) if streams[2] else 0) <= _IMAGE_CACHE_MAX_BYTES:
        with _IMAGE_CACHE_LOCK:
            _IMAGE_CACHE[key] = streams
            if len(_IMAGE_CACHE) > _IMAGE_CACHE_ENTRIES:
                _IMAGE_CACHE.popitem(last=False)
    return streams


def _encode_image(path: str, pdfa: bool):
    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        image = PILImage.open(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"image resource not found: {path}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"cannot read image resource {path}: {exc}") from exc
    with image:
        width, height = image.size
        if image.format == "JPEG" and image.mode in ("RGB", "L"):
            with open(path, "rb") as handle:
                data = handle.read()
            space = b"/DeviceRGB" if image.mode == "RGB" else b"/DeviceGray"
            return _entries(width, height, space) + b"/Filter/DCTDecode", data, None
        image.load()
        samples, space, alpha = _decode(image, flatten=pdfa)
    mask = None
    if alpha is not None:
        mask = (_entries(width, height, b"/DeviceGray") + b"/Filter/FlateDecode",
                zlib.compress(alpha, 6))
    return (_entries(width, height, space) + b"/Filter/FlateDecode", zlib.compress(samples, 6),
            mask)


def _entries(width: int, height: int, space: bytes) -> bytes:
    return (b"/Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace%s/BitsPerComponent 8"
            % (width, height, space))


def _decode(image, *, flatten: bool):
    """``(samples, colour space, alpha samples or None)`` of a loaded Pillow image."""
    from PIL import Image as PILImage

    mode = image.mode
    has_alpha = mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        if mode.startswith("I;16"):
            image = image.convert("I").point(lambda v: v * (1 / 256))
        image = image.convert("L")
        mode = "L"
    grey = mode in ("1", "L", "LA") or (mode == "P" and _grey_palette(image))
    if has_alpha:
        image = image.convert("LA" if grey else "RGBA")
        colour, alpha = image.convert("L" if grey else "RGB"), image.getchannel("A")
        if flatten:
            white = PILImage.new(colour.mode, colour.size, 255 if grey else (255, 255, 255))
            white.paste(colour, mask=alpha)
            colour, alpha = white, None
    else:
        colour, alpha = image.convert("L" if grey else "RGB"), None
    space = b"/DeviceGray" if grey else b"/DeviceRGB"
    return colour.tobytes(), space, (alpha.tobytes() if alpha is not None else None)


def _grey_palette(image) -> bool:
    palette = image.getpalette() or []
    return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


# -- PDF/A ----------------------------------------------------------------------------------------

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
    return _formatted(moment, moment.utcoffset(), "D:%Y%m%d%H%M%S", "{}{:02d}'{:02d}'")


def xmp_date(moment: _dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS+HH:MM`` for XMP."""
    return _formatted(moment, moment.utcoffset(), "%Y-%m-%dT%H:%M:%S", "{}{:02d}:{:02d}")


@lru_cache(maxsize=64)    # a run stamps every document with its job date: formatted once per process
def _formatted(moment: _dt.datetime, offset, fields: str, zone: str) -> str:
    """``moment`` as ``fields`` + its UTC offset as ``zone``; cached by the moment *and* its offset (two
    aware datetimes of the same instant in other zones compare equal, but are written apart)."""
    sign, hours, minutes = _offset(moment)
    return moment.strftime(fields) + zone.format(sign, hours, minutes)


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
