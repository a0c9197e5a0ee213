"""Sample data: draws the mutuelle application's images (logo, signature) into layouts/images/.

Run ``python samples/extra/mutuelle/make_images.py``; needs Pillow (installed with reportlab). The images
are committed, so the layout does not depend on this script; it documents how they were made.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

IMAGES = Path(__file__).resolve().parents[3] / "layouts" / "images"


def draw_logo(path: Path) -> None:
    """A 300 dpi logo, 24 × 24 mm: a teal rounded square with a white cross and a leaf."""
    size = 283
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, size - 1, size - 1), radius=48, fill=(0, 121, 128))
    arm = 46
    mid = size // 2
    d.rectangle((mid - arm // 2, 50, mid + arm // 2, size - 50), fill="white")
    d.rectangle((50, mid - arm // 2, size - 50, mid + arm // 2), fill="white")
    d.ellipse((mid + 20, 40, mid + 95, 115), fill=(134, 197, 64))
    img.save(path, dpi=(300, 300), optimize=True)


def draw_signature(path: Path) -> None:
    """A 300 dpi handwritten-looking signature, 45 × 15 mm, dark blue on white."""
    w, h = 531, 177
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    pts = []
    for i in range(0, 461, 4):
        x = 30 + i
        y = 95 + int(38 * __import__("math").sin(i / 23.0)) - i // 12
        pts.append((x, y))
    d.line(pts, fill=(20, 40, 110), width=5, joint="curve")
    d.line([(60, 140), (470, 120)], fill=(20, 40, 110), width=4)
    img.save(path, dpi=(300, 300), optimize=True)


if __name__ == "__main__":
    IMAGES.mkdir(parents=True, exist_ok=True)
    draw_logo(IMAGES / "mutuelle-logo.png")
    draw_signature(IMAGES / "mutuelle-signature.png")
