"""The Dask executor on real clusters: the same bytes as the local executor with 1, 2 and 4 worker processes,
a worker killed mid-run (its task rescheduled), and a lost scheduler (clear failure, then --restart)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from runjobs import make_extract, output_files, run_cli, write_job

import distributed  # noqa: F401 - in the test extra: a missing package fails, never skips

MAIL = """[mail]
enabled = true
max_pieces_per_file = 20
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("dask")
    data = make_extract(base / "inv.xml", 90)
    job = write_job(base, data, extra=MAIL, chunk_size=8)
    result = run_cli("run", job, "-o", base / "local", "-w", "2", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    reference = output_files(base / "local")
    assert sum(1 for name in reference if name.endswith(".afp")) >= 3     # several print files to render
    return job, reference


TRIM = "MALLOC_TRIM_THRESHOLD_"
# Dask's HTTP servers (health, metrics) bind every interface and port 8787 by default, even without a dashboard
LOOPBACK_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")
OPERATOR_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d CCM\d{4}[IWES] ")


def _cluster(n: int):
    from distributed import LocalCluster
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", silence_logs=40)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_dask_cluster_gives_the_local_bytes(setup, tmp_path, workers):
    job, reference = setup
    with _cluster(workers) as cluster:
        result = run_cli("run", job, "-o", tmp_path / "out", "--scheduler", cluster.scheduler_address, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert output_files(tmp_path / "out") == reference


def test_executor_dask_without_a_scheduler_starts_and_closes_its_own_cluster(setup, tmp_path):
    job, reference = setup
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = run_cli("run", job, "-o", tmp_path / "out", "--executor", "dask", "-w", "2", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert output_files(tmp_path / "out") == reference
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not left                            # no worker process outlives the run


def _spy_on_work_db_connections() -> None:
    """In a worker: note the path of every work database the engine opens (ccm_batch.spool.open_db)."""
    from ccm_batch import spool
    from ccm_batch.run import dask_executor
    real = getattr(spool.open_db, "real", spool.open_db)
    opened = dask_executor.__dict__.setdefault("test_opened", [])

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)
    spy.real = real
    spool.open_db = spy


def _render_connections() -> tuple:
    """In a worker: (work databases opened, connections still kept, work databases still open)."""
    from ccm_batch.run import dask_executor
    files = [f.path for f in psutil.Process().open_files() if "work.db" in f.path]
    return len(dask_executor.__dict__.get("test_opened", [])), len(dask_executor._RENDER_DBS), files


def test_render_tasks_keep_one_connection_per_worker_thread_and_close_it_at_the_end(setup, tmp_path):
    """A worker thread's render tasks share one connection to the work database (a fresh one per task
    started with a cold page cache), one per thread, all closed when the render phase is done."""
    from distributed import Client, LocalCluster
    job, reference = setup
    files = sum(1 for name in reference if name.endswith(".afp"))
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=40) as cluster, Client(cluster) as client:
        client.run(_spy_on_work_db_connections)
        result = run_cli("run", job, "-o", tmp_path / "out", "--scheduler", cluster.scheduler_address, "-q")
        assert result.returncode == 0, result.stdout + result.stderr
        ((opened, kept, still_open),) = client.run(_render_connections).values()
    assert output_files(tmp_path / "out") == reference
    assert 1 <= opened <= 2 < files                 # one per thread that rendered, not one per print file
    assert kept == 0 and still_open == []           # closed once the phase was done


@pytest.mark.parametrize("phase", ["compose:2", "plan:2", "render:1"])
def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost_or_doubled(setup, tmp_path, monkeypatch, phase):
    job, reference = setup
    marker = tmp_path / "fault-fired"
    monkeypatch.setenv("CCM_FAULT", phase)          # inherited by the cluster's worker processes only:
    monkeypatch.setenv("CCM_FAULT_ONCE", str(marker))   # the run below gets an environment without them
    with _cluster(2) as cluster:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCM_FAULT")}
        result = subprocess.run([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-o", str(tmp_path / "out"),
                                 "--scheduler", cluster.scheduler_address, "-q"],
                                capture_output=True, text=True, env=env)
    assert marker.exists()                          # a worker really died (SIGKILL) during the phase
    assert result.returncode == 0, result.stdout + result.stderr
    assert output_files(tmp_path / "out") == reference


@pytest.mark.parametrize("phase", ["compose:2", "plan:2", "render:1"])
def test_the_runs_own_cluster_replaces_a_killed_worker(setup, tmp_path, phase):
    """--executor dask without a scheduler: the run's LocalCluster forks its workers from a fork server;
    a worker killed mid-run is started again the same way and its task rescheduled."""
    job, reference = setup
    marker = tmp_path / "fault-fired"
    env = dict(os.environ, CCM_FAULT=phase, CCM_FAULT_ONCE=str(marker))   # only workers reach these checkpoints
    result = subprocess.run([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-o", str(tmp_path / "out"),
                             "--executor", "dask", "-w", "2", "-q"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert marker.exists()                          # a worker really died (SIGKILL) during the phase
    assert result.returncode == 0, result.stdout + result.stderr
    assert output_files(tmp_path / "out") == reference


def _layout_cached() -> bool:
    from ccm_batch.run import dask_executor
    return bool(dask_executor._LAYOUTS)


def test_the_runs_own_cluster_starts_its_workers_with_the_layout_loaded(setup):
    from ccm_batch.job import load_job
    from ccm_batch.run import dask_cluster
    job, _ = setup
    loaded = load_job(job, {"executor": "dask", "workers": 2})
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    trim = os.environ.get(TRIM)
    dask_cluster.start_early(loaded)
    try:
        client = dask_cluster.client_for(loaded)
        assert list(client.run(_layout_cached).values()) == [True, True]     # before any task
        # Dask's nannies would set MALLOC_TRIM_THRESHOLD_ (in the workers and in this process): not for the run
        assert list(client.run(os.environ.get, TRIM).values()) == [trim, trim]
        assert os.environ.get(TRIM) == trim
    finally:
        dask_cluster.shutdown()
    left = {p.pid for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())} - before   # multiprocessing's, for the process
    assert not left                                 # no worker, no fork server outlives the cluster


FORK_PROBE = r"""
import json, os, sys, threading
import psutil
from ccm_batch.job import load_job
from ccm_batch.run import dask_cluster, dask_executor


def layout_loaded():
    return bool(dask_executor._LAYOUTS)


if __name__ == "__main__":
    job_path, threads = sys.argv[1:]
    stop = threading.Event()
    if threads == "threaded":            # e.g. a run started by a service's thread: not single-threaded
        threading.Thread(target=stop.wait, daemon=True).start()
    job = load_job(job_path, {"executor": "dask", "workers": 2})
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    dask_cluster.start_early(job)
    try:
        client = dask_cluster.client_for(job)
        server = psutil.Process(dask_cluster._FORK["server"])
        report = {"me": os.getpid(), "cmdline": psutil.Process().cmdline(), "server": server.pid,
                  "server_parent": server.ppid(), "server_cmdline": server.cmdline(),
                  "worker_parents": sorted(client.run(os.getppid).values()),
                  "layouts": list(client.run(layout_loaded).values())}
    finally:
        dask_cluster.shutdown()
    stop.set()
    report["left"] = [p.pid for p in psutil.Process().children(recursive=True)
                      if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())]
    print(json.dumps(report))
"""


@pytest.mark.parametrize("threads", ["single", "threaded"])
def test_the_fork_server_of_the_runs_own_cluster(setup, tmp_path, threads):
    """A run with one thread (from the command line) forks the server its workers are forked from from
    itself; with other threads running it uses multiprocessing's own. Either way the workers start with
    the layout loaded, and nothing is left once the cluster is closed."""
    job, _ = setup
    probe = tmp_path / "probe.py"
    probe.write_text(FORK_PROBE, encoding="utf-8")
    result = subprocess.run([sys.executable, str(probe), str(job), threads],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["server_parent"] == found["me"]
    if threads == "single":         # a fork of the run: its command line, not a new interpreter's
        assert found["server_cmdline"] == found["cmdline"]
    else:                           # a fork could copy a lock another thread holds: a new interpreter
        assert "multiprocessing.forkserver" in " ".join(found["server_cmdline"])
    assert found["worker_parents"] == [found["server"]] * 2
    assert found["layouts"] == [True, True]                     # loaded once, in the server
    assert found["left"] == []                                  # server and workers gone with the cluster


def test_nothing_outlives_a_dask_run_killed_with_sigkill(tmp_path):
    """The run's own cluster, its fork server (a fork of the run) and workers end with a run killed with
    kill -9 mid-compose: nobody is left to stop them."""
    job = write_job(tmp_path, make_extract(tmp_path / "inv.xml", 3000), extra=MAIL, chunk_size=8)
    out = tmp_path / "out"            # a run of several seconds: killed while its cluster works
    run = subprocess.Popen([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-o", str(out),
                            "--executor", "dask", "-w", "2", "-q"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".ccm-work-*/spool/chunk-*")):      # a worker is composing
            assert run.poll() is None and time.monotonic() < deadline, "the run did not reach its compose"
            time.sleep(0.02)
        family = psutil.Process(run.pid).children(recursive=True)
        servers = [p for p in family if p.cmdline() == psutil.Process(run.pid).cmdline()
                   and p.ppid() == run.pid]
        assert len(servers) == 1                     # the fork server, a fork of the run
        assert sum(p.ppid() == servers[0].pid for p in family) == 2      # its two workers
        run.send_signal(signal.SIGKILL)
        run.wait()
        _, alive = psutil.wait_procs(family, timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert alive == []


def test_executor_dask_without_the_distributed_package_says_so(setup, tmp_path):
    job, _ = setup
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "distributed.py").write_text('raise ImportError("no distributed here")\n', encoding="utf-8")
    result = run_cli("run", job, "-o", tmp_path / "out", "--executor", "dask", "-w", "2", "-q",
                     env={"PYTHONPATH": str(blocker)})
    assert result.returncode == 16
    assert "needs the 'distributed' package (pip install distributed)" in result.stdout + result.stderr
    assert not (tmp_path / "out" / "report.txt").exists()


def _wait_for(path: Path, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


def _start_scheduler(tmp: Path, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """A scheduler started from Dask's command line, on loopback; once its scheduler file is written."""
    sched_file = tmp / f"scheduler-{time.monotonic_ns()}.json"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", *LOOPBACK_HTTP, "--scheduler-file", str(sched_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _wait_for(sched_file)
    except BaseException:
        _stop(scheduler)
        raise
    return scheduler, sched_file


def _start_cluster(tmp: Path, env: dict) -> tuple[subprocess.Popen, subprocess.Popen, Path]:
    scheduler, sched_file = _start_scheduler(tmp, env)
    worker_env = dict(env)
    worker_env["CCM_FAULT_KILL"] = str(scheduler.pid) if env.get("CCM_FAULT") else ""
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                               str(sched_file), "--nthreads", "1", "--nworkers", "2", *LOOPBACK_HTTP,
                               "--host", "127.0.0.1", "--death-timeout", "20"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=worker_env)
    return scheduler, worker, sched_file


def _stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        except psutil.NoSuchProcess:
            pass
        proc.kill()
        proc.wait()


def _wait_workers(sched_file: Path, n: int) -> None:
    from distributed import Client
    with Client(scheduler_file=str(sched_file), timeout="30s") as client:
        client.wait_for_workers(n, timeout=60)


def test_a_lost_scheduler_fails_clearly_and_restart_finishes_the_run(setup, tmp_path):
    job, reference = setup
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CCM_FAULT")}
    faulty = dict(base_env, CCM_FAULT="compose:2", CCM_FAULT_ONCE=str(tmp_path / "fired"))
    scheduler, worker, sched_file = _start_cluster(tmp_path, faulty)
    try:
        _wait_workers(sched_file, 2)
        result = subprocess.run([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-o", str(tmp_path / "out"),
                                 "--scheduler", f"file:{sched_file}"], capture_output=True, text=True, env=base_env,
                                timeout=300)
    finally:
        _stop(worker, scheduler)
    assert (tmp_path / "fired").exists()           # the scheduler was killed while chunks were composed
    assert result.returncode == 16, result.stdout + result.stderr
    assert "scheduler was lost" in result.stdout + result.stderr and "--restart" in result.stdout + result.stderr
    # the run's log stays the run's: Dask's own records (reconnection attempts, their tracebacks) come as
    # one-line CCM0520W messages, never as Dask-format lines or tracebacks
    lines = (result.stdout + result.stderr).splitlines()
    assert lines and all(OPERATOR_LINE.match(line) for line in lines), "\n".join(lines)
    assert not list((tmp_path / "out").glob("*.afp"))        # nothing released
    scheduler, worker, sched_file = _start_cluster(tmp_path, base_env)
    try:
        _wait_workers(sched_file, 2)
        again = subprocess.run([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-o", str(tmp_path / "out"),
                                "--scheduler", f"file:{sched_file}", "--restart", "-q"], capture_output=True,
                               text=True, env=base_env, timeout=300)
    finally:
        _stop(worker, scheduler)
    assert again.returncode == 0, again.stdout + again.stderr
    assert output_files(tmp_path / "out") == reference


def test_an_unknown_executor_is_a_job_error(setup, tmp_path):
    job, _ = setup
    bad = tmp_path / "bad.toml"
    bad.write_text(job.read_text().replace("[run]", '[run]\nexecutor = "spark"'))
    result = run_cli("run", bad, "-o", tmp_path / "out")
    assert result.returncode == 12
    assert '[run] executor: "spark" is not allowed: expected one of "local", "dask"' in result.stdout + result.stderr


# -- storage every worker must see, and a task's own errors ----------------------------------------------

def test_a_worker_sees_the_run_files_runs_the_same_engine_or_says_what_it_misses(tmp_path):
    from ccm_batch.run.dask_checks import engine_digest, worker_findings
    probe = tmp_path / "dask-probe"
    probe.write_text("token-1", encoding="ascii")
    layout = tmp_path / "layout.xml"
    layout.write_text("<layout/>")
    assert worker_findings(str(probe), "token-1", (str(layout),), engine_digest()) == []
    assert worker_findings(str(probe), "token-1", (str(layout),), None) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".probe-")]     # its write test is gone
    assert worker_findings(str(probe), "token-2", (), None) == [
        f"the work directory {tmp_path} (another directory is at that path on this worker)"]
    assert worker_findings(str(tmp_path / "gone" / "dask-probe"), "token-1", (str(tmp_path / "inv.xml"),), None) == [
        f"the work directory {tmp_path / 'gone'} (No such file or directory)",
        f"{tmp_path / 'inv.xml'} (cannot read it)"]
    other = worker_findings(str(probe), "token-1", (), "0123456789abcdef")
    assert len(other) == 1 and other[0].startswith(f"another ccm-batch (engine {engine_digest()}, the run's "
                                                   "0123456789abcdef, at ")


def test_the_engine_digest_follows_the_engine_files(tmp_path):
    """Two installs with different files differ (a copy of the package with one rule file changed)."""
    import shutil
    import subprocess as sp

    import ccm_batch
    from ccm_batch.run.dask_checks import engine_digest
    root = Path(ccm_batch.__file__).resolve().parent
    copy = tmp_path / "site" / "ccm_batch"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    code = "from ccm_batch.run.dask_checks import engine_digest; print(engine_digest())"
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"), CCM_PURE_PYTHON="1")
    same = sp.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert same.stdout.strip() == engine_digest(), same.stderr
    rules = sorted(copy.rglob("*.toml"))[0]
    rules.write_text(rules.read_text() + "\n# changed\n")
    changed = sp.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert changed.returncode == 0 and changed.stdout.strip() != engine_digest()


@pytest.mark.skipif(os.geteuid() != 0, reason="a worker in its own mount namespace needs root (CI runs as root)")
def test_workers_that_do_not_see_the_work_directory_stop_the_run_before_any_task(tmp_path):
    """Workers started where the job's directory is another, empty file system (their own mount namespace
    with a tmpfs over it): the run names the worker and what it does not see, exit 16, before any task —
    instead of a task's FileNotFoundError read as a lost scheduler."""
    hidden = tmp_path / "job"
    hidden.mkdir()
    local_job = write_job(hidden, make_extract(hidden / "inv.xml", 12), extra=MAIL, chunk_size=8)
    scheduler, sched_file = _start_scheduler(tmp_path)
    worker = None
    try:
        worker = subprocess.Popen(["unshare", "-m", "sh", "-c",
                                   f"mount -t tmpfs tmpfs '{hidden}' && exec '{sys.executable}' -m "
                                   f"distributed.cli.dask_worker --scheduler-file '{sched_file}' --nthreads 1 "
                                   "--nworkers 1 " + " ".join(LOOPBACK_HTTP) + " --host 127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_workers(sched_file, 1)
        result = subprocess.run([sys.executable, "-m", "ccm_batch.cli", "run", str(local_job), "-o",
                                 str(hidden / "out"), "--scheduler", f"file:{sched_file}"],
                                capture_output=True, text=True, timeout=300)
    finally:
        _stop(*(p for p in (worker, scheduler) if p is not None))
    assert result.returncode == 16, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if " CCM0521E " in line]
    assert len(errors) == 1, result.stderr
    assert f"cannot take this run's tasks: the work directory {hidden / 'out' / '.ccm-work-inv'} " \
           "(No such file or directory)" in errors[0] and "shared file system" in errors[0]
    assert f"{hidden / 'inv.xml'} (cannot read it)" in errors[0] and "--restart" in errors[0]
    assert "scheduler was lost" not in result.stderr
    assert not list((hidden / "out" / ".ccm-work-inv" / "spool").iterdir())        # no task ran
    assert sorted(p.name for p in (hidden / "out").iterdir()) == [".ccm-work-inv"]   # nothing released


@pytest.mark.skipif(os.geteuid() != 0, reason="a worker in its own mount namespace needs root (CI runs as root)")
def test_a_worker_that_joins_during_the_run_is_checked_when_the_next_phase_begins(tmp_path):
    """One fit worker, checked; then a worker that does not see the job's directory joins (its own mount
    namespace): the next phase's check names that worker, and it alone."""
    from distributed import Client

    from ccm_batch.job import load_job, with_overrides
    from ccm_batch.run.dask_checks import WorkerUnfit, check_workers
    hidden = tmp_path / "job"
    hidden.mkdir()
    job_file = write_job(hidden, make_extract(hidden / "inv.xml", 12), extra=MAIL, chunk_size=8)
    scheduler, sched_file = _start_scheduler(tmp_path)
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
              "--nthreads", "1", "--nworkers", "1", *LOOPBACK_HTTP, "--host", "127.0.0.1"]
    procs = [scheduler]
    try:
        procs.append(subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(scheduler_file=str(sched_file), timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
            job = with_overrides(load_job(job_file, {"executor": "dask", "scheduler": f"file:{sched_file}"}),
                                 output_dir=hidden / "out")
            job.run_dir.mkdir(parents=True)
            check_workers(client, job)                       # compose: the one worker sees everything
            (first,) = client.sync(client.scheduler.identity)["workers"]
            procs.append(subprocess.Popen(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs '{hidden}' && exec "
                                           + " ".join(f"'{arg}'" for arg in worker)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            client.wait_for_workers(2, timeout=60)
            (newcomer,) = set(client.sync(client.scheduler.identity)["workers"]) - {first}
            with pytest.raises(WorkerUnfit) as unfit:
                check_workers(client, job)                   # the next phase
    finally:
        _stop(*procs)
    message = str(unfit.value)
    assert message.startswith(f"the Dask worker {newcomer} cannot take this run's tasks: the work directory "
                              f"{job.run_dir} (No such file or directory)")
    assert first not in message and "other worker" not in message


def test_a_tasks_own_error_is_not_a_lost_scheduler():
    from ccm_batch.errors import ConfigError
    from ccm_batch.job import load_job
    from ccm_batch.run.dask_executor import TaskFailed, _gather
    with _cluster(1) as cluster:
        from distributed import Client
        with Client(cluster) as client:
            with pytest.raises(TaskFailed) as failed:        # an OS error: named as the task's, with the next step
                _gather(client, [client.submit(os.stat, "/nonexistent/ccm-file", pure=False)], lambda r: None)
            assert "FileNotFoundError" in str(failed.value) and "/nonexistent/ccm-file" in str(failed.value)
            assert "--restart" in str(failed.value) and "scheduler" not in str(failed.value)
            with pytest.raises(ConfigError, match="job file not found"):     # the engine's own error, as it is
                _gather(client, [client.submit(load_job, "/nonexistent/job.toml", pure=False)], lambda r: None)
            with pytest.raises(ValueError):                                  # anything else: as it is
                _gather(client, [client.submit(int, "x", pure=False)], lambda r: None)
            got = []
            _gather(client, [client.submit(abs, -3, pure=False)], got.append)
            assert got == [3]


def test_a_scheduler_file_is_read_by_the_run_and_a_missing_one_does_not_hang_it(tmp_path):
    """Dask's client waits for a missing scheduler file without end; the run reads the file itself: the
    address it holds, or a CcmError naming the file once the wait is over."""
    import json

    from ccm_batch.errors import CcmError
    from ccm_batch.run.dask_cluster import _scheduler_in_file
    good = tmp_path / "scheduler.json"
    good.write_text(json.dumps({"type": "Scheduler", "address": "tcp://127.0.0.1:8786", "workers": {}}))
    assert _scheduler_in_file(str(good), wait=0) == "tcp://127.0.0.1:8786"
    with pytest.raises(CcmError, match=r"scheduler file .*missing\.json does not exist \(waited 0 s\): start the "
                                       r"scheduler with --scheduler-file"):
        _scheduler_in_file(str(tmp_path / "missing.json"), wait=0.05)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CcmError, match=r"bad\.json cannot be read as one \(JSONDecodeError"):
        _scheduler_in_file(str(bad), wait=0)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"address": 12}))
    with pytest.raises(CcmError, match=r"empty\.json holds no scheduler address \(12\)"):
        _scheduler_in_file(str(empty), wait=0)


def test_two_runs_sharing_a_cluster_each_run_their_own_tasks(setup, tmp_path):
    """A Dask key names a task for the whole cluster: two runs of the same job (same print-file stems, same
    number of compose tasks) submitted at once must not be handed each other's tasks."""
    from runjobs import CLI
    from ccm_batch.job import load_job
    from ccm_batch.run.dask_executor import task_key
    job, reference = setup
    one, two = (load_job(job, {"output_dir": str(tmp_path / name)}) for name in ("one", "two"))
    assert task_key(one, "render-inv_001") != task_key(two, "render-inv_001")
    assert task_key(one, "render-inv_001") == task_key(one, "render-inv_001")      # stable within the run
    with _cluster(2) as cluster:
        runs = [subprocess.Popen([*CLI, "run", str(job), "-o", str(tmp_path / name), "--scheduler",
                                  cluster.scheduler_address, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env={k: v for k, v in os.environ.items() if not k.startswith("CCM_FAULT")})
                for name in ("one", "two")]
        done = [(run.wait(timeout=300), run.communicate()) for run in runs]
        for code, (out, err) in done:
            assert code == 0, out + err
        keys = {str(t[0]) for t in cluster.scheduler.transition_log}     # every task the scheduler was given
    # each run had its own 2 compose tasks (and needed no task to compose chunks another run's task took)
    assert len({k for k in keys if k.startswith("ccm-compose-")}) == 4, sorted(keys)
    assert not [k for k in keys if k.startswith("ccm-compose-lost-")], sorted(keys)
    renders = {k for k in keys if k.startswith("ccm-render-")}
    assert len(renders) == 2 * sum(1 for name in reference if name.endswith(".afp")), sorted(renders)
    for name in ("one", "two"):
        assert output_files(tmp_path / name) == reference


def test_a_task_gets_the_layout_it_loaded_even_when_another_runs_task_loads_one_meanwhile(tmp_path, monkeypatch):
    """A worker of two threads on a shared cluster: right after one task stored its job's layout, another
    run's task stores its own; each must still get the layout of its own job (the interleaving replayed in
    one thread: the cache runs the other task as soon as the first one has stored its layout)."""
    from types import SimpleNamespace

    import ccm_batch.job as job_module
    from ccm_batch.run import dask_executor
    paths = {}
    for name in ("a", "b"):
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_text("<layout/>")
    job_a, job_b = (SimpleNamespace(path=tmp_path / f"{n}.toml", layout=paths[n]) for n in ("a", "b"))
    others = []

    class Interleaved(dict):
        def _then_the_other(self):
            if not others:
                others.append(None)                # once: the other task's own store runs no other
                others[0] = dask_executor._layout(job_b)

        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            self._then_the_other()

        def update(self, *args, **kwargs):
            super().update(*args, **kwargs)
            self._then_the_other()
    monkeypatch.setattr(dask_executor, "_LAYOUTS", Interleaved())
    monkeypatch.setattr(job_module, "load_job_layout", lambda job: f"layout of {job.layout.stem}")
    assert dask_executor._layout(job_a) == "layout of a"
    assert others == ["layout of b"]
    assert dask_executor._layout(job_b) == "layout of b"     # the last stored, kept


def test_a_cluster_without_workers_is_waited_for_then_named_instead_of_hanging_the_run(tmp_path):
    """Dask waits for a worker without end; the run waits a bounded time, then stops with CCM0521E."""
    import io

    from distributed import Client, LocalCluster

    from ccm_batch.log import OperatorLog
    from ccm_batch.run import dask_log
    from ccm_batch.run.dask_checks import WorkerUnfit, wait_for_a_worker
    out = io.StringIO()
    dask_log.route(OperatorLog(verbosity=1, stream=out, interactive=False))
    try:
        with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                          silence_logs=40) as cluster, Client(cluster) as client:
            with pytest.raises(WorkerUnfit, match=r"no Dask worker joined the scheduler tcp://127\.0\.0\.1:\d+ "
                                                  r"within 0 s: start workers .*--restart"):
                wait_for_a_worker(client, wait=0.2)
            cluster.scale(1)                       # a worker joins: the same wait returns
            wait_for_a_worker(client, wait=60)
            assert client.scheduler_info()["workers"]
    finally:
        dask_log.unroute()
    assert " CCM0523I the Dask cluster tcp://127.0.0.1:" in out.getvalue()
    assert "has no worker: waiting up to 0 s for one to join" in out.getvalue()
