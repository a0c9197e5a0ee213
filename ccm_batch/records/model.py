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
    """
    source: str
    number: int
    offset: int
    line: int
    raw: bytes
    tree: Any
    key: str = ""


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
