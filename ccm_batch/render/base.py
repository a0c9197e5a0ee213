"""Render stage: the event interface every backend (pdf, afp, debug) implements.

Events arrive in this order, for one print file::

    start_file(path, stream)
      start_piece(piece)            # one envelope (mail piece); may hold several documents
        start_document(doc_meta)
          page(page) ...            # every page of the document, fronts and backs in order
        end_document() -> DocumentFacts
        ...
      end_piece()
      ...
    end_file() -> FileFacts

``path`` is where to write (the orchestrator passes a temporary name and renames it once
``end_file`` returns). Backends see only the page model (:mod:`ccm_batch.pages`) and the small
value objects below; never records or layouts. Resources (fonts, images, forms) are declared once
per file. ``end_document`` reports where the document landed so archive indexes can find it.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol

from ..pages import DocumentMeta, Page


class StreamInfo(NamedTuple):
    """The print file being written: job name, stream name, sequence number within the stream."""
    job: str
    stream: str
    seq: int = 1
    title: str = ""
    job_date: str = ""


class PieceInfo(NamedTuple):
    """The envelope being written: its id and sequence number in presort order."""
    piece_id: str
    seq: int
    doc_ids: tuple = ()
    sheets: int = 0
    duplex: bool = False


class DocumentFacts(NamedTuple):
    """Where a document landed in its print file.

    ``first_page`` is 1-based within the file. ``offset``/``length`` are the byte range of the
    document's own structure (AFP: the BNG…ENG page group; PDF: 0, 0 as PDF has no such range).
    """
    doc_id: str
    first_page: int
    page_count: int
    sheet_count: int
    offset: int = 0
    length: int = 0


class FileFacts(NamedTuple):
    """What a finished print file holds."""
    path: str
    pages: int
    documents: int
    size: int


class Renderer(Protocol):
    """The painter interface; see the module docstring for the event order."""

    format: str   # "pdf", "afp", "debug": also the file extension

    def start_file(self, path: str, stream: StreamInfo) -> None: ...
    def start_piece(self, piece: PieceInfo) -> None: ...
    def start_document(self, meta: DocumentMeta) -> None: ...
    def page(self, page: Page) -> None: ...
    def end_document(self) -> DocumentFacts: ...
    def end_piece(self) -> None: ...
    def end_file(self) -> FileFacts: ...
