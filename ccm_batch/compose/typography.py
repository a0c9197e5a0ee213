"""Compose stage: typography per language — typographic quotes and apostrophes, hyphenation choice, no-break runs.

- :func:`typographic` draws straight quotes and apostrophes as the language's typographic ones:
  an apostrophe ``'`` between letters (or after a letter) becomes ``’`` (U+2019) in every language;
  paired double quotes ``"…"`` become ``« … »`` with narrow no-break spaces in French, ``“…”`` in
  English, ``„…“`` in German (``»…«`` is not used), and stay straight for other languages. Used for
  paragraphs whose style sets ``typographic="true"``.
- :func:`hyphenation` gives the language :func:`ccm_batch.compose.text.break_lines` hyphenates with:
  style ``hyphenate="auto"`` (the default) hyphenates justified text only, ``true`` any text,
  ``false`` none; the dictionary is the document language's (pyphen), none when pyphen has no
  dictionary for it.
- :func:`no_break` makes a ``<nobreak>`` run unbreakable: its spaces become no-break spaces and its
  hyphens non-breaking hyphens (drawn as ``-`` when the font lacks U+2011).
"""
from __future__ import annotations

import re

_QUOTES = {"fr": ("«\u202f", "\u202f»"), "en": ("\u201c", "\u201d"), "de": ("\u201e", "\u201c")}
_APOSTROPHE = re.compile(r"(?<=\w)'")
_DOUBLE = re.compile(r'"([^"\n]*)"')
_languages: dict = {}


def typographic(text: str, language: str) -> str:
    """``text`` with typographic apostrophes and the language's quotes (see the module docstring)."""
    if "'" in text:
        text = _APOSTROPHE.sub("\u2019", text)
    if '"' in text:
        pair = _QUOTES.get((language or "")[:2].lower())
        if pair is not None:
            text = _DOUBLE.sub(lambda m: pair[0] + m.group(1).strip() + pair[1], text)
    return text


def hyphenation(style, language: str):
    """The pyphen language to hyphenate a paragraph of ``style`` with, or False."""
    mode = getattr(style, "hyphenate", "auto")
    if mode == "false" or mode == "auto" and style.align != "justify":
        return False
    lang = (language or "fr").replace("-", "_")
    found = _languages.get(lang)
    if found is None:
        try:
            import pyphen
        except ImportError:                 # hyphenation is an optional refinement
            found = False
        else:
            found = pyphen.language_fallback(lang) or False
        _languages[lang] = found
    return found


def no_break(text: str) -> str:
    """A ``<nobreak>`` run's text: no break opportunity left inside it."""
    return text.replace(" ", "\u00a0").replace("-", "\u2011")
