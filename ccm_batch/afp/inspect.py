"""Render stage (AFP format layer): inspect AFP print files — field listing, page text, structural check.

Library side of ``ccm-batch inspect FILE.afp``. Reads any AFP (ours, Apache FOP's, ACIF's) through
the tolerant :mod:`.reader`; structured fields it does not know are listed as ``?`` and never count
as problems.

* :func:`list_fields` — one line per structured field: decimal file offset, nesting, abbreviation and
  the decoded essentials (names, TLE ``name = 'value'``, fonts, sizes, PTX text preview …); End
  Named Page Group / End Document lines carry page counts.
* :func:`page_texts` — per page, each text run (position in the page's L-units, decoded in the code
  page of its font, or as UTF-16BE for a data-object font mapped by an MDR) and each PTOCA rule,
  the text of an included overlay (IPO) first, at the IPO's offset. A run continues across TRN, RMI and SVI (kerned or split
  runs read back as one string); a run that starts right after other text, without an absolute
  move, has ``x = None`` because glyph widths are unknown to the reader.
* :func:`check` — :class:`Problem` list: framing (X'5A', lengths, truncation, class code), Begin/End
  pairing and names, nesting and order per the MO:DCA grammar of afp.md §4 (allowed children,
  ordering inside AEG/OEG/medium map/page group, mandatory PGD/OBD/OBP/MDD/MCC, AEG/OEG first),
  fonts mapped in the page's AEG (MCF or MDR) before SCFL uses them, MDR fonts carried in the
  print-file resource group, PTOCA framing and chains closed by the end
  of each text object, triplet framing of TLE/BDT/BRS/OBD/IOB, IMM names present in an inline form
  map, a single print-file resource group before the first document, no page (PGD) larger than the
  medium (MDD) of the inline medium map in effect.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

from . import reader as R
from .ptoca import codec_for

_CCSID_CODECS = {500: "cp500", 37: "cp037", 1140: "cp1140", 1148: "ccm-cp1148", 273: "cp273",
                 875: "cp875", 1026: "cp1026"}
_RES_TYPES = {0x06: "IOCA image", 0xFC: "overlay", 0xFE: "form map", 0xFB: "page segment",
              0x92: "object container",
              0x40: "font character set", 0x41: "code page", 0x42: "coded font", 0x92: "object container",
              0x03: "GOCA graphics", 0x05: "BCOCA bar code", 0x5F: "page segment", 0xDF: "overlay"}
_BARCODES = {0x01: "Code 39", 0x03: "UPC-A", 0x08: "EAN-8", 0x09: "EAN-13", 0x0C: "Interleaved 2 of 5",
             0x11: "Code 128", 0x1C: "Data Matrix", 0x1E: "PDF417", 0x20: "QR Code", 0x22: "USPS IMb",
             0x24: "GS1 DataBar"}


class Problem(NamedTuple):
    """Something wrong in an AFP file, at a byte offset (of the structured field concerned)."""
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.offset}: {self.message}"


class TextRun(NamedTuple):
    """Text printed from (x, y) (baseline start, page L-units; ``x`` None if unknown) in font LID ``lid``."""
    x: int | None
    y: int
    text: str
    lid: int | None


class RuleMark(NamedTuple):
    """A PTOCA rule at (x, y): ``axis`` 'I' (DIR) or 'B' (DBR), ``length`` and ``width`` in L-units."""
    x: int | None
    y: int
    axis: str
    length: int
    width: int


class PageText(NamedTuple):
    """The text of one page: ``number`` (1-based in the file), page and group names, page size in
    L-units and ``units_per_inch`` of its descriptors, text runs and rules in presentation order."""
    number: int
    name: str
    group: str
    width: int
    height: int
    units_per_inch: float
    runs: tuple
    rules: tuple

    def __str__(self) -> str:
        """Readable lines (for ``ccm-batch inspect --text``): a page header, then ``(x, y) text``."""
        head = (f"--- page {self.number} {self.name}" + (f" in group {self.group}" if self.group else "")
                + f": {self.width} x {self.height} at {self.units_per_inch:g}/in")
        lines = [head]
        for r in self.runs:
            x = "?" if r.x is None else r.x
            lines.append(f"({x:>6}, {r.y:>6})  {r.text}")
        for r in self.rules:
            x = "?" if r.x is None else r.x
            lines.append(f"({x:>6}, {r.y:>6})  [rule {r.axis} length {r.length} width {r.width}]")
        return "\n".join(lines)


# --- grammar (afp.md §4) ------------------------------------------------------------------------
_OBJECTS = {"BIM", "BBC", "BGR", "BOC", "BII"}
_PAGE = {"BAG", "IOB", "IPG", "IPO", "IPS", "LLE", "TLE", "BPT"} | _OBJECTS
ALLOWED: dict[str, set] = {
    "FILE": {"BPF", "BRG", "BDT", "BDI", "BFM", "BMO", "BPS", "BCF", "BCP", "BFN"} | _OBJECTS,
    "BPF": {"BRG", "BDT"},
    "BRG": {"BRS"},
    "BRS": {"BMO", "BPS", "BFM", "BPT", "BCF", "BCP", "BFN", "BDT"} | _OBJECTS,
    "BDT": {"BNG", "BPG", "IMM", "IPG", "LLE", "BMM", "BOC", "BSG", "MDR"},
    "BNG": {"TLE", "BOC", "IMM", "IPG", "LLE", "BMM", "BSG", "BPG", "BNG"},
    "BPG": _PAGE, "BMO": _PAGE,
    "BPS": _OBJECTS | {"BPT", "IOB"},
    "BAG": {"PEC", "MCF", "MCF-1", "MDR", "MPG", "MPO", "MPS", "PGD", "OBD", "OBP", "PTD", "PTD-1"},
    "BPT": {"PTX", "BOG"},
    "BIM": {"BOG", "IPD"}, "BBC": {"BOG", "BDA"}, "BGR": {"BOG", "GAD"}, "BOC": {"BOG", "OCD"},
    "BII": {"IID", "ICP", "IRD"},
    "BOG": {"PEC", "OBD", "OBP", "MIO", "MBC", "MGO", "MCF", "MCF-1", "MDR", "IDD", "BDD", "GDD", "CDD"},
    "BFM": {"BDG", "BMM", "BOC"},
    "BDG": {"PFC", "PEC", "MMO", "MSU", "PGP", "PGP-1", "MDD", "MFC", "MDR"},
    "BMM": {"BOC", "MMO", "MPO", "MMT", "MMD", "MDR", "PGP", "PGP-1", "MDD", "MCC", "MMC", "PMC", "MFC",
            "PEC", "MSU"},
    "BDI": {"IEL", "LLE", "TLE"},
    "BSG": {"MDR", "MPO", "MPS", "PPO"},
}
ORDER: dict[str, dict[str, int]] = {
    "BAG": {"PEC": 0, "MCF": 1, "MCF-1": 1, "MDR": 2, "MPG": 3, "MPO": 4, "MPS": 5, "PGD": 6, "OBD": 7,
            "OBP": 8, "PTD": 9, "PTD-1": 9},
    "BOG": {"PEC": 0, "OBD": 1, "OBP": 2, "MIO": 3, "MBC": 3, "MGO": 3, "MCF": 4, "MCF-1": 4, "MDR": 5,
            "IDD": 6, "BDD": 6, "GDD": 6, "CDD": 6},
    "BNG": {"TLE": 0, "BOC": 1, "IMM": 2, "IPG": 2, "LLE": 2, "BMM": 2, "BSG": 2, "BPG": 2, "BNG": 2},
    "BMM": {"BOC": 0, "MMO": 1, "MPO": 2, "MMT": 3, "MMD": 4, "MDR": 5, "PGP": 6, "PGP-1": 6, "MDD": 7,
            "MCC": 8, "MMC": 9, "PMC": 10, "MFC": 11, "PEC": 12, "MSU": 12},
}
REQUIRED: dict[str, tuple] = {
    "BAG": (("PGD",),),
    "BOG": (("OBD",), ("OBP",)),
    "BMM": (("PGP", "PGP-1"), ("MDD",), ("MCC",)),
}
FIRST: dict[str, str] = {"BPG": "BAG", "BMO": "BAG", "BIM": "BOG", "BBC": "BOG", "BGR": "BOG"}


class _Frame:
    __slots__ = ("abbr", "name", "offset", "category", "seen", "rank", "last", "pages", "groups", "lids",
                 "has_ptd", "first_done")

    def __init__(self, abbr, name, offset, category):
        self.abbr, self.name, self.offset, self.category = abbr, name, offset, category
        self.seen: set = set()
        self.rank = -1
        self.last = ""
        self.pages = 0
        self.groups = 0
        self.lids: dict | None = None
        self.has_ptd = False
        self.first_done = False


class _Walker:
    """One pass over a file: nesting, checks, page text. ``walk()`` yields (field, depth, note)."""

    def __init__(self, source, text: bool = False):
        self.source = source
        self.text = text
        self.raw_problems: list = []
        self.problems: list[Problem] = []
        self.pages: list[PageText] = []
        self.doc_codec = "cp500"
        self.page_no = 0
        self.form_maps = 0
        self.mm_names: set = set()
        self.imms: list = []
        self.media: dict = {}            # medium map name -> (width, height) of its MDD, in inches
        self.medium_map = ""             # the medium map in effect (last IMM)
        self.brg_seen = self.bdt_seen = False
        self._page = None
        self._ptoca = None
        self._state = None
        self._lids = None
        self.overlays: dict = {}              # overlay name -> (text runs, rules) for IPO
        self.font_resources: set = set()      # data-object font names carried in the resource group

    def problem(self, offset: int, message: str) -> None:
        self.problems.append(Problem(offset, message))

    def walk(self) -> Iterator[tuple]:
        stack = [_Frame("FILE", "", 0, 0)]
        last_end = 0
        for field in R.read_fields(self.source, self.raw_problems):
            self._flush_raw()
            last_end = field.end_offset
            abbr = field.abbr
            top = stack[-1]
            if field.is_end:
                if len(stack) == 1 or top.category != field.category:
                    self.problem(field.offset, f"{abbr} without a matching Begin"
                                 + (f" (open: {top.abbr} at {top.offset})" if len(stack) > 1 else ""))
                    yield field, len(stack) - 1, ""
                    continue
                note = self._end(field, top, stack)
                stack.pop()
                yield field, len(stack) - 1, note
                continue
            self._child(field, top, stack)
            depth = len(stack) - 1
            note = self._content(field, top, stack)
            if field.is_begin:
                frame = _Frame(abbr, R.token_name(field), field.offset, field.category)
                stack.append(frame)
                self._begin(field, frame, stack)
            yield field, depth, note
        self._flush_raw()
        size_end = last_end
        for frame in reversed(stack[1:]):
            self.problem(frame.offset, f"{frame.abbr} {frame.name!r} is never ended (file ends at {size_end})")
        if self.form_maps:
            for offset, name in self.imms:
                if name not in self.mm_names:
                    self.problem(offset, f"IMM names medium map {name!r}, not in the inline form map")

    def _flush_raw(self):
        for offset, message in self.raw_problems:
            self.problem(offset, message)
        self.raw_problems.clear()

    # -- structure ----------------------------------------------------------------------------
    def _child(self, field, top, stack):
        abbr = field.abbr
        if abbr in ("NOP", "?"):
            return
        allowed = ALLOWED.get(top.abbr)
        if allowed is not None and abbr not in allowed:
            where = "at top level" if top.abbr == "FILE" else f"in {top.abbr} {top.name!r} (at {top.offset})"
            self.problem(field.offset, f"{abbr} is not allowed {where}")
        first = FIRST.get(top.abbr)
        if first and not top.first_done:
            top.first_done = True
            if abbr != first:
                self.problem(field.offset, f"{top.abbr} must start with {first}, found {abbr}")
        order = ORDER.get(top.abbr)
        if order is not None and abbr in order:
            rank = order[abbr]
            if rank < top.rank:
                self.problem(field.offset, f"{abbr} after {top.last} in {top.abbr} {top.name!r}: "
                                           f"out of grammar order (afp.md §4)")
            if rank >= top.rank:
                top.rank, top.last = rank, abbr
        top.seen.add(abbr)
        if top.abbr == "FILE":
            if abbr == "BRG":
                if self.brg_seen:
                    self.problem(field.offset, "second print-file resource group (only one is allowed)")
                if self.bdt_seen:
                    self.problem(field.offset, "resource group after the first document")
                self.brg_seen = True
            elif abbr == "BDT":
                self.bdt_seen = True

    def _begin(self, field, frame, stack):
        abbr = frame.abbr
        if abbr == "BDT":
            for tid, p in R.triplets(field.data, 10):
                if tid == 0x01 and len(p) >= 4:
                    self.doc_codec = _CCSID_CODECS.get((p[2] << 8) | p[3], "cp500")
        elif abbr in ("BPG", "BMO"):
            frame.lids = {}
            self._lids = frame.lids
            if abbr == "BPG":
                self.page_no += 1
                group = next((f.name for f in reversed(stack) if f.abbr == "BNG"), "")
                self._page = {"number": self.page_no, "name": frame.name, "group": group, "width": 0,
                              "height": 0, "upi": 1440.0, "runs": [], "rules": []}
            else:                                     # an overlay: its text joins the pages using it
                self._page = {"overlay": frame.name, "width": 0, "height": 0, "upi": 1440.0,
                              "runs": [], "rules": []}
        elif abbr == "BPT":
            self._ptoca = R.PtocaParser()
            self._state = {"x": 0, "y": 0, "lid": None, "run": None}
        elif abbr == "BFM" and any(f.abbr == "BRG" for f in stack):
            self.form_maps += 1

    def _end(self, field, top, stack) -> str:
        name = R.token_name(field)
        if name and name != "*" and top.name and name != top.name:
            self.problem(field.offset, f"{field.abbr} name {name!r} does not match {top.abbr} {top.name!r} "
                                       f"(at {top.offset})")
        for alternatives in REQUIRED.get(top.abbr, ()):
            if not any(a in top.seen for a in alternatives):
                self.problem(field.offset, f"{top.abbr} at {top.offset} lacks mandatory {'/'.join(alternatives)}")
        note = ""
        if top.abbr == "BPT" and self._ptoca is not None:
            self._close_run()
            if self._ptoca.chained:
                self.problem(field.offset, "PTOCA chain still open at the end of the text object "
                                           "(last control sequence is chained)")
            self._ptoca = None
        elif top.abbr == "BPG":
            for frame in stack:
                frame.pages += 1
            if self._page is not None and self.text:
                p = self._page
                self.pages.append(PageText(p["number"], p["name"], p["group"], p["width"], p["height"],
                                           p["upi"], tuple(p["runs"]), tuple(p["rules"])))
            self._page = None
        elif top.abbr == "BMO":
            if self._page is not None:
                self.overlays[top.name] = (tuple(self._page["runs"]), tuple(self._page["rules"]))
            self._page = None
        elif top.abbr == "BNG":
            stack[-2].groups += 1
            note = f"({top.pages} page{'s' if top.pages != 1 else ''})"
        elif top.abbr == "BDT":
            note = f"({top.groups} page groups, {top.pages} pages)"
        return note

    def _page_frame(self, stack):
        for frame in reversed(stack):
            if frame.abbr in ("BPG", "BMO"):
                return frame
        return None

    # -- contents -----------------------------------------------------------------------------
    def _content(self, field, top, stack) -> str:
        abbr = field.abbr
        data = field.data
        if abbr in ("TLE", "OBD") and not R.triplets_ok(data):
            self.problem(field.offset, f"{abbr} triplets are malformed")
        elif abbr in ("BDT", "BRS") and len(data) > 10 and not R.triplets_ok(data, 10):
            self.problem(field.offset, f"{abbr} triplets are malformed")
        elif abbr == "IOB" and len(data) > 27 and not R.triplets_ok(data, 27):
            self.problem(field.offset, "IOB triplets are malformed")
        if abbr == "MCF" and top.abbr == "BAG":
            page = self._page_frame(stack)
            for g in R.mcf_fonts(data):
                if g["lid"] is None:
                    self.problem(field.offset, "MCF repeating group without a X'24' local identifier")
                    continue
                if page is not None:
                    if g["lid"] in page.lids:
                        self.problem(field.offset, f"font LID {g['lid']} mapped twice in one AEG")
                    page.lids[g["lid"]] = codec_for(g["code_page"]) if g["code_page"] else "cp500"
        elif abbr == "MDR" and top.abbr == "BAG":
            page = self._page_frame(stack)
            for g in R.mdr_fonts(data):
                if g["lid"] is None:
                    self.problem(field.offset, "MDR repeating group without a X'BE' local identifier")
                    continue
                if page is not None:
                    if g["lid"] in page.lids:
                        self.problem(field.offset, f"font LID {g['lid']} mapped twice in one AEG")
                    page.lids[g["lid"]] = "utf-16-be" if g["unicode"] else "cp500"
                    if g["name"] and g["name"] not in self.font_resources:
                        self.problem(field.offset, f"MDR maps font {g['name']!r}, not carried in the "
                                                   "print-file resource group")
        elif abbr == "BRS":
            for tid, p in R.triplets(data, 10) if len(data) > 10 else ():
                if tid == 0x02 and p[:1] == b"\x01":
                    unicode = any(t == 0x01 and len(q) >= 4 and (q[2] << 8 | q[3]) == 1200
                                  for t, q in R.triplets(data, 10))
                    self.font_resources.add(p[2:].decode("utf-16-be", "replace") if unicode else R.ebcdic(p[2:]))
        elif abbr == "IPO" and self._page is not None and self.text and len(data) >= 14:
            runs, rules = self.overlays.get(R.ebcdic(data[:8]), ((), ()))
            dx, dy = R.sb3(data, 8), R.sb3(data, 11)
            self._page["runs"].extend(TextRun(None if r.x is None else r.x + dx, r.y + dy, r.text, r.lid)
                                      for r in runs)
            self._page["rules"].extend(RuleMark(None if m.x is None else m.x + dx, m.y + dy, m.axis,
                                                m.length, m.width) for m in rules)
        elif abbr == "MCF-1" and top.abbr == "BAG":
            page = self._page_frame(stack)
            if page is not None and len(data) >= 4:
                rg = data[0] or 30
                for pos in range(4, len(data) - 20 + 1, rg):
                    page.lids[data[pos]] = codec_for(R.ebcdic(data[pos + 12:pos + 20]))
        elif abbr in ("PGD", "PTD", "PTD-1") and top.abbr == "BAG":
            page = self._page_frame(stack)
            if abbr != "PGD" and page is not None:
                page.has_ptd = True
            if self._page is not None and page is not None and page.abbr == "BPG" and len(data) >= 12:
                units = (data[2] << 8) | data[3]
                base = 10 if data[0] == 0 else 10 / 2.54
                if abbr == "PGD":
                    self._page["width"], self._page["height"] = R.u3(data, 6), R.u3(data, 9)
                self._page["upi"] = units / base if units else 1440.0
                if abbr == "PGD":
                    self._check_medium(field.offset, self._page)
        elif abbr == "BPT":
            page = self._page_frame(stack)
            if page is not None and top.abbr in ("BPG", "BMO") and not page.has_ptd:
                self.problem(field.offset, "text object on a page whose AEG has no PTD")
        elif abbr == "PTX" and self._ptoca is not None:
            self._ptx(field, stack)
        elif abbr == "IMM":
            self.imms.append((field.offset, R.ebcdic(data[:8])))
            self.medium_map = R.ebcdic(data[:8])
        elif abbr == "MDD" and top.abbr == "BMM" and len(data) >= 12:
            units = (data[2] << 8) | data[3]
            width, height = R.u3(data, 6), R.u3(data, 9)
            if units and 0 < width < 0xFFFFFF and 0 < height < 0xFFFFFF:     # 0 / X'FFFFFF': printer's own
                upi = units / (10 if data[0] == 0 else 10 / 2.54)
                self.media[top.name] = (width / upi, height / upi)
        elif abbr == "BMM" and self.form_maps:
            self.mm_names.add(R.ebcdic(data[:8]))
        return ""

    def _check_medium(self, offset: int, page: dict) -> None:
        """A page larger than the medium (sheet) of the medium map in effect is cut off by the printer."""
        medium = self.media.get(self.medium_map)
        if medium is None or not page["width"]:
            return
        width, height = page["width"] / page["upi"], page["height"] / page["upi"]
        tolerance = 1 / 1440
        if width > medium[0] + tolerance or height > medium[1] + tolerance:
            self.problem(offset, f"page {page['number']} ({width:.2f} x {height:.2f} in) is larger than the "
                                 f"medium of medium map {self.medium_map!r} ({medium[0]:.2f} x {medium[1]:.2f} in)")

    def _ptx(self, field, stack):
        page = self._page_frame(stack)
        lids = page.lids if page is not None else None
        st = self._state
        for seq in self._ptoca.feed(field.data, field.offset):
            name, p = seq.name, seq.params
            if name == "TRN" or name == "TEXT":
                if st["run"] is None:
                    st["run"] = [st["x"], st["y"], st["lid"], []]
                st["run"][3].append(p)
                st["x"] = None
            elif name == "AMI":
                self._close_run()
                st["x"] = R.s2(p)
            elif name == "AMB":
                self._close_run()
                st["y"] = R.s2(p)
            elif name == "RMI":
                if st["x"] is not None:
                    st["x"] += R.s2(p)
            elif name == "RMB":
                self._close_run()
                st["y"] += R.s2(p)
            elif name == "SCFL" and p:
                lid = p[0]
                if lid != st["lid"]:
                    self._close_run()
                    st["lid"] = lid
                if lids is not None and lid != 0xFF and lid not in lids:
                    self.problem(field.offset, f"SCFL selects font LID {lid}, not mapped by an MCF in the AEG")
            elif name in ("DIR", "DBR") and self._page is not None:
                self._page["rules"].append(RuleMark(st["x"], st["y"], "I" if name == "DIR" else "B",
                                                    R.s2(p, 0), R.s2(p, 2)))
        for offset, message in self._ptoca.problems:
            self.problem(offset, message)
        self._ptoca.problems.clear()

    def _close_run(self):
        st = self._state if self._ptoca is not None else None
        if not st or st["run"] is None:
            return
        x, y, lid, chunks = st["run"]
        st["run"] = None
        if self._page is None or not self.text:
            return
        codec = self._lids.get(lid, "cp500") if self._lids is not None else "cp500"
        self._page["runs"].append(TextRun(x, y, b"".join(chunks).decode(codec, "replace"), lid))



# --- descriptions for the listing -----------------------------------------------------------------
def _describe(field: R.Field, doc_codec: str) -> str:
    abbr, data = field.abbr, field.data
    if abbr == "?":
        return f"{field.title} ({len(data)} bytes)"
    if abbr == "TLE":
        name, value = R.tle_text(data, doc_codec)
        return f"{name} = {value!r}"
    if abbr == "MDR":
        return ", ".join(f"LID {g['lid']}={g['name']} {g['size'] / 20:g}pt" + (" (UTF-16)" if g["unicode"] else "")
                         for g in R.mdr_fonts(data))
    if abbr == "NOP":
        text = data.decode("cp500", "replace")
        if data and sum(ch.isprintable() for ch in text) >= 0.9 * len(text):
            return repr(text[:100])
        return f"{len(data)} bytes"
    if abbr == "MCF":
        fonts = []
        for g in R.mcf_fonts(data):
            face = g["coded_font"] or f"{g['charset']}/{g['code_page']}"
            size = f" {g['size'] / 20:g}pt" if g["size"] else ""
            fonts.append(f"LID {g['lid']}={face}{size}")
        return ", ".join(fonts)
    if abbr in ("PGD", "PTD", "MDD") and len(data) >= 12:
        units = (data[2] << 8) | data[3]
        per_inch = units / 10 if data[0] == 0 else units * 2.54 / 10
        w, h = R.u3(data, 6), R.u3(data, 9)
        inches = f" ({w / per_inch:.2f} x {h / per_inch:.2f} in)" if per_inch else ""
        return f"{w} x {h} at {per_inch:g}/in{inches}"
    if abbr == "BRS" and len(data) >= 8:
        kind = next((p[0] for tid, p in R.triplets(data, 10) if tid == 0x21 and p), None)
        return R.ebcdic(data[:8]) + (f" ({_RES_TYPES.get(kind, f'type X{kind:02X}')})" if kind is not None else "")
    if abbr == "BDT":
        ccsid = next(((p[2] << 8) | p[3] for tid, p in R.triplets(data, 10) if tid == 0x01 and len(p) >= 4), None)
        return R.ebcdic(data[:8]) + (f" CCSID {ccsid}" if ccsid is not None else " (no CCSID triplet)")
    if abbr == "IOB" and len(data) >= 16:
        return f"{R.ebcdic(data[:8])} type X'{data[9]:02X}' at ({R.sb3(data, 10)}, {R.sb3(data, 13)})"
    if abbr == "IPO" and len(data) >= 14:
        return f"{R.ebcdic(data[:8])} at ({R.sb3(data, 8)}, {R.sb3(data, 11)})"
    if abbr in ("IMM", "IPS") and len(data) >= 8:
        return R.ebcdic(data[:8])
    if abbr == "MPO":
        return ", ".join(R.ebcdic(n) for n in _fqn_all(data, 0x84))
    if abbr == "OBP" and len(data) >= 8:
        return f"area at ({R.sb3(data, 2)}, {R.sb3(data, 5)})"
    if abbr == "OBD":
        size = next((p for tid, p in R.triplets(data) if tid == 0x4C and len(p) >= 7), None)
        return f"area {R.u3(size, 1)} x {R.u3(size, 4)}" if size else ""
    if abbr == "IDD" and len(data) >= 9:
        return f"{(data[5] << 8) | data[6]} x {(data[7] << 8) | data[8]} px at {((data[1] << 8) | data[2]) / 10:g} dpi"
    if abbr == "BDD" and len(data) >= 14:
        return f"{_BARCODES.get(data[12], f'type X{data[12]:02X}')} modifier X'{data[13]:02X}'"
    if abbr == "MMC" and len(data) >= 2:
        kw = " ".join(data[i:i + 2].hex().upper() for i in range(2, len(data) - 1, 2))
        return f"id {data[0]} keywords {kw}"
    if abbr == "PGP" and data[:1] == b"\x01":
        sides = {0: "front", 1: "back"}
        groups = [sides.get(data[i + 9], f"side {data[i + 9]}") for i in range(1, len(data) - 9, data[1] or 10)]
        return "+".join(groups)
    if abbr in ("PTX", "IPD", "BDA", "GAD", "OCD", "IRD"):
        return f"{len(data)} bytes"
    if (field.is_begin or field.is_end) and len(data) >= 8:
        return R.ebcdic(data[:8])
    return ""


def _fqn_all(data: bytes, fqn_type: int) -> list[bytes]:
    out = []
    pos = 0
    while pos + 2 <= len(data):
        rg = (data[pos] << 8) | data[pos + 1]
        if rg < 2:
            break
        out += [p[2:] for tid, p in R.triplets(data[pos + 2:pos + rg]) if tid == 0x02 and p[:1] == bytes((fqn_type,))]
        pos += rg
    return out


# --- public API -------------------------------------------------------------------------------------
def not_afp(path) -> str:
    """'' for a file that starts like AFP (a structured field introducer, X'5A'); otherwise why not."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:1] == b"\x5a":
        return ""
    kinds = {b"%PDF": "a PDF file", b"\x89PNG": "a PNG image", b"PK\x03\x04": "a ZIP archive", b"<?xm": "an XML file",
             b"\xff\xd8": "a JPEG image"}
    kind = next((k for magic, k in kinds.items() if head.startswith(magic)), "")
    if not head:
        kind = "an empty file"
    shown = kind or f"a file starting with X'{head[:4].hex().upper()}'"
    return (f"{path} is not an AFP (MO:DCA) file: it is {shown}, while an AFP file starts with X'5A' "
            "(a structured field); inspect reads AFP files only")


def list_fields(path) -> Iterator[str]:
    """A readable listing of the structured fields of ``path``, one line per field.

    Line format: ``<offset:10>  <2 spaces per nesting level><ABBR> <details>``; framing problems found
    on the way are listed as ``<offset>  !! <message>`` lines.
    """
    walker = _Walker(path)
    seen = 0
    for field, depth, note in walker.walk():
        while seen < len(walker.problems):
            p = walker.problems[seen]
            seen += 1
            yield f"{p.offset:>10}  !! {p.message}"
        detail = _describe(field, walker.doc_codec)
        if note:
            detail = f"{detail} {note}".strip()
        yield f"{field.offset:>10}  {'  ' * depth}{field.abbr:<5} {detail}".rstrip()
    for p in walker.problems[seen:]:
        yield f"{p.offset:>10}  !! {p.message}"


def page_texts(path) -> Iterator[PageText]:
    """Each page's text runs and rules with positions (see :class:`PageText`), in file order."""
    walker = _Walker(path, text=True)
    for _ in walker.walk():
        while walker.pages:
            yield walker.pages.pop(0)


def check(path) -> list[Problem]:
    """Structural problems of ``path`` (empty list = clean), sorted by offset."""
    walker = _Walker(path)
    for _ in walker.walk():
        pass
    return sorted(walker.problems, key=lambda p: p.offset)
