"""Mail stage tests: householding keys and compatibility, address carrier order, envelope choice
(split "1/n" vs large envelope by cost), inserts and weight."""
import shutil
import sqlite3
from pathlib import Path

import pytest

from ccm_batch import mail
from ccm_batch.mail.address import address_key, norm, norm_name, surname
from ccm_batch.mail.household import sheet_weight_g
from ccm_batch.mail.sample import document_row, insert_documents

RULES = Path(mail.__file__).parent / "rules"
ADDR = ["M JEAN MARTIN", "12 AVENUE DES FLEURS", "75011 PARIS"]


def plan(rows, **options):
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    cfg = mail.MailConfig.from_dict({"enabled": True, **options}, ".")
    mail.plan_mail(db, cfg, "HH", "2026-01-15")
    return db


def groups(db):
    """Documents of each piece (address carrier first), sorted by first document."""
    out = {}
    for piece_no, doc in db.execute("SELECT piece_no, doc_seq FROM mail_piece_doc ORDER BY piece_no, pos"):
        out.setdefault(piece_no, []).append(doc)
    return sorted(tuple(v) for v in out.values())


def test_norm_for_matching():
    assert norm("12, avenue des Fleurs") == norm("12 AV. DES FLEURS") == "12 AV DES FLEURS"
    assert norm_name("Mme Anne-Marie Dupré") == norm_name("ANNE MARIE DUPRE") == "ANNE MARIE DUPRE"
    assert surname("M. Paul Nelson-Smith") == surname("MRS JANE SMITH") == "SMITH"
    assert address_key(["M JEAN MARTIN", "12 RUE X", "75011 PARIS"], "Jean Martin", "75011") == \
        address_key(["12 rue x", "75011 Paris"], "JEAN MARTIN", "75011")


def test_customer_key_merges_only_compatible_documents():
    rows = [
        document_row(1, customer_id="C1", address=ADDR, sheets=2),
        document_row(2, customer_id="C1", address=ADDR),
        document_row(3, customer_id="C1", address=ADDR, mail_separately=1),        # never merged
        document_row(4, customer_id="C1", address=ADDR, sender="INSURANCE"),       # other sender
        document_row(5, customer_id="C1", address=ADDR, confidentiality="medical"),
        document_row(6, customer_id="C1", address=ADDR, duplex=1),
        document_row(7, customer_id="C1", address=["M JEAN MARTIN", "3 RUE HAUTE", "69003 LYON"], postcode="69003"),
        document_row(8, customer_id="C1", address=ADDR, language="en"),
        document_row(9, customer_id="C1", address=ADDR),
    ]
    db = plan(rows)
    assert groups(db) == [(1, 2, 9), (3,), (4,), (5,), (6,), (7,), (8,)]
    db = plan(rows, householding="none")
    assert len(groups(db)) == 9


def test_name_and_surname_keys():
    a = document_row(1, customer_id="C1", recipient_name="Mme Anne-Marie Dupré",
                     address=["Mme Anne-Marie Dupré", "12, avenue des Fleurs", "75011 Paris"])
    b = document_row(2, customer_id="C2", recipient_name="ANNE MARIE DUPRE",
                     address=["ANNE MARIE DUPRE", "12 AV DES FLEURS", "75011 PARIS"])
    c = document_row(3, customer_id="C3", recipient_name="M PAUL DUPRE",
                     address=["M PAUL DUPRE", "12 AVENUE DES FLEURS", "75011 PARIS"])
    assert groups(plan([a, b, c])) == [(1,), (2,), (3,)]                        # customer ids differ
    assert groups(plan([a, b, c], householding="name_address")) == [(1, 2), (3,)]
    assert groups(plan([a, b, c], householding="surname_address")) == [(1, 2, 3)]


def test_address_carrier_first():
    rows = [document_row(1, customer_id="C1", address=ADDR, doc_type="INVOICE"),
            document_row(2, customer_id="C1", address=ADDR, doc_type="LETTER"),
            document_row(3, customer_id="C1", address=ADDR, doc_type="STATEMENT")]
    assert groups(plan(rows)) == [(1, 2, 3)]
    assert groups(plan(rows, address_carrier_types=["STATEMENT"])) == [(3, 1, 2)]
    db = plan(rows, address_carrier_types=["STATEMENT"])
    piece = next(p for f in mail.iter_print_files(db) for p in f.pieces)
    assert piece.doc_seqs == (3, 1, 2)


def household(sheets_each, n=3):
    return [document_row(i, customer_id="C1", address=ADDR, sheets=sheets_each) for i in range(1, n + 1)]


def pieces(db):
    return db.execute("SELECT envelope, shape, part, parts, sheets, stream FROM mail_piece "
                      "ORDER BY piece_no").fetchall()


def test_over_capacity_household_split_when_cheaper():
    rows = household(4)                                  # 12 sheets: over the DL's 8
    db = plan(rows)
    assert pieces(db) == [("DL", "letter", 1, 2, 8, "laposte-li-dl"), ("DL", "letter", 2, 2, 4, "laposte-li-dl")]
    assert groups(db) == [(1, 2), (3,)]
    db = plan(rows, split="large")
    assert pieces(db) == [("C4", "flat", 1, 1, 12, "laposte-li-c4")]


def test_over_capacity_household_in_large_envelope_when_cheaper(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    p = rules / "laposte_lettre_industrielle_2025.toml"
    text = p.read_text()
    # make the large envelope cheap: the same plan now prefers one C4 to two DL
    text = text.replace("NAT = [1.60, 2.50, 3.70, 5.00, 6.60, 8.10]", "NAT = [0.50, 2.50, 3.70, 5.00, 6.60, 8.10]")
    p.write_text(text)
    db = plan(household(4), rules_dir=str(rules))
    assert pieces(db) == [("C4", "flat", 1, 1, 12, "laposte-li-c4")]
    db = plan(household(4), rules_dir=str(rules), split="split")
    assert [r[0] for r in pieces(db)] == ["DL", "DL"]


def test_single_heavy_document_goes_to_the_large_envelope_or_oversize():
    db = plan([document_row(1, sheets=10), document_row(2, sheets=61), document_row(3, sheets=30, duplex=1)])
    rows = pieces(db)
    assert rows[0][:2] == ("C4", "flat") and rows[2][:2] == ("C4", "flat")
    assert rows[1][0] == "" and rows[1][5] == "oversize"
    assert db.execute("SELECT price, reason FROM mail_piece WHERE piece_no = 2").fetchone() == (0, "fits no envelope")


def test_inserts_union_feeders_and_weight():
    rows = [document_row(1, customer_id="C1", address=ADDR, inserts=["BRE"], sheets=2),
            document_row(2, customer_id="C1", address=ADDR, inserts=["BRE", "LEAFLET"]),
            document_row(3, customer_id="C2", inserts=["UNKNOWN"])]
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    cfg = mail.MailConfig.from_dict({"enabled": True, "inserts": {"BRE": {"feeder": 1, "weight_g": 3.0},
                                                                   "LEAFLET": {"feeder": 3, "weight_g": 4.5}}}, ".")
    summary = mail.plan_mail(db, cfg, "INS", "2026-01-15")
    inserts, feeders, weight = db.execute("SELECT inserts, feeders, weight_g FROM mail_piece "
                                          "WHERE documents = 2").fetchone()
    assert inserts == '["BRE", "LEAFLET"]' and feeders == "1,3"
    assert weight == pytest.approx(3 * sheet_weight_g(11906, 16838, 80) + 3.0 + 4.5 + 5.0, abs=0.001)
    assert sheet_weight_g(11906, 16838, 80) == pytest.approx(4.99, abs=0.01)           # A4 80 g/m²
    assert any("'UNKNOWN'" in w for w in summary.warnings)
    piece = next(p for f in mail.iter_print_files(db) for p in f.pieces if len(p.doc_seqs) == 2)
    assert piece.feeders == (1, 3) and piece.inserts == ("BRE", "LEAFLET")


def test_weight_step_changes_with_householding():
    rows = household(1, n=2)          # 2 sheets + DL: 15 g alone 10 g each -> 20 g step at single-piece price
    db = plan(rows)
    single, alone = db.execute("SELECT single_price, alone_price FROM mail_piece").fetchone()
    assert alone == pytest.approx(2 * 1.39) and single == pytest.approx(1.39)
    rows = household(2, n=2)          # 4 sheets: 25 g together, over the 20 g single-piece step
    db = plan(rows)
    assert db.execute("SELECT single_price, alone_price FROM mail_piece").fetchone() == pytest.approx((2.78, 2.78))


def test_address_checks():
    from ccm_batch.mail.address import check_address
    ok = ["M JEAN MARTIN", "12 RUE DES LILAS", "75011 PARIS"]
    assert check_address(ok, "75011", "fr", False) == ""
    assert check_address(ok + ["FRANCE"], "75011", "fr", False) == ""
    assert "38 characters" in check_address(["M JEAN MARTIN", "X" * 39, "75011 PARIS"], "75011", "fr", False)
    assert "allows 6" in check_address(["A"] * 6 + ["75011 PARIS"], "75011", "fr", False)
    assert "code postal 75011" in check_address(["M JEAN MARTIN", "PARIS 75011"], "75011", "fr", False)
    assert "not a valid" in check_address(ok, "7501", "fr", False)
    us = ["JOHN DOE", "12 MAIN ST", "SPRINGFIELD IL 62704-1234"]
    assert check_address(us, "62704-1234-56", "us", False) == ""
    assert "ZIP 62704" in check_address(us[:2] + ["SPRINGFIELD IL"], "62704", "us", False)
    assert check_address(["HANS MULLER", "10115 BERLIN", "ALLEMAGNE"], "10115", "fr", True) == ""
    assert check_address([], "75011", "fr", False) == "no address lines"
