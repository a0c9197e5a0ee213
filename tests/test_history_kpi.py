"""KPIs of ten demo-like runs on different job dates: recomputed from the reports to the cent, identical on
SQLite and PostgreSQL, and shown by the dashboard in headless Chromium."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess

import pytest

from ccm_batch.history import open_store
from history_support import demo_job, pg_server, pg_url, recompute_kpis, SAMPLE_CURRENCY  # noqa: F401
from runjobs import run_cli

# (job date, sample, bad records in a generated extract or 0 for the bundled one, deadline met?)
PLAN = [("2026-11-01", "invoice", 0, True), ("2026-11-02", "letter", 0, False),
        ("2026-11-03", "statement", 0, True), ("2026-11-04", "us-statement", 0, True),
        ("2026-11-05", "invoice", 2, False), ("2026-11-06", "letter", 0, True),
        ("2026-11-07", "statement", 3, True), ("2026-11-08", "us-statement", 0, False),
        ("2026-11-09", "invoice", 0, True), ("2026-11-10", "letter", 1, True)]
GENERATED = {"invoice": "invoices.xml", "letter": "letters.xml", "statement": "statements.xml"}
FUTURE, PAST = "2099-01-01T00:00:00+00:00", "2000-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Ten runs recorded in one SQLite history; two returned letters and a delivered one fed back."""
    base = tmp_path_factory.mktemp("ten")
    loc = str(base / "history.db")
    runs = []
    for i, (date, sample, bad, on_time) in enumerate(PLAN):
        d = base / f"run{i}"
        d.mkdir()
        job = demo_job(d, sample, history=loc, deadline=FUTURE if on_time else PAST)
        args = ["run", job, "-o", d / "out", "--date", date, "-w", "1"]
        if bad:
            assert run_cli("samples", "-n", 10, "--bad", bad, "--seed", i, "-o", d / "data").returncode == 0
            args += ["-i", d / "data" / GENERATED[sample]]
        r = run_cli(*args)
        assert r.returncode in (0, 4), r.stderr
        assert "CCM0712I" in r.stdout + r.stderr
        runs.append((d / "out", SAMPLE_CURRENCY[sample]))
    with open_store(loc) as s:
        paper = s.query("SELECT d.doc_id FROM documents d JOIN runs r ON r.run_id = d.run_id "
                        "WHERE r.job_date = '2026-11-09' ORDER BY d.seq")
    for doc_id, kind in ((paper[0][0], "returned"), (paper[1][0], "returned"), (paper[2][0], "delivered")):
        assert run_cli("history", "event", "--history", loc, "--job", "invoice", doc_id, kind).returncode == 0
    return {"location": loc, "runs": runs, "base": base}


def _kpi_json(location, *extra) -> tuple[str, dict]:
    r = run_cli("kpi", "--history", location, "--format", "json", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(r.stdout)


def test_kpis_agree_with_the_reports_to_the_cent(history):
    _, k = _kpi_json(history["location"])
    expect = recompute_kpis(history["runs"])
    assert k["selection"]["runs"] == 10
    assert k["volumes"]["communications"] == expect["communications"]
    assert k["volumes"]["by_channel"] == {"paper": expect["communications"]}
    assert k["volumes"]["paper_pieces"] == expect["paper_pieces"]
    assert k["e_delivery_adoption"]["pct"] == "0.00"
    assert expect["rejected"] > 0
    assert (k["reject_rate"]["numerator"], k["reject_rate"]["denominator"], k["reject_rate"]["pct"]) == \
        (expect["rejected"], expect["records"], expect["reject_pct"])
    assert {r: v["numerator"] for r, v in k["reject_rate"]["by_reason"].items()} == expect["reasons"]
    assert k["throughput"]["pages_per_minute"] == expect["pages_per_minute"]
    assert set(k["cost"]) == set(expect["money"]) == {"EUR", "USD"}
    for cur, m in expect["money"].items():
        assert k["cost"][cur]["total"] == m["total"], cur
        assert k["cost"][cur]["per_communication"] == m["per_communication"], cur
        assert k["postage"][cur]["postage"] == m["postage"], cur
        assert k["postage"][cur]["savings"] == m["savings"], cur
        assert k["postage"][cur]["savings_pct"] == m["savings_pct"], cur
    on_time = sum(1 for p in PLAN if p[3])
    assert (k["on_time"]["numerator"], k["on_time"]["denominator"]) == (on_time, 10)
    assert k["returned_mail_rate"]["numerator"] == 2
    assert k["returned_mail_rate"]["denominator"] == expect["communications"]
    assert k["delivery_rate"]["paper"]["numerator"] == expect["communications"] - 2
    assert k["delivery_rate"]["paper"]["confirmed"]["numerator"] == 1
    assert [p["job_date"] for p in k["trend"]["periods"]] == [p[0] for p in PLAN]


def test_job_and_since_select_runs(history):
    _, k = _kpi_json(history["location"], "--job", "invoice", "--since", "2026-11-05")
    chosen = [run for run, p in zip(history["runs"], PLAN) if p[1] == "invoice" and p[0] >= "2026-11-05"]
    expect = recompute_kpis(chosen)
    assert k["selection"]["runs"] == len(chosen) == 2
    assert k["cost"]["EUR"]["total"] == expect["money"]["EUR"]["total"]
    assert k["volumes"]["communications"] == expect["communications"]
    bad = run_cli("kpi", "--history", history["location"], "--since", "yesterday")
    assert bad.returncode == 12 and "YYYY-MM-DD" in bad.stdout + bad.stderr


def test_csv_and_table_show_the_json_numbers(history):
    _, k = _kpi_json(history["location"])
    r = run_cli("kpi", "--history", history["location"], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    by = {(row["kpi"], row["dimension"]): row for row in rows}
    assert by[("cost per communication", "EUR")]["value"] == k["cost"]["EUR"]["per_communication"]
    assert by[("reject rate", "all")]["numerator"] == str(k["reject_rate"]["numerator"])
    table = run_cli("kpi", "--history", history["location"]).stdout
    assert k["cost"]["USD"]["total"] in table and "on-time completion" in table


def test_same_history_on_postgresql_gives_identical_kpis(history, pg_url):  # noqa: F811
    r = run_cli("history", "copy", history["location"], pg_url)
    assert r.returncode == 0, r.stderr
    sqlite_text, _ = _kpi_json(history["location"])
    pg_text, _ = _kpi_json(pg_url)
    assert pg_text == sqlite_text
    assert _kpi_json(pg_url, "--job", "letter")[0] == _kpi_json(history["location"], "--job", "letter")[0]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed")
    return exe


def _chromium_args(tmp_path):
    return [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr'}",
            "--window-size=1400,2000", "--virtual-time-budget=10000"]


def _at(k: dict, path: str):
    for part in path.split("."):
        k = k[part]
    return k


def test_dashboard_in_headless_chromium(history, tmp_path):
    from lxml import html as lhtml
    _, k = _kpi_json(history["location"])
    out = tmp_path / "dash"
    r = run_cli("dashboard", "--history", history["location"], "--out", out)
    assert r.returncode == 0, r.stderr
    page = out / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text.split("<script>")[0] and "src=\"http" not in text   # nothing fetched
    dom = subprocess.run(_chromium_args(tmp_path) + ["--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    tree = lhtml.fromstring(dom.stdout)
    plots = tree.xpath("//div[contains(@class, 'js-plotly-plot')]")
    assert len(plots) == 6
    for plot in plots:                                  # plotly.js drew each chart (SVG with marks)
        assert plot.xpath(".//*[local-name()='svg' and contains(@class, 'main-svg')]")
        assert plot.xpath(".//*[contains(@class, 'trace') or contains(@class, 'slice')]"), plot.get("id")
    spans = tree.xpath("//span[@data-kpi]")
    assert len(spans) >= 12
    for span in spans:
        value = _at(k, span.get("data-kpi"))
        assert span.text_content() == ("–" if value is None else str(value)), span.get("data-kpi")
    assert tree.xpath("string(//table[@id='last-run'])").count(k["last_run"]["job"]) >= 1
    shot = tmp_path / "dashboard.png"
    s = subprocess.run(_chromium_args(tmp_path) + [f"--screenshot={shot}", page.as_uri()], capture_output=True,
                       text=True, timeout=180)
    assert s.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("CCM_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
