"""History retention: `ccm-batch history prune` and `[history] keep_days`, on SQLite and a real PostgreSQL.

Real runs of the letter sample fill the history; what a prune leaves is compared with what each run had
before it, table by table, run by run."""
from __future__ import annotations

import datetime as dt

import pytest

from ccm_batch.history import _apply_retention, open_store, record_event
from ccm_batch.history.config import HistoryConfig
from ccm_batch.history.schema import TABLES
from history_support import demo_job, pg_server, pg_url  # noqa: F401 - fixtures

from runjobs import run_cli

DATES = ("2026-11-02", "2026-11-09", "2026-11-16")


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "hist" / "history.db")
    return request.getfixturevalue("pg_url")


def _rows_by_run(loc) -> dict:
    """{table: {run_id or None: rows}} for every table of the history."""
    out = {}
    with open_store(loc) as s:
        for table in TABLES:
            out[table] = dict(s.query(f"SELECT run_id, COUNT(*) FROM {table} GROUP BY run_id"))
    return out


def _run(job, out, date, *extra):
    r = run_cli("run", job, "-o", out / date, "--date", date, "-w", "1", *extra)
    assert r.returncode in (0, 4), r.stderr
    return r


def test_prune_removes_old_runs_with_their_rows_and_nothing_else(location, tmp_path):
    letter = demo_job(tmp_path, "letter", history=location)
    other = demo_job(tmp_path, "letter", history=location, name="letter-b2b")
    for date in DATES:
        _run(letter, tmp_path / "out", date)
    _run(other, tmp_path / "out-b2b", DATES[0])           # another job, as old as the oldest
    with open_store(location) as s:
        runs = dict(s.query("SELECT job_date, run_id FROM runs WHERE job = 'letter'"))
        b2b = s.query("SELECT run_id FROM runs WHERE job = 'letter-b2b'")[0][0]
        docs = {d: s.query("SELECT doc_id FROM documents WHERE run_id = ? ORDER BY seq", (r,))[0][0]
                for d, r in runs.items()}
    # an event of the oldest run (matched to it explicitly), one of the newest, one matching no run
    record_event(docs[DATES[0]], "returned", location=location, run_id=runs[DATES[0]], job="letter")
    record_event(docs[DATES[2]], "returned", location=location, job="letter")
    record_event("NO-SUCH-DOC", "bounced", location=location, job="letter")
    before = _rows_by_run(location)
    assert before["documents"][runs[DATES[0]]] > 0 and before["events"][runs[DATES[0]]] == 1

    r = run_cli("history", "prune", "--history", location, "--before", DATES[1], "--job", "letter", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would be removed" in r.stdout
    counted = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in r.stdout.splitlines()[1:]}
    assert counted["runs"] == 1 and counted["documents"] == before["documents"][runs[DATES[0]]]
    assert counted["events"] == 1                  # the oldest run's event; the unmatched one is recorded today
    assert _rows_by_run(location) == before        # a dry run removes nothing

    r = run_cli("history", "prune", "--history", location, "--before", DATES[1], "--job", "letter")
    assert r.returncode == 0, r.stderr
    after = _rows_by_run(location)
    gone = runs[DATES[0]]
    for table in TABLES:
        expected = {k: v for k, v in before[table].items() if k != gone}
        assert after[table] == expected, table
    removed = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in r.stdout.splitlines()[1:]}
    assert removed == counted
    assert b2b in after["documents"]               # the other job's run of the same date stays

    # without --job, the same cutoff takes the other job's old run too; kpi still reads the history
    r = run_cli("history", "prune", "--history", location, "--before", DATES[1])
    assert r.returncode == 0, r.stderr
    with open_store(location) as s:
        left = sorted(s.query("SELECT job, job_date FROM runs"))
    assert left == [("letter", DATES[1]), ("letter", DATES[2])]
    r = run_cli("kpi", "--history", location, "--format", "json")
    assert r.returncode == 0, r.stderr


def test_prune_keeps_unmatched_events_of_the_kept_period_and_removes_older_ones(tmp_path):
    loc = str(tmp_path / "history.db")
    record_event("NOT-A-DOC-1", "bounced", location=loc, job="letter")
    with open_store(loc) as s:                 # an unmatched event recorded long ago
        s.write(lambda tx: tx.execute("UPDATE events SET recorded_at = '2025-01-31T08:00:00Z'"))
    record_event("NOT-A-DOC-2", "bounced", location=loc, job="letter")
    r = run_cli("history", "prune", "--history", loc, "--before", "2025-02-01")
    assert r.returncode == 0, r.stderr
    with open_store(loc) as s:
        assert s.query("SELECT doc_id FROM events") == [("NOT-A-DOC-2",)]


def test_keep_days_prunes_the_jobs_old_runs_after_each_run(tmp_path):
    loc = str(tmp_path / "hist" / "history.db")
    letter = demo_job(tmp_path, "letter", history=loc)
    letter.write_text(letter.read_text().replace("[history]\n", "[history]\nkeep_days = 8\n"))
    other = demo_job(tmp_path, "letter", history=loc, name="letter-b2b")
    _run(other, tmp_path / "out-b2b", "2026-10-01")        # another job without retention: never touched
    r = _run(letter, tmp_path / "out", DATES[0])
    assert "CCM0715I" not in r.stderr                     # nothing old enough yet
    r = _run(letter, tmp_path / "out", DATES[1])          # 7 days later: inside the 8 kept days
    assert "CCM0715I" not in r.stderr
    r = _run(letter, tmp_path / "out", DATES[2])          # keeps 2026-11-09 … 2026-11-16
    assert "CCM0715I" in r.stderr and "dated before 2026-11-09" in r.stderr
    with open_store(loc) as s:
        assert sorted(s.query("SELECT job, job_date FROM runs")) == [
            ("letter", DATES[1]), ("letter", DATES[2]), ("letter-b2b", "2026-10-01")]
        orphans = s.query("SELECT COUNT(*) FROM documents WHERE run_id NOT IN (SELECT run_id FROM runs)")
    assert orphans == [(0,)]


@pytest.mark.parametrize("value", ["0", '"8"', "true", "-3", "2.5"])
def test_keep_days_must_be_a_whole_number_of_days(tmp_path, value):
    job = demo_job(tmp_path, "letter", history=str(tmp_path / "h.db"))
    job.write_text(job.read_text().replace("[history]\n", f"[history]\nkeep_days = {value}\n"))
    r = run_cli("run", job, "-o", tmp_path / "out")
    assert r.returncode == 12
    assert "[history] keep_days" in r.stderr and f"{job}" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    ([], "--before DATE or --keep-days N"),
    (["--before", "2026-11-01", "--keep-days", "3"], "--before DATE or --keep-days N"),
    (["--before", "2026-13-01"], "not a date"),
    (["--before", (dt.date.today() + dt.timedelta(days=1)).isoformat()], "after today"),
])
def test_prune_refuses_unclear_cutoffs(tmp_path, args, message):
    loc = str(tmp_path / "history.db")
    record_event("D-1", "sent", location=loc, job="letter")
    r = run_cli("history", "prune", "--history", loc, *args)
    assert r.returncode == 12, r.stdout + r.stderr
    assert message in r.stderr
    with open_store(loc) as s:
        assert s.query("SELECT COUNT(*) FROM events") == [(1,)]


def test_keep_days_counts_back_from_today_on_the_command_line(tmp_path):
    loc = str(tmp_path / "history.db")
    today = dt.date.today()
    rows = [(f"r{i}", (today - dt.timedelta(days=i)).isoformat()) for i in (0, 2, 3, 10)]
    with open_store(loc) as s:
        s.write(lambda tx: tx.executemany(
            "INSERT INTO runs (run_id, kind, job, job_date, started_at, finished_at, exit_code, status) "
            "VALUES (?, 'run', 'letter', ?, 'x', 'x', 0, 'ok')", rows))
    r = run_cli("history", "prune", "--history", loc, "--keep-days", "3")
    assert r.returncode == 0, r.stderr
    with open_store(loc) as s:                           # today and the 2 days before it are kept
        assert sorted(x[0] for x in s.query("SELECT run_id FROM runs")) == ["r0", "r2"]


class _Log:
    def __init__(self):
        self.messages = []

    def message(self, msgid, text, force=False):
        self.messages.append((msgid, text))


def test_a_retention_that_fails_is_a_warning_never_a_failed_run(tmp_path):
    (tmp_path / "not-a-db").mkdir()                    # a directory where the history file should be
    job = type("Job", (), {"date": "2026-11-16", "name": "letter"})()
    log = _Log()
    _apply_retention(job, HistoryConfig(location=str(tmp_path / "not-a-db"), keep_days=8), log)
    assert [m[0] for m in log.messages] == ["CCM0716W"]
    assert "keep_days = 8" in log.messages[0][1]
