"""Render stage (AFP format layer): IOCA image objects (BIM … EIM) from PNG/JPEG files.

Two encodings (afp.md §7):

* ``bilevel`` (default, function set FS10): the image is flattened on white, converted to grey and
  Floyd–Steinberg dithered by Pillow (deterministic), written uncompressed (RIDIC, rows padded to a
  byte, bit 1 = toner). Every AFP printer accepts it.
* ``color`` (FS11): 24-bit RGB, uncompressed. Needs a colour/grey-capable IOCA consumer.

An object is built either as a **resource** (for the print-file resource group, placed by an IOB
that gives position, area size and scale-to-fill mapping) or **inline** in a page (OBP at the
page position, RefCSys 01). Image data are cut into Image Data parameters (FE92) of whole rows
and into IPD fields of at most 8,192 bytes.
"""
from __future__ import annotations

from typing import NamedTuple

from . import fields as F

FS10, FS11 = 0x0A, 0x0B
_INVERT = bytes(255 - i for i in range(256))
MAX_PIXELS = 32767


class IocaImage(NamedTuple):
    """A decoded raster ready for IOCA: size in pixels, resolution (pels per 10 in), function set, data."""
    width: int
    height: int
    xres: int
    yres: int
    function_set: int
    data: bytes

    @property
    def natural_size(self) -> tuple[int, int]:
        """Size in L-units (1/1440 in) at the image's own resolution."""
        return (max(1, round(self.width * F.UNITS_PER_10IN / self.xres)),
                max(1, round(self.height * F.UNITS_PER_10IN / self.yres)))


def load_image(path: str, mode: str = "bilevel", default_dpi: int = 300) -> IocaImage:
    """Read a PNG/JPEG (any Pillow format) and convert it to an :class:`IocaImage`.

    Transparent pixels become white. Images larger than 32,767 pixels on a side are scaled down.
    """
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        im.load()
        dpi = im.info.get("dpi") or (default_dpi, default_dpi)
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = PILImage.new("RGBA", im.size, (255, 255, 255, 255))
            bg.alpha_composite(im)
            im = bg
        if max(im.size) > MAX_PIXELS:
            scale = MAX_PIXELS / max(im.size)
            im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
            dpi = (dpi[0] * scale, dpi[1] * scale)
        xres = min(65535, max(1, round(float(dpi[0]) * 10)))
        yres = min(65535, max(1, round(float(dpi[1]) * 10)))
        if mode == "color":
            data = im.convert("RGB").tobytes()
            return IocaImage(im.width, im.height, xres, yres, FS11, data)
        bw = im if im.mode == "1" else im.convert("L").convert("1")
        return IocaImage(im.width, im.height, xres, yres, FS10, bw.tobytes().translate(_INVERT))


def _segment(img: IocaImage, xres: int, yres: int) -> bytes:
    """The IOCA image segment: Begin Segment … End Segment (afp.md §7.2)."""
    head = (b"\x70\x00\x91\x01\xff\x94\x09\x00" + xres.to_bytes(2, "big") + yres.to_bytes(2, "big")
            + img.width.to_bytes(2, "big") + img.height.to_bytes(2, "big") + b"\x95\x02\x03\x01")
    if img.function_set == FS11:
        head += b"\x96\x01\x18\x9b\x08\x00\x01\x00\x00\x00\x08\x08\x08"
        row = img.width * 3
    else:
        head += b"\x96\x01\x01"
        row = (img.width + 7) // 8
    rows_per = max(1, 65535 // max(1, row))
    step = rows_per * row
    data = img.data
    parts = [head]
    for i in range(0, len(data), step):
        chunk = data[i:i + step]
        parts.append(b"\xfe\x92" + len(chunk).to_bytes(2, "big") + chunk)
    parts.append(b"\x93\x00\x71\x00")
    return b"".join(parts)


def image_object(name: str, img: IocaImage, *, x: int = 0, y: int = 0, width: int | None = None,
                 height: int | None = None, inline: bool = False) -> bytes:
    """BIM … EIM for ``img``.

    Resource form (``inline=False``): area = natural size at (0, 0), OBP RefCSys 00 (the IOB
    positions it). Inline form: area = ``width`` × ``height`` at page position (x, y), RefCSys 01.
    Both map with scale-to-fill (MIO X'60') so the picture fills the area exactly.
    """
    if inline and width and height:
        w, h = width, height
        xres = min(65535, max(1, round(img.width * F.UNITS_PER_10IN / w)))
        yres = min(65535, max(1, round(img.height * F.UNITS_PER_10IN / h)))
    else:
        w, h = img.natural_size
        xres, yres = img.xres, img.yres
    oeg = (F.begin(F.BOG) + F.obd(w, h) + F.obp(x if inline else 0, y if inline else 0, 0x01 if inline else 0x00)
           + F.sf(F.MIO, b"\x00\x05\x03\x04\x60")
           + F.sf(F.IDD, b"\x00" + xres.to_bytes(2, "big") + yres.to_bytes(2, "big")
                  + img.width.to_bytes(2, "big") + img.height.to_bytes(2, "big")
                  + b"\xf7\x02\x01" + bytes((img.function_set,)))
           + F.begin(F.EOG))
    seg = _segment(img, xres, yres)
    ipds = b"".join(F.sf(F.IPD, seg[i:i + F.CHUNK]) for i in range(0, len(seg), F.CHUNK))
    return F.begin(F.BIM, name) + oeg + ipds + F.begin(F.EIM, name)


def image_resource(name: str, img: IocaImage) -> bytes:
    """The image wrapped for the print-file resource group: BRS(X'21' 06) BIM … EIM ERS."""
    return F.brs(name, F.RES_TYPE_IOCA) + image_object(name, img) + F.begin(F.ERS, name)
