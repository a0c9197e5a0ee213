"""Layout stage: load and validate layout definitions (RELAX NG), compile expressions and styles.

``load_layout(path) -> Layout`` is the entry point: it parses a layout XML file (``layouts/*.xml``),
validates it against ``layout.rng``, imports fragment files, checks every field, style, font, image,
fragment and function it references, and compiles it (:mod:`ccm_batch.layout.model`) so compose only
evaluates precompiled XPath per record. Errors are :class:`ccm_batch.errors.LayoutError` with
``file:line: message``. The language is described in ``docs/layout-language.md``.

Modules: ``loader`` (parse, validate, compile), ``content`` (content elements), ``units``
(lengths, colours, page sizes, envelope windows), ``model`` (the compiled layout), ``expr`` (XPath
expressions and ``{…}`` text templates), ``functions`` (formatting with Babel, extension functions).
"""
from __future__ import annotations

from .loader import load_layout
from .units import WINDOWS, parse_color, parse_length
from .model import Layout

__all__ = ["Layout", "WINDOWS", "load_layout", "parse_color", "parse_length"]
