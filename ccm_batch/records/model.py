"""Read stage: the ``Record`` handed from the readers to validation and composition, and the readers' base."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, NamedTuple

from lxml import etree


class Record(NamedTuple):
    """One customer's data from an extract.

    ``tree`` is an lxml element (CSV records are turned into the same kind of tree) that layouts
    query with XPath. ``raw`` is the record's exact bytes in the source (the XML fragment, or the
    CSV header and detail lines) so a reject can be written byte for byte. ``number`` is 1-based
    across the run, ``offset`` the byte offset of ``raw`` in ``source``, ``line`` its first line.
    ``key`` is the record's business key (customer id, invoice number) when the job names one.
    ``problems`` holds ``(field, message)`` pairs when the reader itself rejects the record (over a
    size limit, an undefined entity): it then has no tree, and callers reject it without validating.
    ``raw`` is then a :class:`SourceSpan` when the record is too large to hold in memory.
    """
    source: str
    number: int
    offset: int
    line: int
    raw: Any            # bytes, or a SourceSpan for a record over the size limit
    tree: Any
    key: str = ""
    problems: tuple = ()


class SourceSpan:
    """A record's bytes left in the extract (``path``, ``offset``, ``length``): how the readers hand
    over a record too large to hold in memory. ``len()`` is its length; :meth:`blocks` reads it back
    in bounded blocks (the rejects file copies it byte for byte this way)."""
    __slots__ = ("path", "offset", "length")

    def __init__(self, path: str, offset: int, length: int):
        self.path, self.offset, self.length = str(path), offset, length

    def __len__(self) -> int:
        return self.length

    def __reduce__(self):
        return SourceSpan, (self.path, self.offset, self.length)

    def __repr__(self) -> str:
        return f"SourceSpan({self.path!r}, {self.offset}, {self.length})"

    def blocks(self, size: int = 1 << 20) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            left = self.length
            while left > 0:
                block = f.read(min(size, left))
                if not block:
                    return
                left -= len(block)
                yield block

    def head(self, n: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read(min(n, self.length))

    def tail(self, n: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset + max(0, self.length - n))
            return f.read(min(n, self.length))


class RecordStream:
    """Base of the streaming readers: the attributes they share, the record key, the iterator protocol.

    A subclass implements ``_read()``, a generator of :class:`Record`; it runs when iteration starts,
    so attributes the subclass sets after ``super().__init__`` are in place by then. ``header`` and
    ``encoding`` are known once the first record has been read; ``records`` counts those yielded.
    """

    def __init__(self, cfg, start_number: int = 1):
        self.cfg = cfg
        self.path = Path(cfg.path)
        self.source = str(cfg.path)
        self.start_number = start_number
        self.header = None
        self.records = 0
        self._key = (etree.XPath(f"string({cfg.key})", namespaces=cfg.namespace_map or None)
                     if cfg.key else None)
        self._it = self._read()

    def _read(self) -> Iterator[Record]:
        raise NotImplementedError

    def __iter__(self):
        return self

    def __next__(self) -> Record:
        return next(self._it)

    def close(self) -> None:
        """Stop reading and close the file."""
        self._it.close()
