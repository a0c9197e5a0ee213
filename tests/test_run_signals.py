"""SIGTERM (a scheduler, ``timeout``, systemd) and SIGINT (Ctrl-C: the whole process group) stop a run
and all of its workers at once: one CCM0998E line, exit 16, no traceback, no worker left running, the work
directory kept — and ``--restart`` then gives byte-identical outputs to an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from runjobs import CLI, make_extract, output_files, run_cli, write_job

MAIL = "[mail]\nenabled = true\nmax_pieces_per_file = 40\n"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    data = make_extract(d / "invoices.xml", 240)
    job = write_job(d, data, extra=MAIL, chunk_size=4)
    proc = run_cli("run", job, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    return data, output_files(d / "out")


def _poll(predicate, what: str, proc, deadline_s: float = 120):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}: {proc.stderr.read()}")
        found = predicate()
        if found:
            return found
        time.sleep(0.02)      # polling interval, not a timing assumption: the deadline bounds the wait
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("signum, phase, workers", [(signal.SIGTERM, "compose", 2), (signal.SIGINT, "compose", 2),
                                                    (signal.SIGTERM, "render", 2), (signal.SIGINT, "render", 2),
                                                    (signal.SIGTERM, "compose", 1), (signal.SIGINT, "render", 1)])
def test_signal_stops_run_and_workers_then_restart_is_identical(tmp_path, reference, signum, phase, workers):
    data, expected = reference
    job = write_job(tmp_path, data, extra=MAIL, chunk_size=4)
    work = tmp_path / "out" / ".ccm-work-inv"
    env = {k: v for k, v in os.environ.items() if k != "CCM_FAULT"}
    proc = subprocess.Popen([*CLI, "run", str(job), "--workers", str(workers)], stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        me = psutil.Process(proc.pid)

        def running_workers():
            kids = me.children(recursive=True)
            return kids if len(kids) >= workers else None      # one worker: the run composes itself

        if phase == "compose":
            _poll(lambda: list((work / "spool").glob("chunk-*.rows")), "a committed chunk", proc)
        else:
            _poll(lambda: list((work / "staging").glob("*.pdf")), "a print file being rendered", proc)
        kids = _poll(running_workers, f"the {phase} workers", proc) if workers > 1 else []
        assert all(k.ppid() == proc.pid for k in kids)
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)      # Ctrl-C on a terminal reaches the whole process group
        else:
            os.kill(proc.pid, signum)        # a scheduler signals the run's process
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 16, err
    stops = [line for line in err.splitlines() if "CCM0998E" in line]
    assert len(stops) == 1, err
    assert f"stopped by signal {int(signum)} ({signum.name})" in stops[0] and "--restart" in stops[0]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.splitlines()[-1] == stops[0]
    gone, alive = psutil.wait_procs(kids, timeout=10)
    assert alive == []                      # no worker outlives the run
    assert work.is_dir() and not list((tmp_path / "out").glob("*.pdf"))
    restarted = run_cli("run", job, "--restart", "--workers", workers)
    assert restarted.returncode == 0, restarted.stderr
    assert output_files(tmp_path / "out") == expected
