"""Run orchestration, Dask executor: what every worker must share with the run, checked before its first task.

A Dask worker takes the run's tasks only if it sees the run's files as the run does and runs the same
engine; otherwise the run would fail on a task's ``FileNotFoundError`` far from its cause, or — worse —
finish with outputs that differ from the local executor's. Before the run's first task on a cluster
(:func:`check_workers`, from each phase that submits tasks, again when workers have joined), every worker:

* reads back a token the run wrote in its work directory (``dask-probe``): the same directory, not
  another one at the same path (a worker's local disk holding an old run);
* creates and removes a file of its own there (the work directory is writable for it);
* reads the layout and the input;
* for a cluster the operator started (``--scheduler``), runs the same engine: the digest of the
  package's files that an install holds and the outputs depend on (:data:`ENGINE_FILES`: sources, rules,
  bundled fonts; not the compiled core, which gives the same bytes; not licences and notes) is the
  run's. The run's own local cluster forks its workers from the run's own files: not compared.

A cluster without a worker is waited for (:data:`WORKER_WAIT`, a ``CCM0523I`` line says so): Dask would
wait for one without end, and a batch run would hang all night. A worker that fails is named with what
it misses (:class:`WorkerUnfit`, ``CCM0521E``, exit 16; nothing was released). A worker that joins the
cluster during the run (added by the operator, or started again by its nanny) is checked when the next
phase begins (compose, plan, render); a task it gets before that fails with the task's own error
(:class:`~.dask_executor.TaskFailed`).
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..errors import CcmError

PROBE = "dask-probe"          # in the run's work directory: a token each worker must read back
SHARED = ("the work directory ([output] work_dir), the layout and the input must be on storage every Dask worker "
          "sees at the same path (a shared file system)")
SAME_ENGINE = "every Dask worker must run the same ccm-batch as the run (version and files: the outputs depend on them)"
ENGINE_FILES = (".py", ".rng", ".ttf", ".otf", ".toml", ".json", ".csv")   # what an install has and outputs use
WORKER_WAIT = 120.0           # seconds a run waits for a first worker to join its cluster
ANOTHER_ENGINE = "another ccm-batch"   # how a worker's finding about its engine begins
PACKAGE = Path(__file__).resolve().parent.parent   # the engine's files in this process
_CHECKED: dict = {}           # (client id, run directory) -> the addresses of the workers checked
_DIGEST: dict = {}


class WorkerUnfit(CcmError):
    """A Dask worker cannot take the run's tasks: it does not see the run's files, or runs another engine."""
    exit_code = 16
    msgid = "CCM0521E"


def engine_digest() -> str:
    """A digest of the engine's files in this process (the package's sources and data, by relative path);
    computed once per process."""
    if "engine" not in _DIGEST:
        digest = hashlib.sha256()
        for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in ENGINE_FILES and p.is_file()
                           and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
        _DIGEST["engine"] = digest.hexdigest()[:16]
    return _DIGEST["engine"]


def worker_findings(probe: str, token: str, files: tuple, engine: str | None) -> list[str]:
    """On a worker: why it cannot take the run's tasks (an empty list: it can). ``engine``: the run's
    :func:`engine_digest`, or None not to compare."""
    problems = []
    run_dir = os.path.dirname(probe)
    try:
        with open(probe, encoding="ascii") as f:
            if f.read() != token:
                problems.append(f"the work directory {run_dir} (another directory is at that path on this worker)")
    except OSError as exc:
        problems.append(f"the work directory {run_dir} ({exc.strerror or exc})")
    if not problems:
        mine = os.path.join(run_dir, f".probe-{os.getpid()}-{threading.get_ident()}")
        try:
            os.close(os.open(mine, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(mine)
        except OSError as exc:
            problems.append(f"the work directory {run_dir} (cannot write in it: {exc.strerror or exc})")
    for path in files:
        if not os.access(path, os.R_OK):
            problems.append(f"{path} (cannot read it)")
    if engine is not None and engine_digest() != engine:
        problems.append(f"{ANOTHER_ENGINE} (engine {engine_digest()}, the run's {engine}, at {PACKAGE})")
    return problems


def wait_for_a_worker(client, wait: float = WORKER_WAIT) -> None:
    """Return once ``client``'s cluster has a worker; :class:`WorkerUnfit` after ``wait`` seconds without."""
    if client.scheduler_info().get("workers"):
        return
    from .dask_log import tell
    address = client.scheduler.address if client.scheduler is not None else "the scheduler"
    tell("CCM0523I", f"the Dask cluster {address} has no worker: waiting up to {wait:.0f} s for one to join")
    try:
        client.wait_for_workers(1, timeout=wait)
    except TimeoutError:
        raise WorkerUnfit(f"no Dask worker joined the scheduler {address} within {wait:.0f} s: start workers "
                          f"(dask worker {address}), then rerun with --restart") from None


def check_workers(client, job, wait: float = WORKER_WAIT) -> None:
    """Every worker of ``client``'s cluster can take ``job``'s tasks (see the module docstring), else
    :class:`WorkerUnfit` naming the first worker that cannot and why; a cluster without workers is
    waited for first (``wait`` seconds). A call checks again when workers joined since the last one;
    otherwise it only asks the scheduler for its workers. Nothing to check for a job without a work
    directory (the plan driven alone, ``bench/plan_bench.py``)."""
    import secrets
    if getattr(job, "run_dir", None) is None:
        return
    run_dir = Path(job.run_dir)
    if not run_dir.is_dir():
        return
    key = (getattr(client, "id", id(client)), str(run_dir))
    wait_for_a_worker(client, wait)
    checked = _CHECKED.get(key, frozenset())
    workers = set(client.sync(client.scheduler.identity)["workers"])   # now, not the client's cached view
    if not workers - checked:
        return
    probe = run_dir / PROBE
    token = secrets.token_hex(16)
    probe.write_text(token, encoding="ascii")
    files = tuple(str(p) for p in (job.layout, job.input.path))
    engine = engine_digest() if job.scheduler else None
    # every worker, as at the first check: a list named here could hold one gone since (an error for it)
    seen = client.run(worker_findings, str(probe), token, files, engine, on_error="return")
    unfit = {worker: (found if isinstance(found, list) else [f"the check failed on it: {found!r}"])
             for worker, found in sorted(seen.items()) if found}
    if unfit:
        worker, problems = next(iter(unfit.items()))
        others = f" (and {len(unfit) - 1} other worker(s))" if len(unfit) > 1 else ""
        engine_found = sum(1 for p in problems if p.startswith(ANOTHER_ENGINE))
        advice = ([SHARED] if engine_found < len(problems) else []) + ([SAME_ENGINE] if engine_found else [])
        raise WorkerUnfit(f"the Dask worker {worker}{others} cannot take this run's tasks: {'; '.join(problems)} "
                          f"— {'; '.join(advice)}. Nothing was released and the work directory is kept: fix the "
                          "cluster, then rerun with --restart")
    if len(_CHECKED) > 64:
        _CHECKED.clear()
    _CHECKED[key] = checked | set(seen)
