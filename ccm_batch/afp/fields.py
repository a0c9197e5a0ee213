"""Render stage (AFP format layer): MO:DCA structured fields — identifiers, framing and builders.

Every structured field (SF) is written as ``X'5A' | SFLength(2) | SFTypeID(3) | flags 00 | 0000 | data``
with ``SFLength = 8 + len(data)`` (afp.md §2). No extension, segmentation or padding is ever written.
Builders return complete ``bytes`` records so callers can join a whole page and write it at once.

Names (token names, TLE names/values, NOP text) are EBCDIC; token names are 8 bytes padded with
X'40'. The builders here know MO:DCA only — nothing about the page model.
"""
from __future__ import annotations

import struct

# --- identifiers ---------------------------------------------------------------------------
# (abbreviation, full name) per SF type id; used by the writer (constants below) and the reader.
SF_NAMES: dict[int, tuple[str, str]] = {
    0xD3A8A5: ("BPF", "Begin Print File"), 0xD3A9A5: ("EPF", "End Print File"),
    0xD3A8C6: ("BRG", "Begin Resource Group"), 0xD3A9C6: ("ERG", "End Resource Group"),
    0xD3A8CE: ("BRS", "Begin Resource"), 0xD3A9CE: ("ERS", "End Resource"),
    0xD3A8A8: ("BDT", "Begin Document"), 0xD3A9A8: ("EDT", "End Document"),
    0xD3A8AD: ("BNG", "Begin Named Page Group"), 0xD3A9AD: ("ENG", "End Named Page Group"),
    0xD3A8AF: ("BPG", "Begin Page"), 0xD3A9AF: ("EPG", "End Page"),
    0xD3A8C9: ("BAG", "Begin Active Environment Group"), 0xD3A9C9: ("EAG", "End Active Environment Group"),
    0xD3A89B: ("BPT", "Begin Presentation Text Object"), 0xD3A99B: ("EPT", "End Presentation Text Object"),
    0xD3EE9B: ("PTX", "Presentation Text Data"),
    0xD3B19B: ("PTD", "Presentation Text Data Descriptor"), 0xD3A69B: ("PTD-1", "Presentation Text Descriptor Format 1"),
    0xD3A79B: ("CTC", "Composed Text Control"),
    0xD3A6AF: ("PGD", "Page Descriptor"),
    0xD3AB8A: ("MCF", "Map Coded Font"), 0xD3B18A: ("MCF-1", "Map Coded Font Format 1"),
    0xD3ABC3: ("MDR", "Map Data Resource"), 0xD3ADC3: ("PPO", "Preprocess Presentation Object"),
    0xD3ABD8: ("MPO", "Map Page Overlay"), 0xD3AFD8: ("IPO", "Include Page Overlay"),
    0xD3B15F: ("MPS", "Map Page Segment"), 0xD3AF5F: ("IPS", "Include Page Segment"),
    0xD3ABAF: ("MPG", "Map Page"), 0xD3AFAF: ("IPG", "Include Page"),
    0xD3AFC3: ("IOB", "Include Object"),
    0xD3A090: ("TLE", "Tag Logical Element"), 0xD3B490: ("LLE", "Link Logical Element"),
    0xD3ABCC: ("IMM", "Invoke Medium Map"),
    0xD3EEEE: ("NOP", "No Operation"),
    0xD3A8FB: ("BIM", "Begin Image Object"), 0xD3A9FB: ("EIM", "End Image Object"),
    0xD3A6FB: ("IDD", "Image Data Descriptor"), 0xD3EEFB: ("IPD", "Image Picture Data"),
    0xD3ABFB: ("MIO", "Map Image Object"),
    0xD3A87B: ("BII", "Begin IM Image"), 0xD3A97B: ("EII", "End IM Image"),
    0xD3A67B: ("IID", "IM Image Input Descriptor"), 0xD3AC7B: ("ICP", "IM Image Cell Position"),
    0xD3EE7B: ("IRD", "IM Image Raster Data"),
    0xD3A8C7: ("BOG", "Begin Object Environment Group"), 0xD3A9C7: ("EOG", "End Object Environment Group"),
    0xD3A66B: ("OBD", "Object Area Descriptor"), 0xD3AC6B: ("OBP", "Object Area Position"),
    0xD3A8EB: ("BBC", "Begin Bar Code Object"), 0xD3A9EB: ("EBC", "End Bar Code Object"),
    0xD3A6EB: ("BDD", "Bar Code Data Descriptor"), 0xD3EEEB: ("BDA", "Bar Code Data"),
    0xD3ABEB: ("MBC", "Map Bar Code Object"),
    0xD3A8BB: ("BGR", "Begin Graphics Object"), 0xD3A9BB: ("EGR", "End Graphics Object"),
    0xD3A6BB: ("GDD", "Graphics Data Descriptor"), 0xD3EEBB: ("GAD", "Graphics Data"),
    0xD3ABBB: ("MGO", "Map Graphics Object"),
    0xD3A8CD: ("BFM", "Begin Form Map"), 0xD3A9CD: ("EFM", "End Form Map"),
    0xD3A8CC: ("BMM", "Begin Medium Map"), 0xD3A9CC: ("EMM", "End Medium Map"),
    0xD3A8C4: ("BDG", "Begin Document Environment Group"), 0xD3A9C4: ("EDG", "End Document Environment Group"),
    0xD3B1AF: ("PGP", "Page Position"), 0xD3ACAF: ("PGP-1", "Page Position Format 1"),
    0xD3A688: ("MDD", "Medium Descriptor"), 0xD3A288: ("MCC", "Medium Copy Count"),
    0xD3A788: ("MMC", "Medium Modification Control"), 0xD3AB88: ("MMT", "Map Media Type"),
    0xD3ABCD: ("MMD", "Map Media Destination"), 0xD3B1DF: ("MMO", "Map Medium Overlay"),
    0xD3A7AF: ("PMC", "Page Modification Control"), 0xD3A088: ("MFC", "Medium Finishing Control"),
    0xD3B288: ("PFC", "Presentation Fidelity Control"), 0xD3ABEA: ("MSU", "Map Suppression"),
    0xD3A7A8: ("PEC", "Presentation Environment Control"),
    0xD3A8DF: ("BMO", "Begin Overlay"), 0xD3A9DF: ("EMO", "End Overlay"),
    0xD3A85F: ("BPS", "Begin Page Segment"), 0xD3A95F: ("EPS", "End Page Segment"),
    0xD3A892: ("BOC", "Begin Object Container"), 0xD3A992: ("EOC", "End Object Container"),
    0xD3EE92: ("OCD", "Object Container Data"), 0xD3A692: ("CDD", "Container Data Descriptor"),
    0xD3A8A7: ("BDI", "Begin Document Index"), 0xD3A9A7: ("EDI", "End Document Index"),
    0xD3B2A7: ("IEL", "Index Element"),
    0xD3A8D9: ("BSG", "Begin Resource Environment Group"), 0xD3A9D9: ("ESG", "End Resource Environment Group"),
    0xD3A88A: ("BCF", "Begin Coded Font"), 0xD3A98A: ("ECF", "End Coded Font"),
    0xD3A887: ("BCP", "Begin Code Page"), 0xD3A987: ("ECP", "End Code Page"),
    0xD3A889: ("BFN", "Begin Font"), 0xD3A989: ("EFN", "End Font"),
}
SF_IDS: dict[str, int] = {abbr: sfid for sfid, (abbr, _) in SF_NAMES.items()}


def _id(abbr: str) -> bytes:
    return SF_IDS[abbr].to_bytes(3, "big")


BPF, EPF, BRG, ERG, BRS, ERS = (_id(a) for a in ("BPF", "EPF", "BRG", "ERG", "BRS", "ERS"))
BDT, EDT, BNG, ENG, BPG, EPG = (_id(a) for a in ("BDT", "EDT", "BNG", "ENG", "BPG", "EPG"))
BAG, EAG, BPT, EPT, PTX, PTD = (_id(a) for a in ("BAG", "EAG", "BPT", "EPT", "PTX", "PTD"))
PGD, MCF, MPO, IPO, IOB, TLE = (_id(a) for a in ("PGD", "MCF", "MPO", "IPO", "IOB", "TLE"))
IMM, NOP, BIM, EIM, IDD, IPD = (_id(a) for a in ("IMM", "NOP", "BIM", "EIM", "IDD", "IPD"))
MIO, BOG, EOG, OBD, OBP = (_id(a) for a in ("MIO", "BOG", "EOG", "OBD", "OBP"))
BBC, EBC, BDD, BDA, MBC = (_id(a) for a in ("BBC", "EBC", "BDD", "BDA", "MBC"))
BFM, EFM, BMM, EMM, PGP, MDD, MCC, MMC = (_id(a) for a in ("BFM", "EFM", "BMM", "EMM", "PGP", "MDD",
                                                         "MCC", "MMC"))
BMO, EMO = _id("BMO"), _id("EMO")
BOC, EOC, OCD, MDR = (_id(a) for a in ("BOC", "EOC", "OCD", "MDR"))

# Resource Object Type (triplet X'21') values used in BRS.
RES_TYPE_IOCA = 0x06
RES_TYPE_OVERLAY = 0xFC
RES_TYPE_FORM_MAP = 0xFE
RES_TYPE_OBJECT_CONTAINER = 0x92

# MO:DCA registry object type "TrueType/OpenType Font" (OID 1.3.18.0.4.1.1.51), as FOP writes it.
TRUETYPE_OID = bytes.fromhex("06072B120004010133")
CCSID_UTF16 = 1200
OBJ_CLASS_DATA_OBJECT_FONT = 0x41

MAX_SF_DATA = 32752 - 8          # MO:DCA IS/3 limit on SFLength (afp.md §2)
CHUNK = 8192                     # PTX / IPD data chunk, as FOP and IS/1 readers expect
UNITS_PER_10IN = 14400           # 1440 L-units per inch, unit base X'00' (10 inches)
NAME_CODEC = "cp500"             # token names: A-Z 0-9 $ # @ are identical in 500/037/1140
_UNITS = struct.pack(">BBHH", 0, 0, UNITS_PER_10IN, UNITS_PER_10IN)


def sf(sfid: bytes, data: bytes = b"") -> bytes:
    """One framed structured field: X'5A', length, id, flags 00, reserved 0000, data."""
    n = len(data)
    if n > MAX_SF_DATA:
        raise ValueError(f"structured field data too long ({n} > {MAX_SF_DATA} bytes)")
    return b"\x5a" + (n + 8).to_bytes(2, "big") + sfid + b"\x00\x00\x00" + data


def name8(name: str) -> bytes:
    """An 8-byte EBCDIC token name, blank (X'40') padded; longer names are cut to 8."""
    return name.encode(NAME_CODEC, "replace")[:8].ljust(8, b"\x40")


def u3(value: int) -> bytes:
    """A 3-byte UBIN/SBIN (two's complement) big-endian field."""
    return (value & 0xFFFFFF).to_bytes(3, "big")


# --- triplets ------------------------------------------------------------------------------
def triplet(tid: int, payload: bytes) -> bytes:
    """A triplet: length (counting itself and the id), id, payload."""
    if len(payload) > 252:
        raise ValueError(f"triplet X'{tid:02X}' payload too long ({len(payload)} bytes)")
    return bytes((len(payload) + 2, tid)) + payload


def t_ccsid(ccsid: int) -> bytes:
    """X'01' Coded Graphic Character Set Global Identifier, CCSID form (GCSGID 0)."""
    return triplet(0x01, b"\x00\x00" + ccsid.to_bytes(2, "big"))


def t_fqn(fqn_type: int, name: bytes) -> bytes:
    """X'02' Fully Qualified Name, character format (X'00')."""
    return triplet(0x02, bytes((fqn_type, 0)) + name)


def t_res_type(obj_type: int) -> bytes:
    """X'21' Resource Object Type with 7 reserved bytes."""
    return triplet(0x21, bytes((obj_type,)) + bytes(7))


def t_units() -> bytes:
    """X'4B' Measurement Units: 10-inch base, 14400 units (1440/inch) on both axes."""
    return triplet(0x4B, _UNITS)


def t_area_size(width: int, height: int) -> bytes:
    """X'4C' Object Area Size, size type 02 (actual)."""
    return triplet(0x4C, b"\x02" + u3(width) + u3(height))


def t_mapping(option: int) -> bytes:
    """X'04' Mapping Option (X'20' scale to fit, X'60' scale to fill, X'00' position)."""
    return triplet(0x04, bytes((option,)))


def t_object_class(struct_flags: int) -> bytes:
    """X'10' Object Classification: class X'41' data-object font, structure flags, TrueType OID.

    ``struct_flags`` (first byte): X'54' on the BRS and in the MDR (data not in this container),
    X'DC' on the BOC (object data in the container's OCD fields, no OEG) — FOP's values.
    """
    return triplet(0x10, bytes((0, OBJ_CLASS_DATA_OBJECT_FONT, 0, 0, struct_flags, 0))
                   + TRUETYPE_OID.ljust(16, b"\0"))


def font_resource(name: str, full_name: str, program: bytes) -> bytes:
    """A TrueType/OpenType font carried in the print-file resource group (afp.md §10):
    ``BRS (X'21' 92, X'10', X'01' CCSID 1200, FQN X'01' full name) BOC (X'10') OCD… EOC ERS``.

    ``full_name`` (UTF-16BE in the FQN) is the name the pages' MDR refer to the font by.
    """
    uname = full_name.encode("utf-16-be")
    head = sf(BRS, name8(name) + b"\x00\x00" + t_res_type(RES_TYPE_OBJECT_CONTAINER) + t_object_class(0x54)
              + t_ccsid(CCSID_UTF16) + t_fqn(0x01, uname))
    boc = sf(BOC, name8(name) + b"\x00\x00" + t_object_class(0xDC))
    ocd = b"".join(sf(OCD, program[i:i + CHUNK]) for i in range(0, len(program), CHUNK))
    return head + boc + ocd + begin(EOC, name) + begin(ERS, name)


def mdr_group_font(full_name: str, lid: int, size: int) -> bytes:
    """One MDR repeating group mapping the data-object font ``full_name`` to text LID ``lid`` at
    ``size`` (vertical font size, 1/1440 inch): X'01' CCSID 1200, FQN X'DE' (external resource
    reference, UTF-16BE name), FQN X'BE' (the LID), X'10', X'8B' (TrueType, Unicode encoding)."""
    body = (t_ccsid(CCSID_UTF16) + t_fqn(0xDE, full_name.encode("utf-16-be"))
            + triplet(0x02, bytes((0xBE, 0x00, lid))) + t_object_class(0x54)
            + triplet(0x8B, b"\x00\x20" + size.to_bytes(2, "big") + b"\x00\x00\x00\x00"
                      + b"\x00\x03\x00\x01\x00\x00"))
    return (len(body) + 2).to_bytes(2, "big") + body


def mdr(groups: list[bytes]) -> bytes:
    """MDR made of pre-built repeating groups."""
    return sf(MDR, b"".join(groups))


def tle_unicode(name: str, value: str) -> bytes:
    """TLE whose name and value are UTF-16BE, declared by a X'01' CCSID 1200 triplet (for index
    values the document code page cannot hold; the OnDemand application must read Unicode)."""
    return sf(TLE, t_ccsid(CCSID_UTF16) + t_fqn(0x0B, name.encode("utf-16-be")[:250])
              + triplet(0x36, b"\x00\x00" + value.encode("utf-16-be")[:248]))


# --- print file, document, page group, page ------------------------------------------------
def begin(sfid: bytes, name: str | None = None, triplets: bytes = b"") -> bytes:
    """A Begin (or End) SF carrying an optional 8-byte name and optional triplets."""
    return sf(sfid, (name8(name) if name is not None else b"") + triplets)


def bdt(name: str, ccsid: int) -> bytes:
    """BDT: document name, reserved 0000, mandatory X'01' CCSID triplet (afp.md §5.1)."""
    return sf(BDT, name8(name) + b"\x00\x00" + t_ccsid(ccsid))


def brs(name: str, obj_type: int) -> bytes:
    """BRS: resource name, reserved 0000, X'21' Resource Object Type."""
    return sf(BRS, name8(name) + b"\x00\x00" + t_res_type(obj_type))


def tle(name: bytes, value: bytes) -> bytes:
    """TLE: X'02' FQN type X'0B' attribute name + X'36' attribute value (both already encoded)."""
    return sf(TLE, t_fqn(0x0B, name[:250]) + triplet(0x36, b"\x00\x00" + value[:250]))


def nop(text: bytes) -> bytes:
    """NOP carrying (conventionally EBCDIC) text."""
    return sf(NOP, text[:MAX_SF_DATA])


def imm(medium_map: str) -> bytes:
    """IMM: invoke the named medium map of the form map in effect."""
    return sf(IMM, name8(medium_map))


def descriptor_units(width: int, height: int) -> bytes:
    """The unit/size prefix shared by PGD and PTD: base 00, 14400 per 10 in, 3-byte extents."""
    return _UNITS + u3(width) + u3(height)


def pgd(width: int, height: int) -> bytes:
    """PGD: page size in L-units at 1440/inch, reserved 000000."""
    return sf(PGD, descriptor_units(width, height) + b"\x00\x00\x00")


def ptd(width: int, height: int) -> bytes:
    """PTD format 2: same units and extents as the PGD, text flags 0000."""
    return sf(PTD, descriptor_units(width, height) + b"\x00\x00")


def mcf_group_outline(charset: str, code_page: str, lid: int, size: int) -> bytes:
    """One MCF repeating group for an outline font: FQN 86 + 85, LID, rotation, X'1F' size, X'5D'.

    ``size`` is the vertical font size in 1/1440 inch (FtHeight, 20 × points).
    """
    body = (t_fqn(0x86, name8(charset)) + t_fqn(0x85, name8(code_page))
            + triplet(0x26, b"\x00\x00") + triplet(0x24, bytes((0x05, lid)))
            + triplet(0x1F, b"\x00\x00" + size.to_bytes(2, "big") + bytes(13) + b"\x60")
            + triplet(0x5D, size.to_bytes(2, "big")))
    return (len(body) + 2).to_bytes(2, "big") + body


def mcf(groups: list[bytes]) -> bytes:
    """MCF format 2 made of pre-built repeating groups (at most 254)."""
    return sf(MCF, b"".join(groups))


def mpo(entries: list[tuple[str, int]]) -> bytes:
    """MPO: map overlays (name, LID) for the page — LID type 02, FQN X'84' resource reference."""
    groups = []
    for name, lid in entries:
        body = triplet(0x24, bytes((0x02, lid))) + t_fqn(0x84, name8(name))
        groups.append((len(body) + 2).to_bytes(2, "big") + body)
    return sf(MPO, b"".join(groups))


def ipo(name: str, x: int = 0, y: int = 0) -> bytes:
    """IPO: include the named overlay with its origin at (x, y), 0° orientation."""
    return sf(IPO, name8(name) + u3(x) + u3(y) + b"\x00\x00")


# --- object environment group parts --------------------------------------------------------
def obd(width: int, height: int) -> bytes:
    """OBD: descriptor position (X'43' 01), units (X'4B'), area size (X'4C')."""
    return sf(OBD, triplet(0x43, b"\x01") + t_units() + t_area_size(width, height))


def obp(x: int, y: int, ref_csys: int = 0x01) -> bytes:
    """OBP: area origin (x, y) on the including page, 0°, content at the area origin."""
    return sf(OBP, b"\x01\x17" + u3(x) + u3(y) + b"\x00\x00\x2d\x00\x00" + u3(0) + u3(0)
              + b"\x00\x00\x2d\x00" + bytes((ref_csys,)))


def iob(name: str, obj_type: int, x: int, y: int, width: int, height: int, mapping: int = 0x60) -> bytes:
    """IOB: include a resource object at (x, y) in an area of width × height (afp.md §5.13)."""
    return sf(IOB, name8(name) + b"\x00" + bytes((obj_type,)) + u3(x) + u3(y) + b"\x00\x00\x2d\x00"
              + b"\xff\xff\xff\xff\xff\xff\x01"
              + t_area_size(width, height) + t_units() + t_mapping(mapping))


# --- form map ------------------------------------------------------------------------------
def medium_map(name: str, duplex: bool, width: int, height: int, source: int = 0) -> bytes:
    """BMM … EMM: PGP (front, + back if duplex), MDD (sheet size), MCC, MMC ([E1 source] F4 01/02).

    ``source`` (1–4) selects the input bin with the MMC media-source keyword X'E1' (format 1:
    1 = primary bin, 2–4 = alternate bins); 0 leaves the printer's default."""
    front = b"\x0a" + u3(0) + u3(0) + b"\x00\x00" + b"\x00"
    back = b"\x0a" + u3(0) + u3(0) + b"\x00\x00" + b"\x01"
    pgp = sf(PGP, b"\x01" + front + (back if duplex else b""))
    mdd = sf(MDD, _UNITS + u3(width) + u3(height) + b"\x00" + triplet(0x68, b"\x00"))
    mcc = sf(MCC, b"\x00\x01\x00\x01\x00\x01" + (b"\x00\x02\x00\x02\x00\x01" if duplex else b""))
    keywords = (b"\xe1" + bytes([source]) if source else b"") + (b"\xf4\x02" if duplex else b"\xf4\x01")
    mmc = sf(MMC, b"\x01\xff" + keywords)          # keywords in ascending order: E1 before F4
    return begin(BMM, name) + pgp + mdd + mcc + mmc + begin(EMM, name)


def form_map(name: str, maps: list[tuple], width: int, height: int) -> bytes:
    """An inline form map resource: BRS(X'21' FE) BFM {medium map}+ EFM ERS; ``maps`` holds
    ``(name, duplex)`` or ``(name, duplex, source bin)``."""
    body = b"".join(medium_map(m[0], m[1], width, height, *m[2:]) for m in maps)
    return brs(name, RES_TYPE_FORM_MAP) + begin(BFM, name) + body + begin(EFM, name) + begin(ERS, name)
