"""Render stage, the media ticket: which sheets of a print file are printed on which paper (input bin).

Page templates name a paper (``<page-template paper="letterhead">``, resolved through the job's
``[media]`` table to an input bin). AFP carries the choice in the print file itself (an IMM per
paper change, :mod:`ccm_batch.render.afp`); PDF has no tray selection, so production PDF printers
are told by a job ticket: ``{print file stem}.media.csv``, written beside every print file of a job
with a ``[media]`` table (UTF-8 CSV, one header line)::

    record, print_file, first_page, last_page, first_sheet, last_sheet, sheets, media, bin, description

``RANGE`` lines, in print order, give each run of consecutive sheets on one paper (pages and sheets
1-based within the print file; a sheet has the paper of its front page; ``media`` ``default`` = the
printer's default stock, bin empty); ``TOTAL`` lines, one per paper in ``[media]`` order then
``default``, the sheets drawn from each bin — what the operator loads and what the inserter's
reconciliation expects. Separator sheets count as default paper.
"""
from __future__ import annotations

import csv
from pathlib import Path

MEDIA_FIELDS = ("record", "print_file", "first_page", "last_page", "first_sheet", "last_sheet", "sheets", "media",
                "bin", "description")
DEFAULT = "default"


class MediaTicket:
    """Collects the pages of one print file as they are rendered; :meth:`write` the ticket."""

    def __init__(self, print_file: str, media: tuple):
        self.print_file = print_file
        self.media = {name: (source, description) for name, source, description in media}
        self.ranges: list[list] = []     # [media, first_page, last_page, first_sheet, last_sheet]
        self.pages = self.sheets = 0

    def add(self, page, duplex: bool) -> None:
        """One page, in print order; a front page (or any page in simplex) starts a sheet."""
        self.pages += 1
        new_sheet = not duplex or page.side != "back" or not self.ranges
        paper = page.paper or DEFAULT
        if new_sheet:
            self.sheets += 1
            if self.ranges and self.ranges[-1][0] == paper:
                self.ranges[-1][2], self.ranges[-1][4] = self.pages, self.sheets
            else:
                self.ranges.append([paper, self.pages, self.pages, self.sheets, self.sheets])
        else:
            self.ranges[-1][2] = self.pages

    def totals(self) -> dict[str, int]:
        """Sheets per paper: the job's media in ``[media]`` order (0 when unused), then ``default``."""
        out = {name: 0 for name in self.media}
        for paper, _, _, first, last in self.ranges:
            out[paper] = out.get(paper, 0) + last - first + 1
        return out

    def row(self, record: str, paper: str, pages=("", ""), sheets=("", ""), count=0) -> list:
        source, description = self.media.get(paper, ("", ""))
        return [record, self.print_file, *pages, *sheets, count, paper, source, description]

    def write(self, path: Path) -> Path:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(MEDIA_FIELDS)
            for paper, first_page, last_page, first_sheet, last_sheet in self.ranges:
                w.writerow(self.row("RANGE", paper, (first_page, last_page), (first_sheet, last_sheet),
                                    last_sheet - first_sheet + 1))
            for paper, count in self.totals().items():
                w.writerow(self.row("TOTAL", paper, count=count))
        tmp.replace(path)
        return path
