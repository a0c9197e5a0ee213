"""Render stage: the ``debug`` backend, writing the render events and page model as JSON lines.

One JSON object per line: ``{"event": "start_file", ...}``, ``{"event": "page", "items": [...]}``.
Each item is ``[kind, {field: value}]``. Used by tests to assert text and positions readably.
"""
from __future__ import annotations

import json
import os

from ..pages import DocumentMeta, Form, Page
from .base import DocumentFacts, FileFacts, PieceInfo, StreamInfo


def item_to_json(item) -> list:
    """A page item as ``[kind, fields]``."""
    fields = item._asdict()
    if isinstance(item, Form):
        fields["items"] = [item_to_json(i) for i in item.items]
    return [type(item).__name__, fields]


def page_to_json(page: Page) -> dict:
    """A page as a JSON-ready dict."""
    return {
        "width": page.width, "height": page.height, "side": page.side, "blank": page.blank,
        "background": page.background.name if page.background else None,
        "items": [item_to_json(i) for i in page.items],
    }


class DebugRenderer:
    """Writes every render event as one JSON line."""

    format = "jsonl"

    def start_file(self, path: str, stream: StreamInfo) -> None:
        self._path = path
        self._out = open(path, "w", encoding="utf-8")
        self._pages = 0
        self._docs = 0
        self._emit("start_file", **stream._asdict())

    def start_piece(self, piece: PieceInfo) -> None:
        self._emit("start_piece", **piece._asdict())

    def start_document(self, meta: DocumentMeta) -> None:
        self._meta = meta
        self._first = self._pages + 1
        self._emit("start_document", **meta._asdict())

    def page(self, page: Page) -> None:
        self._pages += 1
        self._emit("page", number=self._pages, **page_to_json(page))

    def end_document(self) -> DocumentFacts:
        self._docs += 1
        self._emit("end_document", doc_id=self._meta.doc_id)
        count = self._pages - self._first + 1
        sheets = (count + 1) // 2 if self._meta.duplex else count
        return DocumentFacts(self._meta.doc_id, self._first, count, sheets)

    def end_piece(self) -> None:
        self._emit("end_piece")

    def end_file(self) -> FileFacts:
        self._emit("end_file", pages=self._pages, documents=self._docs)
        self._out.close()
        return FileFacts(self._path, self._pages, self._docs, os.path.getsize(self._path))

    def _emit(self, event: str, **fields) -> None:
        self._out.write(json.dumps({"event": event, **fields}, ensure_ascii=False,
                                   sort_keys=True, default=list) + "\n")
