#!/usr/bin/env python3
"""Benchmark of the mail plan phase alone, on synthetic plan inputs (issue 17, item 4).

usage: plan_bench.py [--sizes 10000,100000,1000000] [--workers 1,2] [--executor local|dask]
                     [--repeat 1] [--profile] [--keep DIR] [--documents WORK_DB]

The plan phase reads only the ``documents`` table of the run's work database (one row per composed
document: address, postcode, country, sheets, page size, ...). This script writes that table for N
synthetic documents (deterministic, seed 42: French addresses over ~6,000 postcodes in 95
départements, 8 % of the customers with a second document — householded —, 1 % foreign addresses,
0.5 % incomplete addresses, 1 to 8 sheets), then times :func:`ccm_batch.mail.plan_mail` on a copy of
it with the bench job's ``[mail]`` section (``bench/bench-invoice.toml``: La Poste presort, cheapest
overflow policy, print files of 250 pieces).

Reported per size and worker count: wall seconds, CPU seconds of the run's process and of its plan
workers (``time.process_time`` in the run's process and inside each worker task: forked processes or
Dask tasks, the Dask cluster started before the clock), and CPU microseconds per document. CPU time is the figure to
compare on a shared machine. A full 1,000,000-record run takes 40 minutes; the plan alone on its
1,000,000 synthetic rows takes a few minutes and reads exactly what the real run's plan reads.

Generated inputs are cached in ``bench/work/plan-docs-N.db`` (delete them to regenerate). With
``--documents``, the plan is timed on the ``documents`` table of a real run's work database instead (e.g.
a bench-invoice run stopped after its first print file with ``CCM_FAULT=render:1``, which leaves its work
directory behind).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from ccm_batch.spool import DOCUMENTS_DDL, open_db  # noqa: E402

FIRST = ["Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille", "Hélène", "François", "Émilie", "Jérôme",
         "Anaïs", "Benoît", "Cécile", "Gaëlle", "Noël", "Zoé", "Théo", "Léa", "Hugo", "Chloé"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Roux", "Vincent", "Fournier", "Morel"]
CIV = ["M.", "Mme", "M. et Mme", "Mlle"]
STREET_T = ["rue", "avenue", "boulevard", "impasse", "allée", "chemin", "place", "quai", "route"]
STREET_N = ["de la République", "Victor Hugo", "du Général de Gaulle", "Jean Jaurès", "des Lilas", "Pasteur",
            "de la Gare", "du Moulin", "Saint-Exupéry", "des Écoles", "de l'Église", "Émile Zola"]
FOREIGN = [("BE", "1000", "BRUXELLES"), ("DE", "10115", "BERLIN"), ("ES", "28001", "MADRID"),
           ("IT", "00118", "ROMA"), ("CH", "1201", "GENÈVE")]
A4 = (11906, 16838)


def _postcodes(rnd: random.Random) -> list[str]:
    """~6,000 French postcodes over 95 départements, weighted like a real file (big towns more often)."""
    out = []
    for dept in list(range(1, 20)) + list(range(21, 96)):
        for _ in range(rnd.randint(20, 110)):
            out.append(f"{dept:02d}{rnd.randrange(0, 1000, 10):03d}")
    return sorted(set(out))


def generate(path: Path, n: int, seed: int = 42) -> None:
    """Write the ``documents`` table of ``n`` synthetic documents to ``path``."""
    rnd = random.Random(seed)
    codes = _postcodes(rnd)
    weights = [1 + 30 * (rnd.random() ** 8) for _ in codes]
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.execute(DOCUMENTS_DDL)
    rows, customer, pending = [], 0, None
    offset = 0
    for seq in range(1, n + 1):
        if pending is not None:                   # the second document of a householded customer
            cust, name, lines, pc, country = pending
            pending = None
        else:
            customer += 1
            cust = f"C{customer:08d}"
            name = f"{rnd.choice(CIV)} {rnd.choice(FIRST)} {rnd.choice(LAST).upper()}"
            r = rnd.random()
            if r < 0.01:
                country, pc, city = rnd.choice(FOREIGN)
                lines = [name, f"{rnd.randint(1, 250)} Hauptstrasse", f"{pc} {city}"]
            elif r < 0.015:
                country, pc, lines = "FR", "", [name, "chez le voisin"]          # invalid: no town line
            else:
                country = "FR"
                pc = rnd.choices(codes, weights)[0]
                lines = [name, f"{rnd.randint(1, 250)} {rnd.choice(STREET_T)} {rnd.choice(STREET_N)}",
                         f"{pc} VILLE {pc[:2]}"]
                if rnd.random() < 0.3:
                    lines.insert(1, f"Bâtiment {rnd.choice('ABCDE')}")
            if seq < n and rnd.random() < 0.08:
                pending = (cust, name, lines, pc, country)
        pages = rnd.choice((1, 1, 1, 2, 2, 3, 4, 6, 9, 15))
        length = 2500 + 2500 * pages
        rows.append((seq, f"F{seq:010d}", cust, "invoice", name, json.dumps(lines, ensure_ascii=False), pc,
                     country, "fr", "", "", "", "", 0, "[]", pages, pages, 0, A4[0], A4[1],
                     f"chunk-{(seq - 1) // 250:06d}.docs", offset, length, "2026-11-23"))
        offset += length
        if len(rows) >= 5000:
            db.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 24)})", rows)
            rows = []
    db.executemany(f"INSERT INTO documents VALUES ({','.join('?' * 24)})", rows)
    db.commit()
    db.close()
    os.replace(tmp, path)


def extract_documents(work_db: Path, path: Path) -> int:
    """Copy the ``documents`` table of a run's work database to ``path``; its number of rows."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute(DOCUMENTS_DDL)
    db.execute("ATTACH DATABASE ? AS src", (str(work_db),))
    db.execute("INSERT INTO documents SELECT * FROM src.documents")
    db.commit()
    n = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    db.execute("DETACH DATABASE src")
    db.close()
    return n


def mail_config():
    from ccm_batch.job import load_job
    from ccm_batch.mail import MailConfig
    job = load_job(HERE / "bench-invoice.toml")
    return MailConfig.from_dict(job.mail, job.path.parent), job


def run_plan(docs: Path, work: Path, workers: int, executor: str, profile: bool) -> dict:
    """Plan ``docs`` (copied to ``work``) once; wall and CPU seconds."""
    from ccm_batch import mail
    config, job = mail_config()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copyfile(docs, work / "work.db")
    db = open_db(work / "work.db")
    from types import SimpleNamespace

    from ccm_batch.run.plan_pool import open_plan_pool
    pool = open_plan_pool(SimpleNamespace(executor=executor, workers=workers, scheduler="", name=job.name))
    start, cpu_start = time.monotonic(), time.process_time()
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    try:
        summary = mail.plan_mail(db, config, job=job.name, job_date=job.date, pool=pool)
    finally:
        if pool is not None:
            pool.close()
    if prof:
        prof.disable()
    wall = time.monotonic() - start
    own = time.process_time() - cpu_start
    remote = pool.cpu_s if pool is not None else 0.0
    digest = plan_digest(db)
    db.close()
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return {"wall": wall, "cpu": own + remote, "own": own, "workers_cpu": remote,
            "pieces": summary.pieces_out, "digest": digest}


def plan_digest(db) -> str:
    """SHA-256 of every plan table in a fixed order (the same plan gives the same digest)."""
    import hashlib
    h = hashlib.sha256()
    for table, order in (("mail_piece", "piece_no"), ("mail_piece_doc", "piece_no, pos"),
                         ("mail_stream", "name"), ("mail_tray", "stream, tray_no"), ("mail_file", "stream, seq"),
                         ("mail_run", "key")):
        for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            h.update(repr(row).encode())
    return h.hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--executor", default="local")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--keep", default="")
    ap.add_argument("--documents", default="", help="a run's work.db: time the plan on its documents")
    args = ap.parse_args()
    work_root = HERE / "work"
    work_root.mkdir(exist_ok=True)
    cases = [(int(x), work_root / f"plan-docs-{int(x)}.db") for x in args.sizes.split(",")]
    if args.documents:
        docs = work_root / "plan-docs-run.db"
        cases = [(extract_documents(Path(args.documents), docs), docs)]
    lines = ["| documents | executor | workers | pieces | wall s | CPU s (run + workers) | CPU µs / doc | digest |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for n, docs in cases:
        if not docs.exists():
            t = time.monotonic()
            generate(docs, n)
            print(f"generated {docs} in {time.monotonic() - t:.1f} s", flush=True)
        for _ in range(args.repeat):
            for w in (int(x) for x in args.workers.split(",")):
                work = Path(args.keep) if args.keep else work_root / f"plan-run-{n}-{w}"
                r = run_plan(docs, work, w, args.executor, args.profile)
                line = (f"| {n:,} | {args.executor} | {w} | {r['pieces']:,} | {r['wall']:.1f} | "
                        f"{r['cpu']:.1f} ({r['own']:.1f} + {r['workers_cpu']:.1f}) | {r['cpu'] * 1e6 / n:.0f} | "
                        f"{r['digest']} |")
                print(line, flush=True)
                lines.append(line)
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
    if args.executor == "dask":
        from ccm_batch.run.dask_cluster import shutdown
        shutdown()
    print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
