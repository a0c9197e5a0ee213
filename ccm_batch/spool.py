"""Spool stage: composed documents on disk, and the run's work database (SQLite) that indexes them.

Composition writes each chunk of records to ``spool/chunk-NNNNNN.docs`` (pickled
:class:`ccm_batch.pages.Document`s, one after the other) and ``chunk-NNNNNN.rows`` (the chunk's
metadata rows, rejects and warnings). The ``.rows`` file is written last, under a temporary name, and
renamed: its presence is the journal entry that the chunk is committed. After composition the rows are
loaded, in record order, into the ``documents`` table that the plan stage reads; rendering reads each
document back from the spool by (file, offset, length).
"""
from __future__ import annotations

import json
import os
import pickle
import sqlite3
from pathlib import Path
from typing import NamedTuple

from .pages import Document

PICKLE_PROTOCOL = 5

DOCUMENTS_DDL = """
CREATE TABLE IF NOT EXISTS documents (
  seq INTEGER PRIMARY KEY,          -- record number in the extract (input order)
  doc_id TEXT, customer_id TEXT, doc_type TEXT, recipient_name TEXT,
  address TEXT,                     -- JSON list of lines
  postcode TEXT, country TEXT, language TEXT, carrier TEXT, product TEXT, sender TEXT,
  confidentiality TEXT, mail_separately INTEGER,
  inserts TEXT,                     -- JSON list
  pages INTEGER, sheets INTEGER, duplex INTEGER, page_width INTEGER, page_height INTEGER,
  spool_file TEXT, spool_offset INTEGER, spool_length INTEGER, doc_date TEXT
)"""


class DocumentRow(NamedTuple):
    """One document's row of the ``documents`` table (see :data:`DOCUMENTS_DDL`)."""
    seq: int
    doc_id: str
    customer_id: str
    doc_type: str
    recipient_name: str
    address: str
    postcode: str
    country: str
    language: str
    carrier: str
    product: str
    sender: str
    confidentiality: str
    mail_separately: int
    inserts: str
    pages: int
    sheets: int
    duplex: int
    page_width: int
    page_height: int
    spool_file: str
    spool_offset: int
    spool_length: int
    doc_date: str


def document_row(doc: Document, seq: int, spool_file: str, offset: int, length: int) -> DocumentRow:
    """The metadata row of a spooled document."""
    m = doc.meta
    first = doc.pages[0] if doc.pages else None
    return DocumentRow(
        seq, m.doc_id, m.customer_id, m.doc_type, m.recipient_name,
        json.dumps(list(m.address), ensure_ascii=False), m.postcode, m.country, m.language,
        m.carrier, m.product, m.sender, m.confidentiality, int(m.mail_separately),
        json.dumps(list(m.inserts), ensure_ascii=False), doc.page_count, doc.sheet_count,
        int(m.duplex), first.width if first else 0, first.height if first else 0,
        spool_file, offset, length, m.date)


class ChunkWriter:
    """Appends documents of one chunk to its spool file; ``commit`` makes the chunk durable."""

    def __init__(self, spool_dir: Path, chunk: int):
        self.name = f"chunk-{chunk:06d}.docs"
        self.path = spool_dir / self.name
        self._f = open(self.path, "wb")
        self.offset = 0

    def add(self, doc: Document) -> tuple[str, int, int]:
        data = pickle.dumps(doc, PICKLE_PROTOCOL)
        self._f.write(data)
        start = self.offset
        self.offset += len(data)
        return self.name, start, len(data)

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SpoolReader:
    """Reads spooled documents back by (file, offset, length), keeping a few files open."""

    def __init__(self, spool_dir: Path):
        self.dir = spool_dir
        self._files: dict[str, object] = {}

    def read(self, name: str, offset: int, length: int) -> Document:
        f = self._files.get(name)
        if f is None:
            if len(self._files) >= 16:
                for old in self._files.values():
                    old.close()
                self._files.clear()
            f = self._files[name] = open(self.dir / name, "rb")
        f.seek(offset)
        return pickle.loads(f.read(length))

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def open_db(path: Path) -> sqlite3.Connection:
    """The run's work database, with the documents table."""
    db = sqlite3.connect(str(path), timeout=120)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(DOCUMENTS_DDL)
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    db.commit()
    return db


def spool_size(spool_dir: Path) -> int:
    """Bytes used by the spool directory."""
    return sum(p.stat().st_size for p in spool_dir.glob("*") if p.is_file())
