"""Read stage: the ``Record`` handed from the readers to validation and composition."""
from __future__ import annotations

from typing import Any, NamedTuple


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
