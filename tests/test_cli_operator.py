"""Operator experience: log lines a scheduler reads, --quiet, help, validate, samples, one-line errors."""
from __future__ import annotations

import os
import re

from runjobs import make_extract, run_cli, write_job

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d CCM\d{4}[IWES] ")


def test_non_interactive_log_lines_have_timestamp_message_id_and_severity(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 5)
    proc = run_cli("run", write_job(tmp_path, data))
    assert proc.returncode == 0
    lines = proc.stderr.strip().splitlines()
    assert lines and all(LINE.match(line) for line in lines), lines
    assert lines[-1].split(" ", 2)[1] == "CCM0900I"
    assert "records read 5 = documents produced 5 + records rejected 0: OK" in lines[-1]
    # no [run] workers and no --workers: one worker per core
    assert f"{os.cpu_count()} worker(s)" in lines[0], lines[0]


def test_quiet_keeps_only_the_final_line(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 5)
    proc = run_cli("-q", "run", write_job(tmp_path, data))
    assert proc.returncode == 0
    assert len(proc.stderr.strip().splitlines()) == 1


def test_warnings_name_the_record(tmp_path):
    data = tmp_path / "invoices.xml"
    make_extract(data, 5)
    # a sixth address line over 38 characters breaks NF Z10-011: the bench layout warns
    text = data.read_text(encoding="utf-8").replace(
        "<line>", "<line>Résidence des Très Grands Noms de Fleurs Sauvages</line><line>", 1)
    data.write_text(text, encoding="utf-8")
    proc = run_cli("run", write_job(tmp_path, data))
    assert proc.returncode == 4, proc.stderr
    warning = next(line for line in proc.stderr.splitlines() if "CCM0203W" in line)
    assert "record 1 (C0000001)" in warning


def test_help_teaches_the_commands_and_exit_codes():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for word in ("run", "validate", "samples", "preview", "inspect", "index", "reprint", "Exit codes", "12"):
        assert word in proc.stdout
    run_help = run_cli("run", "--help").stdout
    for option in ("--output", "--date", "--format", "--workers", "--restart", "--max-rejects"):
        assert option in run_help


def test_validate_checks_job_layout_and_a_sample_without_writing(tmp_path):
    data = make_extract(tmp_path / "invoices.xml", 8)
    text = data.read_bytes().replace(b"<ttc>", b"<ttc>abc", 1)
    data.write_bytes(text)
    job = write_job(tmp_path, data)
    proc = run_cli("validate", job)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "reject  record 1" in proc.stdout and "ttc" in proc.stdout
    assert "8 records sampled, 1 problems" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_samples_are_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("samples", "--records", "15", "--out", a).returncode == 0
    assert run_cli("samples", "--records", "15", "--out", b).returncode == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == ["invoices.xml", "letters.xml", "statements.xml", "us-statements.csv"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_unknown_option_is_a_configuration_error_without_traceback(tmp_path):
    proc = run_cli("run", "--frobnicate", "x.toml")
    assert proc.returncode == 12
    assert "No such option" in proc.stderr and "Traceback" not in proc.stderr


def test_quiet_after_the_command_and_a_closed_pipe(tmp_path):
    import subprocess
    import sys
    data = make_extract(tmp_path / "invoices.xml", 80)     # a listing far larger than a pipe buffer
    proc = run_cli("run", write_job(tmp_path, data, formats=("afp",)), "-q")
    assert proc.returncode == 0 and len(proc.stderr.strip().splitlines()) == 1
    afp = tmp_path / "out" / "inv_main_001.afp"
    pipe = subprocess.run(f"{sys.executable} -m ccm_batch.cli inspect {afp} | head -1", shell=True,
                          capture_output=True, text=True)
    assert pipe.stdout.count("\n") == 1 and "BRG" in pipe.stdout
    assert "internal error" not in pipe.stderr and "Traceback" not in pipe.stderr


def test_each_log_line_is_one_write_so_processes_sharing_stderr_never_split_a_line(tmp_path):
    """A non-interactive stderr writes through: ``print`` would write a line and its newline apart, and a
    compose, render or Dask worker writing between them makes two lines one. Each message is written
    whole, newline included; 4 processes writing to one pipe at once give only whole lines."""
    import subprocess
    import sys

    from ccm_batch.log import OperatorLog

    class Calls:
        def __init__(self):
            self.writes = []

        def write(self, text):
            self.writes.append(text)

        def flush(self):
            pass

        def isatty(self):
            return False

    stream = Calls()
    log = OperatorLog(stream=stream)
    log.message("CCM0520W", "Dask distributed.worker: Compute Failed")
    log.message("CCM0205I", "compose: 0.4 s")
    assert len(stream.writes) == 2 and all(w.endswith("\n") and w.count("\n") == 1 for w in stream.writes)
    writer = ("import sys; from ccm_batch.log import OperatorLog; log = OperatorLog(verbosity=2)\n"
              "for i in range(400): log.message('CCM0520W', f'worker {sys.argv[1]} line {i} ' + 'x' * 120)\n")
    procs = subprocess.run([sys.executable, "-c", "import subprocess, sys\n"
                            f"ps = [subprocess.Popen([sys.executable, '-c', {writer!r}, str(n)]) for n in range(4)]\n"
                            "sys.exit(sum(p.wait() for p in ps))"],
                           capture_output=True, text=True, timeout=120)
    assert procs.returncode == 0, procs.stderr[-2000:]
    lines = procs.stderr.splitlines()
    assert len(lines) == 1600 and all(LINE.match(line) and line.endswith("x" * 120) for line in lines)
