"""The mail plan in the workers (issue 17): householding per partition, presort trials as tasks — the plan
tables and the production files are the bytes of the serial plan, with an in-process pool of many small
partitions, forked worker processes and a Dask cluster of worker processes."""
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
    assert not list(where.glob("plan-part-*"))           # partition files are removed after the merge
    assert not list(where.glob("plan-presort-*"))        # and the chosen trials' files after the presort
    return tables, files, summary.as_dict()


class InProcessPool:
    """A pool running its tasks here, one by one, counting them by function."""

    def __init__(self, width: int):
        self.width, self.calls = width, {}

    def map(self, fn, arglist):
        self.calls[fn.__name__] = self.calls.get(fn.__name__, 0) + len(arglist)
        return [fn(*args) for args in arglist]

    def close(self):
        pass


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
    assert pool.calls["documents_part"] == 12 and pool.calls["households_part"] == 12
    assert pool.calls["presort_trial"] > 10
    presorted = {row[0] for row in reference[0]["mail_tray"]}          # the streams with containers
    assert len(presorted) >= 2 and pool.calls["presort_chosen"] == len(presorted)   # written in tasks
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

    from ccm_batch.run import dask_executor
    base, docs, config, reference = inputs
    monkeypatch.setattr(partition, "PARTITION_DOCS", 1500)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster:
        job = SimpleNamespace(executor="dask", scheduler=cluster.scheduler_address, workers=2)
        try:
            pool = DaskPlanPool(job)
            assert pool.width == 2
            got = _plan(tmp_path / "p", docs, config, pool)
            held = dask_executor.client_for(job).run(
                lambda: "mailing" in __import__("ccm_batch.mail.presort", fromlist=["_"])._PREPARED)
            assert len(held) == 2 and not any(held.values())     # no worker keeps the work database open
        finally:
            dask_executor.shutdown()
    assert pool.cpu_s > 0
    _same(got, reference)


def test_a_dask_worker_killed_after_writing_a_mailing_gives_the_serial_plan(inputs, tmp_path, monkeypatch):
    """The worker that wrote a mailing's chosen trial to its file dies before answering (SIGKILL): Dask
    runs the task again on another worker, which writes the file anew; the plan is the serial one."""
    from distributed import LocalCluster

    from ccm_batch.run import dask_executor
    base, docs, config, reference = inputs
    marker = tmp_path / "fault-fired"
    monkeypatch.setenv("CCM_FAULT", "presort:1")          # only presort_chosen, in the workers, reaches it
    monkeypatch.setenv("CCM_FAULT_ONCE", str(marker))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as cluster:
        job = SimpleNamespace(executor="dask", scheduler=cluster.scheduler_address, workers=2)
        try:
            got = _plan(tmp_path / "p", docs, config, DaskPlanPool(job))
        finally:
            dask_executor.shutdown()
    assert marker.exists()                                 # a worker really died there
    _same(got, reference)


def test_speculative_trials_follow_the_serial_search(inputs, tmp_path, monkeypatch):
    """The workers compute trials ahead of the search; the search still takes the serial path: the same
    trials are asked for, in the same order, as without a pool."""
    base, docs, config, reference = inputs
    asked = {"serial": [], "pool": []}
    real = presort.Mailing._cost

    def spy(self, policy, groups=None, ahead=None):
        asked["pool" if self.pool else "serial"].append((self.stream, presort._trial_key(policy, groups)))
        return real(self, policy, groups, ahead)
    monkeypatch.setattr(presort.Mailing, "_cost", spy)
    _plan(tmp_path / "s", docs, config, None)
    pool = InProcessPool(4)
    _plan(tmp_path / "p", docs, config, pool)
    assert asked["serial"] == asked["pool"]
    assert len(asked["serial"]) > 10
    assert pool.calls["presort_trial"] >= len(set(asked["serial"]))      # every trial computed in a task


def test_speculation_after_a_saving_recomputes_from_the_new_choice():
    """A synthetic cost (each level's and group's overflow mode adds or saves money) where the search
    accepts several changes: with a pool of width 2 (trials computed ahead, some made stale by a saving)
    the search asks for the same trials in the same order and ends on the same choice as without one."""
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

    class Pool:
        width, tasks = 2, 0

        def map(self, fn, arglist):
            Pool.tasks += len(arglist)
            return [(cost(p, g), list(over)) for _, p, g in arglist]

    runs = {}
    for name, pool in (("serial", None), ("pool", Pool())):
        m = presort.Mailing(None, "s", SimpleNamespace(), shape, pool, {})
        asked = []

        def trial(policy, groups=None, m=m):
            m.overflow_groups = list(over)
            return cost(policy, groups)
        m._trial = trial
        real = m._cost

        def spy(policy, groups=None, ahead=None, real=real, asked=asked):
            asked.append(presort._trial_key(policy, groups))
            return real(policy, groups, ahead)
        m._cost = spy
        m.count = 1000
        m.costs = {"overflow": cost("overflow", None)}
        runs[name] = (m._refine("overflow"), asked)
    assert runs["serial"] == runs["pool"]
    levels_chosen, groups_chosen, final = runs["serial"][0]
    assert levels_chosen == {0: "rollup", 1: "rollup"} and groups_chosen == {(0, "75001"): "none",
                                                                           (1, "75"): "overflow"}
    assert final < cost("overflow", None) - 5
    assert Pool.tasks > len(set(runs["pool"][1]))            # some trials computed ahead were not needed


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


def test_partitions_are_a_multiple_of_the_workers():
    """Every worker gets as many partitions (none waits alone for the last one), about PARTITION_DOCS
    documents each, at most 4 per worker, never more than the documents."""
    docs = partition.PARTITION_DOCS
    assert partition._partitions(10_000, 2) == 2              # one partition's worth: both workers share it
    assert partition._partitions(5 * docs, 2) == 6
    assert partition._partitions(5 * docs, 4) == 8
    assert partition._partitions(100 * docs, 3) == 12
    assert partition._partitions(1, 4) == 1 and partition._partitions(0, 2) == 1
