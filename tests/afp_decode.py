"""An AFP text decoder for the tests that does not use ccm-batch's reader (issue 12's check).

The structured fields and PTOCA control sequences come from the PyPI ``afp`` parser (strict mode);
this module only follows them: fonts mapped per page (MCF: code page name -> Python codec; MDR:
data-object fonts, UTF-16BE), the TrueType programs carried in the resource group (BRS/BOC/OCD,
read with fontTools), overlays included by IPO, and the PTOCA moves. ``afp`` hands TRN data back as
a cp500 string with its ends ``strip()``-ed (so spaces — and UTF-16 bytes such as X'25' or X'40' —
at the ends of a TRN are lost): the TRN bytes are therefore taken from the field's raw data at the
offsets the parser's control-sequence lengths give, then decoded with the font's own encoding.

Each run is ``Run(x, y, text, end_x)``: ``end_x`` is where the printer's inline position ends after
the run — the start plus every glyph's advance (from the carried font for UTF-16 runs, from the
Liberation font metric-compatible with the resident Helvetica/Times/Courier otherwise) plus RMI
moves — so tests can compare widths with the PDF.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

import afp
from fontTools.ttLib import TTFont

FONT_DIR = Path(__file__).resolve().parent.parent / "ccm_batch" / "fonts"
RESIDENT = {"CZH2": "LiberationSans-Regular", "CZH3": "LiberationSans-Italic", "CZH4": "LiberationSans-Bold",
            "CZH5": "LiberationSans-BoldItalic", "CZN2": "LiberationSerif-Regular",
            "CZN3": "LiberationSerif-Italic", "CZN4": "LiberationSerif-Bold", "CZN5": "LiberationSerif-BoldItalic",
            "CZ42": "LiberationMono-Regular", "CZ43": "LiberationMono-Italic", "CZ44": "LiberationMono-Bold",
            "CZ45": "LiberationMono-BoldItalic"}
CODE_PAGES = {"T1001140": "cp1140", "T1V10500": "cp500", "T1V10037": "cp037"}
BRS, ERS, BOC, OCD, EOC = 0xD3A8CE, 0xD3A9CE, 0xD3A892, 0xD3EE92, 0xD3A992
BPG, EPG, BMO, EMO, MCF, MDR, IPO, PTX = 0xD3A8AF, 0xD3A9AF, 0xD3A8DF, 0xD3A9DF, 0xD3AB8A, 0xD3ABC3, 0xD3AFD8, 0xD3EE9B


class Run(NamedTuple):
    x: int
    y: int
    text: str
    end_x: float


class _Font:
    def __init__(self, ttf: TTFont, codec: str, size: int):
        self.cmap = ttf.getBestCmap()
        self.hmtx = ttf["hmtx"].metrics
        self.upem = ttf["head"].unitsPerEm
        self.codec = codec
        self.size = size

    def advance(self, ch: str) -> float:
        name = self.cmap.get(ord(ch))
        assert name is not None, f"the font has no glyph for {ch!r} (U+{ord(ch):04X})"
        return self.hmtx[name][0] * self.size / self.upem


def _raw(value) -> bytes:
    if isinstance(value, str):
        return value.encode("cp500")
    return bytes(value)


def _triplets(data: bytes):
    pos = 0
    while pos + 2 <= len(data):
        n = data[pos]
        if n < 2:
            break
        yield data[pos + 1], data[pos + 2:pos + n]
        pos += n


def _groups(data: bytes):
    pos = 0
    while pos + 2 <= len(data):
        n = (data[pos] << 8) | data[pos + 1]
        if n < 2:
            break
        yield data[pos + 2:pos + n]
        pos += n


def load(path) -> list:
    with open(path, "rb") as f:
        return afp.load(f, allow_unknown_fields=True, allow_unknown_triplets=True,
                        allow_unknown_functions=True, strict=True)


def _raw_fields(path) -> list[bytes]:
    """The data of every structured field, in file order (X'5A' framing only)."""
    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        assert data[pos] == 0x5A
        n = (data[pos + 1] << 8) | data[pos + 2]
        out.append(data[pos + 9:pos + 1 + n])
        pos += 1 + n
    return out


def decode(path) -> list[list[Run]]:
    """Every page's text runs (overlay text included, at the IPO offset)."""
    fields = load(path)
    raws = _raw_fields(path)
    assert len(raws) == len(fields)
    programs: dict[str, TTFont] = {}
    resident: dict[str, TTFont] = {}
    res_name, ocd = None, []
    pages: list[list[Run]] = []
    overlays: dict[str, list[Run]] = {}
    current: list[Run] | None = None
    overlay_name = None
    lids: dict[int, _Font] = {}
    for f, raw in zip(fields, raws):
        sfid = f["SFTypeID"]
        if sfid == BRS:
            res_name, ocd = None, []
            for t in f.get("Triplets", []):
                if t.get("Tid") == 2 and t.get("FQNType") == 1:
                    res_name = _raw(t["FQName"]).decode("utf-16-be")
        elif sfid == OCD:
            ocd.append(_raw(f["Data"]))
        elif sfid == ERS and res_name and ocd:
            programs[res_name] = TTFont(io.BytesIO(b"".join(ocd)))
            res_name, ocd = None, []
        elif sfid in (BPG, BMO):
            current, lids = [], {}
            overlay_name = _raw(f["Data"])[:8].decode("cp500").strip() if sfid == BMO else None
        elif sfid == EPG:
            pages.append(current)
            current = None
        elif sfid == EMO:
            overlays[overlay_name] = current
            current = None
        elif sfid == MCF:
            for group in f["RepeatingGroup"]:
                charset = code_page = None
                lid = size = None
                for t in group["Triplets"]:
                    if t.get("Tid") == 2 and t.get("FQNType") == 0x86:
                        charset = t["FQName"].strip()
                    elif t.get("Tid") == 2 and t.get("FQNType") == 0x85:
                        code_page = t["FQName"].strip()
                    elif t.get("Tid") == 0x24:
                        lid = t["ResLID"]
                    elif t.get("Tid") == 0x1F:
                        c = t["Contents"]
                        size = (c[2] << 8) | c[3]
                stem = RESIDENT[charset[:4]]
                if stem not in resident:
                    resident[stem] = TTFont(str(FONT_DIR / f"{stem}.ttf"))
                lids[lid] = _Font(resident[stem], CODE_PAGES[code_page], size)
        elif sfid == MDR:
            for group in _groups(_raw(f["Data"])):
                name = lid = size = None
                for tid, p in _triplets(group):
                    if tid == 2 and p[0] == 0xDE:
                        name = p[2:].decode("utf-16-be")
                    elif tid == 2 and p[0] == 0xBE:
                        lid = p[2]
                    elif tid == 0x8B:
                        size = (p[2] << 8) | p[3]
                lids[lid] = _Font(programs[name], "utf-16-be", size)
        elif sfid == IPO and current is not None:
            dx, dy = f["XolOset"], f["YolOset"]
            current.extend(Run(r.x + dx, r.y + dy, r.text, r.end_x + dx)
                           for r in overlays[f["OvlyName"].strip()])
        elif sfid == PTX and current is not None:
            _ptx(f["PTOCAdat"], raw, lids, current)
    return pages


_STATE: dict = {}


def _ptx(sequences, raw: bytes, lids, out: list) -> None:
    st = _STATE
    assert raw[:2] == b"\x2b\xd3"
    pos = 2
    for cs in sequences:
        kind = cs["TYPE"] & 0xFE
        data = raw[pos + 2:pos + cs["LENGTH"]]
        assert raw[pos] == cs["LENGTH"] and raw[pos + 1] == cs["TYPE"]
        pos += cs["LENGTH"]
        if kind == 0xD2:                                   # AMB
            st["y"] = cs["DSPLCMNT"]
            st["run"] = None
        elif kind == 0xC6:                                 # AMI
            st["x"] = cs["DSPLCMNT"]
            st["run"] = None
        elif kind == 0xC8:                                 # RMI
            st["x"] += cs["INCRMENT"]
            if st.get("run") is not None:
                out[st["run"]] = out[st["run"]]._replace(end_x=st["x"])
        elif kind == 0xF0:                                 # SCFL
            st["font"] = lids[cs["LID"]]
            st["svi"] = None
            st["run"] = None
        elif kind == 0xC4:                                 # SVI
            st["svi"] = cs["INCRMENT"]
        elif kind == 0xDA:                                 # TRN
            font = st["font"]
            text = data.decode(font.codec)
            start = st["x"]
            for ch in text:
                st["x"] += st["svi"] if ch == " " and st.get("svi") is not None else font.advance(ch)
            if st.get("run") is None:
                out.append(Run(start, st["y"], text, st["x"]))
                st["run"] = len(out) - 1
            else:
                r = out[st["run"]]
                out[st["run"]] = r._replace(text=r.text + text, end_x=st["x"])
