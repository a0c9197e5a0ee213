"""Mail stage, production files: mail-run file, postage statement, tray tags, and the reprint loop.

Files written by :func:`write_production_files` into the output directory (UTF-8 CSV, ``,``-separated,
one header line; money with 2 decimals in the stream's currency):

``{job}.mailrun.csv`` — the mail run data file (one record per piece, print order)::

    piece_id, stream, print_file, first_page, seq, file_seq, tray, bundle, tray_break, bundle_break,
    level, rate_level, rolled, dest, envelope, shape, part, parts, documents, doc_seqs, doc_ids, sheets,
    feeders, inserts, weight_g, thickness_mm, near_step, postage, single_postage, currency, country,
    postcode, imb_tracking, imb_routing, reason

  ``doc_seqs`` / ``doc_ids`` / ``feeders`` / ``inserts`` are ``;``-separated, address carrier first;
  piece prices have 3 decimals (USPS prices are in tenths of a cent).
  ``print_file``/``first_page`` are those recorded by the renderer (:func:`record_piece_position`), else
  the planned file stem and blank.

``{job}.postage.csv`` — the postage statement, one ``record`` type per line::

    record, stream, pack, level, rate_level, weight_step_g, pieces, trays, unit_price, postage,
    single_postage, currency

  ``LINE`` = pieces of one (stream, level, price level, weight step); ``LEVEL`` = level subtotal with
  its trays; ``STREAM`` = stream total; ``TOTAL`` = per currency. ``SAVINGS`` lines per currency:
  ``presort`` (single-piece minus planned postage of the same pieces), ``householding`` (each
  document alone minus the pieces at single-piece price) and ``total``. Exception streams
  (invalid, oversize) are listed with zero postage.

``{job}.trays.csv`` — tray/bac tags: stream, tray, level, dest, label, size, overflow, pieces,
first_seq, last_seq, first_piece, last_piece.

Reprint (closed loop, postal.md §4.2): the inserter returns ``piece_id,status`` lines (OK, DAMAGED,
MISSING). :func:`reprint` selects exactly the DAMAGED and MISSING pieces from the mail-run file and
returns their documents (``doc_seqs`` = ``documents.seq`` = record numbers of the old run, in print
order). To re-plan them with new piece ids and sequence numbers, either recompose those records, or,
while the old work database still exists, call :func:`build_reprint_documents` to copy their
``documents`` rows (same spool references) into a new database and run :func:`plan_mail` on it.
"""
from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import NamedTuple

from .rules import load_rulebook

MAILRUN_FIELDS = ("piece_id", "stream", "print_file", "first_page", "seq", "file_seq", "tray", "bundle", "tray_break",
                  "bundle_break", "level", "rate_level", "rolled", "dest", "envelope", "shape", "part", "parts",
                  "documents", "doc_seqs", "doc_ids", "sheets", "feeders", "inserts", "weight_g", "thickness_mm",
                  "near_step", "postage", "single_postage", "currency", "country", "postcode", "imb_tracking",
                  "imb_routing", "reason")
POSTAGE_FIELDS = ("record", "stream", "pack", "level", "rate_level", "weight_step_g", "pieces", "trays", "unit_price",
                  "postage", "single_postage", "currency")
TRAY_FIELDS = ("stream", "tray", "level", "dest", "label", "size", "overflow", "pieces", "first_seq", "last_seq",
               "first_piece", "last_piece")
STATUSES = ("OK", "DAMAGED", "MISSING")


def record_piece_position(db, piece_id: str, print_file: str, first_page: int) -> None:
    """Record where the renderer put a piece (print file name and 1-based first page)."""
    db.execute("UPDATE mail_piece SET print_file = ?, first_page = ? WHERE piece_id = ?",
               (print_file, first_page, piece_id))


def _money(value) -> str:
    return f"{(value or 0.0):.2f}"


def write_production_files(db, out_dir, job: str, config) -> list[Path]:
    """Write the mail-run file, postage statement and tray tags; returns their paths (none if disabled)."""
    if not config.enabled:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_write_mailrun(db, out / f"{job}.mailrun.csv"), _write_postage(db, out / f"{job}.postage.csv", config),
            _write_trays(db, out / f"{job}.trays.csv")]


def _write_mailrun(db, path: Path) -> Path:
    cursor = db.execute(
        "SELECT p.piece_no, p.piece_id, p.stream, COALESCE(p.print_file, f.name), p.first_page, p.seq, p.file_seq, "
        "p.tray_no, p.bundle_no, p.tray_break, p.bundle_break, p.level, p.rate_level, p.rolled, p.dest, p.envelope, "
        "p.shape, p.part, p.parts, p.documents, d.doc_seq, doc.doc_id, p.sheets, p.feeders, p.inserts, p.weight_g, "
        "p.thickness_mm, p.near_step, p.price, p.single_price, p.currency, p.country, p.pc, p.imb_tracking, "
        "p.imb_routing, p.reason FROM mail_piece p JOIN mail_stream s ON s.name = p.stream "
        "JOIN mail_piece_doc d ON d.piece_no = p.piece_no LEFT JOIN documents doc ON doc.seq = d.doc_seq "
        "LEFT JOIN mail_file f ON f.stream = p.stream AND f.seq = p.file_seq "
        "ORDER BY s.rank, s.name, p.seq, d.pos")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(MAILRUN_FIELDS)
        current, seqs, ids = None, [], []

        def emit():
            r = current
            inserts = ";".join(json.loads(r[24])) if r[24] else ""
            w.writerow([r[1], r[2], r[3], r[4] or "", r[5], r[6], r[7] if r[7] is not None else "",
                        r[8] if r[8] is not None else "", r[9] or 0, r[10] or 0, r[11] or "", r[12] or "", r[13] or 0,
                        r[14] or "", r[15] or "", r[16] or "", r[17], r[18], r[19], ";".join(map(str, seqs)),
                        ";".join(ids), r[22], (r[23] or "").replace(",", ";"), inserts, f"{r[25] or 0:.2f}",
                        f"{r[26] or 0:.2f}", r[27] or 0, f"{r[28] or 0:.3f}", f"{r[29] or 0:.3f}", r[30] or "",
                        r[31] or "",
                        r[32] or "", r[33] or "", r[34] or "", r[35] or ""])

        for row in cursor:
            if current is not None and row[0] != current[0]:
                emit()
                seqs, ids = [], []
            current = row
            seqs.append(row[20])
            ids.append(row[21] or "")
        if current is not None:
            emit()
    tmp.replace(path)
    return path


def _step_of(book, pack_id: str, shape: str, zone: str, rate_level: str, weight: float):
    pack = book.packs.get(pack_id) if book else None
    if pack is None or zone not in ("domestic", "international"):
        return ""
    if zone == "international":
        table = pack.international
    else:
        s = pack.shapes[shape]
        table = s.rates if rate_level != "SINGLE" and s.rates and s.rates.step_index(weight) is not None \
            else s.single_piece
    i = table.step_index(weight) if table else None
    return "" if i is None else round(table.steps_g[i], 1)


def _write_postage(db, path: Path, config) -> Path:
    meta = dict(db.execute("SELECT key, value FROM mail_run"))
    book = load_rulebook(config.rule_dirs, meta["job_date"]) if meta.get("enabled") == "1" else None
    streams = db.execute("SELECT name, pack_id, pack_version, currency, zone, trays, pieces, postage, single_postage, "
                         "alone_postage FROM mail_stream ORDER BY rank, name").fetchall()
    info = {name: (pack_id, zone) for name, pack_id, _v, _c, zone, *_ in streams}
    by_stream: dict = {}                         # stream -> (lines, levels), summed in print order
    steps: dict = {}                             # the weight step of a (stream, shape, rate level, weight)
    # one scan of mail_piece in row order, sorted by SQLite: following the (stream, seq) index reads a
    # table larger than the page cache at random (1,000,000 pieces: 8.2 s, 5 µs a piece at 10,000)
    for name, level, rate, shape, weight, price, sp, tray in db.execute(
            "SELECT stream, level, rate_level, shape, weight_g, price, single_price, tray_no FROM mail_piece "
            "NOT INDEXED ORDER BY stream, seq, piece_no"):
        lines, levels = by_stream.get(name) or by_stream.setdefault(name, ({}, {}))
        step = steps.get((name, shape, rate, weight))
        if step is None:                         # _step_of gives a number or ""
            pack_id, zone = info.get(name, ("", ""))   # (a piece of no listed stream is not in the statement)
            step = steps[name, shape, rate, weight] = _step_of(book, pack_id, shape, zone, rate, weight)
        key = (level or "", rate or "", step, round(price or 0.0, 4))
        n, p, s = lines.get(key, (0, 0.0, 0.0))
        lines[key] = (n + 1, p + (price or 0.0), s + (sp or 0.0))
        lv = levels.get(level or "") or levels.setdefault(level or "", [0, 0.0, 0.0, set()])
        lv[0] += 1
        lv[1] += price or 0.0
        lv[2] += sp or 0.0
        if tray is not None:
            lv[3].add(tray)
    rows, totals = [], {}
    for name, pack_id, version, cur, zone, trays, pieces, postage, single, alone in streams:
        lines, levels = by_stream.get(name, ({}, {}))
        pack = f"{pack_id} {version}".strip()
        for (level, rate, step, unit), (n, p, s) in sorted(lines.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                          str(kv[0][2]))):
            rows.append(("LINE", name, pack, level, rate, step, n, "", f"{unit:.3f}", _money(p), _money(s), cur))
        for level, (n, p, s, tr) in sorted(levels.items()):
            rows.append(("LEVEL", name, pack, level, "", "", n, len(tr), "", _money(p), _money(s), cur))
        rows.append(("STREAM", name, pack, "", "", "", pieces or 0, trays or 0, "", _money(postage), _money(single),
                     cur))
        if cur and zone in ("domestic", "international"):
            t = totals.setdefault(cur, [0, 0, 0.0, 0.0, 0.0])
            t[0] += pieces or 0
            t[1] += trays or 0
            t[2] += postage or 0.0
            t[3] += single or 0.0
            t[4] += alone or 0.0
    for cur, (n, trays, postage, single, alone) in sorted(totals.items()):
        rows.append(("TOTAL", "", "", "", "", "", n, trays, "", _money(postage), _money(single), cur))
        rows.append(("SAVINGS", "presort", "", "", "", "", n, "", "", _money(single - postage), "", cur))
        rows.append(("SAVINGS", "householding", "", "", "", "", n, "", "", _money(alone - single), "", cur))
        rows.append(("SAVINGS", "total", "", "", "", "", n, "", "", _money(alone - postage), _money(alone), cur))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(POSTAGE_FIELDS)
        w.writerows(rows)
    return path


def _write_trays(db, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TRAY_FIELDS)
        for row in db.execute(
                "SELECT t.stream, t.tray_no, t.level, t.dest, t.label, t.size, t.overflow, t.pieces, t.first_seq, "
                "t.last_seq, (SELECT piece_id FROM mail_piece p WHERE p.stream = t.stream AND p.seq = t.first_seq), "
                "(SELECT piece_id FROM mail_piece p WHERE p.stream = t.stream AND p.seq = t.last_seq) "
                "FROM mail_tray t JOIN mail_stream s ON s.name = t.stream ORDER BY s.rank, t.stream, t.tray_no"):
            w.writerow(row)
    return path


# ----------------------------------------------------------------------------------------------- reprint

class ReprintSelection(NamedTuple):
    """The pieces to reprint and their documents (old run's ``documents.seq`` and doc ids), print order."""
    pieces: tuple
    doc_seqs: tuple
    doc_ids: tuple
    statuses: dict            # piece id -> status, for the selected pieces
    unaccounted: tuple = ()   # pieces of the run absent from the result file (not reprinted)


def read_inserter_results(path) -> dict:
    """``{piece_id: status}`` from an inserter result CSV (``piece_id,status``; header optional)."""
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not row[0].strip() or row[0].strip().lower() in ("piece_id", "piece"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{n}: expected piece_id,status")
            status = row[1].strip().upper()
            if status not in STATUSES:
                raise ValueError(f"{path}:{n}: status {row[1]!r} is not one of {', '.join(STATUSES)}")
            out[row[0].strip()] = status
    return out


def _mailrun_path(source) -> Path:
    p = Path(source)
    if p.is_dir():
        found = sorted(p.glob("*.mailrun.csv"))
        if len(found) != 1:
            raise ValueError(f"{p}: expected exactly one *.mailrun.csv, found {len(found)}")
        return found[0]
    return p


def reprint(source, result_csv, new_db: sqlite3.Connection | None = None,
            old_db: sqlite3.Connection | None = None) -> ReprintSelection:
    """Select the DAMAGED and MISSING pieces of a run (its output directory or mail-run file).

    With ``new_db`` and ``old_db`` (the old run's work database), also copy their ``documents`` rows
    into ``new_db`` (see :func:`build_reprint_documents`) ready for :func:`plan_mail`.
    """
    results = read_inserter_results(result_csv)
    pieces, seqs, ids, statuses, seen = [], [], [], {}, set()
    with open(_mailrun_path(source), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            pid = row["piece_id"]
            seen.add(pid)
            status = results.get(pid)
            if status in ("DAMAGED", "MISSING"):
                pieces.append(pid)
                statuses[pid] = status
                seqs.extend(int(s) for s in row["doc_seqs"].split(";") if s)
                ids.extend(row["doc_ids"].split(";") if row["doc_ids"] else [])
    unknown = sorted(set(results) - seen)
    if unknown:
        raise ValueError(f"{result_csv}: piece ids not in the mail run: {', '.join(unknown[:5])}")
    selection = ReprintSelection(tuple(pieces), tuple(seqs), tuple(ids), statuses,
                                 tuple(sorted(seen - set(results))))
    if new_db is not None and old_db is not None:
        build_reprint_documents(old_db, new_db, selection)
    return selection


def build_reprint_documents(old_db, new_db, selection: ReprintSelection) -> int:
    """Copy the selected ``documents`` rows into ``new_db`` with new ``seq`` 1..n (selection order).

    The new database gets the old ``documents`` schema (spool references unchanged) and a table
    ``mail_reprint_source(seq, old_seq, old_piece_id, status)``. Returns the number of documents.
    """
    ddl = old_db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'documents'").fetchone()
    if ddl is None:
        raise ValueError("the old work database has no documents table")
    new_db.execute(ddl[0].replace("CREATE TABLE documents", "CREATE TABLE IF NOT EXISTS documents", 1))
    new_db.execute("CREATE TABLE IF NOT EXISTS mail_reprint_source (seq INTEGER PRIMARY KEY, old_seq INTEGER, "
                   "old_piece_id TEXT, status TEXT)")
    cols = [r[1] for r in old_db.execute("PRAGMA table_info(documents)")]
    piece_of = {}
    for pid in selection.pieces:
        for (seq,) in old_db.execute("SELECT d.doc_seq FROM mail_piece p JOIN mail_piece_doc d ON d.piece_no = "
                                     "p.piece_no WHERE p.piece_id = ?", (pid,)):
            piece_of[seq] = pid
    n = 0
    for old_seq in selection.doc_seqs:
        row = old_db.execute(f"SELECT {', '.join(cols)} FROM documents WHERE seq = ?", (old_seq,)).fetchone()
        if row is None:
            raise ValueError(f"document {old_seq} is not in the old work database")
        n += 1
        values = [n if c == "seq" else v for c, v in zip(cols, row)]
        new_db.execute(f"INSERT INTO documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        pid = piece_of.get(old_seq, "")
        new_db.execute("INSERT INTO mail_reprint_source VALUES (?, ?, ?, ?)",
                       (n, old_seq, pid, selection.statuses.get(pid, "")))
    new_db.commit()
    return n
