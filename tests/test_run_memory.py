"""Run orchestration: the heap a phase freed goes back to the system before workers are forked.

SQLite's page cache, emptied when the mail plan sets its cache size back, stays in the process under
glibc; :func:`ccm_batch.run.give_back_memory` returns it, so the render workers forked next do not
carry it. Measured in a fresh interpreter: RSS after filling a 200 MB page cache and shrinking it,
then after the call.
"""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json, os, sqlite3, sys, tempfile
import psutil
from ccm_batch.run import give_back_memory
rss = lambda: psutil.Process().memory_info().rss >> 20
db = sqlite3.connect(os.path.join(sys.argv[1], "t.db"))
db.execute("PRAGMA cache_size = -200000")
db.execute("CREATE TABLE t (x)")
start = rss()
db.executemany("INSERT INTO t VALUES (?)", ((os.urandom(300),) for _ in range(200000)))
db.commit()
full = rss()
db.execute("PRAGMA cache_size = -2000")
db.execute("SELECT count(*) FROM t").fetchone()
shrunk = rss()
give_back_memory()
print(json.dumps({"start": start, "full": full, "shrunk": shrunk, "after": rss()}))
"""


def test_memory_freed_by_sqlite_goes_back_to_the_system(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    mb = json.loads(proc.stdout)
    assert mb["full"] - mb["start"] > 50                  # the premise: the cache filled
    assert mb["after"] < mb["shrunk"] - 20, mb            # kept by the C library until given back
    assert mb["after"] < mb["start"] + 15, mb
