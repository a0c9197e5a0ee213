"""The mail plan in the workers (issue 17): the householding passes per partition as tasks — the plan
tables and the production files are the bytes of the serial plan, with an in-process pool of many small
partitions, forked worker processes and a Dask cluster of worker processes (one of them killed)."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

import distributed  # noqa: F401 - in the test extra: a missing package fails, never skips
from ccm_batch import mail
from ccm_batch.mail import partition, presort
from ccm_batch.mail.sample import generate_documents, low_minimum_rules
from ccm_batch.run.plan_pool import DaskPlanPool, LocalPlanPool
from plan_pools import InProcessPool

JOB, DATE = "PAR", "2026-01-15"
TABLES = (("mail_doc", "seq"), ("mail_piece", "piece_no"), ("mail_piece_doc", "piece_no, pos"),
          ("mail_stream", "name"), ("mail_tray", "stream, tray_no"), ("mail_file", "stream, seq"),
          ("mail_run", "key"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """6,000 French and US documents (households, inserts, heavy statements) and a rule pack copy with
    low mailing minimums, so every presort level, the overflow choice and its refinement are exercised."""
    base = tmp_path_factory.mktemp("plan")
    rules = low_minimum_rules(base / "rules")
    docs = base / "docs.db"
    db = sqlite3.connect(docs)
    generate_documents(db, 6000, seed=11)
    db.commit()
    db.close()
    config = {"enabled": True, "rules_dir": str(rules), "max_pieces_per_file": 400,
              "inserts": {"BRE": {"feeder": 1, "weight_g": 3.0, "thickness_mm": 0.1}},     # LEAFLET: unknown
              "imb": {"enabled": True, "mailer_id": "123456", "service_type": "270"}}
    reference = _plan(base / "serial", docs, config, None)
    return base, docs, config, reference


def _plan(where: Path, docs: Path, config: dict, pool):
    where.mkdir()
    shutil.copyfile(docs, where / "work.db")
    db = sqlite3.connect(where / "work.db")
    cfg = mail.MailConfig.from_dict(config, where)
    try:
        summary = mail.plan_mail(db, cfg, JOB, DATE, pool=pool)
    finally:
        if pool is not None:
            pool.close()
    tables = {t: db.execute(f"SELECT * FROM {t} ORDER BY {order}").fetchall() for t, order in TABLES}
    out = where / "files"
    mail.write_production_files(db, out, JOB, cfg)
    db.close()
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert not list(where.glob("plan-part-*"))           # partition files are removed after the merge,
    assert not list(where.glob("plan-presort-*"))        # the mailings' files once applied
    return tables, files, summary.as_dict()


def _same(got, reference):
    for name, rows in reference[0].items():
        assert got[0][name] == rows, name
    assert got[1] == reference[1]
    assert got[2] == reference[2]


def test_many_small_partitions_give_the_serial_plan(inputs, tmp_path, monkeypatch):
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 400)
    pool = InProcessPool(3)
    got = _plan(tmp_path / "p", docs, config, pool)
    presorted = {row[0] for row in reference[0]["mail_tray"]}          # the streams with containers
    assert len(presorted) >= 2
    assert presorted == {row[0] for row in reference[0]["mail_stream"] if row[2] == "presort"}
    assert pool.calls == {"documents_part": 12, "households_part": 12, "presort_part": len(presorted)}
    _same(got, reference)
    assert any(rows for rows in reference[0]["mail_tray"])          # containers were made
    assert reference[1] and any(name.endswith("mailrun.csv") for name in reference[1])


def test_an_unknown_insert_is_warned_once_whatever_the_partitions(inputs, tmp_path, monkeypatch):
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 500)
    got = _plan(tmp_path / "p", docs, config, InProcessPool(2))
    warnings = [v for k, v in got[2].items() if k.startswith("warning") and "LEAFLET" in v]
    assert len(warnings) == 1


def test_forked_plan_workers_give_the_serial_plan(inputs, tmp_path, monkeypatch):
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 1000)
    pool = LocalPlanPool(2)
    got = _plan(tmp_path / "p", docs, config, pool)
    assert pool.cpu_s > 0                                   # the work was done in the workers
    _same(got, reference)


def test_a_dask_cluster_gives_the_serial_plan(inputs, tmp_path, monkeypatch):
    from distributed import LocalCluster

    from ccm_batch.run import dask_cluster
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 1500)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=40) as cluster:
        job = SimpleNamespace(executor="dask", scheduler=cluster.scheduler_address, workers=2)
        try:
            pool = DaskPlanPool(job)
            assert pool.width == 2
            got = _plan(tmp_path / "p", docs, config, pool)
        finally:
            dask_cluster.shutdown()
    assert pool.cpu_s > 0
    _same(got, reference)


@pytest.mark.parametrize("fault", ["plan:1", "presort:1"], ids=["partition", "mailing"])
def test_a_dask_worker_killed_after_writing_its_file_gives_the_serial_plan(inputs, tmp_path, monkeypatch, fault):
    """The worker that wrote a householding partition's file (``plan:1``: only the tasks, in the workers,
    reach it), or a mailing's presort file (``presort:1``), dies before answering (SIGKILL): Dask runs the
    task again on another worker, which writes the file anew; each file is applied once, then removed,
    and the plan is the serial one."""
    from distributed import LocalCluster

    from ccm_batch.run import dask_cluster
    base, docs, config, reference = inputs
    marker = tmp_path / "fault-fired"
    monkeypatch.setattr(partition, "PARTITION_DOCS", 1500)
    monkeypatch.setenv("CCM_FAULT", fault)
    monkeypatch.setenv("CCM_FAULT_ONCE", str(marker))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=50) as cluster:
        job = SimpleNamespace(executor="dask", scheduler=cluster.scheduler_address, workers=2)
        try:
            got = _plan(tmp_path / "p", docs, config, DaskPlanPool(job))
        finally:
            dask_cluster.shutdown()
    assert marker.exists()                                 # a worker really died there
    _same(got, reference)


def test_the_overflow_search_accepts_several_savings():
    """A synthetic cost (each level's and group's overflow mode adds or saves money) where the search
    accepts several changes: per level (coordinate descent), then per group; each trial is asked once."""
    modes = ("overflow", "rollup", "none")
    levels = [SimpleNamespace(name=f"L{i}", overflow=modes) for i in range(3)]
    shape = SimpleNamespace(levels=levels)
    level_gain = {(0, "rollup"): 3.0, (0, "none"): 1.0, (1, "none"): 2.0, (1, "rollup"): 2.5}
    group_gain = {((0, "75001"), "none"): 0.7, ((1, "75"), "overflow"): 0.4, ((0, "13001"), "rollup"): -1.0}
    over = [(0, "75001"), (0, "13001"), (1, "75"), (1, "13")]

    def cost(policy, groups):
        per = policy if isinstance(policy, dict) else {li: policy for li in range(2)}
        c = 100.0 - sum(level_gain.get((li, m), 0.0) for li, m in per.items())
        return round(c - sum(group_gain.get((g, m), 0.0) for g, m in (groups or {}).items()), 6)

    m = presort.Mailing(None, "s", SimpleNamespace(), shape)
    computed = []

    def trial(policy, groups=None):
        computed.append(presort._trial_key(policy, groups))
        m.overflow_groups = list(over)
        return cost(policy, groups)
    m._trial = trial
    m.count = 1000
    m.costs = {"overflow": cost("overflow", None)}
    levels_chosen, groups_chosen, final = m._refine("overflow")
    assert levels_chosen == {0: "rollup", 1: "rollup"} and groups_chosen == {(0, "75001"): "none",
                                                                           (1, "75"): "overflow"}
    assert final == cost(levels_chosen, groups_chosen) and final < cost("overflow", None) - 5
    assert len(computed) == len(set(computed)) > 8           # every trial computed once


def _die():
    import os
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_plan_worker_killed_stops_the_plan_with_an_error_instead_of_waiting_forever():
    from ccm_batch.errors import CcmError
    pool = LocalPlanPool(2)
    try:
        with pytest.raises(CcmError, match="plan worker died.*--restart"):
            pool.map(_die, [(), ()])
    finally:
        pool.close()


_HANDED = None                # a multiprocessing.Event, inherited by the forked plan workers


def _first_or_wait(i: int):
    """Task 0 returns at once; task 1 waits until the parent has been handed task 0's result."""
    return True if i == 0 else _HANDED.wait(timeout=60)


def test_forked_workers_hand_each_result_over_before_the_others_finish():
    """The pool gives partition 0 to the plan (which merges it) while partition 1 still runs: task 1
    finishes only once the parent has had task 0's result (it would wait 60 s and return False)."""
    import multiprocessing
    global _HANDED
    _HANDED = multiprocessing.get_context("fork").Event()
    handed = []

    def each(i, result):
        handed.append((i, result))
        _HANDED.set()
    pool = LocalPlanPool(2)
    try:
        assert pool.map(_first_or_wait, [(0,), (1,)], each) == [True, True]
    finally:
        pool.close()
    assert handed == [(0, True), (1, True)]


def _wait_for_event(i: int, name: str):
    from distributed import Event
    return i, (True if i != 1 else Event(name).wait(timeout=60))


def test_dask_tasks_hand_results_over_in_order_before_the_others_finish():
    """The same on a Dask cluster, in argument order whatever order the tasks end in: tasks 0 and 2
    return at once, task 1 only after the parent has been handed task 0's result (a cluster-wide
    Event); task 2's result is held back until task 1's has been handed over."""
    from distributed import Event, LocalCluster

    from ccm_batch.run import dask_cluster
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=40) as cluster:
        job = SimpleNamespace(executor="dask", scheduler=cluster.scheduler_address, workers=2)
        handed = []
        try:
            pool = DaskPlanPool(job)
            event = Event("ccm-test-handed", client=dask_cluster.client_for(job))

            def each(i, result):
                handed.append(i)
                if i == 0:
                    event.set()
            got = pool.map(_wait_for_event, [(0, event.name), (1, event.name), (2, event.name)], each)
        finally:
            dask_cluster.shutdown()
    assert got == [(0, True), (1, True), (2, True)]
    assert handed == [0, 1, 2]


def test_partitions_are_a_multiple_of_the_workers():
    """Every worker gets as many partitions (none waits alone for the last one), about PARTITION_DOCS
    documents each, at most 4 per worker, never more than the documents."""
    docs = partition.PARTITION_DOCS
    assert partition._partitions(10_000, 2) == 2              # one partition's worth: both workers share it
    assert partition._partitions(5 * docs, 2) == 6
    assert partition._partitions(5 * docs, 4) == 8
    assert partition._partitions(100 * docs, 3) == 12
    assert partition._partitions(1, 4) == 1 and partition._partitions(0, 2) == 1


def test_forked_plan_workers_presort_the_mailings_then_stop(inputs, tmp_path, monkeypatch):
    """Each qualified mailing is presorted in a worker (its rows applied by the run's process), the other
    streams are sequenced in the run's process, and the local workers are stopped before the files pass
    and the indexes instead of idling through them with their memory (2 x 120 MB at 1,000,000 documents,
    bench/RESULTS.md); the plan is the same."""
    import multiprocessing
    import os

    from ccm_batch.mail import plan
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 1000)
    log = tmp_path / "runs.log"
    real_run, real_files = presort.Mailing.run, plan._assign_files

    def run(self, *args, **kwargs):
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{self.stream} {os.getpid()} {kwargs.get('apply', True)}\n")
        return real_run(self, *args, **kwargs)

    alive = []

    def assign_files(*args, **kwargs):
        alive.append(len(multiprocessing.active_children()))
        return real_files(*args, **kwargs)
    monkeypatch.setattr(presort.Mailing, "run", run)
    monkeypatch.setattr(plan, "_assign_files", assign_files)
    pool = LocalPlanPool(2)
    got = _plan(tmp_path / "p", docs, config, pool)
    assert pool.cpu_s > 0                                   # the passes ran in the workers
    _same(got, reference)
    runs = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    presorted = {row[0] for row in reference[0]["mail_stream"] if row[2] == "presort"}
    in_workers = {stream for stream, pid, apply in runs if int(pid) != os.getpid() and apply == "False"}
    assert len(presorted) >= 2 and in_workers == presorted
    assert all(int(pid) == os.getpid() for stream, pid, _ in runs if stream not in presorted)
    assert alive == [0]                                     # the workers were gone before the files pass


def test_a_plan_task_gives_its_memory_back_when_it_ends(monkeypatch):
    """Each task's freed memory (its SQLite page caches) is returned to the system in the worker, also
    when the task fails."""
    import ccm_batch.run as run
    from ccm_batch.run import plan_pool
    calls = []
    monkeypatch.setattr(run, "give_back_memory", lambda: calls.append("trim"))

    def task(x):
        calls.append(f"task {x}")
        if x < 0:
            raise ValueError(x)
        return x * 2
    result, cpu = plan_pool._timed(task, 21)
    assert result == 42 and cpu >= 0 and calls == ["task 21", "trim"]
    with pytest.raises(ValueError):
        plan_pool._timed(task, -1)
    assert calls[2:] == ["task -1", "trim"]


def test_local_plan_workers_are_forked_before_the_plan_reads_the_documents(inputs, tmp_path, monkeypatch):
    """The run's pool forks its processes when it is opened: forked at the first batch, they carried the
    plan's page cache, filled by its first scans of the documents (2 x 24 MB at 100,000 bench invoices,
    bench/RESULTS.md); the plan is the same."""
    import multiprocessing

    from ccm_batch.mail import plan as plan_module
    from ccm_batch.run.plan_pool import open_plan_pool
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 1000)
    seen = []
    real_scan = plan_module.omr_margin_problem           # the plan's first read of the documents

    def scan(*args, **kwargs):
        seen.append(len(multiprocessing.active_children()))
        return real_scan(*args, **kwargs)
    monkeypatch.setattr(plan_module, "omr_margin_problem", scan)
    pool = open_plan_pool(SimpleNamespace(executor="local", workers=2))
    assert len(multiprocessing.active_children()) == 2
    got = _plan(tmp_path / "p", docs, config, pool)
    assert seen == [2] and pool.cpu_s > 0
    _same(got, reference)


def test_one_print_file_is_found_without_walking_the_others(inputs, tmp_path, monkeypatch):
    """A render task asks for its own file (``iter_print_files(db, stream, seq)``): the same plan as that
    file in the full walk, pieces and all, and nothing else; the files' query has a condition on them."""
    base, docs, config, reference = inputs
    where = tmp_path / "one"
    where.mkdir()
    shutil.copyfile(docs, where / "work.db")
    db = sqlite3.connect(where / "work.db")
    mail.plan_mail(db, mail.MailConfig.from_dict(config, where), JOB, DATE)
    every = [(f.stream, f.seq, f.name, f.piece_count, f.name_vars, [p.piece_id for p in f.pieces])
             for f in mail.iter_print_files(db)]
    assert len(every) >= 10
    queries = []
    db.set_trace_callback(queries.append)
    for stream, seq, *rest in every:
        found = [(f.stream, f.seq, f.name, f.piece_count, f.name_vars, [p.piece_id for p in f.pieces])
                 for f in mail.iter_print_files(db, stream, seq)]
        assert found == [(stream, seq, *rest)]
    db.set_trace_callback(None)
    files_queries = [q for q in queries if "FROM mail_file" in q]
    assert len(files_queries) == len(every) and all("WHERE f.stream = " in q for q in files_queries)
