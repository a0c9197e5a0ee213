"""Reprint of damaged and missing pieces, and the layout preview command."""
from __future__ import annotations

import csv

from runjobs import make_extract, run_cli, write_job


def test_reprint_of_7_damaged_or_missing_pieces_yields_exactly_their_documents(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 30)
    job = write_job(tmp_path, data, extra="[mail]\nenabled = true\nmax_pieces_per_file = 12\n")
    assert run_cli("run", job).returncode == 0
    out = tmp_path / "out"
    pieces = list(csv.DictReader(open(out / "inv.mailrun.csv", encoding="utf-8")))
    chosen = {1: "DAMAGED", 4: "DAMAGED", 6: "MISSING", 9: "DAMAGED", 13: "DAMAGED", 20: "MISSING", 25: "DAMAGED"}
    result = tmp_path / "result.csv"
    with open(result, "w", encoding="utf-8") as f:
        f.write("piece_id,status\n")
        for i, p in enumerate(pieces):
            f.write(f"{p['piece_id']},{chosen.get(i, 'OK')}\n")
    expected = sorted(d for i in chosen for d in pieces[i]["doc_ids"].split(";"))
    proc = run_cli("reprint", "--run", out, "--result", result)
    assert proc.returncode == 0, proc.stderr
    again = list(csv.DictReader(open(out / "reprint" / "inv-reprint.mailrun.csv", encoding="utf-8")))
    got = sorted(d for p in again for d in p["doc_ids"].split(";"))
    assert got == expected
    assert [int(p["seq"]) for p in again] == list(range(1, len(again) + 1))      # new sequence numbers
    index = (out / "reprint" / "inv-reprint_laposte-li-dl_001.pdf.index.csv").read_text(encoding="utf-8")
    assert sorted(line.split(",")[0] for line in index.splitlines()[1:]) == expected


def test_reprint_refuses_a_changed_extract(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 12)
    job = write_job(tmp_path, data, extra="[mail]\nenabled = true\n")
    assert run_cli("run", job).returncode == 0
    out = tmp_path / "out"
    first = next(csv.DictReader(open(out / "inv.mailrun.csv", encoding="utf-8")))["piece_id"]
    result = tmp_path / "result.csv"
    result.write_text(f"piece_id,status\n{first},DAMAGED\n", encoding="utf-8")
    data.write_bytes(data.read_bytes().replace(b"SARL", b"SARL ", 1))
    proc = run_cli("reprint", "--run", out, "--result", result)
    assert proc.returncode == 12
    assert "changed since the run" in proc.stderr


def test_preview_composes_the_asked_records(tmp_path):
    from runjobs import LAYOUT
    data = make_extract(tmp_path / "invoices.xml", 5)
    proc = run_cli("preview", LAYOUT, "--data", data, "--records", "2-3", "-o", tmp_path / "p.pdf",
                   "--png", tmp_path / "png")
    assert proc.returncode == 0, proc.stderr
    assert "record 2: F4200000002" in proc.stdout and "record 3: F4200000003" in proc.stdout
    assert "record 4" not in proc.stdout
    pngs = sorted((tmp_path / "png").glob("page-*.png"))
    assert len(pngs) >= 2
    bad = run_cli("preview", LAYOUT, "--data", data, "--records", "3-1")
    assert bad.returncode == 12 and "FROM ≤ TO" in bad.stderr


def test_preview_of_a_csv_extract_takes_the_job_input_settings(tmp_path):
    from runjobs import ROOT
    proc = run_cli("preview", "--job", ROOT / "samples" / "us-statement.toml", "--records", "2",
                   "-o", tmp_path / "p.pdf")
    assert proc.returncode == 0, proc.stderr
    assert "record 2: USS-" in proc.stdout and "rejected" not in proc.stdout
    plain = run_cli("preview", ROOT / "layouts" / "us-statement.xml", "--data",
                    ROOT / "samples" / "data" / "us-statements.csv", "-o", tmp_path / "q.pdf")
    assert plain.returncode == 12 and "--job" in plain.stderr


def test_reprint_piece_ids_and_imb_serials_are_never_reused(tmp_path):
    """Issue 11 item 8: reprinted pieces got ids 1, 2, … again, so their IMb carried the serial of
    another piece of the run. Ids now continue after the run's (and earlier reprints'); serials carry the
    job date's day block, so another day's run cannot reuse them either."""
    from runjobs import ROOT
    out = tmp_path / "out"
    assert run_cli("run", ROOT / "samples" / "us-statement.toml", "-o", out, "-f", "pdf").returncode in (0, 4)
    pieces = list(csv.DictReader(open(out / "us-statement.mailrun.csv", encoding="utf-8")))
    assert len(pieces) >= 8
    result = tmp_path / "result.csv"
    result.write_text("piece_id,status\n" + "".join(f"{p['piece_id']},{'DAMAGED' if i < 7 else 'OK'}\n"
                                                   for i, p in enumerate(pieces)), encoding="utf-8")
    seen_ids = {p["piece_id"] for p in pieces}
    seen_serials = {p["imb_tracking"][11:] for p in pieces if p["imb_tracking"]}
    for round_ in (1, 2):                                     # a second reprint must not reuse the first's
        proc = run_cli("reprint", "--run", out, "--result", result)
        assert proc.returncode in (0, 4), proc.stderr
        again = list(csv.DictReader(open(out / "reprint" / "us-statement-reprint.mailrun.csv", encoding="utf-8")))
        assert len(again) == 7
        ids = {p["piece_id"] for p in again}
        serials = {p["imb_tracking"][11:] for p in again}
        assert len(serials) == 7 and not ids & seen_ids and not serials & seen_serials, round_
        seen_ids |= ids
        seen_serials |= serials
    # another job date: another day block, so the same piece numbers give other serials
    from ccm_batch import mail
    imb = mail.ImbConfig(mailer_id="123456")
    assert mail.imb_serial(1, imb, "2026-11-23") != mail.imb_serial(1, imb, "2026-11-24")
    assert str(mail.imb_serial(1, imb, "2026-11-23")).endswith("000001")
