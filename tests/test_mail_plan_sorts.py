"""Mail stage, plan: the plan's whole-table sorts (its indexes, the files pass, the presort's finish) run
with a small sorter, so they do not double the run's process's memory on top of the plan's page cache;
the partitions of the householding pass are merged in key order without a sort."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import pytest

from ccm_batch import mail
from ccm_batch.mail import partition
from ccm_batch.mail.household import PIECE_COLUMNS, facts_columns, facts_ddl
from ccm_batch.mail.rules import load_rulebook
from ccm_batch.mail.sample import generate_documents, low_minimum_rules
from plan_pools import InProcessPool

DATE = "2026-01-15"

SCRIPT = r"""
import json, sqlite3, sys
from ccm_batch.mail.partition import PLAN_CACHE_KIB, create_index


def peak_kib():    # this process's own high-water mark (ru_maxrss keeps the forking parent's across exec)
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])


db = sqlite3.connect(sys.argv[1])
db.execute(f"PRAGMA main.cache_size = {-PLAN_CACHE_KIB}")
before = peak_kib()
sql = "CREATE INDEX t_key ON t(key, seq)"
if sys.argv[2] == "small":
    create_index(db, sql)
else:
    db.execute(sql)
print(json.dumps({"grew_kib": peak_kib() - before,
                  "cache": db.execute("PRAGMA main.cache_size").fetchone()[0]}))
"""


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """400,000 rows of householding-like keys (≈ 40 MB of keys to sort), the pages already on disk."""
    path = tmp_path_factory.mktemp("sorts") / "t.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, key TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"C|{(i * 7919) % 1000003:09d}|{i % 977} RUE DE LA GARE|"
                                                     f"{(i * 31) % 99999:05d}|FR|{'x' * 40}") for i in range(400_000)))
    db.commit()
    db.close()
    return path


def _index(path, how: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path), how], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_an_index_built_with_a_small_sorter_takes_less_memory(table, tmp_path):
    import shutil
    plain, small = tmp_path / "plain.db", tmp_path / "small.db"
    shutil.copyfile(table, plain)
    shutil.copyfile(table, small)
    big = _index(plain, "plain")
    little = _index(small, "small")
    assert big["grew_kib"] >= 20 * 1024, big                     # the premise: the 32 MB sorter was used
    assert little["grew_kib"] + 12 * 1024 <= big["grew_kib"], (little, big)
    assert little["cache"] == -partition.PLAN_CACHE_KIB           # the plan's cache size is back
    rows = [sqlite3.connect(p).execute("SELECT seq FROM t INDEXED BY t_key ORDER BY key, seq").fetchall()
            for p in (plain, small)]
    assert rows[0] == rows[1] and len(rows[0]) == 400_000


def test_the_cache_size_comes_back_when_the_statement_fails(tmp_path):
    db = sqlite3.connect(tmp_path / "x.db")
    db.execute("PRAGMA main.cache_size = -12345")
    with pytest.raises(sqlite3.OperationalError):
        partition.create_index(db, "CREATE INDEX nowhere ON missing(column)")
    assert db.execute("PRAGMA main.cache_size").fetchone()[0] == -12345


# the statement shapes that sort a whole plan table: an index, a grouping, a numbering, a distinct list,
# a table read in another order than its rows (NOT INDEXED), the presort's read in tray order
WHOLE_TABLE_SORT = re.compile(r"CREATE INDEX|GROUP BY|ROW_NUMBER|DISTINCT|NOT INDEXED.*ORDER BY|"
                              r"FROM mail_ps ORDER BY", re.S)


@pytest.mark.parametrize("pool", [None, InProcessPool(2)], ids=["serial", "partitions"])
def test_every_whole_table_sort_of_the_plan_runs_with_the_small_sorter(tmp_path, monkeypatch, pool):
    monkeypatch.setattr(partition, "PARTITION_DOCS", 500)
    rules = low_minimum_rules(tmp_path / "rules")           # every presort level, the overflow search
    db = sqlite3.connect(tmp_path / "work.db")
    generate_documents(db, 3000, seed=5)
    db.commit()
    statements = []

    def traced(conn):
        """Record ``conn``'s whole-table sorts with its main cache size at the time."""
        cache = {"main": conn.execute("PRAGMA main.cache_size").fetchone()[0]}

        def trace(sql):
            found = re.match(r"PRAGMA main\.cache_size = (-?\d+)", sql)
            if found:
                cache["main"] = int(found.group(1))
            elif WHOLE_TABLE_SORT.search(sql):
                statements.append((cache["main"], " ".join(sql.split())[:200]))
        conn.set_trace_callback(trace)
        return conn
    real_connect = partition.connect                       # the tasks' connections (the presort's, with a pool)

    def connect(path, scratch=False):
        return real_connect(path, scratch) if scratch else traced(real_connect(path))
    monkeypatch.setattr(partition, "connect", connect)
    traced(db)
    cfg = mail.MailConfig.from_dict({"enabled": True, "rules_dir": str(rules)}, tmp_path)
    summary = mail.plan_mail(db, cfg, "SORTS", DATE, pool=pool)
    db.set_trace_callback(None)
    assert summary.pieces_out > 1500 and db.execute("SELECT COUNT(*) FROM mail_tray").fetchone()[0] >= 5
    kinds = {kind for _, sql in statements for kind in ("CREATE INDEX", "GROUP BY", "ROW_NUMBER", "DISTINCT",
                                                         "NOT INDEXED", "FROM mail_ps ORDER BY") if kind in sql}
    assert len(kinds) == 6, kinds                            # the premise: each shape was seen
    big = [sql for size, sql in statements if size != -partition.SORT_CACHE_KIB]
    assert not big, big


def test_the_householding_partitions_are_merged_without_a_sort(tmp_path):
    """The merge's reads (:func:`partition.build_pieces_parallel`) follow the partition tables' keys."""
    book = load_rulebook([low_minimum_rules(tmp_path / "rules")], DATE)
    part = sqlite3.connect(tmp_path / "part.db")                # as a worker's task makes it
    for ddl in (*partition.piece_part_ddl(), facts_ddl(book)):
        part.execute(ddl)
    part.commit()
    part.close()
    db = sqlite3.connect(tmp_path / "work.db")
    db.execute(f"CREATE TABLE mail_piece ({', '.join(PIECE_COLUMNS)})")
    db.execute("CREATE TABLE mail_piece_doc (piece_no, pos, doc_seq)")
    db.execute(facts_ddl(book))
    db.execute("ATTACH DATABASE ? AS part", (str(tmp_path / "part.db"),))
    statements = partition.piece_merges(list(PIECE_COLUMNS), ", ".join(facts_columns(book)))
    assert len(statements) == 3
    for sql in statements:
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, (0, 0)[:sql.count("?")])]
        assert plan and not any("B-TREE" in step for step in plan), (sql, plan)
