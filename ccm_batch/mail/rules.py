"""Mail stage, postal rule packs: load the versioned, dated carrier packs and the envelope catalogue.

Every postal number (weight steps, prices, presort minimums, container sizes, envelope weights) lives in
TOML files, never in code (postal.md, "Main caveat"). A *rule pack* describes one carrier product for one
validity period::

    [pack]      id, carrier, product, default, version, valid_from, valid_to, currency,
                weight_unit ("g" | "oz"), countries, postcode ("fr" | "us"), policies,
                handling_per_container, near_step_margin_g, source
    [envelopes] standard, large                       # names from the envelope catalogue
    [shape.letter] / [shape.flat]
                max_length_mm, max_height_mm, max_thickness_mm, max_weight, mailing_min,
                local_min = {pieces, key}, handling_per_piece,
                automation_routing_digits, nonautomation_rate    # e.g. 11, "NONAUTO" (USPS IMb)
                containers = {full_ratio, sizes = [{name, length_mm}, ...]}   # biggest first
                single_piece = {steps, prices}        # the baseline for savings
                rates = {steps, <rate_level> = [...]} # presort prices per weight step
                [[levels]] name, key, key_source, min_pieces | min_pieces_by_weight,
                           overflow = [none|overflow|rollup ...], rate_level, label,
                           bundle_key, bundle_max_pieces          # finest level first
    [international] steps, prices                     # single-piece abroad (optional)

Level keys (the sort key of a level, computed from the normalised postcode digits): ``prefix:N``
(first N characters), ``fr_dept`` (département: 2A/2B for Corsica, 3 digits for DOM 97x and Monaco 98x),
``fr_dept_plm`` (idem, but Paris/Lyon/Marseille arrondissements are their own key), ``const`` (one key:
the residual level) and ``lookup:FILE`` (a CSV table next to the pack, first column → second column,
looked up with ``key_source``, default ``prefix:3``; a postcode missing from the table has no key at that
level). Weights in the pack are in its ``weight_unit``; they are converted to grams on load.

Selection: a search path of directories is scanned for ``*.toml``; for each pack id, the first directory
holding that id wins, and within it the version whose ``[valid_from, valid_to]`` contains the job date
(latest ``valid_from`` if several). ``envelopes.toml`` is found the same way.
"""
from __future__ import annotations

import csv
import datetime as _dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

GRAMS_PER_OZ = 28.349523125
BUILTIN_DIR = Path(__file__).parent / "rules"
SHAPES = ("letter", "flat")
POLICIES = ("none", "overflow", "rollup")
_EPS = 1e-9


# ----------------------------------------------------------------------------------------- key functions

def fr_departement(pc: str, split_plm: bool = False) -> str | None:
    """The département of a French postcode: ``75``, ``2A``/``2B`` (Corsica), ``971`` (DOM), ``980`` (Monaco)."""
    if len(pc) != 5 or not pc.isdigit():
        return None
    if pc.startswith("20"):
        return "2A" if int(pc) < 20200 else "2B"
    if pc[:2] in ("97", "98"):
        return pc[:3]
    if split_plm and (("75001" <= pc <= "75020") or pc == "75116" or ("69001" <= pc <= "69009")
                      or ("13001" <= pc <= "13016")):
        return pc
    return pc[:2]


@dataclass(frozen=True)
class KeySpec:
    """How a presort level (or a bundle) derives its key from a piece's normalised postcode."""
    kind: str                      # prefix | fr_dept | fr_dept_plm | const | lookup
    n: int = 0
    table: tuple = ()              # lookup: sorted (source value, key) pairs
    source: "KeySpec | None" = None
    text: str = ""

    def __call__(self, pc: str) -> str | None:
        if self.kind == "const":
            return "ALL"
        if not pc:
            return None
        if self.kind == "prefix":
            return pc[:self.n] if len(pc) >= self.n else None
        if self.kind == "fr_dept":
            return fr_departement(pc)
        if self.kind == "fr_dept_plm":
            return fr_departement(pc, split_plm=True)
        src = self.source(pc) if self.source else pc[:3]
        return dict(self.table).get(src) if src is not None else None


def parse_key(text: str, where: str, base: Path, source: str | None = None) -> KeySpec:
    """A :class:`KeySpec` from its pack spelling (see the module docstring)."""
    kind, _, arg = str(text).partition(":")
    if kind == "prefix" and arg.isdigit() and int(arg) > 0:
        return KeySpec("prefix", n=int(arg), text=text)
    if kind in ("fr_dept", "fr_dept_plm", "const") and not arg:
        return KeySpec(kind, text=text)
    if kind == "lookup" and arg:
        path = base / arg
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
        except OSError as exc:
            raise ConfigError(f"{where}: lookup table {path}: {exc}") from None
        table = tuple(sorted((r[0].strip(), r[1].strip()) for r in rows[1:] if len(r) >= 2))
        src = parse_key(source, where, base) if source else KeySpec("prefix", n=3, text="prefix:3")
        return KeySpec("lookup", table=table, source=src, text=text)
    raise ConfigError(f"{where}: unknown level key {text!r} (prefix:N, fr_dept, fr_dept_plm, const, "
                      "lookup:FILE)")


# ----------------------------------------------------------------------------------------- price tables

@dataclass(frozen=True)
class RateTable:
    """Prices by weight step. ``steps_g`` are "not over" limits in grams; ``prices[rate_level][i]``."""
    steps_g: tuple
    prices: dict

    def step_index(self, weight_g: float) -> int | None:
        """Index of the first step the weight does not exceed; None when heavier than the last."""
        for i, limit in enumerate(self.steps_g):
            if weight_g <= limit + _EPS:
                return i
        return None

    def price(self, rate_level: str, weight_g: float) -> float | None:
        i = self.step_index(weight_g)
        row = self.prices.get(rate_level)
        return None if i is None or row is None else row[i]


def _rate_table(data: dict, unit: float, where: str, single: bool) -> RateTable:
    try:
        steps = tuple(float(s) * unit for s in data["steps"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}: 'steps' must be a list of weights") from None
    if list(steps) != sorted(steps) or not steps:
        raise ConfigError(f"{where}: steps must be increasing")
    prices = {}
    items = {"SINGLE": data.get("prices")}.items() if single else \
        ((k, v) for k, v in data.items() if k != "steps")
    for level, row in items:
        if not isinstance(row, list) or len(row) != len(steps):
            raise ConfigError(f"{where}: prices {level!r} need one price per step ({len(steps)})")
        prices[level] = tuple(float(p) for p in row)
    return RateTable(steps, prices)


# ----------------------------------------------------------------------------------------- pack model

@dataclass(frozen=True)
class Level:
    """One presort level, finest first: sort key, minimum group size, overflow options, price level."""
    name: str
    key: KeySpec
    min_pieces: int = 0
    min_by_weight: tuple = ()      # ((max_g, min_pieces), ...): the group minimum by its heaviest piece
    overflow: tuple = ("none",)
    rate_level: str = ""
    label: str = ""
    bundle_key: KeySpec | None = None
    bundle_max: int = 0

    def minimum(self, max_weight_g: float) -> int:
        """The minimum pieces for a group whose heaviest piece weighs ``max_weight_g``."""
        for limit, value in self.min_by_weight:
            if max_weight_g <= limit + _EPS:
                return value
        return self.min_pieces


@dataclass(frozen=True)
class Container:
    """A container size (tray, bac): usable inside length for standing pieces."""
    name: str
    length_mm: float


@dataclass(frozen=True)
class ShapeRules:
    """Rules of one processing category (letter or flat) of a pack."""
    name: str
    max_length_mm: float
    max_height_mm: float
    max_thickness_mm: float
    max_weight_g: float
    single_piece: RateTable
    rates: RateTable | None = None
    levels: tuple = ()
    mailing_min: int = 0
    local_min: tuple | None = None      # (pieces, KeySpec)
    containers: tuple = ()
    full_ratio: float = 0.75
    handling_per_piece: float = 0.0
    automation_routing_digits: int = 0  # automation prices need a routing code of this many digits
    nonautomation_rate: str = ""         # rate level of a piece without it ("" = single-piece price)

    def automation(self, pc: str) -> bool:
        """Whether a piece with normalised postcode ``pc`` may be priced at automation (presort) rates:
        USPS wants the 11-digit delivery-point routing code (ZIP + ZIP4 + delivery point) in the IMb."""
        n = self.automation_routing_digits
        return not n or (len(pc or "") == n and pc.isdigit())

    @property
    def presorted(self) -> bool:
        return bool(self.levels) and self.rates is not None

    def presort_facts(self, pc: str, weight_g: float, margin_g: float) -> tuple:
        """What the presort reads of one piece of this shape (:mod:`.presort`'s working table), worked out
        once in the householding pass: its rate step (None: no presort price for that weight), whether it
        lies within ``margin_g`` of its rate step's and single-piece step's limits (0/1), whether it may
        take automation prices (0/1), then its key at each level."""
        step = self.rates.step_index(weight_g) if self.rates else None
        sp = self.single_piece.step_index(weight_g)
        near_rate = step is not None and self.rates.steps_g[step] - weight_g < margin_g
        near_single = sp is not None and self.single_piece.steps_g[sp] - weight_g < margin_g
        return (step, int(near_rate), int(near_single), int(self.automation(pc)),
                *(level.key(pc) for level in self.levels))


@dataclass(frozen=True)
class RulePack:
    """One carrier product for one validity period (see the module docstring for the file format)."""
    id: str
    carrier: str
    product: str
    version: str
    valid_from: str
    valid_to: str
    currency: str
    countries: tuple
    postcode: str
    default: bool
    envelopes: dict
    shapes: dict
    international: RateTable | None
    policies: tuple = POLICIES
    handling_per_container: float = 0.0
    near_step_margin_g: float = 0.0
    path: str = ""
    source: str = ""

    def classify(self, env: "Envelope", thickness_mm: float, weight_g: float) -> str | None:
        """The first shape (letter, then flat) whose size, thickness and weight limits the piece meets."""
        length, height = max(env.width_mm, env.height_mm), min(env.width_mm, env.height_mm)
        for name in SHAPES:
            s = self.shapes.get(name)
            if s and length <= s.max_length_mm + _EPS and height <= s.max_height_mm + _EPS \
                    and thickness_mm <= s.max_thickness_mm + _EPS and weight_g <= s.max_weight_g + _EPS:
                return name
        return None

    def estimate_price(self, shape: str, weight_g: float, international: bool = False) -> float:
        """A price estimate used to choose between packagings (split vs large envelope).

        Presorted shapes use the residual (coarsest) level's rate, others the single-piece price.
        """
        if international and self.international:
            p = self.international.price("SINGLE", weight_g)
            return p if p is not None else 1e9
        s = self.shapes.get(shape)
        if s is None:
            return 1e9
        if s.presorted:
            p = s.rates.price(s.levels[-1].rate_level, weight_g)
            if p is not None:
                return p + s.handling_per_piece
        p = s.single_piece.price("SINGLE", weight_g)
        return (p if p is not None else 1e9) + s.handling_per_piece


@dataclass(frozen=True)
class Envelope:
    """An envelope of the catalogue: face size, own weight/thickness, inserter and fold limits."""
    name: str
    width_mm: float
    height_mm: float
    weight_g: float
    thickness_mm: float
    max_sheets: int
    max_content_mm: float
    fold_panels: int
    window: str = "left"


@dataclass
class RuleBook:
    """The packs and envelope catalogue in force on the job date."""
    packs: dict = field(default_factory=dict)        # id -> RulePack
    envelopes: dict = field(default_factory=dict)    # name -> Envelope
    catalogue_version: str = ""
    printable_margin_mm: float = 0.0                 # envelopes.toml [printer]: unprintable sheet border

    @property
    def key_columns(self) -> int:
        """Level keys the presort's facts table holds per piece: the most levels of any shape (at least 1)."""
        return max([len(s.levels) for p in self.packs.values() for s in p.shapes.values()] + [1])

    def pack_for(self, carrier: str, product: str = "") -> RulePack | None:
        """The pack of a carrier product; the carrier's default pack when ``product`` is empty."""
        carrier = (carrier or "").upper()
        product = (product or "").upper()
        candidates = [p for p in self.packs.values() if p.carrier == carrier]
        if product:
            for p in candidates:
                if p.product == product:
                    return p
            return None
        for p in sorted(candidates, key=lambda p: (not p.default, p.id)):
            return p
        return None

    def envelope(self, name: str, where: str = "") -> Envelope:
        try:
            return self.envelopes[name]
        except KeyError:
            raise ConfigError(f"{where or 'mail'}: envelope {name!r} is not in the catalogue "
                              f"({', '.join(sorted(self.envelopes))})") from None


# ----------------------------------------------------------------------------------------- loading

def _date(value, where: str) -> str:
    if isinstance(value, _dt.date):
        return value.isoformat()
    try:
        return _dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _num(data: dict, key: str, where: str, default=None, unit: float = 1.0) -> float:
    value = data.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be a number")
    return float(value) * unit


def _level(data: dict, where: str, base: Path, unit: float) -> Level:
    name = str(data.get("name", ""))
    if not name:
        raise ConfigError(f"{where}: a level needs a name")
    where = f"{where} level {name}"
    overflow = tuple(data.get("overflow", ["none"]))
    if any(o not in POLICIES for o in overflow):
        raise ConfigError(f"{where}: overflow options are {', '.join(POLICIES)}")
    by_weight = tuple((float(w) * unit, int(m)) for w, m in data.get("min_pieces_by_weight", []))
    bundle = data.get("bundle_key")
    return Level(name, parse_key(data.get("key", ""), where, base, data.get("key_source")),
                 int(data.get("min_pieces", 0)), by_weight, overflow,
                 str(data.get("rate_level", name)), str(data.get("label", name)),
                 parse_key(bundle, where, base) if bundle else None, int(data.get("bundle_max_pieces", 0)))


def _shape(name: str, data: dict, where: str, base: Path, unit: float) -> ShapeRules:
    where = f"{where} [shape.{name}]"
    if "single_piece" not in data:
        raise ConfigError(f"{where}: missing single_piece (the baseline price table)")
    single = _rate_table(data["single_piece"], unit, f"{where}.single_piece", single=True)
    rates = _rate_table(data["rates"], unit, f"{where}.rates", single=False) if "rates" in data else None
    levels = tuple(_level(lv, where, base, unit) for lv in data.get("levels", []))
    if levels:
        if rates is None:
            raise ConfigError(f"{where}: levels need a rates table")
        if levels[-1].key.kind != "const" or levels[-1].min_pieces or levels[-1].min_by_weight:
            raise ConfigError(f"{where}: the last level is the residual one: key = \"const\", min_pieces = 0")
        for lv in levels:
            if lv.rate_level not in rates.prices:
                raise ConfigError(f"{where}: level {lv.name} rate_level {lv.rate_level!r} has no prices")
    local = data.get("local_min")
    cont = data.get("containers", {})
    sizes = tuple(Container(str(c["name"]), float(c["length_mm"])) for c in cont.get("sizes", []))
    if levels and not sizes:
        raise ConfigError(f"{where}: presorted shapes need containers.sizes")
    return ShapeRules(
        name, _num(data, "max_length_mm", where), _num(data, "max_height_mm", where),
        _num(data, "max_thickness_mm", where), _num(data, "max_weight", where, unit=unit),
        single, rates, levels, int(data.get("mailing_min", 0)),
        (int(local["pieces"]), parse_key(local["key"], where, base)) if local else None,
        tuple(sorted(sizes, key=lambda c: -c.length_mm)), float(cont.get("full_ratio", 0.75)),
        float(data.get("handling_per_piece", 0.0)), int(data.get("automation_routing_digits", 0)),
        _nonautomation(data, rates, where))


def _nonautomation(data: dict, rates, where: str) -> str:
    rate = str(data.get("nonautomation_rate", ""))
    if rate and (rates is None or rate not in rates.prices):
        raise ConfigError(f"{where}: nonautomation_rate {rate!r} has no prices in the rates table")
    return rate


def load_pack(path: Path) -> RulePack:
    """Parse one rule pack file (raises :class:`ConfigError` naming the file)."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    head = data.get("pack", {})
    for key in ("id", "carrier", "product", "version", "valid_from", "valid_to", "currency"):
        if key not in head:
            raise ConfigError(f"{where}: [pack] needs {key!r}")
    unit = {"g": 1.0, "oz": GRAMS_PER_OZ}.get(head.get("weight_unit", "g"))
    if unit is None:
        raise ConfigError(f"{where}: weight_unit must be 'g' or 'oz'")
    shapes = {n: _shape(n, s, where, path.parent, unit) for n, s in data.get("shape", {}).items()
              if n in SHAPES}
    if "letter" not in shapes:
        raise ConfigError(f"{where}: a pack needs at least [shape.letter]")
    policies = tuple(head.get("policies", POLICIES))
    if not policies or any(p not in POLICIES for p in policies):
        raise ConfigError(f"{where}: policies must be among {', '.join(POLICIES)}")
    intl = data.get("international")
    return RulePack(
        str(head["id"]), str(head["carrier"]).upper(), str(head["product"]).upper(), str(head["version"]),
        _date(head["valid_from"], where), _date(head["valid_to"], where), str(head["currency"]),
        tuple(str(c).upper() for c in head.get("countries", [])), str(head.get("postcode", "fr")),
        bool(head.get("default", False)), dict(data.get("envelopes", {})), shapes,
        _rate_table(intl, unit, f"{where} [international]", single=True) if intl else None,
        policies, float(head.get("handling_per_container", 0.0)),
        float(head.get("near_step_margin_g", 0.0)), where, str(head.get("source", "")))


def load_envelopes(path: Path) -> tuple[dict, str]:
    """The envelope catalogue: ``{name: Envelope}`` and its version."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    out = {}
    for e in data.get("envelope", []):
        try:
            env = Envelope(str(e["name"]), float(e["width_mm"]), float(e["height_mm"]), float(e["weight_g"]),
                           float(e["thickness_mm"]), int(e["max_sheets"]), float(e["max_content_mm"]),
                           int(e["fold_panels"]), str(e.get("window", "left")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: envelope {e.get('name', '?')}: missing or bad field {exc}") from None
        out[env.name] = env
    return out, str(data.get("catalogue", {}).get("version", ""))


def load_printable_margin(path: Path) -> float:
    """``[printer] printable_margin_mm`` of an envelope catalogue (0 when absent)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    value = data.get("printer", {}).get("printable_margin_mm", 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{path}: [printer] printable_margin_mm must be a number ≥ 0")
    return float(value)


_TASK_BOOK: dict = {}


def task_rulebook(spec: dict) -> RuleBook:
    """The rule book a plan worker's task names (``spec["rule_dirs"]``, ``spec["job_date"]``): loaded
    once per worker process and kept while its tasks name the same one."""
    key = (tuple(spec["rule_dirs"]), spec["job_date"])
    if _TASK_BOOK.get("key") != key:
        _TASK_BOOK.update(key=key, book=load_rulebook(spec["rule_dirs"], spec["job_date"]))
    return _TASK_BOOK["book"]


def load_rulebook(search_dirs, job_date: str) -> RuleBook:
    """Packs valid on ``job_date`` and the envelope catalogue from the first directories that hold them."""
    book = RuleBook()
    seen_ids: set = set()
    for directory in [Path(d) for d in search_dirs]:
        if not directory.is_dir():
            raise ConfigError(f"mail: rules directory {directory} does not exist")
        found: dict = {}
        for path in sorted(directory.glob("*.toml")):
            if path.name == "envelopes.toml":
                continue
            pack = load_pack(path)
            found.setdefault(pack.id, []).append(pack)
        for pack_id, versions in found.items():
            if pack_id in seen_ids:
                continue
            seen_ids.add(pack_id)
            valid = [p for p in versions if p.valid_from <= job_date <= p.valid_to]
            if valid:
                book.packs[pack_id] = max(valid, key=lambda p: (p.valid_from, p.version))
        if not book.envelopes and (directory / "envelopes.toml").is_file():
            book.envelopes, book.catalogue_version = load_envelopes(directory / "envelopes.toml")
            book.printable_margin_mm = load_printable_margin(directory / "envelopes.toml")
    if not book.envelopes:
        raise ConfigError("mail: no envelopes.toml in the rules directories")
    return book
