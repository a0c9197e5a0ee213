"""Mail stage, partitions: the householding passes and the presort of the plan as tasks of the run's workers.

With a pool (:func:`~ccm_batch.mail.plan.plan_mail`), the two passes of :mod:`.household` run per
partition in the workers, each writing its rows to its own small SQLite file beside the work database
(``plan-part-N.db``), which the run's process copies into the plan tables in partition order and
deletes. A partition is copied as soon as it and those before it are done (the pool's ``each``), while
the workers still run the others (the work database is in WAL mode: they read it while it is written).
The passes:

1. **documents** (address normalisation, zones, rule packs, sort keys, householding keys, paper
   weights): a document needs nothing but its own row, so the partitions are ranges of record numbers
   (``seq``), about :data:`PARTITION_DOCS` documents each;
2. **households** (householding, envelopes, weights and shapes, split or large envelope, prices):
   partitions are ranges of the householding key, cut between two keys so a household is always in
   one partition. The key starts with the normalised postcode-and-street address of the household
   (``C|customer|street|postcode|…``), and pieces are numbered in key order, so the pieces of partition
   ``k`` are numbered after those of partitions ``< k``: its piece and household numbers are offset by
   the counts of the earlier partitions when they are copied.

Pass 2 also works out what the presort reads of each domestic piece (``mail_psk``: its key at each
level, rate step, near-step flags), so the presort's own preparation is a SQL copy.

3. **presort**: one task per qualified mailing (:func:`presort_parallel`). The presort cannot be cut
   below the mailing (one stream): its minimums, the residual level and the overflow policy chosen by
   cost are decided over the whole mailing (:mod:`.presort`). The task reads the mailing's pieces, writes
   its finished rows (levels, prices, containers, sequence numbers, piece ids and print-file columns) to
   ``plan-presort-N.db``, and the run's process applies them to ``mail_piece`` and ``mail_tray`` in
   stream order, while the other mailings are still presorted.

The result is the same rows, in the same order, as the serial plan, whatever the number of partitions or
workers.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

from ..run.faults import checkpoint
from .household import household_pieces, insert_warnings, load_documents
from .rules import task_rulebook

PARTITION_DOCS = 20_000      # documents per partition (rounded to a multiple of the workers, at most 4 each)


PLAN_CACHE_KIB = 32 * 1024   # the plan's SQLite page cache in the run's process (see .plan) ...
TASK_CACHE_KIB = 8 * 1024    # ... and in a worker's task, for the work database it reads
SORT_CACHE_KIB = 8 * 1024    # ... and while the plan sorts a whole table (see small_sorts)


@contextmanager
def page_cache(db, kib: int, names: tuple = ("main", "temp")):
    """A page cache of ``kib`` KiB for the databases ``names`` of connection ``db`` inside the block, then
    the connection's own sizes again, also when the block fails."""
    # a temporary database not opened yet reads 0: it gets SQLite's default back (-2000: 2,000 KiB)
    before = {name: db.execute(f"PRAGMA {name}.cache_size").fetchone()[0] or -2000 for name in names}
    for name in before:
        db.execute(f"PRAGMA {name}.cache_size = {-int(kib)}")
    try:
        yield
    finally:
        for name, size in before.items():
            db.execute(f"PRAGMA {name}.cache_size = {int(size)}")


def small_sorts(db):
    """:func:`page_cache` of :data:`SORT_CACHE_KIB` for the main database. SQLite's sorter (``CREATE
    INDEX``, ``ORDER BY`` without an index) takes as much memory as that cache, on top of the cache itself:
    under the plan's 32 MB, an index over 1,000,000 rows took 63 MB more at its peak, and 14 MB more with
    8 MB, in less CPU time (1.0 against 1.2–1.4 s; bench/RESULTS.md). A sort runs whole at the statement's
    first step, so the block need only hold the ``execute``."""
    return page_cache(db, SORT_CACHE_KIB, ("main",))


def create_index(db, sql: str) -> None:
    """Run ``sql`` (a ``CREATE INDEX``) with :func:`small_sorts`."""
    with small_sorts(db):
        db.execute(sql)


def connect(path: str, scratch: bool = False) -> sqlite3.Connection:
    """A worker's connection to a plan database: the work database it reads, with a page cache of
    :data:`TASK_CACHE_KIB` for its main and temporary databases (pass 2 reads ``mail_doc`` in
    householding-key order through its index; SQLite's 2 MB default is small for that, and 32 MB took
    the same time at 100,000 and 1,000,000 documents with about 19 MB more in each worker:
    bench/RESULTS.md). ``scratch``: the partition file a task appends its rows to, with SQLite's default
    cache and no fsync (merged in the same run, and written anew if the task runs again)."""
    db = sqlite3.connect(path, timeout=120)
    if scratch:
        db.execute("PRAGMA synchronous = OFF")
    else:
        for name in ("main", "temp"):
            db.execute(f"PRAGMA {name}.cache_size = {-TASK_CACHE_KIB}")
    return db


def documents_part(spec: dict, lo, hi, out_path: str) -> int:
    """Worker task: pass 1 over the documents ``lo <= seq < hi`` into ``out_path``."""
    src, out = connect(spec["db"]), connect(out_path, scratch=True)
    try:
        count = load_documents(src, task_rulebook(spec), spec["config"], out=out, seqs=(lo, hi))
        out.commit()
        checkpoint("plan")                 # tests: a worker killed with its partition file written
        return count
    finally:
        src.close()
        out.close()


def piece_part_ddl() -> tuple[str, str]:
    """The ``CREATE TABLE`` statements of a partition's ``mail_piece`` (the plan's columns, untyped) and
    ``mail_piece_doc``: keyed as the plan's own tables are, and written in key order, so the merge reads
    them in that order with no sort (an unkeyed partition of 125,000 pieces was sorted in the run's
    process with the plan's 32 MB sorter, while both workers ran: the plan's peak at 1,000,000 documents)."""
    from .household import PIECE_COLUMNS
    columns = ", ".join("piece_no INTEGER PRIMARY KEY" if c == "piece_no" else c for c in PIECE_COLUMNS)
    return (f"CREATE TABLE mail_piece ({columns})",
            "CREATE TABLE mail_piece_doc (piece_no, pos, doc_seq, PRIMARY KEY (piece_no, pos)) WITHOUT ROWID")


def piece_merges(cols: list, facts: str) -> list[str]:
    """The statements that append a partition (attached as ``part``) to ``mail_piece``, ``mail_piece_doc``
    and ``mail_psk``, its piece numbers (and ``mail_piece``'s households) shifted by the parameters. Each
    reads the partition in its key order (``m.``: an unqualified name would also match the shifted column,
    and SQLite would sort)."""
    shifted = ", ".join("piece_no + ?" if c == "piece_no" else "household + ?" if c == "household" else c
                        for c in cols)
    return [f"INSERT INTO mail_piece ({', '.join(cols)}) SELECT {shifted} FROM part.mail_piece AS m "
            "ORDER BY m.piece_no",
            "INSERT INTO mail_piece_doc SELECT piece_no + ?, pos, doc_seq FROM part.mail_piece_doc AS m "
            "ORDER BY m.piece_no, m.pos",
            f"INSERT INTO mail_psk SELECT piece_no + ?, {facts} FROM part.mail_psk AS m ORDER BY m.piece_no"]


def households_part(spec: dict, lo, hi, out_path: str) -> tuple[dict, list]:
    """Worker task: pass 2 over the households ``lo <= hh_key < hi`` into ``out_path``."""
    src, out = connect(spec["db"]), connect(out_path, scratch=True)
    try:
        out.execute("DROP TABLE IF EXISTS mail_piece")          # a task run again after its worker died
        out.execute("DROP TABLE IF EXISTS mail_piece_doc")
        for ddl in piece_part_ddl():
            out.execute(ddl)
        stats, unknown = household_pieces(src, task_rulebook(spec), spec["config"], out=out, keys=(lo, hi))
        out.commit()
        checkpoint("plan")
        return stats, sorted(unknown)
    finally:
        src.close()
        out.close()


def presort_part(spec: dict, stream: str, pack_id: str, shape: str, qualified: tuple, first_id: int,
                 out_path: str) -> tuple[dict, list, int]:
    """Worker task: the presort of the qualified mailing ``stream`` (:mod:`.presort`), cut into print files
    from ``first_id``, its finished rows written to ``out_path`` (``mail_fin``, ``mail_trayrow``). Returns the
    stream's result, its print files and the next piece id."""
    from .files import FileCutter
    from .presort import Mailing
    remove_files([out_path])                               # a task run again after its worker died
    src = connect(spec["db"])
    try:
        src.execute("ATTACH DATABASE ? AS part", (out_path,))
        src.execute("PRAGMA part.synchronous = OFF")
        config, pack = spec["config"], task_rulebook(spec).packs[pack_id]
        cutter = FileCutter(config.max_pieces_per_file, config.max_sheets_per_file, first_id)
        result = Mailing(src, stream, pack, pack.shapes[shape], out="part").run(
            config.policy, qualified, cutter, apply=False)
        src.commit()
        checkpoint("plan")
        checkpoint("presort")              # tests: a worker killed with its mailing's file written
        return result, cutter.files(), cutter.next_id
    finally:
        src.close()


def presort_parallel(db, pool, spec: dict, mailings: list) -> dict:
    """The qualified mailings ``mailings`` [(stream, pack id, shape, qualified, first piece id)] presorted
    as tasks of the pool, one a mailing, each applied to the plan by the run's process as soon as it and
    those before it are done (:func:`.presort.finish_statements`); {stream: (result, print files, next id)}."""
    from ..run import give_back_memory
    from .presort import finish_statements
    paths = [str(Path(spec["db"]).parent / f"plan-presort-{i:04d}.db") for i in range(len(mailings))]
    remove_files(paths)
    db.commit()                                            # what the workers read
    # while a worker holds the largest mailing's trial arrays, the run's process holds no more than it
    # needs to apply the results in piece order: its page cache emptied and given back, then 8 MB (the
    # plan's peak at 1,000,000 documents: 200 MB with the run's 32 MB cache kept, 170 MB so)
    db.execute("PRAGMA shrink_memory")
    give_back_memory()
    out = {}

    def apply(i, result):
        _merge(db, paths[i], [(sql, ()) for sql in finish_statements("part", True)])
        out[mailings[i][0]] = result
    try:
        with page_cache(db, TASK_CACHE_KIB, ("main",)):
            pool.map(presort_part, [(spec, *m, path) for m, path in zip(mailings, paths)], each=apply)
    finally:
        remove_files(paths)
    return out


def _bounds(db, sql: str, total: int, parts: int) -> list:
    """``parts`` ranges [lo, hi) of the values ``sql`` lists in order (None: open end), cut at quantiles;
    equal values never straddle two ranges."""
    cuts = []
    for k in range(1, parts):
        row = db.execute(sql + " LIMIT 1 OFFSET ?", (k * total // parts,)).fetchone()
        if row and (not cuts or row[0] > cuts[-1]):
            cuts.append(row[0])
    edges = [None, *cuts, None]
    return list(zip(edges, edges[1:]))


def _partitions(total: int, width: int) -> int:
    """About :data:`PARTITION_DOCS` documents each, a multiple of the pool's width (every worker gets as
    many partitions: none waits for the last one), at most 4 per worker."""
    parts = -(-total // PARTITION_DOCS)
    return max(1, min(4 * width, -(-parts // width) * width, total))


def _part_paths(db_path: str, n: int) -> list[str]:
    base = Path(db_path).parent
    return [str(base / f"plan-part-{i:04d}.db") for i in range(n)]


def _merge(db, path: str, statements: list) -> None:
    db.execute("ATTACH DATABASE ? AS part", (path,))
    try:
        for sql, args in statements:
            db.execute(sql, args)
    finally:
        db.commit()
        db.execute("DETACH DATABASE part")
        remove_files([path])


def load_documents_parallel(db, config, pool, spec: dict) -> int:
    """Pass 1 in the workers (see the module docstring): ``documents`` → ``mail_doc``."""
    from .household import DOC_DDL
    total = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    ranges = _bounds(db, "SELECT seq FROM documents ORDER BY seq", total, _partitions(total, pool.width))
    paths = _part_paths(spec["db"], len(ranges))
    remove_files(paths)
    db.execute("DROP TABLE IF EXISTS mail_doc")
    db.execute(DOC_DDL)
    db.commit()
    try:
        def merge(i, _count):
            _merge(db, paths[i], [("INSERT INTO mail_doc SELECT * FROM part.mail_doc ORDER BY seq", ())])
        counts = pool.map(documents_part, [(spec, lo, hi, path) for (lo, hi), path in zip(ranges, paths)],
                          each=merge)
    finally:
        remove_files(paths)
    create_index(db, "CREATE INDEX mail_doc_hh ON mail_doc(hh_key, seq)")
    db.commit()
    return sum(counts)


def build_pieces_parallel(db, book, config, pool, spec: dict, warnings: list) -> dict:
    """Pass 2 in the workers (see the module docstring): households → ``mail_piece`` / ``mail_piece_doc``."""
    from .household import PIECE_COLUMNS, facts_columns, facts_ddl
    total = db.execute("SELECT COUNT(*) FROM mail_doc").fetchone()[0]
    ranges = _bounds(db, "SELECT hh_key FROM mail_doc ORDER BY hh_key", total, _partitions(total, pool.width))
    paths = _part_paths(spec["db"], len(ranges))
    remove_files(paths)
    db.commit()
    stats = {"households": 0, "householded_documents": 0, "split_pieces": 0, "oversize": 0}
    unknown: set = set()
    cols = list(PIECE_COLUMNS)
    db.execute("DROP TABLE IF EXISTS mail_psk")
    db.execute(facts_ddl(book))
    merges = piece_merges(cols, ", ".join(facts_columns(book)))
    pieces = groups = 0

    def merge(i, result):
        nonlocal pieces, groups
        part, names = result
        _merge(db, paths[i], list(zip(merges, [(pieces, groups), (pieces,), (pieces,)])))
        pieces += part["pieces"]
        groups += part["groups"]
        for k in stats:
            stats[k] += part[k]
        unknown.update(names)
    try:
        pool.map(households_part, [(spec, lo, hi, path) for (lo, hi), path in zip(ranges, paths)], each=merge)
    finally:
        remove_files(paths)
    warnings.extend(insert_warnings(unknown))
    return stats


def remove_files(paths: list) -> None:
    """Delete SQLite files this plan made beside the work database (and SQLite's companions)."""
    for path in paths:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)

