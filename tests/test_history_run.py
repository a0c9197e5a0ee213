"""A run's record in the history (counts, fingerprint, per-document rows), its Prometheus metrics, the
job keys, and a history that cannot be written (the outputs stay)."""
from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccm_batch.errors import ConfigError
from ccm_batch.history import open_store
from ccm_batch.job import load_job
from history_support import demo_job
from runjobs import make_extract, run_cli, write_job


def _metrics(path) -> dict:
    out = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_run_is_recorded_with_counts_fingerprint_and_document_rows(tmp_path):
    job = demo_job(tmp_path, "invoice", textfile_dir=tmp_path / "prom")
    out = tmp_path / "out"
    r = run_cli("run", job, "-o", out, "-w", "1")
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    loc = tmp_path / "ccm-history" / "history.db"            # default: beside the output directory
    with open_store(loc) as s:
        (run,) = s.query("SELECT run_id, kind, job, job_date, exit_code, inputs_sha256, layout_sha256, records, "
                         "documents, pages, sheets, pieces, rejected, currency, postage, postage_savings, "
                         "peak_memory_mb FROM runs")
        docs = s.query("SELECT doc_id, channel, print_file, first_page, pages, piece_id, cost FROM documents "
                       "WHERE run_id = ? ORDER BY seq", (run[0],))
        phases = dict(s.query("SELECT phase, seconds FROM run_phases"))
        volumes = s.query("SELECT stream, channel, pieces, documents FROM run_volumes ORDER BY stream")
        cost_total = s.query("SELECT cost_total FROM runs")[0][0]
    from ccm_batch.layout import load_layout
    from ccm_batch.run import _fingerprint
    j = load_job(job, {"output_dir": out})
    fingerprint = _fingerprint(j, load_layout(j.layout), report["inputs"][0]["sha256"])
    assert run[1:5] == ("run", "invoice", "2026-11-23", 0)
    assert run[5] == report["inputs"][0]["sha256"]
    assert run[6] == fingerprint["layout_sha256"]       # the run's layout fingerprint (restart check)
    assert run[7:12] == (report["records_read"], report["documents_produced"], report["pages"], report["sheets"],
                         report["mail"]["pieces out"])
    assert (run[13], run[14], run[15]) == ("EUR", "15.04", "2.78")
    assert run[16] > 0
    assert set(phases) == set(report["timing"]["phases_s"])
    # per-document rows agree with the archive index written by the renderer (file and first page)
    index = {}
    for f in out.glob("*.pdf.index.csv"):
        for row in csv.DictReader(open(f, encoding="utf-8")):
            index[row["doc_id"]] = (row["print_file"], int(row["first_page"]), int(row["page_count"]))
    assert {d[0]: (d[2], d[3], d[4]) for d in docs} == index
    assert {d[1] for d in docs} == {"paper"}
    # document costs are exact; the run total is the sum of its lines rounded to the cent (6 lines here)
    assert abs(sum(Decimal(d[6]) for d in docs) - Decimal(cost_total)) <= 6 * Decimal("0.005")
    assert Decimal(cost_total) > Decimal("15.04")                  # postage and the priced paper items
    assert {v[0]: v[3] for v in volumes} == {"intl-dl": 2, "laposte-li-dl": 10}
    # Prometheus textfile collector
    m = _metrics(tmp_path / "prom" / "ccm_batch_invoice.prom")
    job_label = (("job", "invoice"),)
    assert m[("ccm_batch_run_pages", job_label)] == report["pages"]
    assert m[("ccm_batch_run_documents", job_label)] == report["documents_produced"]
    assert m[("ccm_batch_run_rejects", job_label)] == 0
    assert m[("ccm_batch_run_exit_code", job_label)] == 0
    assert m[("ccm_batch_run_duration_seconds", job_label)] == report["timing"]["duration_s"]
    assert m[("ccm_batch_run_last_success_timestamp_seconds", job_label)] == \
        m[("ccm_batch_run_last_run_timestamp_seconds", job_label)]


def test_failed_run_keeps_the_last_success_timestamp(tmp_path):
    data = make_extract(tmp_path / "inv.xml", 6)
    prom_dir = tmp_path / "prom"
    job = write_job(tmp_path, data, extra=f'[monitoring]\ntextfile_dir = "{prom_dir}"\n')
    assert run_cli("run", job, "-w", "1").returncode == 0
    first = _metrics(prom_dir / "ccm_batch_inv.prom")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(data.read_bytes().replace(b"<ht>", b"<ht>x", 2))
    r = run_cli("run", job, "-i", bad, "--max-rejects", "0", "-w", "1")
    assert r.returncode == 8, r.stderr
    second = _metrics(prom_dir / "ccm_batch_inv.prom")
    label = (("job", "inv"),)
    assert second[("ccm_batch_run_exit_code", label)] == 8
    assert second[("ccm_batch_run_rejects", label)] >= 1
    assert sum(v for (n, _), v in second.items() if n == "ccm_batch_run_rejects_by_reason") == \
        second[("ccm_batch_run_rejects", label)]
    assert second[("ccm_batch_run_last_success_timestamp_seconds", label)] == \
        first[("ccm_batch_run_last_success_timestamp_seconds", label)]
    assert second[("ccm_batch_run_last_run_timestamp_seconds", label)] >= \
        first[("ccm_batch_run_last_run_timestamp_seconds", label)]
    with open_store(tmp_path / "ccm-history" / "history.db") as s:
        assert s.query("SELECT exit_code FROM runs ORDER BY finished_at, exit_code") == [(0,), (8,)]


def test_history_that_cannot_be_written_warns_and_keeps_the_outputs(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the history directory should be")
    data = make_extract(tmp_path / "inv.xml", 4)
    job = write_job(tmp_path, data, extra=f'[history]\npath = "{blocker}/history.db"\n')
    r = run_cli("run", job, "-w", "1")
    assert r.returncode == 0, r.stderr
    assert "CCM0710W" in r.stdout + r.stderr and "NOT recorded" in r.stdout + r.stderr
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text())["documents_produced"] == 4
    assert list(out.glob("*.pdf")) and not (tmp_path / "out" / ".ccm-work-inv").exists()


def test_reprint_is_recorded_with_reprinted_events(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 8)
    job = write_job(tmp_path, data, extra="[mail]\nenabled = true\n")
    assert run_cli("run", job, "-w", "1").returncode == 0
    out = tmp_path / "out"
    pieces = list(csv.DictReader(open(out / "inv.mailrun.csv", encoding="utf-8")))
    result = tmp_path / "result.csv"
    result.write_text("piece_id,status\n" + "".join(f"{p['piece_id']},{'DAMAGED' if i == 2 else 'OK'}\n"
                                                    for i, p in enumerate(pieces)))
    assert run_cli("reprint", "--run", out, "--result", result).returncode == 0
    with open_store(tmp_path / "ccm-history" / "history.db") as s:
        kinds = s.query("SELECT kind, job, documents FROM runs ORDER BY kind")
        events = s.query("SELECT e.doc_id, e.kind, r.kind FROM events e JOIN runs r ON r.run_id = e.run_id")
    damaged = pieces[2]["doc_ids"].split(";")
    assert kinds == [("reprint", "inv-reprint", len(damaged)), ("run", "inv", 8)]
    assert sorted(events) == sorted((d, "reprinted", "run") for d in damaged)


@pytest.mark.parametrize("section, message", [
    ('[history]\nurl = "mysql://x"\n', "not a postgresql:// URL"),
    ('[history]\nurl = "postgresql://h/db"\npath = "h.db"\n', "not both"),
    ('[costs]\npaper_per_sheet = -1\n', "must be an amount"),
    ('[costs]\npaper_per_sheat = 0.01\n', "unknown key"),
    ('[costs]\nenvelopes = 3\n', "expected a table"),
    ('[monitoring]\ndir = "x"\n', "unknown key"),
])
def test_bad_history_keys_are_configuration_errors(tmp_path, section, message):
    data = make_extract(tmp_path / "inv.xml", 2)
    job = write_job(tmp_path, data, extra=section)
    with pytest.raises(ConfigError, match=message):
        load_job(job)


def test_costs_from_a_shared_file_and_deadline_forms(tmp_path):
    shared = tmp_path / "costs.toml"
    shared.write_text('[costs]\ncurrency = "eur"\npaper_per_sheet = 0.012\nenvelopes = { DL = 0.02 }\n')
    data = make_extract(tmp_path / "inv.xml", 2)
    job = write_job(tmp_path, data, extra='[costs]\nfile = "costs.toml"\npaper_per_sheet = 0.015\n')
    text = job.read_text().replace("[job]\n", '[job]\ndeadline = "06:30"\n', 1)
    job.write_text(text)
    cfg = load_job(job).history
    assert cfg.costs.currency == "EUR"
    assert cfg.costs.paper_per_sheet == Decimal("0.015")          # the job's own key wins
    assert cfg.costs.envelope_cost("DL") == Decimal("0.02") and cfg.costs.envelope_cost("C4") == 0
    assert cfg.deadline.startswith("2026-11-24T06:30:00")          # the morning after the job date
    job.write_text(text.replace('"06:30"', '"2026-11-23T22:00:00+01:00"'))
    assert load_job(job).history.deadline == "2026-11-23T22:00:00+01:00"
    job.write_text(text.replace('"06:30"', '"tonight"'))
    with pytest.raises(ConfigError, match="deadline"):
        load_job(job)
