"""Documents routed to e-mail and SMS (a work database whose documents carry a channel decision, as the
routing stage writes it): their volumes, costs, bounce and delivery rates."""
from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from ccm_batch.history import open_store, record_events
from ccm_batch.history.config import CostTable, HistoryConfig
from ccm_batch.history.kpi import compute_kpis
from ccm_batch.history.record import record_run
from ccm_batch.report import RunReport
from ccm_batch.spool import DOCUMENTS_DDL


def _work_db(path: Path) -> sqlite3.Connection:
    """10 documents: 4 paper (not planned: no mail production tables), 4 e-mail, 2 SMS of 3 segments."""
    db = sqlite3.connect(path)
    db.execute(DOCUMENTS_DDL)
    for col in ("channel TEXT", "channel_reason TEXT", "message_id TEXT", "segments INTEGER"):
        db.execute(f"ALTER TABLE documents ADD COLUMN {col}")
    cols = [r[1] for r in db.execute("PRAGMA table_info(documents)")]
    for seq in range(1, 11):
        channel = "paper" if seq <= 4 else ("email" if seq <= 8 else "sms")
        row = {c: None for c in cols}
        row.update(seq=seq, doc_id=f"D{seq:03d}", customer_id=f"C{seq}", doc_type="invoice", pages=2, sheets=1,
                   channel=channel, channel_reason="preference" if channel != "paper" else "default",
                   message_id=f"<m{seq}@test>" if channel == "email" else None,
                   segments=3 if channel == "sms" else None)
        db.execute(f"INSERT INTO documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                   [row[c] for c in cols])
    db.commit()
    return db


def test_email_and_sms_documents_volumes_costs_and_rates(tmp_path):
    loc = str(tmp_path / "h.db")
    costs = CostTable(currency="EUR", paper_per_sheet=Decimal("0.01"), click_mono_per_side=Decimal("0.005"),
                      email_per_message=Decimal("0.0015"), sms_per_segment=Decimal("0.045"))
    job = SimpleNamespace(history=HistoryConfig(location=loc, costs=costs), output_dir=tmp_path / "out",
                          only_records=None)
    report = RunReport(job="multi", job_date="2026-11-20", records_read=10, documents=10, pages=20, sheets=10,
                       duration_s=3.0)
    db = _work_db(tmp_path / "work.db")
    with open_store(loc) as store:
        run_id = record_run(store, job, report, db)
    record_events([{"doc_id": "D005", "kind": "bounced"}, {"doc_id": "D005", "kind": "bounced"},
                   {"doc_id": "D006", "kind": "delivered"}, {"doc_id": "D009", "kind": "delivered"},
                   {"doc_id": "D010", "kind": "failed"}, {"doc_id": "D001", "kind": "returned"}],
                  job="multi", location=loc)
    with open_store(loc) as store:
        rows = store.query("SELECT channel, COUNT(*), MIN(message_id) FROM documents GROUP BY channel "
                           "ORDER BY channel")
        lines = store.query("SELECT channel, item, quantity, amount FROM run_costs ORDER BY channel, item")
        events = store.query("SELECT doc_id, channel, run_id FROM events ORDER BY event_id")
        k = compute_kpis(store)
    assert rows == [("email", 4, "<m5@test>"), ("paper", 4, None), ("sms", 2, None)]
    assert lines == [("email", "email", 4, "0.01"), ("paper", "click", 8, "0.04"), ("paper", "paper", 4, "0.04"),
                     ("sms", "sms", 6, "0.27")]
    assert {e[1] for e in events[:4]} == {"email", "sms"} and {e[2] for e in events} == {run_id}
    assert k["volumes"]["by_channel"] == {"email": 4, "paper": 4, "sms": 2}
    assert k["e_delivery_adoption"] == {"numerator": 6, "denominator": 10, "pct": "60.00"}
    assert k["bounce_rate"] == {"numerator": 1, "denominator": 4, "pct": "25.00"}        # D005 counts once
    assert k["returned_mail_rate"] == {"numerator": 1, "denominator": 4, "pct": "25.00"}
    assert k["delivery_rate"]["email"]["pct"] == "75.00"
    assert k["delivery_rate"]["email"]["confirmed"]["numerator"] == 1
    assert k["delivery_rate"]["sms"] == {"numerator": 1, "denominator": 2, "pct": "50.00",
                                         "confirmed": {"numerator": 1, "denominator": 2, "pct": "50.00"}}
    assert k["cost"]["EUR"]["total"] == "0.36"
    assert k["cost"]["EUR"]["per_communication"] == "0.04"                   # 0.36 / 10
    assert k["cost"]["EUR"]["per_document_by_channel"] == {"email": "0.00", "paper": "0.02", "sms": "0.14"}


def test_costs_are_the_same_whatever_number_of_cases_is_kept(tmp_path, monkeypatch):
    """Documents are priced once per case and added up by count: keeping one case at a time (every new case
    settles the others first) gives the same lines, volumes and per-document costs as keeping them all."""
    from ccm_batch.history import record

    costs = CostTable(currency="EUR", paper_per_sheet=Decimal("0.0137"), click_mono_per_side=Decimal("0.0051"),
                      email_per_message=Decimal("0.0015"), sms_per_segment=Decimal("0.045"))
    db = _work_db(tmp_path / "work.db")
    db.execute("UPDATE documents SET pages = seq % 3 + 1, sheets = (seq % 3 + 2) / 2 WHERE channel = 'paper'")
    db.commit()
    tables = {}
    for cases in (record._Costing.CASES, 1):
        monkeypatch.setattr(record._Costing, "CASES", cases)
        loc = str(tmp_path / f"h{cases}.db")
        job = SimpleNamespace(history=HistoryConfig(location=loc, costs=costs), output_dir=tmp_path / "out",
                              only_records=None)
        report = RunReport(job="multi", job_date="2026-11-20", records_read=10, documents=10, duration_s=1.0)
        with open_store(loc) as store:
            record_run(store, job, report, db)
            tables[cases] = [store.query(f"SELECT {cols} FROM {t} ORDER BY {cols}") for t, cols in (
                ("run_costs", "channel, item, quantity, amount"),
                ("run_volumes", "stream, channel, pieces, documents, pages, sheets"),
                ("documents", "seq, channel, stream, pages, sheets, cost"))]
    assert tables[1] == tables[record._Costing.CASES]
    lines, _volumes, documents = tables[1]
    # pages 2, 3, 1, 2 and sheets 1, 2, 1, 1: paper 5 x 0.0137 = 0.0685, clicks 8 x 0.0051 = 0.0408
    assert ("paper", "paper", 5, "0.07") in lines and ("paper", "click", 8, "0.04") in lines
    assert [d[5] for d in documents[:4]] == ["0.0239", "0.0427", "0.0188", "0.0239"]
