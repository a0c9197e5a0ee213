"""History store: migrations, events, copy, and concurrent writers on SQLite and a real PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from ccm_batch.history import open_store, record_event, record_events
from ccm_batch.history.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from history_support import demo_job, pg_server, pg_url  # noqa: F401 - fixtures

from runjobs import run_cli


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "hist" / "history.db")
    return request.getfixturevalue("pg_url")


def _count(loc, sql, params=()):
    with open_store(loc) as s:
        return s.query(sql, params)[0][0]


def test_migrations_applied_once_and_versioned(location):
    with open_store(location) as s:
        assert s.version() == SCHEMA_VERSION
        rows = s.query("SELECT version, description FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    with open_store(location) as s:                   # reopening applies nothing twice
        assert s.query("SELECT COUNT(*) FROM schema_version")[0][0] == len(MIGRATIONS)
        for table in TABLES:
            assert s.query(f"SELECT COUNT(*) FROM {table}")[0][0] == 0


def test_events_are_matched_to_the_latest_run_of_the_document(location, tmp_path):
    out = tmp_path / "out"
    job = demo_job(tmp_path, "letter", history=location)
    for date in ("2026-11-02", "2026-11-09"):
        r = run_cli("run", job, "-o", out / date, "--date", date, "-w", "1")
        assert r.returncode in (0, 4), r.stderr
    with open_store(location) as s:
        runs = s.query("SELECT run_id, job_date FROM runs ORDER BY job_date")
        doc_id = s.query("SELECT doc_id FROM documents WHERE run_id = ? ORDER BY seq", (runs[1][0],))[0][0]
    assert record_event(doc_id, "returned", location=location, detail="NPAI") == runs[1][0]
    assert record_event("NO-SUCH-DOC", "returned", location=location) is None
    r = run_cli("history", "event", "--history", location, "NO-SUCH-DOC", "returned")
    assert r.returncode == 0 and "CCM0713W" in r.stdout + r.stderr
    record_events([{"doc_id": doc_id, "kind": "reprinted", "run_id": runs[0][0]}], job="letter", location=location)
    with open_store(location) as s:
        events = s.query("SELECT run_id, kind, channel, job, detail FROM events WHERE doc_id = ? "
                         "ORDER BY event_id", (doc_id,))
    assert events == [(runs[1][0], "returned", "paper", "letter", "NPAI"),
                      (runs[0][0], "reprinted", "paper", "letter", None)]
    with pytest.raises(ValueError):
        record_event(doc_id, "exploded", location=location)


def test_two_concurrent_runs_lose_nothing(location, tmp_path):
    """Two `ccm-batch run` processes of different jobs share one history: both runs and all their
    documents are there."""
    jobs = [demo_job(tmp_path, "invoice", history=location), demo_job(tmp_path, "letter", history=location)]
    procs = [subprocess.Popen([sys.executable, "-m", "ccm_batch.cli", "run", str(j), "-o", str(tmp_path / j.stem),
                               "-w", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for j in jobs]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode in (0, 4), e
        assert "CCM0710W" not in e
    reports = [json.loads((tmp_path / j.stem / "report.json").read_text()) for j in jobs]
    with open_store(location) as s:
        runs = dict(s.query("SELECT job, documents FROM runs"))
        docs = dict(s.query("SELECT r.job, COUNT(*) FROM documents d JOIN runs r ON r.run_id = d.run_id "
                            "GROUP BY r.job"))
    assert runs == {r["job"]: r["documents_produced"] for r in reports}
    assert docs == runs


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ccm_batch.history import open_store, record_event
    loc, who, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    open_store(loc).close()
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for i in range(n):
        record_event(f"{who}-{i}", "sent", location=loc, channel="email", message_id=f"<{who}.{i}@t>")
""")


def test_concurrent_writers_lose_no_event(location, tmp_path):
    """Two processes each record 150 events, one transaction each, at the same time (started together
    by a go file): all 300 are stored, none twice."""
    go = tmp_path / "go"
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, location, who, str(n), str(go)],
                              stderr=subprocess.PIPE, text=True) for who in ("a", "b")]
    go.write_text("go")
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert _count(location, "SELECT COUNT(*) FROM events") == 2 * n
    assert _count(location, "SELECT COUNT(DISTINCT message_id) FROM events") == 2 * n


OPENER = textwrap.dedent("""
    import sys
    from ccm_batch.history import open_store
    print("ready", flush=True)
    sys.stdin.readline()
    open_store(sys.argv[1]).close()
""")


def test_processes_opening_a_new_sqlite_history_together_all_open_it(tmp_path):
    """Four processes open the same not-yet-created SQLite history at once (released together through
    their stdin once all are ready), six times over: every one opens it. Switching a new file to WAL
    needs the exclusive lock and SQLite refuses it at once, without the busy timeout, to the loser."""
    for round_ in range(6):
        loc = str(tmp_path / f"h{round_}" / "history.db")
        procs = [subprocess.Popen([sys.executable, "-c", OPENER, loc], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        with open_store(loc) as s:
            assert s.query("PRAGMA journal_mode")[0][0] == "wal"
            assert s.version() == SCHEMA_VERSION


def test_copy_sqlite_history_into_postgresql(tmp_path, pg_url):  # noqa: F811
    sqlite_loc = str(tmp_path / "h.db")
    job = demo_job(tmp_path, "letter", history=sqlite_loc)
    assert run_cli("run", job, "-o", tmp_path / "o", "-w", "1").returncode in (0, 4)
    record_event("missing-doc", "bounced", location=sqlite_loc, channel="email")
    r = run_cli("history", "copy", sqlite_loc, pg_url)
    assert r.returncode == 0, r.stderr
    with open_store(sqlite_loc) as a, open_store(pg_url) as b:
        for table in TABLES:
            cols = "recorded_at, doc_id, kind, channel" if table == "events" else "*"
            assert a.query(f"SELECT {cols} FROM {table} ORDER BY 1, 2") == \
                b.query(f"SELECT {cols} FROM {table} ORDER BY 1, 2"), table
    again = run_cli("history", "copy", sqlite_loc, pg_url)          # a second copy would double count
    assert again.returncode == 12 and "already in the destination" in again.stdout + again.stderr
