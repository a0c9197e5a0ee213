"""Archive stage: archive indexes (CSV, JSONL, CMOD generic indexer), AFP TLE values, PDF/A twins, verification.

Pipeline position: after render. For every document the render loop gets ``DocumentFacts`` from the
backend's ``end_document()`` and hands them, with the document's ``DocumentMeta``, to the index writers
(:func:`write_indexes`, streaming, one entry per document). The AFP backend carries the same fields
inside the print file as group-level TLEs (:func:`tle_values`). With ``archive_pdf`` each document is
also written as its own PDF/A-2b file (:class:`ArchivePdfWriter`). :func:`verify` checks an index
against its print files (``ccm-batch index verify``).

Modules: :mod:`.tle` (which fields, TLE form), :mod:`.index` (writers), :mod:`.reader` (readers),
:mod:`.pdf_archive` (one PDF per document), :mod:`.verify`.
"""
from .index import (FORMATS, CmodIndexWriter, CsvIndexWriter, IndexEntry, IndexSet, IndexWriter,
                    JsonlIndexWriter, index_path, make_entry, write_indexes)
from .pdf_archive import ArchivePdfWriter, archive_name
from .reader import IndexFormatError, read_index
from .tle import FIXED_FIELDS, document_fields, tle_triplets, tle_values
from .verify import Problem, VerifyResult, verify, verify_index

__all__ = [
    "FORMATS", "FIXED_FIELDS", "ArchivePdfWriter", "CmodIndexWriter", "CsvIndexWriter", "IndexEntry",
    "IndexFormatError", "IndexSet", "IndexWriter", "JsonlIndexWriter", "Problem", "VerifyResult",
    "archive_name", "document_fields", "index_path", "make_entry", "read_index", "tle_triplets",
    "tle_values", "verify", "verify_index", "write_indexes",
]
