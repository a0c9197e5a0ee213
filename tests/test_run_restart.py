"""Restart after a crash: a run killed (SIGKILL) during compose, render or commit, or a worker killed
during compose, render or the mail plan, then finished with
``--restart``, gives byte-identical outputs to an uninterrupted run; a changed input is refused."""
from __future__ import annotations

import json

import pytest

from runjobs import make_extract, output_files, run_cli, write_job

MAIL = "[mail]\nenabled = true\nmax_pieces_per_file = 9\n"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    data = make_extract(d / "invoices.xml", 30)
    job = write_job(d, data, extra=MAIL, chunk_size=4)
    proc = run_cli("run", job)
    assert proc.returncode == 0, proc.stderr
    return data, output_files(d / "out"), json.loads((d / "out" / "report.json").read_text())


@pytest.mark.parametrize("fault, workers", [("compose:3", 1), ("render:2", 1), ("commit:1", 1),
                                            ("compose:2", 2), ("render:1", 2), ("plan:2", 2)])
def test_killed_run_restarts_to_identical_outputs(tmp_path, reference, fault, workers):
    data, expected, expected_report = reference
    job = write_job(tmp_path, data, extra=MAIL, chunk_size=4)
    crashed = run_cli("run", job, "--workers", workers, env={"CCM_FAULT": fault})
    # one worker: the run itself is killed; two: a worker is killed and the run stops with exit 16
    assert crashed.returncode == (-9 if workers == 1 else 16), crashed.stderr
    if fault.startswith("plan"):
        assert "a mail plan worker died" in crashed.stderr
    out = tmp_path / "out"
    assert not list(out.glob("*.pdf"))                    # nothing that looks finished
    restarted = run_cli("run", job, "--restart", "--workers", workers)
    assert restarted.returncode == 0, restarted.stderr
    assert "restarting job inv" in restarted.stderr
    assert output_files(out) == expected
    report = json.loads((out / "report.json").read_text())
    for key in ("records_read", "documents_produced", "pages", "records_rejected", "files", "mail"):
        assert report[key] == expected_report[key], key
    assert report["timing"]["restarted"] is True


def test_restart_with_changed_input_is_refused(tmp_path, reference):
    data, _, _ = reference
    mine = tmp_path / "invoices.xml"
    mine.write_bytes(data.read_bytes())
    job = write_job(tmp_path, mine, extra=MAIL, chunk_size=4)
    crashed = run_cli("run", job, "--workers", 1, env={"CCM_FAULT": "compose:2"})    # the run itself dies
    assert crashed.returncode == -9
    mine.write_bytes(data.read_bytes().replace(b"SARL", b"SARLX", 1))
    proc = run_cli("run", job, "--restart")
    assert proc.returncode == 12
    assert "restart refused: the input changed" in proc.stderr


def test_restart_without_an_interrupted_run_is_refused(tmp_path, reference):
    data, _, _ = reference
    job = write_job(tmp_path, data)
    proc = run_cli("run", job, "--restart")
    assert proc.returncode == 12
    assert "no interrupted run" in proc.stderr
