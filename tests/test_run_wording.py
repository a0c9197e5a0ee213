"""Failure wording: a reject-limit stop names the limit that tripped with the numbers and the next step, and
never says "OK" (nothing was released); a run with rejects but no warnings is not "completed with warnings";
the report path is printed normalized."""
from __future__ import annotations

import json

import pytest

from runjobs import make_extract, run_cli, write_job


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return make_extract(tmp_path_factory.mktemp("data") / "invoices.xml", 200)


def _corrupt(extract, tmp_path, n):
    data = tmp_path / "bad.xml"
    data.write_bytes(extract.read_bytes().replace(b"<ht>", b"<ht>x", n))
    return data


def test_reject_rate_stop_names_the_rate_the_limit_and_the_next_step(tmp_path, extract):
    data = _corrupt(extract, tmp_path, 14)          # 14 of 200 = 7 % > 5 %
    job = write_job(tmp_path, data, chunk_size=50, extra="[rejects]\nmax_reject_rate = 0.05\n")
    proc = run_cli("run", job, "--workers", 1)
    assert proc.returncode == 8, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    rejected, read = report["records_rejected"], report["records_read"]      # stopped at the first check
    cause = f"{rejected} of {read} records rejected: {rejected * 100 / read:.1f} % > 5 % (max_reject_rate=0.05)"
    assert rejected * 100 / read > 5
    last = proc.stderr.strip().splitlines()[-1]
    assert f"CCM0901E reject limit exceeded ({cause})" in last, last
    assert "no print file released" in last and ": OK" not in last and "exit code 8" in last
    stop = next(line for line in proc.stderr.splitlines() if "CCM0302E" in line)
    assert cause in stop and "inv.reasons.csv" in stop and "run again" in stop
    assert report["status"] == "stopped: reject limit exceeded, nothing released"
    assert report["reconciliation"]["line"].endswith(": balanced") and report["reconciliation"]["ok"]
    text = (tmp_path / "out" / "report.txt").read_text()
    assert f"{report['reconciliation']['line']}\nREJECT LIMIT EXCEEDED: {cause}" in text and ": OK" not in text


def test_reject_count_stop_names_max_rejects(tmp_path, extract):
    data = _corrupt(extract, tmp_path, 5)
    job = write_job(tmp_path, data, chunk_size=50, extra="[rejects]\nmax_rejects = 3\n")
    proc = run_cli("run", job, "--workers", 1)
    assert proc.returncode == 8
    assert "reject limit exceeded (5 records rejected > max_rejects=3)" in proc.stderr.splitlines()[-1]


def test_rejects_without_warnings_are_not_called_warnings(tmp_path, extract):
    data = _corrupt(extract, tmp_path, 2)
    job = write_job(tmp_path, data, chunk_size=50)
    proc = run_cli("run", job, "--workers", 1)
    assert proc.returncode == 4, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["warnings"] == 0 and report["records_rejected"] == 2
    assert report["status"] == "completed with rejects"
    assert "status            completed with rejects (exit code 4)" in (tmp_path / "out" / "report.txt").read_text()


def test_report_path_is_printed_normalized(tmp_path, extract):
    (tmp_path / "jobs").mkdir()
    job = write_job(tmp_path / "jobs", extract, chunk_size=50)
    job.write_text(job.read_text().replace('dir = "out"', 'dir = "../out"'))
    proc = run_cli("run", job, "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith(f"report in {tmp_path / 'out' / 'report.txt'}"), proc.stderr
