"""The run lock (issue 10.2): a second run of the same job into the same output directory refuses at once,
naming the running PID (exit 16); a lock left by a killed run is taken over with a warning."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runjobs import make_extract, output_files, run_cli, write_job

HOLDER = ("import sys; from ccm_batch.run.lock import RunLock; lock = RunLock(sys.argv[1:]).acquire(); "
          "print('locked', flush=True); sys.stdin.read(); lock.release()")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    data = make_extract(d / "invoices.xml", 40)
    proc = run_cli("run", write_job(d, data), "-w", 1)
    assert proc.returncode == 0, proc.stderr
    return data, output_files(d / "out")


def _hold(*paths):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, paths)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _holder(lock) -> str:
    try:
        return lock.read_text().strip()
    except FileNotFoundError:
        return ""


def _poll(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_second_run_refuses_naming_the_running_pid(tmp_path, reference):
    """The issue's reproduction: two real runs of one job into one output directory at once."""
    data, expected = reference
    job = write_job(tmp_path, data)
    lock = tmp_path / "out" / ".ccm-run.lock"
    first = subprocess.Popen([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-w", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _poll(lambda: _holder(lock) == str(first.pid) or first.poll() is not None)
        assert first.poll() is None, first.stderr.read()
        os.kill(first.pid, signal.SIGSTOP)        # hold the first run where it is: no race on its end
        try:
            second = run_cli("run", job, "-w", 1)
        finally:
            os.kill(first.pid, signal.SIGCONT)
        assert second.returncode == 16, second.stderr
        assert "CCM0510E" in second.stderr and f"PID {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        _, err = first.communicate(timeout=600)
        assert first.returncode == 0, err       # the first run is undisturbed
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert output_files(tmp_path / "out") == expected
    assert not lock.exists()                   # removed when the run ends


def test_run_refuses_while_another_process_holds_the_lock(tmp_path, reference):
    data, expected = reference
    job = write_job(tmp_path, data)
    (tmp_path / "out").mkdir()
    holder = _hold(tmp_path / "out" / ".ccm-run.lock")
    try:
        proc = run_cli("run", job, "-w", 1)
        assert proc.returncode == 16, proc.stderr
        assert f"PID {holder.pid}" in proc.stderr
        assert not (tmp_path / "out" / "report.json").exists()
        assert not (tmp_path / "out" / ".ccm-work-inv").exists()    # refused before anything was made
    finally:
        holder.communicate("")
    assert run_cli("run", job, "-w", 1).returncode == 0
    assert output_files(tmp_path / "out") == expected


def test_work_dir_elsewhere_is_locked_too(tmp_path, reference):
    data, _ = reference
    job = write_job(tmp_path, data)
    job.write_text(job.read_text().replace('dir = "out"', 'dir = "out"\nwork_dir = "scratch"'))
    (tmp_path / "scratch").mkdir()
    holder = _hold(tmp_path / "scratch" / ".ccm-work-inv.lock")
    try:
        proc = run_cli("run", job, "-w", 1, "-o", tmp_path / "other-out")
        assert proc.returncode == 16 and f"PID {holder.pid}" in proc.stderr, proc.stderr
    finally:
        holder.communicate("")


def test_stale_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, reference):
    data, expected = reference
    job = write_job(tmp_path, data)
    crashed = run_cli("run", job, "-w", 1, env={"CCM_FAULT": "render:1"})
    assert crashed.returncode == -9
    lock = tmp_path / "out" / ".ccm-run.lock"
    dead = int(lock.read_text())               # the killed run's PID, left in its lock file
    proc = run_cli("run", job, "--restart", "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert "CCM0511W" in proc.stderr and f"PID {dead}" in proc.stderr and "stale" in proc.stderr
    assert output_files(tmp_path / "out") == expected
    assert not lock.exists()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["exit_code"] == 0
