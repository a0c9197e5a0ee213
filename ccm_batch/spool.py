"""Spool stage: composed documents on disk, and the run's work database (SQLite) that indexes them.

Composition writes each chunk of records to ``spool/chunk-NNNNNN.docs`` (pickled
:class:`ccm_batch.pages.Document`s, one after the other) and ``chunk-NNNNNN.rows`` (the chunk's
metadata rows, rejects and warnings). The ``.rows`` file is written last, under a temporary name, and
renamed: its presence is the journal entry that the chunk is committed. After composition the rows are
loaded, in record order, into the ``documents`` table that the plan stage reads; rendering reads each
document back from the spool by (file, offset, length).

Document records (:func:`pack_document` / :func:`unpack_document`). Pickling the page model's named
tuples as they are costs one Python-level ``__reduce_ex__``/``__getnewargs__`` call per item on writing
and one Python ``__new__`` per item on reading; a page holds around a hundred items, so that was the
spool's whole cost. Each page's items are therefore stored as plain tuples plus one byte per item
naming its class (:data:`ITEM_KINDS`), and rebuilt with ``tuple.__new__(kind, fields)`` (C speed;
the same objects, compared equal and of the same class). A record is the pickle (protocol 5) of
``(SPOOL_FORMAT, meta, pages)`` with each page ``(width, height, items, side, background, blank, paper)``,
``items`` being ``(kind codes: bytes, field tuples)`` and ``background`` ``None`` or
``(name, items)``. Items of any other class (e.g. a subclass of ``Text``) make their page fall back to
the plain pickle of the item tuple. ``SPOOL_FORMAT`` names the item field counts, so a spool written
by a build with another page model is refused (``ValueError``) instead of misread on ``--restart``.
"""
from __future__ import annotations

import json
import operator
import os
import pickle
import sqlite3
from pathlib import Path
from typing import NamedTuple

from .pages import Barcode, Box, Document, Form, Image, Marks, Page, Rule, Text

PICKLE_PROTOCOL = 5

ITEM_KINDS = (Text, Rule, Box, Image, Barcode, Marks)
"""Item classes stored compactly, by their index in this tuple (one byte per item)."""
_KIND_CODE = {kind: code for code, kind in enumerate(ITEM_KINDS)}
SPOOL_FORMAT = "ccm-spool-2:" + ",".join(f"{k.__name__}{len(k._fields)}" for k in
                                          (*ITEM_KINDS, Page, Form, Document))
_new = tuple.__new__
_fields = operator.itemgetter(slice(None))      # an item's fields as a plain tuple (a C-level slice:
                                                # ``tuple(item)`` iterates the named tuple)


def _pack_items(items: tuple):
    """``(kind codes, field tuples)`` for page items, or the items themselves (another class)."""
    try:
        codes = bytes(map(_KIND_CODE.__getitem__, map(type, items)))
    except KeyError:
        return items
    return codes, tuple(map(_fields, items))


def _unpack_items(packed) -> tuple:
    if type(packed[0]) is not bytes:
        return packed
    codes, fields = packed
    return tuple(map(_new, map(ITEM_KINDS.__getitem__, codes), fields))


def pack_document(doc: Document) -> bytes:
    """A document as one spool record (see the module docstring)."""
    pages = []
    for page in doc.pages:
        bg = page.background
        pages.append((page.width, page.height, _pack_items(page.items), page.side,
                      None if bg is None else (bg.name, _pack_items(bg.items)), page.blank, page.paper))
    return pickle.dumps((SPOOL_FORMAT, doc.meta, tuple(pages)), PICKLE_PROTOCOL)


def unpack_document(data: bytes) -> Document:
    """The document of a spool record written by :func:`pack_document`."""
    fmt, meta, packed = pickle.loads(data)
    if fmt != SPOOL_FORMAT:
        raise ValueError(f"spool record in format {fmt!r}, this build reads {SPOOL_FORMAT!r}: "
                         "run the job again without --restart")
    unpack = _unpack_items
    pages = tuple(_new(Page, (w, h, unpack(items), side,
                              None if bg is None else _new(Form, (bg[0], unpack(bg[1]))), blank, paper))
                  for w, h, items, side, bg, blank, paper in packed)
    return _new(Document, (meta, pages))

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
        data = pack_document(doc)
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

    MAX_OPEN = 128          # presorted print order jumps between chunk files: keep many open

    def __init__(self, spool_dir: Path):
        self.dir = spool_dir
        self._files: dict[str, object] = {}        # least recently used first

    def read(self, name: str, offset: int, length: int) -> Document:
        files = self._files
        f = files.pop(name, None)
        if f is None:
            if len(files) >= self.MAX_OPEN:
                files.pop(next(iter(files))).close()
            f = open(self.dir / name, "rb")
        files[name] = f
        f.seek(offset)
        return unpack_document(f.read(length))

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def open_db(path: Path, check_same_thread: bool = True) -> sqlite3.Connection:
    """The run's work database, with the documents table."""
    db = sqlite3.connect(str(path), timeout=120, check_same_thread=check_same_thread)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(DOCUMENTS_DDL)
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    db.commit()
    return db


def spool_size(spool_dir: Path) -> int:
    """Bytes used by the spool directory."""
    return sum(p.stat().st_size for p in spool_dir.glob("*") if p.is_file())
