"""Render stage: the incremental PDF file writer (objects, page tree, outlines, xref) with flat memory.

This module is the PDF *format writer*: it knows PDF syntax and file structure, never the page model
(:mod:`ccm_batch.render.pdf` is the painter that maps render events onto it). Design decisions:

* **Streaming.** Every object is written to the file the moment it is complete. The writer keeps only
  the byte offset of each object (an ``array('Q')``, 8 bytes per object) for the cross-reference
  table; nothing else grows with the page count except the root page-tree node's list of leaf nodes
  (one per :data:`PAGES_PER_NODE` pages).
* **Forward references.** Objects referred to before they can be written (the page-tree root, the
  outline root, the shared resource dictionary, font dictionaries whose subsets are only known at the
  end of the file) get their number from :meth:`PdfWriter.reserve` and are written later; the xref
  table is ordered by object number, whatever the order of writing.
* **Page tree.** Two levels: leaf ``/Pages`` nodes of up to :data:`PAGES_PER_NODE` pages, written as
  soon as they are full, under one root written at :meth:`PdfWriter.close`.
* **Outlines.** One flat list of top-level items; each item is written when the next one arrives (its
  ``/Next`` is then known), the last one at :meth:`PdfWriter.close`.
* **Determinism.** No clock, no randomness: streams are compressed with zlib at a fixed level, numbers
  are formatted the same way every time, and the trailer ``/ID`` is the MD5 of every byte written
  before the cross-reference table, so identical inputs give byte-identical files.
"""
from __future__ import annotations

import hashlib
import zlib
from array import array

from ..errors import OutputError

PAGES_PER_NODE = 128
"""Pages per leaf node of the page tree."""

HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


SHARED_STREAMS = 64
"""Compressed streams :meth:`PdfWriter.add_shared_stream` remembers per process."""
_SHARED: dict[tuple, tuple[bytes, bytes]] = {}


def num(value) -> str:
    """A PDF number: integers as such, reals with at most 3 decimals and no trailing zeros."""
    if isinstance(value, int):
        return str(value)
    if value == int(value):
        return str(int(value))
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def pdf_string(text: str) -> bytes:
    """A PDF text string: a literal string if it is printable ASCII, else UTF-16BE hex with a BOM."""
    if all(32 <= ord(c) < 127 for c in text):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def pdf_name(name: str) -> bytes:
    """A PDF name object (``/Name``), escaping delimiters and non-regular characters as ``#xx``."""
    out = []
    for byte in name.encode("utf-8"):
        char = chr(byte)
        if 33 <= byte <= 126 and char not in "()<>[]{}/%#":
            out.append(char)
        else:
            out.append(f"#{byte:02X}")
    return ("/" + "".join(out)).encode("ascii")


def ref(number: int) -> bytes:
    """An indirect reference ``n 0 R``."""
    return b"%d 0 R" % number


class PdfWriter:
    """Writes one PDF file object by object, keeping only the xref offsets in memory.

    Typical use: ``w = PdfWriter(path)``; ``n = w.reserve()`` for objects written later;
    :meth:`write_object` / :meth:`write_stream` for the rest; :meth:`add_page` per page;
    :meth:`add_outline` per bookmark; :meth:`close` writes the catalogue, info, xref and trailer.
    """

    def __init__(self, path: str, *, compress: bool = True, level: int = 6):
        try:
            self._out = open(path, "wb", buffering=1 << 20)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.path = path
        self.compress = compress
        self.level = level
        self._pos = 0
        self._md5 = hashlib.md5()
        self._offsets = array("Q", [0])          # index = object number; 0 is the free head
        self.pages_root = self.reserve()
        self._leaf: int | None = None
        self._leaf_kids = array("I")
        self._leaves = array("I")
        self.page_count = 0
        self.outline_root = self.reserve()
        self._outline_first = 0
        self._outline_pending: tuple | None = None   # (number, title, dest, prev)
        self.outline_count = 0
        self._write(HEADER)

    # -- low level -------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self._out.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._md5.update(data)
        self._pos += len(data)

    @property
    def position(self) -> int:
        """Bytes written so far."""
        return self._pos

    def reserve(self) -> int:
        """A fresh object number, to be written later with :meth:`write_object` or :meth:`write_stream`."""
        self._offsets.append(0)
        return len(self._offsets) - 1

    def write_object(self, number: int, body: bytes) -> None:
        """Write object ``number`` (from :meth:`reserve`) with the serialised ``body``."""
        self._offsets[number] = self._pos
        self._write(b"%d 0 obj\n%s\nendobj\n" % (number, body))

    def add_object(self, body: bytes) -> int:
        """Reserve and write an object at once; returns its number."""
        number = self.reserve()
        self.write_object(number, body)
        return number

    def write_stream(self, number: int, data: bytes, entries: bytes = b"",
                     compress: bool | None = None) -> None:
        """Write stream object ``number``; ``entries`` are extra dictionary entries (``/Type/XObject …``).

        ``compress`` defaults to the writer's setting; data already compressed by the caller should
        pass ``compress=False`` and name its filter in ``entries``.
        """
        if compress is None:
            compress = self.compress
        if compress and data:
            data = zlib.compress(data, self.level)
            entries = b"/Filter/FlateDecode" + entries
        self._offsets[number] = self._pos
        self._write(b"%d 0 obj\n<<%s/Length %d>>\nstream\n" % (number, entries, len(data))
                    + data + b"\nendstream\nendobj\n")

    def prepare_stream(self, data: bytes, entries: bytes = b"") -> tuple[bytes, bytes]:
        """``(data, entries)`` as :meth:`write_stream` would write them (compressed with the writer's
        setting and level, the filter named): a prepared stream can be kept and written again, in
        this file or another with the same settings, with ``write_stream(n, *prepared, compress=False)``."""
        if self.compress and data:
            return zlib.compress(data, self.level), b"/Filter/FlateDecode" + entries
        return data, entries

    def add_shared_stream(self, data: bytes, entries: bytes = b"") -> int:
        """:meth:`add_stream` for data written again and again by this process (the background form of
        every archived document, the output intent's ICC profile, a page drawn the same in its print
        file and in its archived document): the compressed form is remembered
        (:data:`SHARED_STREAMS` of them, least recently used dropped first), the bytes are the same."""
        key = (self.compress, self.level, entries, data)
        prepared = _SHARED.pop(key, None)
        if prepared is None:
            prepared = self.prepare_stream(data, entries)
            if len(_SHARED) >= SHARED_STREAMS:
                del _SHARED[next(iter(_SHARED))]
        _SHARED[key] = prepared
        return self.add_prepared(prepared)

    def add_prepared(self, prepared: tuple[bytes, bytes]) -> int:
        """Reserve and write a stream :meth:`prepare_stream` made (written as it is); returns its number."""
        number = self.reserve()
        self.write_stream(number, *prepared, compress=False)
        return number

    def add_stream(self, data: bytes, entries: bytes = b"", compress: bool | None = None) -> int:
        """Reserve and write a stream object at once; returns its number."""
        number = self.reserve()
        self.write_stream(number, data, entries, compress)
        return number

    # -- page tree -------------------------------------------------------------------------------

    def add_page(self, entries: bytes, number: int | None = None) -> int:
        """Write a ``/Page`` object with the given dictionary ``entries`` (MediaBox, Resources,
        Contents …); the writer adds ``/Type`` and ``/Parent``. Returns the page's object number."""
        if self._leaf is None:
            self._leaf = self.reserve()
        if number is None:
            number = self.reserve()
        self.write_object(number, b"<</Type/Page/Parent %d 0 R%s>>" % (self._leaf, entries))
        self._leaf_kids.append(number)
        self.page_count += 1
        if len(self._leaf_kids) >= PAGES_PER_NODE:
            self._flush_leaf()
        return number

    def _flush_leaf(self) -> None:
        if self._leaf is None:
            return
        kids = b" ".join(b"%d 0 R" % k for k in self._leaf_kids)
        self.write_object(self._leaf, b"<</Type/Pages/Parent %d 0 R/Kids[%s]/Count %d>>"
                          % (self.pages_root, kids, len(self._leaf_kids)))
        self._leaves.append(self._leaf)
        self._leaf = None
        self._leaf_kids = array("I")

    # -- outlines --------------------------------------------------------------------------------

    def add_outline(self, title: str, page_number: int, top: float) -> None:
        """Add a top-level bookmark ``title`` pointing at page object ``page_number`` at height
        ``top`` (PDF points from the bottom)."""
        number = self.reserve()
        dest = b"[%d 0 R/XYZ 0 %s null]" % (page_number, num(top).encode("ascii"))
        prev = 0
        if self._outline_pending is not None:
            prev = self._outline_pending[0]
            self._write_outline(self._outline_pending, next_number=number)
        else:
            self._outline_first = number
        self._outline_pending = (number, title, dest, prev)
        self.outline_count += 1

    def _write_outline(self, pending: tuple, next_number: int) -> None:
        number, title, dest, prev = pending
        body = [b"<</Title ", pdf_string(title), b"/Parent %d 0 R" % self.outline_root,
                b"/Dest ", dest]
        if prev:
            body.append(b"/Prev %d 0 R" % prev)
        if next_number:
            body.append(b"/Next %d 0 R" % next_number)
        body.append(b">>")
        self.write_object(number, b"".join(body))

    # -- end of file -----------------------------------------------------------------------------

    def close(self, catalog_entries: bytes = b"", info_entries: bytes = b"") -> int:
        """Write the page-tree root, outlines, catalogue, info dictionary, xref and trailer; close the
        file and return its size in bytes. ``catalog_entries``/``info_entries`` are extra
        dictionary entries (``/Lang``, ``/Metadata``, ``/Title`` …)."""
        self._flush_leaf()
        kids = b" ".join(b"%d 0 R" % k for k in self._leaves)
        self.write_object(self.pages_root, b"<</Type/Pages/Kids[%s]/Count %d>>"
                          % (kids, self.page_count))
        catalog = [b"<</Type/Catalog/Pages %d 0 R" % self.pages_root]
        if self._outline_pending is not None:
            last = self._outline_pending[0]
            self._write_outline(self._outline_pending, next_number=0)
            self.write_object(self.outline_root, b"<</Type/Outlines/First %d 0 R/Last %d 0 R/Count %d>>"
                              % (self._outline_first, last, self.outline_count))
            catalog.append(b"/Outlines %d 0 R/PageMode/UseOutlines" % self.outline_root)
        else:
            self.write_object(self.outline_root, b"<</Type/Outlines/Count 0>>")
        catalog.append(catalog_entries + b">>")
        root = self.add_object(b"".join(catalog))
        info = self.add_object(b"<<" + info_entries + b">>")
        # every reserved object must have been written: an unwritten one is a programming error
        missing = [n for n in range(1, len(self._offsets)) if self._offsets[n] == 0]
        if missing:
            raise RuntimeError(f"PDF objects reserved but never written: {missing[:10]}")
        file_id = self._md5.hexdigest().upper().encode("ascii")
        xref_at = self._pos
        count = len(self._offsets)
        self._write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        offsets = self._offsets
        for start in range(1, count, 4096):           # in blocks: no list as long as the file
            self._write(b"".join(b"%010d 00000 n \n" % offsets[n]
                                 for n in range(start, min(start + 4096, count))))
        self._write(b"trailer\n<</Size %d/Root %d 0 R/Info %d 0 R/ID[<%s><%s>]>>\n"
                    b"startxref\n%d\n%%%%EOF\n" % (count, root, info, file_id, file_id, xref_at))
        try:
            self._out.close()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return self._pos

    def abort(self) -> None:
        """Close the file without finishing it (after an error); the runner discards it."""
        try:
            self._out.close()
        except OSError:
            pass
