"""Mail stage, plan: the plan's whole-table sorts (its indexes, the files pass, the presort's finish) run
with a small sorter, so they do not double the run's process's memory on top of the plan's page cache."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from ccm_batch.mail import partition

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
