"""Mail stage tests: production files, positions recorded by the renderer, reprint of damaged and missing
pieces, disabled mail production and configuration errors."""
import csv
import sqlite3

import pytest

from ccm_batch import mail
from ccm_batch.errors import ConfigError
from ccm_batch.mail.sample import document_row, generate_documents, insert_documents

DATE = "2026-01-15"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("prod")
    db = sqlite3.connect(":memory:")
    generate_documents(db, 2000, seed=3)
    cfg = mail.MailConfig.from_dict({"enabled": True, "max_sheets_per_file": 1500}, out)
    mail.plan_mail(db, cfg, "RUN1", DATE)
    for plan in mail.iter_print_files(db):
        page = 1
        for piece in plan.pieces:
            mail.record_piece_position(db, piece.piece_id, f"{plan.name}.pdf", page)
            page += piece.sheets
    mail.write_production_files(db, out, "RUN1", cfg)
    with open(out / "RUN1.mailrun.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {"db": db, "cfg": cfg, "out": out, "rows": rows}


def test_mailrun_records_positions_and_files(run):
    rows = run["rows"]
    assert rows[0]["print_file"].endswith("_001.pdf") and rows[0]["first_page"] == "1"
    assert all(r["print_file"] and r["first_page"] for r in rows)
    files = {}
    for r in rows:
        files.setdefault(r["print_file"], []).append(r)
    for pieces in files.values():
        sheets = sum(int(r["sheets"]) for r in pieces)
        assert sheets <= 1500 or len(pieces) == 1
        assert [int(r["first_page"]) for r in pieces][1:] == \
            [int(a["first_page"]) + int(a["sheets"]) for a in pieces[:-1]]
    assert len(files) == run["db"].execute("SELECT COUNT(*) FROM mail_file").fetchone()[0] > 5


def write_results(path, rows, bad):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["piece_id", "status"])
        for r in rows:
            w.writerow([r["piece_id"], bad.get(r["piece_id"], "OK")])


def test_reprint_selects_exactly_the_damaged_and_missing_pieces(run, tmp_path):
    rows = run["rows"]
    multi = [r for r in rows if int(r["documents"]) > 1]
    chosen = [multi[3], rows[10], multi[40], rows[500], multi[77], rows[-5], multi[120]]
    bad = {r["piece_id"]: ("DAMAGED" if i % 2 else "MISSING") for i, r in enumerate(chosen)}
    result = tmp_path / "result.csv"
    write_results(result, rows, bad)
    sel = mail.reprint(run["out"], result)
    assert set(sel.pieces) == set(bad) and len(sel.pieces) == 7
    assert sel.statuses == bad
    expected = [int(s) for r in rows if r["piece_id"] in bad for s in r["doc_seqs"].split(";")]
    assert list(sel.doc_seqs) == expected                       # print order, address carrier first
    db = run["db"]
    from_db = sorted(s for (s,) in db.execute(
        "SELECT d.doc_seq FROM mail_piece p JOIN mail_piece_doc d ON d.piece_no = p.piece_no WHERE p.piece_id IN "
        f"({','.join('?' * 7)})", list(bad)))
    assert sorted(sel.doc_seqs) == from_db
    ids = dict(db.execute("SELECT seq, doc_id FROM documents"))
    assert list(sel.doc_ids) == [ids[s] for s in sel.doc_seqs]
    assert sel.unaccounted == ()

    # re-plan them in a new work database: new piece ids and sequence numbers, same documents
    new = sqlite3.connect(":memory:")
    sel2 = mail.reprint(run["out"] / "RUN1.mailrun.csv", result, new_db=new, old_db=db)
    assert sel2.pieces == sel.pieces
    assert new.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == len(sel.doc_seqs)
    src = new.execute("SELECT seq, old_seq, old_piece_id, status FROM mail_reprint_source ORDER BY seq").fetchall()
    assert [s[1] for s in src] == list(sel.doc_seqs) and {s[2] for s in src} == set(bad)
    assert new.execute("SELECT doc_id FROM documents ORDER BY seq").fetchall() == [(ids[s],) for s in sel.doc_seqs]
    mail.plan_mail(new, run["cfg"], "RUN1R1", DATE)
    replanned = sorted(s for (s,) in new.execute("SELECT doc_seq FROM mail_piece_doc"))
    assert replanned == list(range(1, len(sel.doc_seqs) + 1))
    assert new.execute("SELECT MIN(piece_id) FROM mail_piece").fetchone()[0] == "00000001"
    assert new.execute("SELECT COUNT(*) FROM mail_piece").fetchone()[0] == 7


def test_reprint_result_file_errors(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("piece_id,status\n00000001,JAMMED\n")
    with pytest.raises(ValueError, match="JAMMED"):
        mail.reprint(run["out"], bad)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("99999999,DAMAGED\n")
    with pytest.raises(ValueError, match="99999999"):
        mail.reprint(run["out"], unknown)
    partial = tmp_path / "partial.csv"
    partial.write_text("00000002,MISSING\n00000003,OK\n")
    sel = mail.reprint(run["out"], partial)
    assert sel.pieces == ("00000002",) and len(sel.unaccounted) == len(run["rows"]) - 2


def test_tray_tags_file(run):
    with open(run["out"] / "RUN1.trays.csv", newline="", encoding="utf-8") as f:
        trays = list(csv.DictReader(f))
    by_id = {r["piece_id"]: r for r in run["rows"]}
    for t in trays:
        first, last = by_id[t["first_piece"]], by_id[t["last_piece"]]
        assert first["tray"] == last["tray"] == t["tray"] and first["stream"] == t["stream"]
        assert int(last["seq"]) - int(first["seq"]) + 1 == int(t["pieces"])


def test_disabled_mail_production(tmp_path):
    rows = [document_row(i, customer_id="C1") for i in range(1, 6)]
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    cfg = mail.MailConfig.from_dict(None, tmp_path)
    summary = mail.plan_mail(db, cfg, "OFF", DATE)
    files = list(mail.iter_print_files(db))
    assert [(f.stream, f.seq) for f in files] == [("main", 1)]
    pieces = list(files[0].pieces)
    assert [p.doc_seqs for p in pieces] == [(1,), (2,), (3,), (4,), (5,)]
    assert [p.piece_id for p in pieces] == [f"{i:08d}" for i in range(1, 6)]
    assert summary.as_dict()["pieces out"] == 5 and not summary.enabled
    assert mail.write_production_files(db, tmp_path, "OFF", cfg) == []
    assert mail.MailConfig.from_dict({"enabled": False}, tmp_path).enabled is False


@pytest.mark.parametrize("table, message", [
    ({"enabled": True, "housholding": "customer"}, "unknown key"),
    ({"householding": "family"}, "householding"),
    ({"omr": {"positions": ["benchmark", "seq2"]}}, "seq1"),
    ({"omr": {"pitch_mm": 1.0}}, "pitch"),
    ({"imb": {"mailer_id": "12345"}}, "mailer_id"),
    ({"inserts": {"BRE": {"feeder": 9}}}, "feeder"),
    ({"name_template": "{job}_{nope}"}, "name_template"),
    ({"rules_dir": "does-not-exist"}, "does not exist"),
])
def test_config_errors(table, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        cfg = mail.MailConfig.from_dict(table, tmp_path)
        db = sqlite3.connect(":memory:")
        insert_documents(db, [document_row(1)])
        mail.plan_mail(db, cfg, "BAD", DATE)
