"""Archive stage: check an archive index against its print files — each entry must point at its own document.

``ccm-batch index verify INDEX`` calls :func:`verify` and exits non-zero unless ``result.ok``.
:func:`verify_index` yields :class:`Problem` objects lazily (one per faulty entry at most); stop after
the first — later problems may be consequences of it. Print files named by relative paths are looked up
next to the index file (or in ``base_dir``). Files are read streaming; nothing is held per entry.

Rules, per entry (``line`` is the entry's line in the index):

AFP (CSV/JSONL ``format = afp``; CMOD when the file starts with X'5A')
    * the file is walked structured field by structured field from its start (never re-read for entries
      in ascending order); ``offset`` must fall on a structured-field boundary (off by one is caught here);
    * the field at ``offset`` must be a BNG (X'5A' + D3A8AD);
    * the group-level TLEs (between BNG and the first BPG, nested groups excluded) must carry every
      archive field of the entry (:meth:`IndexEntry.archive_fields`) with the same value after the TLE
      sanitising rule :func:`~ccm_batch.archive.tle.tle_value` (code page from BDT's X'01' triplet,
      CCSID 500 when absent). Extra TLEs are allowed;
    * the matching ENG must end exactly at ``offset + length``;
    * CMOD with a ``COMMENT:ccm-batch AFP resources=`` line: every medium map the group invokes (IMM)
      and every overlay (IPO) and object (IOB) it includes is in that resource file
      (:mod:`ccm_batch.archive.resources`);
    * CSV/JSONL only: the group holds ``page_count`` BPGs and its first BPG is page ``first_page`` of the
      file (BPGs counted from the file start).

PDF (CSV/JSONL ``format = pdf``)
    * pages ``first_page … first_page + page_count - 1`` exist in the print file;
    * the first page's text (pypdf ``extract_text``) contains the entry's ``verify_text`` — the value of the
      index's ``verify_field``, ``doc_id`` by default (see :mod:`ccm_batch.archive.index`). Comparison
      ignores whitespace, as text extraction may add or drop spaces;
    * the document's pages belong to it: the next entry of the same print file starts at page
      ``first_page + page_count``, the first entry of a file starts at page 1 and the last ends at the
      file's last page (every page of a print file belongs to one document, as the render contract has
      it). Entries of one print file must be contiguous in the index;
    * with ``archive_file``: that file has ``page_count`` pages, its first page contains ``verify_text``,
      and its XMP metadata declares PDF/A-2 (``pdfaid:part`` 2, conformance B).

CMOD (every group, AFP or PDF): a group must resolve to exactly one document. OnDemand loads
    ``GROUP_LENGTH`` bytes at ``GROUP_OFFSET`` of ``GROUP_FILENAME``, 0/0 meaning the whole file; so a
    whole-file group whose file is named by another whole-file group of the index fails, and so does a
    group naming a page range of a multi-document print PDF (the ``COMMENT:document … is pages a-b``
    groups of older indexes): each would retrieve every document of its file. AFP groups must give a
    byte range, which must be one BNG…ENG page group (above).

PDF (CMOD, one document per ``GROUP_FILENAME`` with offset/length 0/0)
    the file's first page contains ``verify_text``. Sheet counts are not checked (a PDF does not say
    whether it is printed duplex).

E-invoices (every format, entries of a job with ``[einvoice]``)
    every file the entry references (``einvoice_file``) exists and is valid for its format and profile
    (``einvoice_format``): a Factur-X PDF declares PDF/A-3b and embeds a ``factur-x.xml`` passing the XSD
    and EN 16931 Schematron of its profile; a CII or UBL file passes them itself
    (:func:`ccm_batch.einvoice.verify.check_file`). Each file is checked once per index.
"""
from __future__ import annotations

import os
import re
from typing import Iterator, NamedTuple

from ..mail.control import SEPARATOR_MARK
from .index import IndexEntry
from .reader import IndexFormatError, read_index
from .resources import resource_names
from .tle import CCSID_CODECS, DEFAULT_CODEC, parse_tle, tle_value

# pypdf is imported by the first verifier, not with the archive package: it pulls in Pillow
# (0.3 s), which every run and render worker would otherwise pay for nothing
PdfReader = PyPdfError = None


def _load_pypdf() -> None:
    global PdfReader, PyPdfError
    if PdfReader is None:
        from pypdf import PdfReader as reader
        from pypdf.errors import PyPdfError as error
        PdfReader, PyPdfError = reader, error

SF_NAMES = {
    b"\xD3\xA8\xA8": "BDT", b"\xD3\xA9\xA8": "EDT", b"\xD3\xA8\xAD": "BNG", b"\xD3\xA9\xAD": "ENG",
    b"\xD3\xA0\x90": "TLE", b"\xD3\xAB\xCC": "IMM", b"\xD3\xA8\xAF": "BPG", b"\xD3\xA9\xAF": "EPG",
    b"\xD3\xA8\xC9": "BAG", b"\xD3\xA9\xC9": "EAG", b"\xD3\xEE\xEE": "NOP", b"\xD3\xA8\x9B": "BPT",
    b"\xD3\xEE\x9B": "PTX", b"\xD3\xA9\x9B": "EPT", b"\xD3\xA8\xC6": "BRG", b"\xD3\xA9\xC6": "ERG",
    b"\xD3\xA8\xCE": "BRS", b"\xD3\xA9\xCE": "ERS", b"\xD3\xA6\xAF": "PGD", b"\xD3\xB1\x9B": "PTD",
    b"\xD3\xAB\x8A": "MCF", b"\xD3\xA8\xA5": "BPF", b"\xD3\xA9\xA5": "EPF",
}
BDT, BNG, ENG, TLE, BPG = b"\xD3\xA8\xA8", b"\xD3\xA8\xAD", b"\xD3\xA9\xAD", b"\xD3\xA0\x90", b"\xD3\xA8\xAF"
IMM, IOB, IPO = b"\xD3\xAB\xCC", b"\xD3\xAF\xC3", b"\xD3\xAF\xD8"
_PDFA_PART = re.compile(rb"pdfaid:part(?:>|=\s*[\"'])\s*(\d+)")
_PDFA_CONFORMANCE = re.compile(rb"pdfaid:conformance(?:>|=\s*[\"'])\s*([A-Za-z])")


class Problem(NamedTuple):
    """A mismatch between an index entry and its print file."""
    index: str
    line: int
    doc_id: str
    message: str

    def __str__(self) -> str:
        who = f"document {self.doc_id}: " if self.doc_id else ""
        return f"{self.index}:{self.line}: {who}{self.message}"


class VerifyResult(NamedTuple):
    """What :func:`verify` found: entries checked and the first problem (``None`` when all is well)."""
    index: str
    checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def lines(self) -> list[str]:
        """What ``ccm-batch index verify`` prints: one summary line, or the problem."""
        return [str(self)]

    def __str__(self) -> str:
        if self.problem is None:
            return f"{self.index}: {self.checked} document(s) verified"
        return f"{self.problem} (after {self.checked} good document(s))"


def sf_name(sfid: bytes) -> str:
    """A readable name for a structured-field id, e.g. ``BNG`` or ``X'D3EEFB'``."""
    return SF_NAMES.get(sfid, f"X'{sfid.hex().upper()}'")


class _AfpWalker:
    """Walks an AFP file's structured fields forward, counting pages (BPG) and noting BDT's code page."""

    def __init__(self, path: str):
        self.path = path
        self.file = open(path, "rb")
        self.size = os.fstat(self.file.fileno()).st_size
        self.rewind()

    def rewind(self) -> None:
        self.pos = 0
        self.pages = 0
        self.codec = DEFAULT_CODEC

    def close(self) -> None:
        self.file.close()

    def header(self, pos: int) -> tuple[bytes, int]:
        """(SF id, SFLength) of the field at ``pos``; raises ValueError if no field starts there."""
        self.file.seek(pos)
        head = self.file.read(9)
        if len(head) < 9:
            raise ValueError(f"byte {pos} is past the last whole structured field (file is {self.size} bytes)")
        if head[0] != 0x5A:
            raise ValueError(f"byte {pos} is X'{head[0]:02X}', not X'5A' (no structured field starts there)")
        length = int.from_bytes(head[1:3], "big")
        if length < 8 or pos + 1 + length > self.size:
            raise ValueError(f"the structured field at byte {pos} has a bad length {length}")
        return head[3:6], length

    def data(self, pos: int, length: int) -> bytes:
        self.file.seek(pos + 9)
        return self.file.read(length - 8)

    def advance_to(self, offset: int) -> None:
        """Move to ``offset`` field by field; raises ValueError if it is not a field boundary."""
        if offset < self.pos:
            self.rewind()
        while self.pos < offset:
            sfid, length = self.header(self.pos)
            if sfid == BPG:
                self.pages += 1
            elif sfid == BDT:
                self._note_codec(self.data(self.pos, length))
            end = self.pos + 1 + length
            if end > offset:
                raise ValueError(f"offset {offset} is inside the {sf_name(sfid)} at bytes "
                                 f"{self.pos}-{end - 1}, not at a structured-field boundary")
            self.pos = end

    def _note_codec(self, data: bytes) -> None:
        pos = 10
        while pos + 2 <= len(data):
            tlen, tid = data[pos], data[pos + 1]
            if tlen < 2:
                return
            if tid == 0x01 and tlen >= 6:
                # GCSGID(2) CPGID(2), or X'0000'/X'FFFF' CCSID(2): bytes 2-3 name the code page
                ccsid = int.from_bytes(data[pos + 4:pos + 6], "big")
                self.codec = CCSID_CODECS.get(ccsid, DEFAULT_CODEC)
                return
            pos += tlen

    def read_group(self) -> tuple[int, int, list[tuple[str | None, str | None]]]:
        """At a BNG: walk to its ENG. Returns (end offset, BPG count, group-level TLEs); the resources
        the group refers to are left in ``self.references``: (kind, name) for IMM, IOB and IPO."""
        sfid, length = self.header(self.pos)
        if sfid != BNG:
            raise ValueError(f"the structured field at offset {self.pos} is {sf_name(sfid)} "
                             f"(X'{sfid.hex().upper()}'), not BNG (X'D3A8AD')")
        pos = self.pos + 1 + length
        depth, pages, tles, in_pages = 1, 0, [], False
        self.references = set()
        while True:
            if pos >= self.size:
                raise ValueError(f"the page group starting at offset {self.pos} has no ENG before the end of file")
            sfid, length = self.header(pos)
            if sfid == BNG:
                depth += 1
            elif sfid == ENG:
                depth -= 1
                if depth == 0:
                    return pos + 1 + length, pages, tles
            elif sfid == BPG:
                pages += 1
                in_pages = True
            elif sfid in (IMM, IOB, IPO):
                name = self.data(pos, length)[:8].decode("cp500", "replace").rstrip(" \x00")
                self.references.add(("medium map" if sfid == IMM else "resource", name))
            elif sfid == TLE and depth == 1 and not in_pages:
                try:
                    tles.append(parse_tle(self.data(pos, length), self.codec))
                except ValueError as exc:
                    raise ValueError(f"the TLE at byte {pos} is malformed: {exc}") from None
            pos += 1 + length


def _squash(text: str) -> str:
    return "".join(text.split())


class _Verifier:
    """Runs the checks of the module docstring over one index; ``checked`` counts good entries."""

    def __init__(self, index_path: str, base_dir: str | None = None):
        _load_pypdf()
        self.index = os.fspath(index_path)
        self.base = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(self.index))
        self.checked = 0
        self._afp: _AfpWalker | None = None
        self._pdf: tuple | None = None        # (path, PdfReader, file) of the print PDF being read
        self._done_files: set[str] = set()
        self._whole_files: set[str] = set()       # CMOD: files named whole (0/0) by a group
        self._resource_files: dict = {}           # CMOD: resource file -> (names, medium maps) or error
        self._ends: tuple[str, int] | None = None     # (print file, last page) of the previous PDF entry
        self._einvoices: set[str] = set()         # e-invoice files already found good

    def _path(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.base, name)

    def run(self) -> Iterator[Problem]:
        try:
            entries = read_index(self.index)
            entry = None
            try:
                entry = next(entries, None)
                while entry is not None:
                    following = next(entries, None)
                    message = self._check(entry, following)
                    if message:
                        yield Problem(self.index, entry.line, entry.doc_id, message)
                    else:
                        self.checked += 1
                    entry = following
            except IndexFormatError as exc:
                yield Problem(self.index, exc.line, "", exc.message)
        finally:
            if self._afp is not None:
                self._afp.close()
            self._close_pdf()

    def _check(self, entry: IndexEntry, following: IndexEntry | None) -> str | None:
        return self._check_print(entry, following) or self._check_einvoice(entry)

    def _check_einvoice(self, entry: IndexEntry) -> str | None:
        for name, fmt, profile in entry.einvoice:
            path = self._path(name)
            if path in self._einvoices:
                continue
            if not os.path.isfile(path):
                return f"e-invoice {name} not found (looked for {path})"
            from ..einvoice.verify import check_file
            problem = check_file(path, fmt, profile)
            if problem:
                return problem
            self._einvoices.add(path)
        return None

    def _check_print(self, entry: IndexEntry, following: IndexEntry | None) -> str | None:
        path = self._path(entry.print_file)
        if not os.path.isfile(path):
            return f"print file {entry.print_file} not found (looked for {path})"
        fmt = entry.fmt or _sniff(path)
        if not entry.fmt:                   # CMOD generic index: a group must be exactly one document
            problem = self._check_cmod_group(entry, following, path, fmt)
            if problem:
                return problem
        try:
            if fmt == "afp":
                return self._check_afp(entry, path)
            if fmt == "pdf":
                if not entry.page_count:     # CMOD: one document per file
                    return self._check_pdf_text(path, 1, entry.verify_text, entry.print_file)
                return self._check_pdf(entry, following, path)
        except (OSError, ValueError) as exc:
            return str(exc)
        except PyPdfError as exc:
            return f"{entry.print_file} cannot be read as PDF: {exc}"
        return f"{entry.print_file} is neither AFP nor PDF"

    # -- CMOD groups ------------------------------------------------------------------------------

    def _check_cmod_group(self, entry: IndexEntry, following: IndexEntry | None, path: str,
                          fmt: str) -> str | None:
        """One group, one document: OnDemand loads ``GROUP_OFFSET``/``GROUP_LENGTH`` bytes of
        ``GROUP_FILENAME`` (0/0 = the whole file), so a group resolving to a file or a byte range that
        holds several documents would give every customer of that file everyone's documents."""
        whole = not entry.offset and not entry.length
        if not whole:
            return None
        if fmt == "pdf" and entry.page_count:
            last = entry.first_page + entry.page_count - 1
            return (f"the group names pages {entry.first_page}-{last} of {entry.print_file} with "
                    f"GROUP_OFFSET/GROUP_LENGTH 0/0: OnDemand loads the whole file, so it resolves to every "
                    f"document of that print file, not one (write per-document PDFs: [index] archive_pdf)")
        key = os.path.normcase(os.path.abspath(path))
        shared = key in self._whole_files or (
            following is not None and not following.fmt and not following.offset and not following.length
            and os.path.normcase(os.path.abspath(self._path(following.print_file))) == key)
        self._whole_files.add(key)
        if shared:
            return (f"GROUP_FILENAME {entry.print_file} (the whole file: GROUP_OFFSET/GROUP_LENGTH 0/0) is "
                    f"named by several groups: each resolves to more than one document")
        return None

    # -- AFP -------------------------------------------------------------------------------------

    def _check_afp(self, entry: IndexEntry, path: str) -> str | None:
        if entry.offset is None or not entry.length:
            return "AFP entry without the page group's offset and length"
        if self._afp is None or self._afp.path != path:
            if self._afp is not None:
                self._afp.close()
            self._afp = _AfpWalker(path)
        walker = self._afp
        walker.advance_to(entry.offset)
        pages_before = walker.pages
        end, pages, tles = walker.read_group()
        expected_end = entry.offset + entry.length
        if end != expected_end:
            return (f"the page group at offset {entry.offset} ends (ENG) at byte {end}, but the index "
                    f"says offset + length = {entry.offset} + {entry.length} = {expected_end}")
        found = {}
        for name, value in tles:
            if name is not None:
                found.setdefault(name.casefold(), value)
        for name, value in entry.archive_fields():
            want = tle_value(value, walker.codec)
            if name.casefold() not in found:
                return f"the page group at offset {entry.offset} has no TLE {name!r} (index value {want!r})"
            got = found[name.casefold()]
            if got != want:
                return f"TLE {name!r} is {got!r} in the AFP, the index says {want!r}"
        if entry.page_count and pages != entry.page_count:
            return f"the page group holds {pages} page(s) (BPG), the index says page_count {entry.page_count}"
        if entry.first_page and pages_before + 1 != entry.first_page:
            return (f"the page group starts at page {pages_before + 1} of {entry.print_file}, "
                    f"the index says first_page {entry.first_page}")
        walker.pos = end
        walker.pages = pages_before + pages
        if entry.resources:
            return self._check_resources(entry, walker.references)
        return None

    def _check_resources(self, entry: IndexEntry, references: set) -> str | None:
        """Every form map medium map (IMM), overlay (IPO) and object (IOB) the page group uses is in
        the resource file the CMOD index references (it is all OnDemand keeps beside the group)."""
        path = self._path(entry.resources)
        if path not in self._resource_files:
            try:
                self._resource_files[path] = resource_names(path)
            except FileNotFoundError:
                self._resource_files[path] = f"AFP resource file {entry.resources} not found (looked for {path})"
            except (OSError, ValueError) as exc:
                self._resource_files[path] = f"AFP resource file {entry.resources}: {exc}"
        known = self._resource_files[path]
        if isinstance(known, str):
            return known
        names, maps = known
        for kind, name in sorted(references):
            if name not in (maps if kind == "medium map" else names):
                return (f"the page group at offset {entry.offset} uses {kind} {name!r}, which the AFP "
                        f"resource file {entry.resources} does not hold")
        return None

    # -- PDF -------------------------------------------------------------------------------------

    def _reader(self, path: str):
        """A pypdf reader on an open file (a path would make pypdf load the whole file in memory)."""
        if self._pdf is None or self._pdf[0] != path:
            self._close_pdf()
            handle = open(path, "rb")
            self._pdf = (path, PdfReader(handle), handle)
        return self._pdf[1]

    def _close_pdf(self) -> None:
        if self._pdf is not None:
            self._pdf[2].close()
            self._pdf = None

    def _check_pdf_text(self, path: str, page: int, text: str, name: str) -> str | None:
        reader = self._reader(path)
        if page > len(reader.pages):
            return f"page {page} does not exist: {name} has {len(reader.pages)} page(s)"
        found = reader.pages[page - 1].extract_text() or ""
        if _squash(text) not in _squash(found):
            excerpt = " ".join(found.split())[:80]
            return f"page {page} of {name} does not contain {text!r} (its text begins {excerpt!r})"
        return None

    def _check_pdf(self, entry: IndexEntry, following: IndexEntry | None, path: str) -> str | None:
        if entry.print_file in self._done_files:
            return (f"entries of {entry.print_file} are not contiguous in the index "
                    f"(its documents must be listed together, in page order)")
        reader = self._reader(path)
        total = len(reader.pages)
        first, last = entry.first_page, entry.first_page + entry.page_count - 1
        if first < 1 or entry.page_count < 1:
            return f"first_page {first} / page_count {entry.page_count} do not describe any page"
        if last > total:
            return f"pages {first}-{last} do not exist: {entry.print_file} has {total} page(s)"
        problem = self._check_pdf_text(path, first, entry.verify_text, entry.print_file)
        if problem:
            return problem
        if self._previous_end(entry) is None and first != 1 \
                and not self._separators(path, 1, first - 1):
            return (f"it is the first document of {entry.print_file} but starts at page {first}: "
                    f"pages 1-{first - 1} belong to no document")
        if following is not None and following.print_file == entry.print_file:
            if following.first_page != last + 1 and \
                    not self._separators(path, last + 1, following.first_page - 1):
                return (f"page_count {entry.page_count} ends the document at page {last}, but the next "
                        f"document {following.doc_id} (line {following.line}) starts at page "
                        f"{following.first_page}")
        else:
            self._done_files.add(entry.print_file)
            if last != total and not self._separators(path, last + 1, total):
                return (f"page_count {entry.page_count} ends the last document of {entry.print_file} "
                        f"at page {last}, but the file has {total} pages")
        self._ends = (entry.print_file, last)
        if entry.archive_file:
            return self._check_archive_pdf(entry)
        return None

    def _separators(self, path: str, first: int, last: int) -> bool:
        """True when pages first..last are all mail separator sheets (banner / tray separator).

        A separator sheet carries :data:`ccm_batch.mail.control.SEPARATOR_MARK` on its front; its
        blank back (duplex) carries nothing. Any other page outside every document is an error.
        """
        if first > last:
            return False
        reader = self._reader(path)
        marked = False
        for number in range(first, last + 1):
            text = _squash(reader.pages[number - 1].extract_text() or "")
            if _squash(SEPARATOR_MARK) in text:
                marked = True
            elif text or not marked:
                return False
        return marked

    def _previous_end(self, entry: IndexEntry) -> int | None:
        ends = self._ends
        return ends[1] if ends and ends[0] == entry.print_file else None

    def _check_archive_pdf(self, entry: IndexEntry) -> str | None:
        path = self._path(entry.archive_file)
        if not os.path.isfile(path):
            return f"archive PDF {entry.archive_file} not found (looked for {path})"
        with open(path, "rb") as handle:
            return self._check_archive_reader(entry, PdfReader(handle))

    def _check_archive_reader(self, entry: IndexEntry, reader) -> str | None:
        if len(reader.pages) != entry.page_count:
            return (f"archive PDF {entry.archive_file} has {len(reader.pages)} page(s), "
                    f"the index says page_count {entry.page_count}")
        found = reader.pages[0].extract_text() or ""
        if _squash(entry.verify_text) not in _squash(found):
            return f"the first page of archive PDF {entry.archive_file} does not contain {entry.verify_text!r}"
        part, conformance = pdfa_claim(reader)
        if (part, conformance) != ("2", "B"):
            return (f"archive PDF {entry.archive_file} does not declare PDF/A-2b in its XMP metadata "
                    f"(pdfaid:part {part!r}, conformance {conformance!r})")
        return None


def pdfa_claim(reader) -> tuple[str | None, str | None]:
    """(``pdfaid:part``, ``pdfaid:conformance``) from a pypdf reader's XMP metadata, ``None`` if absent."""
    try:
        metadata = reader.trailer["/Root"].get("/Metadata")
        data = metadata.get_object().get_data() if metadata is not None else b""
    except Exception:   # broken metadata stream: no claim
        data = b""
    part = _PDFA_PART.search(data)
    conformance = _PDFA_CONFORMANCE.search(data)
    return (part.group(1).decode() if part else None,
            conformance.group(1).decode().upper() if conformance else None)


def _sniff(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(1024)
    if head.startswith(b"\x5A"):
        return "afp"
    return "pdf" if b"%PDF-" in head else ""


def verify_index(index_path: str, base_dir: str | None = None) -> Iterator[Problem]:
    """The problems of an archive index, lazily, in index order (at most one per entry)."""
    return _Verifier(index_path, base_dir).run()


def verify(index_path: str, base_dir: str | None = None) -> VerifyResult:
    """Check an index and stop at the first mismatch; ``result.ok`` tells whether all entries matched."""
    verifier = _Verifier(index_path, base_dir)
    run = verifier.run()
    problem = next(run, None)
    run.close()
    return VerifyResult(os.fspath(index_path), verifier.checked, problem)
