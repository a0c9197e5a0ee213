"""Helpers for comparing the PDF and AFP twins of a run: the text runs of each page with their baselines.

PDF side: pdfminer.six gives every glyph with its text-space origin (the baseline start), independent
of ccm-batch's own writer. AFP side: :func:`ccm_batch.afp.inspect.page_texts` (PTOCA AMI/AMB positions).
"""
from __future__ import annotations

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTContainer

UNITS_PER_PT = 20


def pdf_glyphs(path) -> list[list[tuple[str, float, float]]]:
    """Per page, every glyph as (char, x, y) in 1/1440 inch from the top-left corner (y = baseline)."""
    pages = []
    for layout in extract_pages(str(path), laparams=LAParams(all_texts=True)):
        height = layout.height
        glyphs = []

        def walk(obj):
            if isinstance(obj, LTChar):
                m = obj.matrix
                glyphs.append((obj.get_text(), m[4] * UNITS_PER_PT, (height - m[5]) * UNITS_PER_PT))
            elif isinstance(obj, LTContainer):
                for child in obj:
                    walk(child)
        walk(layout)
        pages.append(glyphs)
    return pages


def afp_spelling(text: str) -> str:
    """``text`` as the AFP prints it: exactly (since issue 12, characters outside the code page are
    UTF-16 runs with a carried TrueType font, never substituted)."""
    return text


def run_found(run, glyphs, tolerance: float) -> bool:
    """True when the PDF has the run's characters on its baseline, starting at its x (±tolerance).

    The PDF glyphs are compared in the AFP's spelling (code-page substitutions applied).
    """
    text = "".join(run.text.split())
    if not text:
        return True
    line = sorted((g for g in glyphs if abs(g[2] - run.y) <= tolerance and g[0].strip()),
                  key=lambda g: g[1])
    for i, g in enumerate(line):
        if abs(g[1] - run.x) <= tolerance and afp_spelling(g[0])[0] == text[0]:
            got = afp_spelling("".join(c for c, _, _ in line[i:i + len(text)]))
            return got[:len(text)] == text
    return False
