"""History stage: copy one history into another (``ccm-batch history copy``), e.g. SQLite into PostgreSQL.

Rows are copied table by table in one transaction of the destination, values unchanged (money is
TEXT, so nothing is rounded on the way). A run already in the destination is refused: copying twice
would count it twice.
"""
from __future__ import annotations

from ..errors import ConfigError
from .schema import TABLES

BATCH = 2000


def _columns(store, table: str) -> list[str]:
    cur = store.conn.cursor()
    cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    names = [d[0] for d in cur.description]
    cur.close()
    store._end_read()
    return names


def _batches(store, sql: str):
    """The rows of ``sql`` in batches (a server-side cursor on PostgreSQL: bounded memory)."""
    cur = store.conn.cursor(name="ccm_history_copy") if store.dialect == "postgresql" else store.conn.cursor()
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(BATCH):
            yield [tuple(r) for r in rows]
    finally:
        cur.close()
        store._end_read()


def copy_history(source, dest) -> dict[str, int]:
    """Copy every table of ``source`` into ``dest`` (both open stores); returns rows copied per table."""
    if source.version() != dest.version():
        raise ConfigError(f"the histories have different schema versions ({source.version()} and "
                          f"{dest.version()})")
    ids = [r[0] for r in source.query("SELECT run_id FROM runs ORDER BY run_id")]
    existing = {r[0] for r in dest.query("SELECT run_id FROM runs")}
    clash = sorted(set(ids) & existing)
    if clash:
        raise ConfigError(f"{len(clash)} run(s) of the source are already in the destination (e.g. {clash[0]}): "
                          "copying again would count them twice")

    def work(tx):
        counts = {}
        for table in TABLES:
            cols = _columns(source, table)
            if table == "events":
                cols = [c for c in cols if c != "event_id"]       # the destination numbers its events
            order = "event_id" if table == "events" else ", ".join(cols[:2])
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            counts[table] = 0
            for rows in _batches(source, f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}"):
                tx.executemany(sql, rows)
                counts[table] += len(rows)
        return counts
    return dest.write(work)
