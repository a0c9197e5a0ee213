"""A full disk is named: on a small tmpfs output (and work) directory the run stops with one CCM0500E line
naming the path and "no space left", exit 16, no traceback, nothing released, the work directory kept —
and once space is freed, ``--restart`` finishes with outputs byte-identical to an uninterrupted run.
Needs root (mount); CI runs as root."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from runjobs import make_extract, output_files, run_cli, write_job

MAIL = "[mail]\nenabled = true\nmax_pieces_per_file = 40\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    data = make_extract(d / "invoices.xml", 240)
    job = write_job(d, data, extra=MAIL, chunk_size=4)
    proc = run_cli("run", job, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    return data, output_files(d / "out")


@pytest.fixture
def small_disk(tmp_path):
    mounted = []

    def mount(directory, size):
        directory.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], check=True)
        mounted.append(directory)

    yield mount
    for directory in mounted:
        subprocess.run(["umount", str(directory)], check=True)


OPERATOR_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d CCM\d{4}[IWES] ")


# 300k fills up while composing (the spool), 3m while rendering (staging), on workers or in the run itself;
# and on the run's own Dask cluster, where the render tasks that fail are Dask tasks
@pytest.mark.parametrize("size, workers, where, executor", [("300k", 2, "spool", "local"),
                                                            ("300k", 1, ".ccm-work-inv", "local"),
                                                            ("3m", 2, "staging", "local"),
                                                            ("3m", 1, "staging", "local"),
                                                            ("3m", 2, "staging", "dask")])
def test_disk_full_is_named_nothing_released_and_restart_finishes(tmp_path, reference, small_disk, size,
                                                                  workers, where, executor):
    data, expected = reference
    job = write_job(tmp_path, data, extra=MAIL, chunk_size=4)
    out = tmp_path / "out"
    small_disk(out, size)
    proc = run_cli("run", job, "--workers", workers, "--executor", executor)
    assert proc.returncode == 16, proc.stderr
    # every line is the run's (a Dask worker's "Compute Failed" report comes as one CCM0520W line)
    assert all(OPERATOR_LINE.match(line) for line in proc.stderr.splitlines()), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if re.search(r"\bCCM\d{4}[ES]\b", line)]
    assert len(errors) == 1, proc.stderr
    assert "CCM0500E no space left on device writing " + str(out / ".ccm-work-inv") in errors[0], errors[0]
    assert where in errors[0] and "--restart" in errors[0]
    assert "Traceback" not in proc.stderr and "internal" not in proc.stderr
    work = out / ".ccm-work-inv"
    assert work.is_dir() and (work / "fingerprint.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == [".ccm-work-inv"]        # nothing released
    note = work / "internal-error.txt"
    assert not note.exists() or note.stat().st_size > 0
    subprocess.run(["mount", "-o", "remount,size=64m", str(out)], check=True)    # the operator frees space
    restarted = run_cli("run", job, "--restart", "--workers", workers, "--executor", executor)
    assert restarted.returncode == 0, restarted.stderr
    assert output_files(out) == expected
