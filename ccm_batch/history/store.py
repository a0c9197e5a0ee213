"""History stage: the run-history store — one connection type over SQLite (embedded) and PostgreSQL (shared).

SQL is written once with ``?`` placeholders and the portable types of :mod:`.schema`; the PostgreSQL
connection rewrites the placeholders for psycopg. Every write is one transaction, retried on a
transient conflict within a bounded deadline: SQLite in WAL mode with a busy timeout and
``BEGIN IMMEDIATE`` (the write lock is taken at the start, so two writers queue instead of failing on
upgrade), PostgreSQL with its own transactions. Two runs writing at once both land.
"""
from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path

from ..errors import ConfigError
from .schema import MIGRATIONS, SCHEMA_VERSION

RETRY_SECONDS = 60.0          # a writer gives up after waiting this long for the database


def is_url(location: str) -> bool:
    """True for a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    return str(location).startswith(("postgresql://", "postgres://"))


class HistoryStore:
    """An open history database. Use :func:`open_store`; close with :meth:`close` or ``with``."""

    dialect = "sqlite"

    def __init__(self, location: str):
        self.location = str(location)

    # -- implemented per dialect ------------------------------------------------------------
    def _begin(self):
        raise NotImplementedError

    def _transient(self, exc: Exception) -> bool:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.conn.close()

    def sql(self, text: str) -> str:
        return text

    def query(self, text: str, params=()) -> list[tuple]:
        """Rows of a read-only query."""
        cur = self.conn.cursor()
        try:
            cur.execute(self.sql(text), tuple(params))
            rows = [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()
        self._end_read()
        return rows

    def _end_read(self) -> None:
        pass

    def write(self, work) -> object:
        """Run ``work(tx)`` in one transaction (``tx.execute(sql, params)``), retrying transient
        conflicts for up to :data:`RETRY_SECONDS`; returns what ``work`` returned."""
        def attempt():
            with self._transaction() as tx:
                return work(tx)
        return self._retrying(attempt)

    def _retrying(self, attempt) -> object:
        """``attempt()`` again, with a growing random back-off, while it fails with a transient conflict,
        for up to :data:`RETRY_SECONDS`; what it returned."""
        deadline = time.monotonic() + RETRY_SECONDS
        delay = 0.01
        while True:
            try:
                return attempt()
            except Exception as exc:   # noqa: BLE001 - re-raised unless transient
                if not self._transient(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)

    @contextlib.contextmanager
    def _transaction(self):
        cur = self.conn.cursor()
        self._begin(cur)
        tx = _Tx(self, cur)
        try:
            yield tx
        except BaseException:
            self.conn.rollback()
            cur.close()
            raise
        self.conn.commit()
        cur.close()

    def version(self) -> int:
        """The schema version of this database (0 when empty)."""
        try:
            rows = self.query("SELECT MAX(version) FROM schema_version")
        except Exception:   # noqa: BLE001 - no table yet
            self.conn.rollback()
            return 0
        return rows[0][0] or 0

    def migrate(self) -> int:
        """Apply the migrations this database lacks, in order, each in its own transaction."""
        for version, description, statements in MIGRATIONS:
            def apply(tx, version=version, description=description, statements=statements):
                tx.lock_for_migration()
                tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                           "description TEXT NOT NULL, applied_at TEXT NOT NULL)")
                done = tx.execute("SELECT 1 FROM schema_version WHERE version = ?", (version,)).fetchone()
                if done:
                    return
                for statement in statements:
                    tx.execute(self.ddl(statement))
                tx.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                           (version, description, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
            self.write(apply)
        return SCHEMA_VERSION

    def ddl(self, statement: str) -> str:
        return statement.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", bigint="INTEGER", real="REAL")


class _Tx:
    """The cursor of one write transaction, with ``?`` placeholders on both dialects."""

    def __init__(self, store: HistoryStore, cur):
        self.store, self.cur = store, cur

    def execute(self, text: str, params=()):
        self.cur.execute(self.store.sql(text), tuple(params))
        return self.cur

    def executemany(self, text: str, rows) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            self.cur.executemany(self.store.sql(text), rows)

    def lock_for_migration(self) -> None:
        if self.store.dialect == "postgresql":
            self.cur.execute("SELECT pg_advisory_xact_lock(7140014)")   # one migrating process at a time


class SQLiteStore(HistoryStore):
    """The embedded history: one SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(self, location: str):
        super().__init__(location)
        path = Path(location)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self._enter_wal()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"history database {path}: cannot open it ({exc}). Check [history] path "
                              "and the directory's permissions.") from None

    def _enter_wal(self) -> None:
        """Put the file in WAL mode (persistent: a no-op once done). Switching needs the exclusive lock,
        and SQLite answers "database is locked" at once, without its busy handler, when two processes
        switch a new file together, so the switch is retried like a write."""
        def attempt():
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self.conn.execute("PRAGMA journal_mode = WAL")
        self._retrying(attempt)

    def _begin(self, cur) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _transient(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))



class PostgresStore(HistoryStore):
    """The shared history: a PostgreSQL database reached through a URL (psycopg 3)."""

    dialect = "postgresql"

    def __init__(self, location: str):
        super().__init__(location)
        try:
            import psycopg
        except ImportError:     # pragma: no cover - psycopg is a dependency
            raise ConfigError("a PostgreSQL history needs psycopg: pip install 'psycopg[binary]'") from None
        self._psycopg = psycopg
        try:
            self.conn = psycopg.connect(location, connect_timeout=10)
        except psycopg.Error as exc:
            raise ConfigError(f"history database {_safe_url(location)}: cannot connect "
                              f"({str(exc).strip().splitlines()[0]}). Check [history] url.") from None

    def sql(self, text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    def _begin(self, cur) -> None:
        pass                                  # psycopg opens a transaction at the first statement

    def _end_read(self) -> None:
        self.conn.rollback()                  # end the read transaction (no idle-in-transaction)

    def _transient(self, exc: Exception) -> bool:
        errors = self._psycopg.errors
        return isinstance(exc, (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable))

    def ddl(self, statement: str) -> str:
        return statement.format(serial="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                                bigint="BIGINT", real="DOUBLE PRECISION")

    def version(self) -> int:
        rows = self.query("SELECT to_regclass('schema_version') IS NOT NULL")
        if not rows[0][0]:
            return 0
        return super().version()


def _safe_url(url: str) -> str:
    """The URL without its password (for messages)."""
    import re
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_store(location: str | Path, migrate: bool = True) -> HistoryStore:
    """Open the history at ``location`` (a PostgreSQL URL or an SQLite file path), migrating it to the
    current schema unless ``migrate`` is False."""
    location = str(location)
    store = PostgresStore(location) if is_url(location) else SQLiteStore(location)
    if migrate:
        try:
            store.migrate()
        except Exception:
            store.close()
            raise
    return store
