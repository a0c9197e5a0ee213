"""Compose stage: graphics — images, rules, boxes, bar codes, the EPC (SEPA) QR code and bar charts.

Each graphic is bound to the record into a :class:`Graphic` — its size and a ``draw(x, y, width)``
function giving page items — so the same code places it at a fixed position (page templates) or as a
block in a flow (:class:`ccm_batch.compose.flow.GraphicBlock`). Bar codes are sized with
:func:`ccm_batch.barcodes.measure` and emitted as :class:`ccm_batch.pages.Barcode` items (renderers
draw the modules); data that a symbology refuses rejects the record.

The bar chart draws vector items only: one :class:`~ccm_batch.pages.Box` per bar, a baseline
:class:`~ccm_batch.pages.Rule`, category labels under the axis and value labels over the bars
(:class:`~ccm_batch.pages.Text`), an optional title above. The value scale runs from the smallest
negative value (or 0) to the largest positive one (or 0), widened by ``scale-min``/``scale-max`` and,
with ``scale="name"``, shared by every chart of the document with that name (so a smaller bar is
never drawn taller); the axis is the zero baseline, negative bars hang below it with their value
labels under them. ``gridlines="N"`` rounds the scale to at most N round steps and draws a light rule
per step; ``axis-label`` (a template with ``$value``) labels the steps in a gutter on the left.
Items may be any node type: an attribute or text node is wrapped in a ``<value>`` element.
Without negative values, ``scale``, ``gridlines`` or ``axis-label`` a chart draws as it always did.
"""
from __future__ import annotations

import copy

import math
import os
from functools import lru_cache
from typing import Callable, NamedTuple

from lxml import etree

from .. import barcodes
from ..errors import RecordError
from ..layout import model as M
from ..layout.content import image_size
from ..layout.functions import to_str
from ..pages import Barcode, Box, Image, Rule
from . import text as textmod
from .flow import vmetrics


class Graphic(NamedTuple):
    """A bound graphic: natural width and height, and ``draw(x, y, width) -> items`` (top-left at x, y)."""
    width: int
    height: int
    draw: Callable


@lru_cache(maxsize=256)
def _image_size(path: str) -> tuple[int, int]:
    return image_size(path)


def _fail(node, message, page=None):
    raise RecordError(f"{node.name} ({node.src}): {message}", field=f"{node.name} ({node.src})", page=page)


def _allowed_image(c, node, rel: str, path: str) -> str:
    """The real path of an image named by record data, when it lies inside one of the layout's image
    directories (symbolic links followed); any other path rejects the record."""
    real = os.path.realpath(path)
    dirs = getattr(c.layout, "image_dirs", ())
    if not any(real.startswith(d.rstrip(os.sep) + os.sep) for d in map(str, dirs)):
        _fail(node, f"image {rel!r} from the record is outside the image directories "
                    f"({', '.join(map(str, dirs)) or 'none'}): refused; images named by data must be "
                    "in the layout's directory or in the job's [layout] image_dirs", c.page)
    return path


def bind_image(c, node: M.ImageNode, ctx, env) -> Graphic:
    if node.static_path is not None:
        path, natural = node.static_path, node.static_size
    else:
        rel = node.source.render(ctx, env).strip()
        path = os.path.normpath(os.path.join(node.base, rel))
        if not rel or not os.path.isfile(path):
            _fail(node, f"image {rel!r} not found ({path})", c.page)
        path = _allowed_image(c, node, rel, path)
        try:
            natural = _image_size(path)
        except ValueError as exc:
            _fail(node, str(exc), c.page)
    w, h = node.width, node.height
    if w is None and h is None:
        w, h = natural
    elif w is None:
        w = round(natural[0] * h / natural[1])
    elif h is None:
        h = round(natural[1] * w / natural[0])
    return Graphic(w, h, lambda x, y, width: [Image(x, y, w, h, path)])


def _dashes(x, y, length, t, direction, color, dash) -> list:
    """A dashed line as short rules: ``dash`` = (on, off); the last dash is cut at the end."""
    on, off = dash
    out = []
    pos = 0
    while pos < length:
        seg = min(on, length - pos)
        if direction == "v":
            out.append(Rule(x, y + pos, seg, t, "v", color))
        else:
            out.append(Rule(x + pos, y, seg, t, "h", color))
        pos += on + off
    return out


def bind_rule(c, node: M.RuleNode, ctx, env) -> Graphic:
    t = node.thickness
    if node.dash is not None:
        if node.direction == "v":
            length = node.length or 0
            return Graphic(t, length, lambda x, y, width: _dashes(x + t // 2, y, length, t, "v", node.color,
                                                                 node.dash))
        return Graphic(node.length or 0, t, lambda x, y, width: _dashes(x, y + t // 2, node.length or width, t,
                                                                       "h", node.color, node.dash))
    if node.direction == "v":
        length = node.length or 0
        return Graphic(t, length, lambda x, y, width: [Rule(x + t // 2, y, length, t, "v", node.color)])
    return Graphic(node.length or 0, t,
                   lambda x, y, width: [Rule(x, y + t // 2, node.length or width, t, "h", node.color)])


def bind_box(c, node: M.BoxNode, ctx, env) -> Graphic:
    w, h = node.width, node.height
    return Graphic(w, h, lambda x, y, width: [Box(x, y, w, h, node.fill, node.stroke, node.stroke_width)])


def _barcode(c, node, symbology, data, module, options, height=None) -> Graphic:
    try:
        w, h = barcodes.measure(symbology, data, module, options)
    except ValueError as exc:
        _fail(node, f"bar code {symbology}: {exc}", c.page)
    if height:
        h = height
    return Graphic(w, h, lambda x, y, width: [Barcode(x, y, w, h, symbology, data, module, options)])


def bind_barcode(c, node: M.BarcodeNode, ctx, env) -> Graphic:
    data = node.data.render(ctx, env).strip()
    if not data:
        _fail(node, "bar code data is empty", c.page)
    sym = node.symbology
    options = ()
    if sym == "qr":
        options = (("ecc", node.ecc),)
    elif sym in ("code128", "imb") and node.height:
        options = (("height", node.height),)
    g = _barcode(c, node, sym, data, node.module, options)
    if not node.human_readable:
        return g
    st = node.text_font
    size = min(st.size, 180)
    asc, desc = vmetrics(st.font_id, size)
    extra = asc + desc + 40

    def draw(x, y, width, g=g):
        items = g.draw(x, y, width)
        items.extend(textmod.place_runs(x + g.width // 2, y + g.height + 40 + asc, data, st.font_id, size,
                                        st.color, "center"))
        return items
    return Graphic(g.width, g.height + extra, draw)


def bind_epc_qr(c, node: M.EpcQrNode, ctx, env) -> Graphic:
    def val(t):
        return t.render(ctx, env).strip() if t is not None else ""
    amount = node.amount.eval(ctx, env).strip() if node.amount is not None else None
    try:
        payload = barcodes.epc_qr_payload(val(node.payee), val(node.iban), val(node.bic), amount or None,
                                          val(node.reference), val(node.text))
    except ValueError as exc:
        _fail(node, str(exc), c.page)
    return _barcode(c, node, "qr", payload, node.module, barcodes.EPC_QR_OPTIONS)


def _chart_item(item):
    """A chart item as an element: an attribute or text node (a string) is wrapped in ``<value>``,
    so ``.``, ``number(.)`` and ``$item`` work for any node type. The wrapper sits in a copy of the
    node's own element, so ``..`` is that element as in XPath (``select="mois/@net"`` with
    ``label="{../@m}"``)."""
    if isinstance(item, etree._Element):
        return item
    el = etree.Element("value")
    el.text = item if isinstance(item, str) else to_str(item)
    getparent = getattr(item, "getparent", None)
    owner = getparent() if getparent is not None else None
    if owner is not None and isinstance(owner, etree._Element):
        holder = etree.Element(owner.tag, dict(owner.attrib))
        for child in owner:
            holder.append(copy.deepcopy(child))
        holder.append(el)
    return el


def _nice_step(span: float, n: int) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) dividing ``span`` into at most ``n`` intervals."""
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw - 1e-12:
            return m * mag
    return 10 * mag


def bind_chart(c, node: M.ChartNode, ctx, env) -> Graphic:
    items_nodes = node.select.eval_nodes(ctx, env)     # attribute items keep their element (..)
    if not isinstance(items_nodes, list):
        items_nodes = [] if items_nodes in ("", None) else [items_nodes]
    items_nodes = [_chart_item(it) for it in items_nodes]
    n = len(items_nodes)
    values, labels, vlabels = [], [], []
    for i, item in enumerate(items_nodes, 1):
        e = dict(env, index=i, count=n, item=[item])
        v = node.value.eval(item, e)
        v = v if v == v else 0.0
        values.append(v)
        e["value"] = v
        labels.append(node.label.render(item, e) if node.label is not None else "")
        vlabels.append(node.value_label.render(item, e) if node.value_label is not None else "")
    lo = min([v for v in values if v < 0], default=0.0)
    hi = max([v for v in values if v > 0], default=0.0)
    if node.scale_min is not None:
        m = node.scale_min.eval(ctx, env)
        lo = min(lo, m) if m == m else lo
    if node.scale_max is not None:
        m = node.scale_max.eval(ctx, env)
        hi = max(hi, m) if m == m else hi
    scales = getattr(c, "chart_scales", None)
    if scales is None:
        scales = c.chart_scales = {}
    if node.scale:                      # a shared scale: every chart of the document with this name
        slo, shi = scales.get(node.scale, (0.0, 0.0))
        scales[node.scale] = (min(slo, lo), max(shi, hi))
    title = node.title.render(ctx, env) if node.title is not None else ""
    W, H = node.width, node.height
    font, size = node.font_id, node.size
    asc, desc = vmetrics(font, size)
    line = asc + desc + size // 4
    title_h = line + size // 2 if title else 0
    label_h = line if any(labels) else 0
    value_h = line if any(vlabels) else 0

    def extent():
        if node.scale:
            return scales[node.scale]
        return lo, hi

    def draw(x, y, width):
        out = []
        lo_, hi_ = extent()
        below_h = value_h if lo_ < 0 else 0       # room for the value labels of negative bars
        plot_h = H - title_h - label_h - value_h - below_h
        if plot_h <= 0:
            _fail(node, "chart too small for its labels", c.page)
        ticks = []
        if node.gridlines and hi_ > lo_:
            step = _nice_step(hi_ - lo_, node.gridlines)
            lo_ = math.floor(lo_ / step - 1e-9) * step if lo_ < 0 else 0.0
            hi_ = math.ceil(hi_ / step - 1e-9) * step if hi_ > 0 else 0.0
            k = round(lo_ / step)
            while k * step <= hi_ + 1e-9:
                ticks.append(k * step)
                k += 1
        span = hi_ - lo_
        plot_x, plot_w = x, W
        tick_labels = []
        if node.axis_label is not None and ticks:
            for t in ticks:
                tick_labels.append(node.axis_label.render(c.root, dict(c.env, value=t)))
            gutter = max(textmod.text_width(t, font, size) for t in tick_labels) + size // 2
            plot_x, plot_w = x + gutter, W - gutter
        if title:
            out.extend(textmod.place_runs(x, y + asc, title, font, size, (0, 0, 0), "left"))
        top = y + title_h + value_h

        def ypos(v):
            return top + round(plot_h * (hi_ - v) / span) if span > 0 else top + plot_h
        base_y = ypos(0.0)
        for t, lab in zip(ticks, tick_labels or [""] * len(ticks)):
            ty = ypos(t)
            if t != 0:
                out.append(Rule(plot_x, ty, plot_w, 5, "h", node.grid_color))
            if lab:
                out.extend(textmod.place_runs(plot_x - size // 2, ty + (asc - desc) // 2, lab, font, size,
                                              (60, 60, 60), "right"))
        label_y = top + plot_h + below_h
        if n:
            slot = plot_w / n
            bar_w = max(1, round(slot * 0.64))
            for i, v in enumerate(values):
                cx = plot_x + round(slot * i + slot / 2)
                color = node.color
                if v < 0 and node.negative_color is not None:
                    color = node.negative_color
                if node.highlight is not None and node.highlight_last and i == n - 1:
                    color = node.highlight
                if v > 0 and span > 0:
                    bh = round(plot_h * v / span)
                    if bh > 0:
                        out.append(Box(cx - bar_w // 2, base_y - bh, bar_w, bh, color, None, 0))
                    if vlabels[i]:
                        out.extend(textmod.place_runs(cx, base_y - bh - desc - size // 8, vlabels[i], font,
                                                      size, (60, 60, 60), "center"))
                elif v < 0 and span > 0:
                    bh = round(plot_h * -v / span)
                    if bh > 0:
                        out.append(Box(cx - bar_w // 2, base_y, bar_w, bh, color, None, 0))
                    if vlabels[i]:
                        out.extend(textmod.place_runs(cx, base_y + bh + size // 8 + asc, vlabels[i], font,
                                                      size, (60, 60, 60), "center"))
                elif vlabels[i]:
                    out.extend(textmod.place_runs(cx, base_y - desc - size // 8, vlabels[i], font, size,
                                                  (60, 60, 60), "center"))
                if labels[i]:
                    out.extend(textmod.place_runs(cx, label_y + size // 4 + asc, labels[i], font, size,
                                                  (60, 60, 60), "center"))
        out.append(Rule(plot_x, base_y, plot_w, 10, "h", node.axis_color))
        return out
    if H - title_h - label_h - value_h <= 0:
        _fail(node, "chart too small for its labels", c.page)
    return Graphic(W, H, draw)


BINDERS = {
    M.ImageNode: bind_image,
    M.RuleNode: bind_rule,
    M.BoxNode: bind_box,
    M.BarcodeNode: bind_barcode,
    M.EpcQrNode: bind_epc_qr,
    M.ChartNode: bind_chart,
}


def bind_graphic(c, node, ctx, env) -> Graphic:
    """Bind any graphic node (image, rule, box, barcode, epc-qr, chart)."""
    return BINDERS[type(node)](c, node, ctx, env)
