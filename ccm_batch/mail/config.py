"""Mail stage, configuration: the job file's ``[mail]`` table as frozen option objects.

Example (every key optional; defaults shown)::

    [mail]
    enabled = true
    rules_dir = "rules"            # searched before the built-in packs (ccm_batch/mail/rules)
    householding = "customer"      # none | customer | name_address | surname_address (opt-in)
    address_carrier_types = []     # doc types preferred as address carrier, e.g. ["STATEMENT"]
    split = "cheapest"             # over-capacity household: cheapest | split | large
    policy = "cheapest"            # presort overflow policy: cheapest | none | overflow | rollup
    carriers = { FR = "LAPOSTE", MC = "LAPOSTE", US = "USPS" }   # country -> carrier
    international_carrier = "LAPOSTE"
    envelopes = {}                 # carrier -> {standard = "C5", large = "C4"} overrides of the pack
    paper_gsm = 80                 # sheet weight = area x grammage
    caliper_mm = 0.1               # sheet thickness
    max_pieces_per_file = 0        # 0 = no limit; files break at tray boundaries where possible
    piece_id_start = 1             # first piece id; a reprint continues after its run's piece ids
    max_sheets_per_file = 0
    name_template = "{job}_{stream}_{seq:03d}"
    control = "omr"                # omr | datamatrix | none
    separators = false             # banner sheet per print file and separator sheet per tray
    validate_addresses = true
    [mail.inserts]                 # insert name (documents.inserts) -> feeder and physics
    BRE = { feeder = 1, weight_g = 3.0, thickness_mm = 0.1 }
    [mail.omr]                     # geometry in mm; positions top to bottom (postal.md §4.1)
    positions = ["benchmark", "eoc", "boc", "parity", "seq1", "seq2", "seq3", "sf1", "sf2", "safety"]
    x_mm = 5  y_mm = 100  pitch_mm = 4.233  length_mm = 12  thickness_mm = 0.42  parity = "even"
    select_feed_on = "last"        # last | every
    [mail.datamatrix]              # 2D control code placement
    x_mm = 5  y_mm = 100  module_mm = 0.5
    [mail.imb]                     # USPS Intelligent Mail barcode on US pieces
    enabled = false  mailer_id = "123456"  service_type = "270"  barcode_id = "00"  serial_start = 0
    serial_scheme = "job_date"     # job_date: day of the job date + piece number | piece: serial_start + piece
    x_mm = 20  y_mm = 62           # used when the address page carries no imb Barcode to fill in
    [mail.part_label]              # printed on the first page of each part of a split household
    x_mm = 20  y_mm = 45  size_pt = 7  text = "PLI {part}/{parts}"

OMR position names: ``benchmark``, ``safety``, ``on`` (timing/retiming: always printed), ``off``
(ignore), ``eoc``/``not_eoc``, ``boc``/``not_boc``, ``parity``, ``seqN`` (bit N-1 of the wrap-around
sheet counter, seq1 = least significant), ``sfN`` (selective feed for feeder N).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..pages import mm, pt
from .rules import BUILTIN_DIR, POLICIES

HOUSEHOLDING = ("none", "customer", "name_address", "surname_address")
SPLITS = ("cheapest", "split", "large")
CONTROLS = ("omr", "datamatrix", "none")
OMR_FIXED = ("benchmark", "safety", "on", "off", "eoc", "not_eoc", "boc", "not_boc", "parity")


@dataclass(frozen=True)
class InsertSpec:
    """A pre-printed insert fed by an inserter station: feeder number (1-based) and its physics."""
    name: str
    feeder: int
    weight_g: float = 0.0
    thickness_mm: float = 0.0


@dataclass(frozen=True)
class OmrScheme:
    """An OMR ladder: mark functions top to bottom and geometry in page units (postal.md §4.1)."""
    positions: tuple = ("benchmark", "eoc", "boc", "parity", "seq1", "seq2", "seq3", "sf1", "sf2", "safety")
    x: int = mm(5)
    y: int = mm(100)
    pitch: int = 240                # 1/6 inch
    length: int = mm(12)
    thickness: int = mm(0.42)
    parity: str = "even"
    select_feed_on: str = "last"

    @property
    def seq_bits(self) -> int:
        return sum(1 for p in self.positions if p.startswith("seq"))

    @property
    def feeders(self) -> tuple:
        """Feeder numbers the ladder can select, in position order."""
        return tuple(int(p[2:]) for p in self.positions if p.startswith("sf"))


@dataclass(frozen=True)
class DataMatrixSpec:
    """Placement of the 2D inserter control code (ECC200) on each sheet's front page."""
    x: int = mm(5)
    y: int = mm(100)
    module: int = mm(0.5)
    version: str = "1"


@dataclass(frozen=True)
class ImbConfig:
    """USPS Intelligent Mail barcode fields (postal.md §4.3): identifiers and fallback placement."""
    enabled: bool = False
    barcode_id: str = "00"
    service_type: str = "270"
    mailer_id: str = "123456"
    serial_start: int = 0
    x: int = mm(20)
    y: int = mm(62)
    serial_scheme: str = "job_date"     # job_date | piece (see ccm_batch.mail.control.imb_serial)


@dataclass(frozen=True)
class MailConfig:
    """Mail production options (``[mail]`` table); ``enabled=False`` plans one piece per document."""
    enabled: bool = False
    rule_dirs: tuple = (BUILTIN_DIR,)
    householding: str = "customer"
    address_carrier_types: tuple = ()
    split: str = "cheapest"
    policy: str = "cheapest"
    carriers: dict = field(default_factory=lambda: {"FR": "LAPOSTE", "MC": "LAPOSTE", "US": "USPS"})
    international_carrier: str = "LAPOSTE"
    envelopes: dict = field(default_factory=dict)
    paper_gsm: float = 80.0
    caliper_mm: float = 0.1
    inserts: dict = field(default_factory=dict)
    max_pieces_per_file: int = 0
    max_sheets_per_file: int = 0
    name_template: str = "{job}_{stream}_{seq:03d}"
    control: str = "omr"
    separators: bool = False
    validate_addresses: bool = True
    omr: OmrScheme = OmrScheme()
    datamatrix: DataMatrixSpec = DataMatrixSpec()
    imb: ImbConfig = ImbConfig()
    part_label: tuple | None = None     # (x, y, size, template) of the "PLI 1/2" mark on split pieces
    piece_id_start: int = 1             # first piece id (reprints continue after the run's pieces)

    @classmethod
    def from_dict(cls, table: dict | None, base_dir=None) -> "MailConfig":
        """Build from the job's ``[mail]`` table; relative paths resolve against ``base_dir``."""
        if table is None:
            return cls(enabled=False, control="none")
        t = dict(table)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        known = {"enabled", "rules_dir", "householding", "address_carrier_types", "split", "policy",
                 "carriers", "international_carrier", "envelopes", "paper_gsm", "caliper_mm", "inserts",
                 "max_pieces_per_file", "max_sheets_per_file", "name_template", "control", "separators",
                 "validate_addresses", "omr", "datamatrix", "imb", "part_label", "piece_id_start"}
        unknown = sorted(set(t) - known)
        if unknown:
            raise ConfigError(f"[mail]: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        enabled = bool(t.get("enabled", True))
        if not enabled:
            return cls(enabled=False, control="none")
        dirs = (BUILTIN_DIR,)
        if t.get("rules_dir"):
            d = Path(t["rules_dir"])
            dirs = ((d if d.is_absolute() else base / d), BUILTIN_DIR)
        kw = dict(enabled=True, rule_dirs=dirs)
        for key, allowed in (("householding", HOUSEHOLDING), ("split", SPLITS),
                             ("policy", ("cheapest",) + POLICIES), ("control", CONTROLS)):
            if key in t:
                if t[key] not in allowed:
                    raise ConfigError(f"[mail] {key} = {t[key]!r}: expected one of {', '.join(allowed)}")
                kw[key] = t[key]
        for key in ("paper_gsm", "caliper_mm"):
            if key in t:
                kw[key] = _positive(t[key], f"[mail] {key}")
        if "piece_id_start" in t:
            start = t["piece_id_start"]
            if not isinstance(start, int) or isinstance(start, bool) or not 1 <= start < 10 ** 8:
                raise ConfigError("[mail] piece_id_start: a whole number from 1 to 99999999")
            kw["piece_id_start"] = start
        for key in ("max_pieces_per_file", "max_sheets_per_file"):
            if key in t:
                kw[key] = int(_positive(t[key], f"[mail] {key}", allow_zero=True))
        for key in ("separators", "validate_addresses"):
            if key in t:
                kw[key] = bool(t[key])
        if "address_carrier_types" in t:
            kw["address_carrier_types"] = tuple(str(x) for x in t["address_carrier_types"])
        if "carriers" in t:
            kw["carriers"] = {str(k).upper(): str(v).upper() for k, v in dict(t["carriers"]).items()}
        if "international_carrier" in t:
            kw["international_carrier"] = str(t["international_carrier"]).upper()
        if "envelopes" in t:
            kw["envelopes"] = {str(k).upper(): dict(v) for k, v in dict(t["envelopes"]).items()}
        if "name_template" in t:
            tmpl = str(t["name_template"])
            try:
                tmpl.format(job="j", stream="s", seq=1, date="2000-01-01", carrier="c", envelope="e")
            except (KeyError, ValueError, IndexError) as exc:
                raise ConfigError(f"[mail] name_template {tmpl!r}: {exc}") from None
            kw["name_template"] = tmpl
        if "inserts" in t:
            kw["inserts"] = _inserts(t["inserts"])
        if "omr" in t:
            kw["omr"] = _omr(dict(t["omr"]))
        if "datamatrix" in t:
            d = dict(t["datamatrix"])
            kw["datamatrix"] = DataMatrixSpec(mm(d.get("x_mm", 5)), mm(d.get("y_mm", 100)),
                                              mm(d.get("module_mm", 0.5)), str(d.get("version", "1"))[:1])
        if "imb" in t:
            kw["imb"] = _imb(dict(t["imb"]))
        if "part_label" in t:
            d = dict(t["part_label"])
            text = str(d.get("text", "PLI {part}/{parts}"))
            try:
                text.format(part=1, parts=2)
            except (KeyError, ValueError, IndexError) as exc:
                raise ConfigError(f"[mail.part_label] text {text!r}: {exc}") from None
            kw["part_label"] = (mm(d.get("x_mm", 20)), mm(d.get("y_mm", 45)), pt(d.get("size_pt", 7)), text)
        return cls(**kw)

    def feeder_of(self, insert: str) -> int | None:
        spec = self.inserts.get(insert)
        return spec.feeder if spec else None


def _positive(value, where: str, allow_zero: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or \
            (value == 0 and not allow_zero):
        raise ConfigError(f"{where} = {value!r}: expected a positive number")
    return float(value)


def _inserts(table) -> dict:
    out = {}
    for name, spec in dict(table).items():
        spec = dict(spec) if isinstance(spec, dict) else {"feeder": spec}
        feeder = spec.get("feeder")
        if not isinstance(feeder, int) or not 1 <= feeder <= 8:
            raise ConfigError(f"[mail.inserts] {name}: feeder must be an integer 1..8")
        out[str(name)] = InsertSpec(str(name), feeder, float(spec.get("weight_g", 0.0)),
                                    float(spec.get("thickness_mm", 0.0)))
    return out


def _omr(d: dict) -> OmrScheme:
    default = OmrScheme()
    positions = tuple(str(p) for p in d.get("positions", default.positions))
    for p in positions:
        if p not in OMR_FIXED and not re.fullmatch(r"(seq|sf)[1-9][0-9]*", p):
            raise ConfigError(f"[mail.omr] unknown mark position {p!r}")
    if positions.count("parity") > 1 or "benchmark" not in positions:
        raise ConfigError("[mail.omr] positions need one benchmark and at most one parity mark")
    seq = sorted(int(p[3:]) for p in positions if p.startswith("seq"))
    if seq != list(range(1, len(seq) + 1)):
        raise ConfigError("[mail.omr] sequence marks must be seq1..seqN")
    parity = d.get("parity", "even")
    if parity not in ("even", "odd"):
        raise ConfigError("[mail.omr] parity must be 'even' or 'odd'")
    sf_on = d.get("select_feed_on", "last")
    if sf_on not in ("last", "every"):
        raise ConfigError("[mail.omr] select_feed_on must be 'last' or 'every'")
    scheme = OmrScheme(positions, mm(d.get("x_mm", 5)), mm(d.get("y_mm", 100)), mm(d.get("pitch_mm", 4.233)),
                       mm(d.get("length_mm", 12)), mm(d.get("thickness_mm", 0.42)), parity, sf_on)
    if not 2.54 <= scheme.pitch * 25.4 / 1440 <= 6.35 + 1e-6:
        raise ConfigError("[mail.omr] pitch_mm must be within 2.54–6.35 mm (postal.md §4.1)")
    if scheme.length * 25.4 / 1440 < 10 - 1e-6:
        raise ConfigError("[mail.omr] length_mm must be at least 10 mm")
    return scheme


def _imb(d: dict) -> ImbConfig:
    cfg = ImbConfig(bool(d.get("enabled", True)), str(d.get("barcode_id", "00")), str(d.get("service_type", "270")),
                    str(d.get("mailer_id", "123456")), int(d.get("serial_start", 0)),
                    mm(d.get("x_mm", 20)), mm(d.get("y_mm", 62)), str(d.get("serial_scheme", "job_date")))
    if cfg.serial_scheme not in ("job_date", "piece"):
        raise ConfigError("[mail.imb] serial_scheme: job_date or piece")
    if not (len(cfg.barcode_id) == 2 and cfg.barcode_id.isdigit() and cfg.barcode_id[1] in "01234"):
        raise ConfigError("[mail.imb] barcode_id: 2 digits, the second 0-4")
    if not (len(cfg.service_type) == 3 and cfg.service_type.isdigit()):
        raise ConfigError("[mail.imb] service_type: 3 digits")
    if not (len(cfg.mailer_id) in (6, 9) and cfg.mailer_id.isdigit()):
        raise ConfigError("[mail.imb] mailer_id: 6 or 9 digits")
    return cfg
