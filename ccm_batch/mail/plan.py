"""Mail stage, plan: documents rows → mail pieces in print order, per stream and print file.

:func:`plan_mail` reads the ``documents`` table of the run's work database and writes (dropping any
previous plan, so a restarted run re-plans identically)::

    mail_run(key, value)                          job, job_date, rule pack versions, options
    mail_doc(...)                                 working copy of documents (zone, keys)
    mail_psk(piece_no, step_idx, ..., k0, k1, ...)  working facts of domestic pieces for the presort
    mail_piece(piece_no, piece_id, stream, ..., seq, file_seq, price, ...)   one row per envelope
    mail_piece_doc(piece_no, pos, doc_seq)        documents of each piece, address carrier first
    mail_stream(name, rank, kind, ...)            one row per output stream (= mailing)
    mail_tray(stream, tray_no, level, dest, ...)  containers in preparation order
    mail_file(stream, seq, name, ...)             print files

Streams: one per (carrier, product, envelope, shape) for domestic mail (``laposte-li-dl``,
``usps-fcm-us9x12``), ``intl-ENV`` for foreign addresses, ``oversize`` (fits no envelope) and
``invalid`` (address check failed or no rule pack): exception streams, printed but not mailed.
With ``[mail]`` absent or disabled: one stream ``main``, one piece per document in input order.

Piece ids are 8-digit numbers in print order over the whole job (streams by kind then name, then
sequence number), from ``[mail] piece_id_start`` (1; a reprint starts after every piece id of its run
and earlier reprints, so ids and IMb serials are never reused). Print files break at ``max_pieces_per_file`` / ``max_sheets_per_file``, at a tray
boundary when the tray fits in a file. :func:`iter_print_files` streams the plan back for rendering.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import groupby, islice
from operator import itemgetter
from typing import Iterator, NamedTuple

from ..errors import ConfigError
from ..log import counted
from .control import imb_fields
from .files import FILE_COLUMNS, KIND_RANK, MAX_PIECE_ID, FileCutter, id_offsets, set_file_columns
from .household import build_pieces, load_documents
from .partition import (PLAN_CACHE_KIB, build_pieces_parallel, create_index, load_documents_parallel, page_cache,
                        presort_parallel, small_sorts)
from .presort import Mailing, assign_sequence
from .rules import load_rulebook

BATCH = 2000
# The plan's passes after the presort read and update ``mail_piece`` in print order, not in row order
# (sequence numbers, piece ids, files, bundles, the per-stream sums): once the table outgrows SQLite's
# default 2 MB page cache (≈ 20,000 pieces) each of them costs more per piece as the mailing grows. A
# 32 MB cache for the plan's duration kept the run's share of the plan flat per document from 10,000 to
# 100,000 bench invoices (bench/RESULTS.md); the cache is a bound, not a size: memory stays flat in N.
# The workers' tasks read with a smaller one (:data:`.partition.TASK_CACHE_KIB`).

DDL = [
    "CREATE TABLE mail_run (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE mail_piece (
      piece_no INTEGER PRIMARY KEY, piece_id TEXT, stream TEXT, zone TEXT, pack_id TEXT, carrier TEXT,
      product TEXT, shape TEXT, envelope TEXT, household INTEGER, part INTEGER DEFAULT 1,
      parts INTEGER DEFAULT 1, documents INTEGER, sheets INTEGER, duplex INTEGER, weight_g REAL,
      thickness_mm REAL, inserts TEXT, feeders TEXT, country TEXT, pc TEXT, sort_key TEXT, reason TEXT,
      level TEXT, rate_level TEXT, rolled INTEGER DEFAULT 0, dest TEXT, tray_no INTEGER, bundle_no INTEGER,
      seq INTEGER, file_seq INTEGER, sheet_offset INTEGER, index_in_file INTEGER, file_break INTEGER,
      tray_break INTEGER, bundle_break INTEGER, near_step INTEGER DEFAULT 0, price REAL,
      single_price REAL, alone_price REAL, currency TEXT, imb_tracking TEXT, imb_routing TEXT,
      print_file TEXT, first_page INTEGER)""",
    "CREATE TABLE mail_piece_doc (piece_no INTEGER, pos INTEGER, doc_seq INTEGER, PRIMARY KEY (piece_no, pos))",
    """CREATE TABLE mail_stream (
      name TEXT PRIMARY KEY, rank INTEGER, kind TEXT, zone TEXT, pack_id TEXT, pack_version TEXT,
      carrier TEXT, product TEXT, shape TEXT, envelope TEXT, currency TEXT, policy TEXT, costs TEXT,
      note TEXT, pieces INTEGER, documents INTEGER, sheets INTEGER, postage REAL, single_postage REAL,
      alone_postage REAL, trays INTEGER, files INTEGER)""",
    """CREATE TABLE mail_tray (
      stream TEXT, tray_no INTEGER, level TEXT, dest TEXT, size TEXT, overflow INTEGER, pieces INTEGER,
      length_mm REAL, label TEXT, first_seq INTEGER, last_seq INTEGER, PRIMARY KEY (stream, tray_no))""",
    """CREATE TABLE mail_file (
      stream TEXT, seq INTEGER, name TEXT, rank INTEGER, pieces INTEGER, documents INTEGER, sheets INTEGER,
      PRIMARY KEY (stream, seq))""",
]
TABLES = ("mail_run", "mail_doc", "mail_psk", "mail_piece", "mail_piece_doc", "mail_stream", "mail_tray", "mail_file")


class PlannedPiece(NamedTuple):
    """One envelope as the renderer and :func:`~ccm_batch.mail.control.mark_pages` see it.

    ``doc_seqs`` are ``documents.seq`` values, address carrier first. ``sheet_offset`` counts the
    sheets of the same print file before this piece; ``file_break``/``tray_break``/``bundle_break``
    flag the first piece of a file, tray or bundle. ``tray``/``bundle`` are None outside presort.
    """
    piece_id: str
    seq: int
    doc_seqs: tuple
    sheets: int
    duplex: bool
    weight_g: float
    envelope: str
    level: str
    tray: int | None
    bundle: int | None = None
    stream: str = ""
    file_seq: int = 1
    shape: str = ""
    part: int = 1
    parts: int = 1
    feeders: tuple = ()
    inserts: tuple = ()
    sheet_offset: int = 0
    index_in_file: int = 1
    file_break: bool = False
    tray_break: bool = False
    bundle_break: bool = False
    rate_level: str = ""
    price: float = 0.0
    currency: str = ""
    country: str = ""
    postcode: str = ""
    tray_label: str = ""
    imb_tracking: str = ""
    imb_routing: str = ""
    job: str = ""
    zone: str = ""


class PrintFilePlan(NamedTuple):
    """One print file: its stream, sequence number in the stream, file-name variables and pieces.

    ``pieces`` is a lazy iterator (read it once, in order). ``name_vars`` holds ``job``, ``stream``,
    ``seq``, ``date``, ``carrier``, ``product``, ``envelope``, ``kind``; ``name`` is the file stem
    from the ``[mail] name_template``.
    """
    stream: str
    seq: int
    name_vars: dict
    pieces: Iterator
    name: str = ""
    piece_count: int = 0
    sheets: int = 0


@dataclass
class StreamSummary:
    """Counts and postage of one output stream."""
    name: str
    kind: str
    pieces: int
    documents: int
    sheets: int
    postage: float
    single_postage: float
    currency: str
    policy: str = ""
    files: int = 0
    trays: int = 0
    note: str = ""
    policy_saving: float = 0.0      # what choosing the overflow option per level / group saved


@dataclass
class PlanSummary:
    """What the run report prints about mail production (money per currency)."""
    enabled: bool
    documents_in: int = 0
    pieces_out: int = 0
    households: int = 0
    householded_documents: int = 0
    split_pieces: int = 0
    invalid: int = 0
    international: int = 0
    oversize: int = 0
    near_step: int = 0
    postage: dict = field(default_factory=dict)
    single_postage: dict = field(default_factory=dict)       # each piece at the single-piece price
    baseline_postage: dict = field(default_factory=dict)     # each document mailed alone, single-piece
    streams: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    rule_packs: list = field(default_factory=list)
    alerts: dict = field(default_factory=dict)     # operator warnings for the run report: label -> count

    @property
    def savings(self) -> dict:
        """Baseline (every document alone at single-piece price) minus the planned postage."""
        return {c: round(self.baseline_postage.get(c, 0) - v, 2) for c, v in self.postage.items()}

    @property
    def presort_savings(self) -> dict:
        """Single-piece minus presort prices of the planned pieces."""
        return {c: round(self.single_postage.get(c, 0) - v, 2) for c, v in self.postage.items()}

    def as_dict(self) -> dict:
        """Flat, readable entries for the run report."""
        def money(d):
            return "; ".join(f"{c} {v:,.2f}" for c, v in sorted(d.items())) or "-"
        if not self.enabled:
            return {"mail production": "disabled (one piece per document, input order)",
                    "documents in": self.documents_in, "pieces out": self.pieces_out}
        out = {"documents in": self.documents_in, "pieces out": self.pieces_out,
               "householded documents": f"{self.householded_documents:,} in {self.households:,} households",
               "pieces saved": self.documents_in - self.pieces_out,
               "split pieces": self.split_pieces, "invalid addresses": self.invalid,
               "international": self.international, "oversize": self.oversize,
               "near a weight step": self.near_step,
               "postage": money(self.postage), "single-piece postage": money(self.single_postage),
               "baseline (docs alone)": money(self.baseline_postage),
               "presort savings": money(self.presort_savings), "total savings": money(self.savings),
               "rule packs": ", ".join(self.rule_packs)}
        saving = {}
        for s in self.streams:
            if s.policy_saving:
                saving[s.currency] = round(saving.get(s.currency, 0.0) + s.policy_saving, 2)
        if saving:
            out["overflow choice savings"] = money(saving) + " (per level / group, against the best single policy)"
        for s in self.streams:
            policy = f", policy {s.policy}" if s.policy else ""
            if s.policy_saving:
                policy += f" (saves {s.currency} {s.policy_saving:,.2f})"
            out[f"stream {s.name}"] = (f"{counted(s.pieces, 'piece')}, {counted(s.documents, 'doc')}, "
                                       f"{counted(s.sheets, 'sheet')}, {s.kind}{policy}, "
                                       f"{counted(s.trays, 'tray')}, {counted(s.files, 'file')}, "
                                       f"{s.currency} {s.postage:,.2f}" + (f" ({s.note})" if s.note else ""))
        for i, w in enumerate(self.warnings, 1):
            out[f"warning {i}"] = w
        return out


# ----------------------------------------------------------------------------------------------- plan

def _create_tables(db) -> None:
    for name in TABLES:
        db.execute(f"DROP TABLE IF EXISTS {name}")
    for ddl in DDL:
        db.execute(ddl)


def plan_mail(db, config, job: str, job_date: str, pool=None) -> PlanSummary:
    """Plan the mail pieces of every row of ``documents`` (see the module docstring).

    ``pool`` (optional: ``width`` and ``map(fn, [args, ...]) -> [result, ...]`` in order, e.g. the run's
    worker processes or Dask tasks) runs the householding passes per partition (:mod:`.partition`); the
    plan is the same."""
    with plan_cache(db):
        return _plan_mail(db, config, job, job_date, pool)


def plan_cache(db, kib: int = PLAN_CACHE_KIB):
    """A page cache of ``kib`` KiB for the main and temporary databases while the plan runs, then the
    connection's own sizes again (see :data:`PLAN_CACHE_KIB`)."""
    return page_cache(db, kib)


def _plan_mail(db, config, job: str, job_date: str, pool=None) -> PlanSummary:
    _create_tables(db)
    meta = {"job": job, "job_date": job_date, "enabled": int(config.enabled), "control": config.control,
            "name_template": config.name_template}
    summary = PlanSummary(enabled=config.enabled)
    cut = None                                         # streams cut into files by the presort
    spec = None                                        # what the pool's tasks need to open the plan
    if not config.enabled:
        db.execute("INSERT INTO mail_piece (piece_no, stream, zone, documents, sheets, duplex, weight_g, envelope, "
                   "level, seq, pc, country, price, single_price, alone_price, currency) "
                   "SELECT seq, 'main', 'main', 1, sheets, duplex, 0, '', '', ROW_NUMBER() OVER (ORDER BY seq), "
                   "postcode, country, 0, 0, 0, '' FROM documents")
        db.execute("INSERT INTO mail_piece_doc SELECT seq, 1, seq FROM documents")
        db.execute("INSERT INTO mail_stream (name, rank, kind, zone, currency, policy, note) "
                   "VALUES ('main', 0, 'main', 'main', '', '', 'mail production disabled')")
    else:
        book = load_rulebook(config.rule_dirs, job_date)
        if not book.packs:
            raise ConfigError(f"mail: no rule pack valid on {job_date} in {', '.join(map(str, config.rule_dirs))}")
        meta["rule_packs"] = json.dumps({p.id: p.version for p in book.packs.values()})
        meta["envelopes"] = book.catalogue_version
        summary.rule_packs = [f"{p.id} {p.version}" for p in sorted(book.packs.values(), key=lambda p: p.id)]
        problem = omr_margin_problem(db, config, book.printable_margin_mm)
        if problem:
            summary.warnings.append(problem)
            summary.alerts[OMR_MARGIN_ALERT] = 1
        if pool is None:
            load_documents(db, book, config)
            stats = build_pieces(db, book, config, summary.warnings)
        else:                                          # the same passes, per partition in the workers
            spec = {"db": _db_path(db), "rule_dirs": [str(d) for d in config.rule_dirs], "job_date": job_date,
                    "config": config}
            load_documents_parallel(db, config, pool, spec)
            stats = build_pieces_parallel(db, book, config, pool, spec, summary.warnings)
        summary.households = stats["households"]
        summary.householded_documents = stats["householded_documents"]
        summary.split_pieces = stats["split_pieces"]
        cut = _plan_streams(db, book, config, pool, spec)
        if hasattr(pool, "rest"):                      # nothing more for the workers in this plan
            pool.rest()
    create_index(db, "CREATE INDEX mail_piece_stream ON mail_piece(stream, seq)")
    _assign_files(db, config, job, job_date, cut)
    create_index(db, "CREATE INDEX mail_piece_id ON mail_piece(piece_id)")
    if config.enabled and config.imb.enabled:
        _assign_imb(db, config, job_date)
    db.executemany("INSERT INTO mail_run VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
    create_index(db, "CREATE INDEX mail_piece_file ON mail_piece(stream, file_seq, seq)")
    _fill_summary(db, summary)
    db.commit()
    return summary


OMR_MARGIN_ALERT = "OMR: marks outside the printable margin of the rule pack (printer may not print them)"


def omr_margin_problem(db, config, margin_mm: float) -> str:
    """Why the OMR ladder lies outside the printable margin of the smallest page, or ``""``."""
    if not (config.enabled and config.control == "omr" and margin_mm):
        return ""
    width, height = db.execute("SELECT MIN(page_width), MIN(page_height) FROM documents").fetchone()
    if not width or not height:
        return ""
    omr, margin = config.omr, margin_mm * 1440 / 25.4
    top, bottom = omr.y, omr.y + (len(omr.positions) - 1) * omr.pitch + omr.thickness
    sides = [(omr.x < margin - 0.5, f"x_mm = {omr.x * 25.4 / 1440:.1f}"),
             (omr.x + omr.length > width - margin + 0.5, "the marks' right end"),
             (top < margin - 0.5, f"y_mm = {top * 25.4 / 1440:.1f}"),
             (bottom > height - margin + 0.5, "the ladder's bottom")]
    out = [what for bad, what in sides if bad]
    if not out:
        return ""
    return (f"[mail.omr] {', '.join(out)}: the marks lie outside the printable margin of {margin_mm:g} mm "
            f"(rule pack envelopes.toml [printer]); many cut-sheet printers cannot print there and the "
            f"inserter would miss the marks: keep the ladder at least {margin_mm:g} mm from every sheet edge")


def _db_path(db) -> str:
    """The file of the connection's main database (the workers open it themselves)."""
    return next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main")


def _plan_streams(db, book, config, pool=None, spec: dict | None = None) -> dict:
    """Presort each domestic stream, sequence the others. Every stream's kind, hence its rank and first
    piece id, is decided first (:func:`.files.id_offsets`), so a presorted mailing is cut into print files
    as the presort hands its pieces over; returns {stream: (first piece id, its print files)} with the
    files of those cut here (``None`` for the others, cut by :func:`_assign_files`). With a pool, each
    qualified mailing is presorted by a worker (:func:`.partition.presort_parallel`, mailings side by side),
    then the run's process sequences the other streams; without, all in the run's process."""
    with small_sorts(db):                              # no index on mail_piece yet: a whole-table sort
        streams = db.execute("SELECT stream, zone, pack_id, carrier, product, shape, envelope, currency, COUNT(*) "
                             "FROM mail_piece GROUP BY stream ORDER BY stream").fetchall()
    plans = []                                         # (stream row, pack, Mailing or None, qualified, kind)
    for row in streams:
        name, zone, pack_id, shape, count = row[0], row[1], row[2], row[5], row[8]
        pack = book.packs.get(pack_id)
        mailing = qualified = None
        if zone == "domestic":
            mailing = Mailing(db, name, pack, pack.shapes[shape])
            qualified = mailing.qualifies(count)
        kind = zone if mailing is None else "presort" if qualified[0] else "single"
        plans.append((row, pack, mailing, qualified, kind))
    first_ids = id_offsets([(row[0], kind, row[8]) for row, _, _, _, kind in plans], _id_start(config))
    _check_ids(config, _id_start(config) + sum(row[8] for row, *_ in plans) - 1)
    cut = {}
    done = {}                                          # stream -> (result, its print files, next id)
    mailings = [(row[0], row[2], row[5], qualified, first_ids[row[0]])
                for row, _, _, qualified, kind in plans if kind == "presort"]
    if pool is not None and mailings:
        done = presort_parallel(db, pool, spec, mailings)
    for (name, zone, pack_id, carrier, product, shape, envelope, currency, count), pack, mailing, qualified, kind \
            in plans:
        result = {"kind": zone, "policy": "", "note": "", "costs": {}}
        files = next_id = None
        if name in done:
            result, files, next_id = done[name]
        elif zone == "domestic":
            cutter = FileCutter(config.max_pieces_per_file, config.max_sheets_per_file, first_ids[name]) \
                if qualified[0] else None
            result = mailing.run(config.policy, qualified, cutter)
            if cutter is not None:
                files, next_id = cutter.files(), cutter.next_id
        elif zone == "international":
            db.execute("UPDATE mail_piece SET level = 'INTL', rate_level = 'SINGLE', price = single_price "
                       "WHERE stream = ?", (name,))
            assign_sequence(db, name)
        else:
            db.execute("UPDATE mail_piece SET level = '', rate_level = '', price = 0 WHERE stream = ?", (name,))
            assign_sequence(db, name, "sort_key, piece_no" if zone == "oversize" else "piece_no")
            result["note"] = "not mailed: exception stream"
        if result["kind"] != kind or (files is not None and next_id != first_ids[name] + count):
            raise RuntimeError(f"stream {name}: planned as {kind} with {count} pieces, sequenced as {result['kind']}")
        cut[name] = (first_ids[name], files)
        db.execute("INSERT INTO mail_stream (name, rank, kind, zone, pack_id, pack_version, carrier, product, shape, "
                   "envelope, currency, policy, costs, note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (name, KIND_RANK[result["kind"]], result["kind"], zone, pack_id or "", pack.version if pack else "",
                    carrier, product, shape, envelope, currency, result["policy"], json.dumps(result["costs"]),
                    result["note"]))
    return cut


def _id_start(config) -> int:
    return config.piece_id_start if config.enabled else 1


def _check_ids(config, last_id: int) -> None:
    id_start = _id_start(config)
    if id_start > 1 and last_id > MAX_PIECE_ID:
        raise ConfigError(f"[mail] piece_id_start {id_start}: piece ids would pass 99999999 (8 digits)")


def _assign_imb(db, config, job_date: str = "") -> None:
    updates = []
    for piece_no, piece_id, pc in db.execute("SELECT piece_no, piece_id, pc FROM mail_piece WHERE carrier = 'USPS' "
                                             "AND zone = 'domestic' ORDER BY piece_no"):
        try:
            updates.append((*imb_fields(int(piece_id), pc or "", config.imb, job_date), piece_no))
        except ValueError as exc:
            raise ConfigError(f"[mail.imb]: {exc}") from None
    db.executemany("UPDATE mail_piece SET imb_tracking = ?, imb_routing = ? WHERE piece_no = ?", updates)


def _assign_files(db, config, job: str, job_date: str, cut: dict | None = None) -> None:
    """Print files and piece ids of the streams not cut yet (``cut``: {stream: (first piece id, files or
    None)} from :func:`_plan_streams`; without it, every stream from ``piece_id_start``), in one pass in
    print order (pieces by sequence number, :class:`.files.FileCutter`), and every stream's ``mail_file``
    rows. The pieces' columns are collected in a temporary table and written with one UPDATE joined in
    piece order."""
    streams = db.execute("SELECT name, rank, carrier, product, envelope, kind FROM mail_stream "
                         "ORDER BY rank, name").fetchall()
    meta = {name: (rank, carrier, product, envelope, kind) for name, rank, carrier, product, envelope, kind in streams}
    if cut is None:
        with small_sorts(db):
            counts = dict(db.execute("SELECT stream, COUNT(*) FROM mail_piece NOT INDEXED GROUP BY stream"))
        first = id_offsets([(name, m[4], counts.get(name, 0)) for name, m in meta.items()], _id_start(config))
        _check_ids(config, _id_start(config) + sum(counts.values()) - 1)
        cut = {name: (first[name], None) for name in meta}
    todo = [name for name in meta if cut[name][1] is None]
    files = {name: done for name, (_first, done) in cut.items() if done is not None}
    if todo:
        files.update(_cut_streams(db, config, todo, {name: cut[name][0] for name in todo}))
    rows = []
    for name in meta:                                  # rank, name: the files' order
        rank, carrier, product, envelope, kind = meta[name]
        for seq, count, docs, sheets in files.get(name, ()):
            file_name = config.name_template.format(job=job, stream=name, seq=seq, date=job_date,
                                                    carrier=carrier or "", envelope=envelope or "",
                                                    product=product or "", kind=kind)
            rows.append((name, seq, file_name, rank, count, docs, sheets))
    db.executemany("INSERT INTO mail_file VALUES (?,?,?,?,?,?,?)", rows)


def _cut_streams(db, config, streams: list, first_ids: dict) -> dict:
    """:class:`.files.FileCutter` over the pieces of ``streams`` in print order; their files."""
    db.execute("DROP TABLE IF EXISTS temp.mail_fileasg")
    db.execute(f"CREATE TEMP TABLE mail_fileasg (piece_no INTEGER PRIMARY KEY, {', '.join(FILE_COLUMNS)})")
    marks = ",".join("?" * len(streams))
    # both reads scan mail_piece in row order (NOT INDEXED) and let SQLite sort: following the (stream,
    # seq) index would read a table larger than the page cache at random (1,000,000 pieces: 15x the
    # time of 100,000)
    with small_sorts(db):
        trays = {(st, t): (n, sh) for st, t, n, sh in db.execute(
            f"SELECT stream, tray_no, COUNT(*), SUM(sheets) FROM mail_piece NOT INDEXED WHERE tray_no IS NOT NULL "
            f"AND stream IN ({marks}) GROUP BY stream, tray_no", streams)}
        pieces = db.execute(f"SELECT stream, piece_no, sheets, documents, tray_no, bundle_no FROM mail_piece "
                            f"NOT INDEXED WHERE stream IN ({marks}) ORDER BY stream, seq", streams)
    files = {}
    for stream, in_print_order in groupby(pieces, key=itemgetter(0)):
        cutter = FileCutter(config.max_pieces_per_file, config.max_sheets_per_file, first_ids[stream])
        while True:
            batch = list(islice(in_print_order, BATCH))
            if not batch:
                break
            cols = cutter.cut([(sheets, docs, tray, *trays.get((stream, tray), (0, 0)), bundle)
                               for _, _, sheets, docs, tray, bundle in batch])
            db.executemany(f"INSERT INTO mail_fileasg VALUES ({', '.join('?' * (1 + len(FILE_COLUMNS)))})",
                           [(row[1], *c) for row, c in zip(batch, cols)])
        files[stream] = cutter.files()
    db.execute(f"UPDATE mail_piece SET {set_file_columns('a')} "
               "FROM (SELECT * FROM temp.mail_fileasg ORDER BY piece_no) a WHERE mail_piece.piece_no = a.piece_no")
    db.execute("DROP TABLE temp.mail_fileasg")
    return files


def _fill_summary(db, summary: PlanSummary) -> None:
    with small_sorts(db):                              # two whole-table GROUP BYs
        db.execute("UPDATE mail_stream SET pieces = s.n, documents = s.d, sheets = s.sh, postage = s.p, "
                   "single_postage = s.sp, alone_postage = s.ap, trays = s.t, files = s.f FROM (SELECT stream, "
                   "COUNT(*) n, SUM(documents) d, SUM(sheets) sh, ROUND(SUM(price), 2) p, ROUND(SUM(single_price), 2) "
                   "sp, ROUND(SUM(alone_price), 2) ap, COUNT(DISTINCT tray_no) t, COUNT(DISTINCT file_seq) f "
                   "FROM mail_piece NOT INDEXED GROUP BY stream) s WHERE mail_stream.name = s.stream")  # see _assign_files
        zones = db.execute("SELECT zone, COUNT(*), SUM(near_step = 1) FROM mail_piece NOT INDEXED "
                           "GROUP BY zone").fetchall()
    summary.documents_in = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    summary.pieces_out = summary.near_step = 0
    for zone, n, near in zones:
        summary.pieces_out += n
        summary.near_step += near
        if zone in ("invalid", "international", "oversize"):
            setattr(summary, zone, n)
    for row in db.execute("SELECT name, kind, pieces, documents, sheets, postage, single_postage, alone_postage, "
                          "currency, policy, files, trays, note, zone, costs FROM mail_stream ORDER BY rank, name"):
        name, kind, pieces, docs, sheets, post, single, alone, cur, policy, files, trays, note, zone, costs = row
        saving = json.loads(costs).get("saving", 0.0) if costs else 0.0
        summary.streams.append(StreamSummary(name, kind, pieces or 0, docs or 0, sheets or 0, post or 0.0,
                                             single or 0.0, cur or "", policy or "", files or 0, trays or 0,
                                             note or "", round(saving, 2)))
        if cur and zone in ("domestic", "international"):
            for target, value in ((summary.postage, post), (summary.single_postage, single),
                                  (summary.baseline_postage, alone)):
                target[cur] = round(target.get(cur, 0.0) + (value or 0.0), 2)
    if summary.near_step:
        summary.warnings.append(f"{counted(summary.near_step, 'piece')} within the near-step margin of a weight step "
                                "(paper tolerance may push them to the next step)")


# ----------------------------------------------------------------------------------------------- read back

def iter_print_files(db, stream: str | None = None, seq: int | None = None) -> Iterator[PrintFilePlan]:
    """The planned print files in print order, each with a lazy iterator over its pieces; with ``stream``
    and ``seq``, that file alone (a render task: walking every file for each is quadratic in the files)."""
    meta = dict(db.execute("SELECT key, value FROM mail_run"))
    where, args = ("WHERE f.stream = ? AND f.seq = ? ", (stream, seq)) if stream is not None else ("", ())
    files = db.execute("SELECT f.stream, f.seq, f.name, f.pieces, f.sheets, s.carrier, s.product, s.envelope, s.kind "
                       f"FROM mail_file f JOIN mail_stream s ON s.name = f.stream {where}"
                       "ORDER BY f.rank, f.stream, f.seq", args).fetchall()
    for stream, seq, name, pieces, sheets, carrier, product, envelope, kind in files:
        name_vars = {"job": meta.get("job", ""), "stream": stream, "seq": seq, "date": meta.get("job_date", ""),
                     "carrier": carrier or "", "product": product or "", "envelope": envelope or "", "kind": kind}
        yield PrintFilePlan(stream, seq, name_vars, _iter_pieces(db, stream, seq, meta.get("job", "")), name,
                            pieces, sheets)


PIECE_SELECT = ("SELECT p.piece_no, p.piece_id, p.seq, p.sheets, p.duplex, p.weight_g, p.envelope, p.level, p.tray_no, "
                "p.bundle_no, p.stream, p.file_seq, p.shape, p.part, p.parts, p.feeders, p.inserts, p.sheet_offset, "
                "p.index_in_file, p.file_break, p.tray_break, p.bundle_break, p.rate_level, p.price, p.currency, "
                "p.country, p.pc, t.label, p.imb_tracking, p.imb_routing, p.zone, d.doc_seq "
                "FROM mail_piece p JOIN mail_piece_doc d ON d.piece_no = p.piece_no "
                "LEFT JOIN mail_tray t ON t.stream = p.stream AND t.tray_no = p.tray_no ")


def _iter_pieces(db, stream: str, file_seq: int, job: str) -> Iterator[PlannedPiece]:
    cursor = db.execute(PIECE_SELECT + "WHERE p.stream = ? AND p.file_seq = ? ORDER BY p.seq, d.pos",
                        (stream, file_seq))
    yield from _group_pieces(cursor, job)


def iter_pieces(db, where: str = "", args=()) -> Iterator[PlannedPiece]:
    """Every planned piece (optionally filtered by an SQL condition on ``p``), in print order."""
    job = dict(db.execute("SELECT key, value FROM mail_run")).get("job", "")
    cursor = db.execute(PIECE_SELECT + "JOIN mail_stream s ON s.name = p.stream "
                        + (f"WHERE {where} " if where else "") + "ORDER BY s.rank, s.name, p.seq, d.pos", args)
    yield from _group_pieces(cursor, job)


def _group_pieces(cursor, job: str) -> Iterator[PlannedPiece]:
    current, docs = None, []
    for row in cursor:
        if current is not None and row[0] != current[0]:
            yield _piece(current, docs, job)
            docs = []
        current = row
        docs.append(row[-1])
    if current is not None:
        yield _piece(current, docs, job)


def _piece(r, docs, job: str) -> PlannedPiece:
    (_, piece_id, seq, sheets, duplex, weight, envelope, level, tray, bundle, stream, file_seq, shape, part, parts,
     feeders, inserts, sheet_offset, index_in_file, file_break, tray_break, bundle_break, rate_level, price,
     currency, country, pc, label, tracking, routing, zone, _) = r
    return PlannedPiece(
        piece_id or "", seq, tuple(docs), sheets or 0, bool(duplex), weight or 0.0, envelope or "", level or "",
        tray, bundle, stream, file_seq or 1, shape or "", part or 1, parts or 1,
        tuple(int(f) for f in feeders.split(",") if f) if feeders else (),
        tuple(json.loads(inserts)) if inserts else (), sheet_offset or 0, index_in_file or 1, bool(file_break),
        bool(tray_break), bool(bundle_break), rate_level or "", price or 0.0, currency or "", country or "", pc or "",
        label or "", tracking or "", routing or "", job, zone or "")
