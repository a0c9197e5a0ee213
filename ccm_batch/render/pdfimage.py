"""Render stage: raster images (PNG, JPEG, anything Pillow reads) as PDF image XObjects.

An image is written once per print file, the first time a page shows it; pages then refer to it by
resource name. Decisions:

* Baseline and progressive JPEGs in RGB or greyscale are copied as they are (``/DCTDecode``): no
  recompression, no quality loss, no decoding cost.
* Everything else is decoded with Pillow and stored as 8-bit DeviceRGB or DeviceGray samples,
  Flate-compressed (deterministic). Palette images are expanded, 16-bit greyscale reduced to 8 bits,
  CMYK converted to RGB (one output intent, sRGB, for the whole file).
* Transparency: for ordinary PDFs the alpha channel becomes a soft mask (``/SMask``). PDF/A output
  must have no transparency (the archive's rule), so there the image is flattened onto white.
"""
from __future__ import annotations

from ..errors import ConfigError
from .pdfwriter import PdfWriter


def write_image(writer: PdfWriter, path: str, *, pdfa: bool = False) -> int:
    """Write the image file ``path`` as an image XObject; return its object number."""
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
            return writer.add_stream(
                data, _entries(width, height, space) + b"/Filter/DCTDecode", compress=False)
        image.load()
        samples, space, alpha = _decode(image, flatten=pdfa)
    extra = b""
    if alpha is not None:
        mask = writer.add_stream(alpha, _entries(width, height, b"/DeviceGray"), compress=True)
        extra = b"/SMask %d 0 R" % mask
    return writer.add_stream(samples, _entries(width, height, space) + extra, compress=True)


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
