"""Progress: cron lines (CCM0201I) and terminal bars advance with the real work in every phase and end at
100 % with the true counts, also after a restart; a pseudo-terminal of 0 columns still gets its bars; the
CCM0205I phase lines are the ones the README lists, and a job without [mail] does not speak of mail pieces."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest

from runjobs import CLI, make_extract, run_cli, write_job

MAIL = "[mail]\nenabled = true\nmax_pieces_per_file = 9\n"


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return make_extract(tmp_path_factory.mktemp("data") / "invoices.xml", 60)


def _lines(stderr: str, msgid: str) -> list[str]:
    return [line.split(f"{msgid} ", 1)[1] for line in stderr.splitlines() if f" {msgid} " in line]


def _progress(stderr: str, phase: str) -> list[tuple[int, str]]:
    out = []
    for text in _lines(stderr, "CCM0201I"):
        m = re.fullmatch(rf"{phase}: (\d+)%(?: \((.*)\))?", text)
        if m:
            out.append((int(m.group(1)), m.group(2) or ""))
    return out


def _check_lines(stderr: str, report: dict) -> None:
    compose, render = _progress(stderr, "compose"), _progress(stderr, "render")
    for steps in (compose, render):
        assert [p for p, _ in steps] == list(range(10, 101, 10))       # every step, none skipped
    assert compose[-1][1] == f"{report['records_read']} records read"
    files = len([f for f in report["files"] if f["path"].endswith(".pdf") and "/" not in f["path"]])
    n = report["documents_produced"]
    plural = "s" if files != 1 else ""
    assert render[-1][1] == f"{n}/{n} documents, {files}/{files} print file{plural}, {report['pages']} pages"
    done = [int(d.split("/")[0].replace(",", "")) for _, d in render if d]
    assert done == sorted(done) and all(d * 100 >= p * n for (p, dd), d in zip([s for s in render if s[1]], done))


def test_cron_lines_advance_and_end_at_100_percent_with_true_counts(tmp_path, extract):
    job = write_job(tmp_path, extract, extra=MAIL, chunk_size=4)
    proc = run_cli("run", job, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    _check_lines(proc.stderr, report)
    phases = [line.split(":")[0] for line in _lines(proc.stderr, "CCM0205I")]
    assert phases == ["compose", "collect", "plan", "render", "mail files"]      # as the README lists them
    plan = next(line for line in _lines(proc.stderr, "CCM0205I") if line.startswith("plan:"))
    assert plan.endswith(f"({report['mail']['pieces out']} mail pieces in 7 print files)"), plan
    assert "1 files" not in proc.stderr and "1 pieces" not in proc.stderr


def test_without_mail_the_plan_line_speaks_of_documents_and_one_file(tmp_path, extract):
    job = write_job(tmp_path, extract, chunk_size=4)
    proc = run_cli("run", job, "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "mail piece" not in proc.stderr
    plan = next(line for line in _lines(proc.stderr, "CCM0205I") if line.startswith("plan:"))
    assert plan.endswith("(mail production off: 60 documents in 1 print file)"), plan
    _check_lines(proc.stderr, json.loads((tmp_path / "out" / "report.json").read_text()))


@pytest.mark.parametrize("fault", ["compose:5", "render:3"])
def test_after_a_restart_the_lines_still_end_at_the_true_counts(tmp_path, extract, fault):
    job = write_job(tmp_path, extract, extra=MAIL, chunk_size=4)
    crashed = run_cli("run", job, "--workers", 1, env={"CCM_FAULT": fault})
    assert crashed.returncode == -9
    proc = run_cli("run", job, "--restart", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    _check_lines(proc.stderr, report)
    assert "collect: " in proc.stderr and f"({report['records_read']} records read, 0 rejected)" in proc.stderr


def test_bars_on_a_pseudo_terminal_of_zero_columns_advance_to_100_percent(tmp_path, extract):
    job = write_job(tmp_path, extract, extra=MAIL, chunk_size=4)
    master, slave = pty.openpty()                  # a fresh pty: 0 rows, 0 columns
    assert os.get_terminal_size(slave).columns == 0
    proc = subprocess.Popen([*CLI, "run", str(job), "--workers", "2"], stderr=slave, stdout=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items() if k != "CCM_FAULT"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:                           # EIO: the run closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert re.search(r"compose: 100%\|[^|]+\| 60 records read", screen), screen[-2000:]
    assert re.search(r"render: 100%\|[^|]+\| 60/60 documents, 7/7 print files, \d+ pages", screen), screen[-2000:]
    assert re.search(r"render: +[1-9]\d?%\|", screen) or "render: 100%" in screen
