"""Mail stage, print files: piece ids and print files cut by the presort as it numbers a mailing are the
ones the plan's own pass over the pieces in print order gives (ccm_batch.mail.files)."""
from __future__ import annotations

import sqlite3

import pytest

from ccm_batch import mail
from ccm_batch.mail import plan
from ccm_batch.mail.files import FileCutter, id_offsets
from ccm_batch.mail.sample import generate_documents, low_minimum_rules

DATE = "2026-01-15"
FILE_COLS = "piece_id, file_seq, sheet_offset, index_in_file, file_break, tray_break, bundle_break"


def _planned(tmp_path, options: dict):
    rules = low_minimum_rules(tmp_path / "rules")              # every presort level, trays and bundles
    db = sqlite3.connect(tmp_path / "work.db")
    generate_documents(db, 3000, seed=11)
    db.commit()
    cfg = mail.MailConfig.from_dict({"enabled": True, "rules_dir": str(rules), **options}, tmp_path)
    mail.plan_mail(db, cfg, "FILES", DATE)
    return db, cfg


def _snapshot(db):
    return (db.execute(f"SELECT piece_no, {FILE_COLS} FROM mail_piece ORDER BY piece_no").fetchall(),
            db.execute("SELECT * FROM mail_file ORDER BY rank, stream, seq").fetchall())


@pytest.mark.parametrize("options, trays_inside_files", [
    ({"max_pieces_per_file": 120}, False),
    ({"max_sheets_per_file": 300, "piece_id_start": 4321}, False),
    ({"max_pieces_per_file": 7, "max_sheets_per_file": 20}, False),     # trays larger than a file
    ({"max_pieces_per_file": 5000}, True),                               # several trays in a file
], ids=["pieces", "sheets-and-id-start", "small-files", "large-files"])
def test_files_cut_by_the_presort_are_those_of_the_pass_in_print_order(tmp_path, options, trays_inside_files):
    db, cfg = _planned(tmp_path, options)
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM mail_stream GROUP BY kind").fetchall())
    assert kinds.get("presort", 0) >= 2 and len(kinds) >= 3           # presorted and other streams
    assert db.execute("SELECT COUNT(*) FROM mail_piece WHERE bundle_break = 1").fetchone()[0] > 10
    inside = db.execute("SELECT COUNT(*) FROM mail_piece WHERE tray_break = 1 AND file_break = 0").fetchone()[0]
    assert bool(inside) == trays_inside_files
    by_presort = _snapshot(db)
    db.execute(f"UPDATE mail_piece SET {', '.join(c + ' = NULL' for c in FILE_COLS.split(', '))}")
    db.execute("DELETE FROM mail_file")
    plan._assign_files(db, cfg, "FILES", DATE)                  # every stream by the plan's own pass
    by_pass = _snapshot(db)
    assert by_presort == by_pass
    ids = [int(r[1]) for r in sorted(by_pass[0], key=lambda r: r[1])]
    assert ids == list(range(cfg.piece_id_start, cfg.piece_id_start + len(ids)))


def test_piece_ids_follow_rank_then_name():
    first = id_offsets([("intl-dl", "international", 5), ("b-dl", "presort", 10), ("invalid", "invalid", 2),
                        ("a-c4", "single", 3), ("a-dl", "presort", 4)], 100)
    assert first == {"a-dl": 100, "b-dl": 104, "a-c4": 114, "intl-dl": 117, "invalid": 122}


def test_a_tray_that_does_not_fit_starts_a_new_file_and_sums_are_sql_sums():
    cutter = FileCutter(max_pieces=5, max_sheets=0, first_id=7)
    rows = cutter.cut([(1, 1, 1, 3, 3, None)] * 3 + [(2, None, 2, 3, 6, 9)] * 3)
    assert [r[0] for r in rows] == [f"{i:08d}" for i in range(7, 13)]
    assert [r[1] for r in rows] == [1, 1, 1, 2, 2, 2]                  # tray 2 (3 pieces) did not fit in 2
    assert [r[4] for r in rows] == [1, 0, 0, 1, 0, 0] and [r[5] for r in rows] == [1, 0, 0, 1, 0, 0]
    assert [r[6] for r in rows] == [0, 0, 0, 1, 0, 0]
    assert cutter.files() == [(1, 3, 3, 3), (2, 3, None, 6)]           # SUM of NULLs is NULL
