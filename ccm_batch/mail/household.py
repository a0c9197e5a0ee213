"""Mail stage, householding and packaging: documents → mail pieces (envelope, sheets, weight, shape).

Two streaming passes over SQLite, so memory holds one household at a time:

1. ``documents`` in input order → ``mail_doc``: each document's zone (domestic / international /
   invalid), rule pack, normalised postcode, in-tray sort key, paper weight and householding key.
2. ``mail_doc`` ordered by householding key → households → ``mail_piece`` and ``mail_piece_doc``, and
   for each domestic piece what the presort reads of it (``mail_psk``: key per level, rate step,
   near-step flags, automation), so that preparing a mailing is a SQL copy, not a pass in Python on
   the presort's critical path.

Householding key (postal.md §2): ``customer`` = customer id + normalised delivery address (a customer
with two addresses gets two pieces); ``name_address`` = normalised full name + address; opt-in
``surname_address`` = surname + address; ``none``. Documents are merged only when compatible: same zone,
rule pack (carrier + product), sender, confidentiality class, language, duplex and country; a
``mail_separately`` document and an invalid address are never merged.

Address carrier: the document whose type comes first in ``address_carrier_types`` (then the lowest
input sequence) leads the piece; the others follow in input order.

Physics (postal.md §3): sheet weight = page area × ``paper_gsm``; piece weight = sheets + inserts +
envelope; content thickness = sheets × ``caliper_mm`` × fold panels + inserts; a piece fits an envelope
when sheets ≤ ``max_sheets``, content ≤ ``max_content_mm`` and the pack classifies it (letter limits
for the standard envelope, letter or flat limits for the large one).

Over capacity (``split``): ``split`` packs documents in order into "1/n … n/n" standard envelopes (each
part led by its own first document, which carries its own address), a document too big on its own going
to the large envelope; ``large`` puts the set in the large envelope (split into large parts if needed);
``cheapest`` compares both by estimated postage + handling (pack ``estimate_price``) and keeps the
cheaper (ties: one piece, then split, then large). A document that fits no envelope becomes an
``oversize`` piece (its own exception stream, not mailed).
"""
from __future__ import annotations

import json
from typing import NamedTuple

from .address import address_lines, check_address, delivery_lines, norm, norm_name, postcode_digits, surname
from .rules import Envelope, RuleBook, RulePack

BATCH = 2000
_M_PER_UNIT = 0.0254 / 1440


class DocInfo(NamedTuple):
    """What packaging needs of one document."""
    seq: int
    sheets: int
    paper_g: float
    inserts: tuple
    rank: int


class Part(NamedTuple):
    """One planned envelope of a household: envelope (None = oversize), documents, physics, shape."""
    envelope: Envelope | None
    docs: tuple
    sheets: int
    weight_g: float
    thickness_mm: float
    inserts: tuple
    shape: str


def sheet_weight_g(width: int, height: int, gsm: float) -> float:
    """Weight of one sheet of ``width`` × ``height`` page units at ``gsm`` g/m²."""
    return (width * _M_PER_UNIT) * (height * _M_PER_UNIT) * gsm


def merge_inserts(docs) -> tuple:
    """The union of the documents' inserts, deduplicated, in first-seen order."""
    out = []
    for d in docs:
        for name in d.inserts:
            if name not in out:
                out.append(name)
    return tuple(out)


class Packager:
    """Chooses envelopes for households of one rule pack (see the module docstring)."""

    def __init__(self, pack: RulePack, standard: Envelope, large: Envelope, config, international: bool):
        self.pack, self.std, self.large, self.cfg, self.intl = pack, standard, large, config, international

    def measure(self, docs, env: Envelope) -> Part:
        inserts = merge_inserts(docs)
        specs = [self.cfg.inserts.get(i) for i in inserts]
        sheets = sum(d.sheets for d in docs)
        weight = sum(d.paper_g for d in docs) + sum(s.weight_g for s in specs if s) + env.weight_g
        content = sheets * self.cfg.caliper_mm * env.fold_panels + sum(s.thickness_mm for s in specs if s)
        thickness = content + env.thickness_mm
        shape = ""
        if sheets <= env.max_sheets and content <= env.max_content_mm + 1e-9:
            shape = self.pack.classify(env, thickness, weight) or ""
            if env is self.std and shape != "letter":
                shape = ""
            if shape and self.intl and self.pack.international and \
                    self.pack.international.step_index(weight) is None:
                shape = ""
        return Part(env, tuple(docs), sheets, round(weight, 3), round(thickness, 3), inserts, shape)

    def cost(self, parts) -> float:
        return sum(self.pack.estimate_price(p.shape, p.weight_g, self.intl) if p.envelope else 1e9
                   for p in parts)

    def _pack_into(self, docs, env: Envelope, fallback: Envelope | None) -> list[Part]:
        """Sequential first-fit of documents (in order) into parts of ``env``."""
        parts, current = [], []
        for d in docs:
            if not self.measure([d], env).shape:
                if current:
                    parts.append(self.measure(current, env))
                    current = []
                alone = self.measure([d], fallback) if fallback else None
                parts.append(alone if alone and alone.shape else Part(None, (d,), d.sheets, 0.0, 0.0,
                                                                       merge_inserts([d]), ""))
                continue
            if current and not self.measure(current + [d], env).shape:
                parts.append(self.measure(current, env))
                current = []
            current.append(d)
        if current:
            parts.append(self.measure(current, env))
        return parts

    def package(self, docs: list[DocInfo]) -> list[Part]:
        """The envelopes for one household, address carrier first."""
        docs = sorted(docs, key=lambda d: (d.seq,))
        lead = min(docs, key=lambda d: (d.rank, d.seq))
        docs = [lead] + [d for d in docs if d is not lead]
        whole = self.measure(docs, self.std)
        if whole.shape:
            return [whole]
        split = self._pack_into(docs, self.std, self.large)
        if self.cfg.split == "split":
            return split
        in_large = self.measure(docs, self.large)
        large = [in_large] if in_large.shape else self._pack_into(docs, self.large, None)
        if self.cfg.split == "large":
            return large
        return split if self.cost(split) <= self.cost(large) else large

    def alone_price(self, d: DocInfo) -> float:
        """Single-piece postage of the document mailed on its own (the householding baseline)."""
        for env in (self.std, self.large):
            part = self.measure([d], env)
            if part.shape:
                return single_price(self.pack, part.shape, part.weight_g, self.intl)
        return 0.0


def single_price(pack: RulePack, shape: str, weight_g: float, international: bool) -> float:
    """The single-piece price of a piece (0 when the pack has no price for that weight)."""
    table = pack.international if international else pack.shapes[shape].single_piece
    if table is None:
        return 0.0
    p = table.price("SINGLE", weight_g)
    return p if p is not None else 0.0


def stream_name(zone: str, pack: RulePack | None, part: Part, std: Envelope | None) -> str:
    """Output stream of a piece: carrier-product-envelope[-shape], ``intl-ENV``, ``oversize``, ``invalid``."""
    if zone == "invalid":
        return "invalid"
    if part.envelope is None:
        return "oversize"
    env = part.envelope.name.lower()
    if zone == "international":
        return f"intl-{env}"
    nominal = "letter" if part.envelope is std else "flat"
    suffix = "" if part.shape == nominal else f"-{part.shape}"
    return f"{pack.carrier}-{pack.product}-{part.envelope.name}".lower() + suffix


# --------------------------------------------------------------------------------------------- passes

DOC_DDL = """CREATE TABLE mail_doc (
  seq INTEGER PRIMARY KEY, hh_key TEXT, zone TEXT, reason TEXT, pack_id TEXT, country TEXT, pc TEXT,
  sort_key TEXT, doc_type TEXT, rank INTEGER, sheets INTEGER, duplex INTEGER, paper_g REAL, inserts TEXT)"""


class _Resolver:
    def __init__(self, book: RuleBook, config):
        self.book, self.cfg = book, config
        self.intl_pack = book.pack_for(config.international_carrier)

    def resolve(self, country: str, carrier: str, product: str) -> tuple[str, RulePack | None, str]:
        """(zone, pack, reason) of a document."""
        carrier = (carrier or self.cfg.carriers.get(country, "")).upper()
        pack = self.book.pack_for(carrier, product) if carrier else None
        if pack is not None and country in pack.countries:
            return "domestic", pack, ""
        if carrier and pack is None and product:
            return "invalid", None, f"no rule pack for carrier {carrier} product {product.upper()} on the job date"
        intl = pack if pack is not None and pack.international else self.intl_pack
        if intl is None or intl.international is None:
            return "invalid", None, f"no international price table for country {country}"
        return "international", intl, ""


def load_documents(db, book: RuleBook, config, out=None, seqs: tuple | None = None) -> int:
    """Pass 1: ``documents`` → ``mail_doc``. Returns the number of documents.

    A partition (plan workers, :mod:`.partition`): the documents ``seqs[0] <= seq < seqs[1]`` (either
    bound None: open), written to the ``mail_doc`` table of the connection ``out``."""
    target = db if out is None else out
    target.execute("DROP TABLE IF EXISTS mail_doc")
    target.execute(DOC_DDL)
    resolver = _Resolver(book, config)
    ranks = {t: i for i, t in enumerate(config.address_carrier_types)}
    rows, count = [], 0
    where, args = _range("seq", seqs)
    cur = db.execute("SELECT seq, customer_id, doc_type, recipient_name, address, postcode, country, language, "
                     "carrier, product, sender, confidentiality, mail_separately, inserts, sheets, duplex, "
                     f"page_width, page_height FROM documents {where}ORDER BY seq", args)
    for (seq, customer, doc_type, name, address, postcode, country, language, carrier, product, sender,
         confidentiality, separately, inserts, sheets, duplex, width, height) in cur:
        count += 1
        country = (country or "FR").strip().upper()
        zone, pack, reason = resolver.resolve(country, carrier or "", product or "")
        lines = address_lines(address)
        scheme = pack.postcode if pack else "fr"
        if zone != "invalid" and config.validate_addresses:
            reason = check_address(lines, postcode or "", scheme, zone == "international")
            if reason:
                zone = "invalid"
        pc = postcode_digits(postcode or "", scheme) or (postcode or "").strip().upper()
        street = norm(" ".join(delivery_lines(lines, name or "")))
        sort_key = f"{pc}|{street}"
        if zone == "international":
            sort_key = f"{country}|{sort_key}"
        compat = "|".join(str(x) for x in (zone, pack.id if pack else "", sender or "", confidentiality or "",
                                           language or "", int(duplex or 0), country))
        akey = f"{street}|{pc}"                              # = address_key(lines, name, pc)
        mode = config.householding
        if mode == "customer" and not (customer or "").strip():
            mode = "name_address"
        if zone == "invalid" or separately or mode == "none":
            hh = f"~{seq:012d}"
        elif mode == "customer":
            hh = f"C|{customer.strip()}|{akey}|{compat}"
        elif mode == "name_address":
            hh = f"N|{norm_name(name or (lines[0] if lines else ''))}|{akey}|{compat}"
        else:
            hh = f"S|{surname(name or (lines[0] if lines else ''))}|{akey}|{compat}"
        if not inserts or inserts == "[]":              # most documents: no insert, nothing to parse
            ins = ()
        else:
            try:
                ins = tuple(json.loads(inserts))
            except ValueError:
                ins = tuple(x.strip() for x in inserts.split(",") if x.strip())
        rows.append((seq, hh, zone, reason, pack.id if pack else "", country, pc, sort_key, doc_type or "",
                     ranks.get(doc_type or "", len(ranks)), int(sheets or 0), int(duplex or 0),
                     (sheets or 0) * sheet_weight_g(width or 0, height or 0, config.paper_gsm),
                     _json_list(ins)))
        if len(rows) >= BATCH:
            target.executemany("INSERT INTO mail_doc VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            rows = []
    if rows:
        target.executemany("INSERT INTO mail_doc VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    if out is None:
        from .partition import create_index
        create_index(db, "CREATE INDEX mail_doc_hh ON mail_doc(hh_key, seq)")
    return count


def _json_list(names: tuple) -> str:
    """The JSON list of insert names as the plan stores them (``[]`` without a call for none)."""
    return json.dumps(list(names), ensure_ascii=False) if names else "[]"


def _range(column: str, bounds: tuple | None) -> tuple[str, list]:
    """``WHERE`` clause (with a trailing space, or '') and arguments for ``lo <= column < hi``."""
    if not bounds:
        return "", []
    lo, hi = bounds
    terms = [(f"{column} >= ?", lo), (f"{column} < ?", hi)]
    kept = [(t, v) for t, v in terms if v is not None]
    return ("WHERE " + " AND ".join(t for t, _ in kept) + " " if kept else ""), [v for _, v in kept]


def facts_columns(book: RuleBook) -> list[str]:
    """The columns of :meth:`.rules.ShapeRules.presort_facts` in ``mail_psk`` (after ``piece_no``): the
    flags, then one key per level of the book's deepest shape."""
    return ["step_idx", "near_rate", "near_single", "auto"] + [f"k{i}" for i in range(book.key_columns)]


def facts_ddl(book: RuleBook) -> str:
    """The presort's per-piece facts (:meth:`.rules.ShapeRules.presort_facts`) of the domestic pieces,
    worked out in pass 2 (in the workers with a pool) so that preparing a mailing is one SQL copy."""
    return f"CREATE TABLE mail_psk (piece_no INTEGER PRIMARY KEY, {', '.join(facts_columns(book))})"


PIECE_COLUMNS = ("piece_no", "stream", "zone", "pack_id", "carrier", "product", "shape", "envelope", "household",
                 "part", "parts", "documents", "sheets", "duplex", "weight_g", "thickness_mm", "inserts",
                 "feeders", "country", "pc", "sort_key", "reason", "single_price", "alone_price", "currency")


def build_pieces(db, book: RuleBook, config, warnings: list) -> dict:
    """Pass 2: households → ``mail_piece`` / ``mail_piece_doc``. Returns counters."""
    stats, unknown_inserts = household_pieces(db, book, config)
    warnings.extend(insert_warnings(unknown_inserts))
    return stats


def insert_warnings(names) -> list[str]:
    """The plan's warnings for insert names missing from ``[mail.inserts]`` (sorted)."""
    return [f"insert {name!r} is not in [mail.inserts]: no feeder selected, weight not counted"
            for name in sorted(names)]


def household_pieces(db, book: RuleBook, config, out=None, keys: tuple | None = None) -> tuple[dict, set]:
    """The households of ``mail_doc`` (those with ``keys[0] <= hh_key < keys[1]`` for a partition) as
    pieces in the ``mail_piece`` and ``mail_piece_doc`` tables of ``out`` (default: ``db``), pieces and
    households numbered from 1 in householding-key order. Returns the counters (with ``pieces`` and
    ``groups``, the numbers used) and the insert names missing from ``[mail.inserts]``."""
    target = db if out is None else out
    target.execute("DROP TABLE IF EXISTS mail_psk")
    target.execute(facts_ddl(book))
    width = len(facts_columns(book))                   # a domestic piece's facts, padded to the table's keys
    packagers: dict = {}
    unknown_inserts: set = set()
    stats = {"households": 0, "householded_documents": 0, "split_pieces": 0, "oversize": 0}
    pieces, links, facts = [], [], []
    piece_no = 0
    household = 0

    def packager(pack_id: str, zone: str) -> Packager:
        key = (pack_id, zone)
        if key not in packagers:
            pack = book.packs[pack_id]
            env = {**pack.envelopes, **config.envelopes.get(pack.carrier, {})}
            where = f"rule pack {pack.id} [envelopes]"
            packagers[key] = Packager(pack, book.envelope(env.get("standard", ""), where),
                                      book.envelope(env.get("large", ""), where), config, zone == "international")
        return packagers[key]

    def flush(group):
        nonlocal piece_no, household
        household += 1
        first = group[0]
        zone, pack_id, country = first[2], first[4], first[5]
        docs = [DocInfo(r[0], r[10], r[12], () if r[13] == "[]" else tuple(json.loads(r[13])), r[9]) for r in group]
        by_seq = {r[0]: r for r in group}
        for d in docs:
            unknown_inserts.update(i for i in d.inserts if i not in config.inserts)
        if zone == "invalid":
            pk, pack = None, None
            parts = [Part(None, (d,), d.sheets, 0.0, 0.0, d.inserts, "") for d in docs]
        else:
            pk = packager(pack_id, zone)
            pack = pk.pack
            parts = pk.package(docs)
        if len(docs) > 1:
            stats["households"] += 1
            stats["householded_documents"] += len(docs)
        if len(parts) > 1 and zone != "invalid":
            stats["split_pieces"] += len(parts)
        for i, part in enumerate(parts, 1):
            piece_no += 1
            lead = by_seq[part.docs[0].seq]
            piece_zone = zone if zone == "invalid" or part.envelope else "oversize"
            stream = stream_name(piece_zone, pack, part, pk.std if pk else None)
            if piece_zone == "oversize":
                stats["oversize"] += 1
            intl = zone == "international"
            mailed = piece_zone in ("domestic", "international")
            feeders = sorted({config.inserts[n].feeder for n in part.inserts if n in config.inserts})
            pieces.append((
                piece_no, stream, piece_zone, pack.id if pack else "", pack.carrier if pack else "",
                pack.product if pack else "", part.shape, part.envelope.name if part.envelope else "",
                household, i, len(parts), len(part.docs), part.sheets, lead[11], part.weight_g,
                part.thickness_mm, _json_list(part.inserts),
                ",".join(str(f) for f in feeders), country, lead[6], lead[7],
                lead[3] if zone == "invalid" else ("fits no envelope" if piece_zone == "oversize" else ""),
                single_price(pack, part.shape, part.weight_g, intl) if mailed else 0.0,
                sum(pk.alone_price(d) for d in part.docs) if mailed else 0.0,
                pack.currency if pack else ""))
            links.extend((piece_no, pos, d.seq) for pos, d in enumerate(part.docs, 1))
            if piece_zone == "domestic":
                row = pack.shapes[part.shape].presort_facts(lead[6], part.weight_g, pack.near_step_margin_g)
                facts.append((piece_no, *row, *(None,) * (width - len(row))))

    def write():
        target.executemany(f"INSERT INTO mail_piece ({','.join(PIECE_COLUMNS)}) VALUES "
                           f"({','.join('?' * len(PIECE_COLUMNS))})", pieces)
        target.executemany("INSERT INTO mail_piece_doc VALUES (?,?,?)", links)
        target.executemany(f"INSERT INTO mail_psk VALUES ({','.join('?' * (width + 1))})", facts)
        pieces.clear()
        links.clear()
        facts.clear()

    group, key = [], None
    where, args = _range("hh_key", keys)
    for row in db.execute("SELECT seq, hh_key, zone, reason, pack_id, country, pc, sort_key, doc_type, rank, "
                          f"sheets, duplex, paper_g, inserts FROM mail_doc {where}ORDER BY hh_key, seq", args):
        if row[1] != key and group:
            flush(group)
            group = []
            if len(pieces) >= BATCH:
                write()
        key = row[1]
        group.append(row)
    if group:
        flush(group)
    write()
    stats.update(pieces=piece_no, groups=household)
    return stats, unknown_inserts
