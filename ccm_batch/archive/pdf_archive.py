"""Archive stage: one PDF/A-2b file per document (option ``archive_pdf``), named from its index fields.

:class:`ArchivePdfWriter` receives the same render events as a print-file backend (it implements the
:class:`~ccm_batch.render.base.Renderer` protocol, so the render loop can feed it alongside the print
backends) or whole documents through :meth:`ArchivePdfWriter.write_document`. Each document becomes its
own file, written by the PDF backend (``PdfRenderer(PdfOptions(pdfa=True, ...))`` of
:mod:`ccm_batch.render.pdf`) under a temporary name and renamed when complete. Piece events are ignored:
an archived document stands alone.

File names (:func:`archive_name`):

* the template is ``str.format`` syntax over the fixed fields ``doc_id``, ``customer_id``, ``doc_type``,
  ``date``, ``record_number`` and the declared index fields (``meta.index`` names); e.g. the job default
  ``{customer_id}_{doc_type}_{date}_{doc_id}``. ``.pdf`` is appended unless the template ends with it.
  An unknown field name raises :class:`~ccm_batch.errors.ConfigError`;
* every value is sanitised before it is substituted, so no value can add a directory or hidden file:
  accents are folded to ASCII (NFKD), every character outside ``A-Z a-z 0-9 . _ -`` becomes ``_``, runs
  of ``_`` collapse, leading dots/underscores go. The stem is then cut to 150 characters; an empty stem
  becomes ``document``;
* names are unique within the directory: a name already taken (by an earlier document of the run, or by
  a file left in the directory) gets ``_2``, ``_3``… before ``.pdf``. The finished file takes its name
  atomically, never replacing a file: a hard link to the temporary file (refused when the name exists),
  or, where the file system has no hard links, an exclusive create of the name and a rename over it.
  Parallel writers into one directory never overwrite each other; the suffix order then depends on who
  came first, so give each run an empty directory for reproducible names.

The PDF's creation date is the job date (``job_date``), its title ``"<doc_type> <doc_id>"``: the same
document gives the same bytes on every run.
"""
from __future__ import annotations

import dataclasses
import errno
import os
import re
import string
import unicodedata
from typing import Callable, Iterable

from ..errors import ConfigError, OutputError
from ..pages import DocumentMeta, Page
from ..render.base import DocumentFacts, FileFacts, PieceInfo, StreamInfo

MAX_STEM = 150
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_UNDERSCORES = re.compile(r"_{2,}")


def sanitise(value) -> str:
    """A field value made safe for a file name (see the module docstring)."""
    text = unicodedata.normalize("NFKD", "" if value is None else str(value))
    text = text.encode("ascii", errors="ignore").decode("ascii")
    text = _UNSAFE.sub("_", text)
    return _UNDERSCORES.sub("_", text)


class _Fields(dict):
    """Template values; an unknown name is a configuration error naming the field."""

    def __missing__(self, key):
        raise ConfigError(f"archive_name template refers to unknown field {{{key}}}; known fields: "
                          + ", ".join(sorted(self)))


def name_fields(meta: DocumentMeta) -> dict[str, str]:
    """The sanitised values a name template can use: fixed fields, ``record_number``, index fields."""
    fields = _Fields()
    for name, value in meta.index:
        fields[str(name)] = sanitise(value)
    for name in ("doc_id", "customer_id", "doc_type", "date", "record_number"):
        fields[name] = sanitise(getattr(meta, name))
    return fields


def archive_name(template: str, meta: DocumentMeta) -> str:
    """The file name for ``meta`` from ``template`` (before uniqueness suffixes), ending ``.pdf``."""
    if template.lower().endswith(".pdf"):
        template = template[:-4]
    try:
        stem = string.Formatter().vformat(template, (), name_fields(meta))
    except (IndexError, ValueError) as exc:
        raise ConfigError(f"invalid archive_name template {template!r}: {exc}") from None
    stem = _UNDERSCORES.sub("_", _UNSAFE.sub("_", stem)).lstrip("._")[:MAX_STEM].rstrip(".")
    return (stem or "document") + ".pdf"


NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
             errno.EACCES}
"""``os.link`` failures meaning "this file system (or its mount) makes no hard links here"."""


def _candidates(name: str):
    """``name``, then ``name_2``, ``name_3``… (the suffix before the extension)."""
    stem, ext = os.path.splitext(name)
    for n in range(1, 100000):
        yield name if n == 1 else f"{stem}_{n}{ext}"


def _publish(directory: str, temp: str, name: str) -> str:
    """Give the finished file ``temp`` the first free name of ``name``, ``name_2``… in ``directory``;
    returns the name taken. A hard link takes the name (it fails when the name exists, so nothing is
    overwritten) and the temporary name goes: one file created per document. Where hard links are not
    made (some network and FAT file systems), :func:`_claim` and a rename do the same."""
    for candidate in _candidates(name):
        path = os.path.join(directory, candidate)
        try:
            os.link(temp, path)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in NO_LINKS:
                candidate = _claim(directory, name)
                try:
                    os.replace(temp, os.path.join(directory, candidate))
                except BaseException:
                    os.remove(os.path.join(directory, candidate))
                    raise
                return candidate
            raise OutputError(f"cannot create archive PDF {candidate} in {directory}: {exc.strerror}") from exc
        try:
            os.unlink(temp)
        except OSError as exc:
            os.unlink(path)
            raise OutputError(f"cannot remove {temp} after naming it {candidate}: {exc.strerror}") from exc
        return candidate
    raise OutputError(f"no free archive file name for {name} in {directory}")


def _claim(directory: str, name: str) -> str:
    """Reserve a unique file name in ``directory`` (exclusive create); returns the name claimed."""
    for candidate in _candidates(name):
        try:
            fd = os.open(os.path.join(directory, candidate), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot create archive PDF {candidate} in {directory}: {exc.strerror}") from exc
        os.close(fd)
        return candidate
    raise OutputError(f"no free archive file name for {name} in {directory}")


def default_renderer_factory(meta: DocumentMeta, job_date: str):
    """A PDF/A-2b ``PdfRenderer`` for one archived document (options the PDF backend knows)."""
    from ..render.pdf import PdfOptions, PdfRenderer
    wanted = {"pdfa": True, "title": f"{meta.doc_type} {meta.doc_id}".strip(), "author": "ccm-batch",
              "creation_date": job_date or ""}
    if dataclasses.is_dataclass(PdfOptions):
        known = {f.name for f in dataclasses.fields(PdfOptions)}
    else:
        known = set(getattr(PdfOptions, "_fields", wanted))
    if "pdfa" not in known:
        raise ConfigError("archive_pdf needs a PDF backend with PDF/A output (PdfOptions.pdfa)")
    return PdfRenderer(PdfOptions(**{k: v for k, v in wanted.items() if k in known}))


class ArchivePdfWriter:
    """Writes every document it is given as its own PDF/A-2b file in ``directory``.

    ``name_template`` follows :func:`archive_name`. ``renderer_factory(meta, job_date)`` returns a fresh
    renderer per document (default: the PDF backend in PDF/A mode). After each document,
    :attr:`archive_file` is the name of the file written (relative to ``directory``) and
    :attr:`archive_path` its full path; :attr:`documents`/:attr:`pages` count what was written.
    """

    format = "pdf"

    def __init__(self, directory, name_template: str = "{customer_id}_{doc_type}_{date}_{doc_id}", *,
                 job_date: str = "", renderer_factory: Callable | None = None):
        self.directory = os.fspath(directory)
        self.name_template = name_template
        self.job_date = str(job_date or "")
        self.renderer_factory = renderer_factory or default_renderer_factory
        self.archive_file = ""
        self.archive_path = ""
        self.documents = 0
        self.pages = 0
        self.size = 0
        self._stream = StreamInfo(job="archive", stream="archive", job_date=self.job_date)
        self._renderer = None
        self._meta: DocumentMeta | None = None
        self._temp = ""
        self._name = ""
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create archive directory {self.directory}: {exc.strerror}") from exc

    # -- render events -----------------------------------------------------------------------------

    def start_file(self, path: str, stream: StreamInfo) -> None:
        """Note the job of the print file being rendered (``path`` is not used)."""
        self._stream = stream

    def start_piece(self, piece: PieceInfo) -> None:
        """Ignored: an archived document stands alone."""

    def start_document(self, meta: DocumentMeta) -> None:
        """Start the document's own PDF under a temporary name."""
        if self._renderer is not None:
            self.abort()
            raise RuntimeError("start_document before end_document of the previous archived document")
        name = archive_name(self.name_template, meta)     # template errors before any file is made
        self._meta = meta
        self._name = name
        self._temp = os.path.join(self.directory, f".{name[:-4]}.part")
        stream = StreamInfo(job=self._stream.job, stream="archive", seq=1,
                            title=f"{meta.doc_type} {meta.doc_id}".strip(),
                            job_date=self._stream.job_date or self.job_date)
        renderer = self.renderer_factory(meta, stream.job_date)
        renderer.start_file(self._temp, stream)
        renderer.start_piece(PieceInfo(piece_id=meta.doc_id, seq=1, doc_ids=(meta.doc_id,),
                                       duplex=meta.duplex))
        renderer.start_document(meta)
        self._renderer = renderer

    def page(self, page: Page) -> None:
        """One page of the current document."""
        if self._renderer is None:
            raise RuntimeError("page() outside start_document/end_document")
        self._renderer.page(page)

    def end_document(self) -> DocumentFacts:
        """Finish the document's file and give it its final, unique name; facts are within that file."""
        if self._renderer is None:
            raise RuntimeError("end_document() without start_document()")
        renderer = self._renderer
        try:
            facts = renderer.end_document()
            renderer.end_piece()
            file_facts = renderer.end_file()
            name = _publish(self.directory, self._temp, self._name)     # the name start_document made
        except BaseException:
            self.abort()
            raise
        self._renderer = None
        self._temp = ""
        self.archive_file = name
        self.archive_path = os.path.join(self.directory, name)
        self.documents += 1
        self.pages += facts.page_count
        self.size += getattr(file_facts, "size", 0) or 0
        return facts

    def end_piece(self) -> None:
        """Ignored: an archived document stands alone."""

    def end_file(self) -> FileFacts:
        """Totals so far: ``path`` is the archive directory."""
        return FileFacts(self.directory, self.pages, self.documents, self.size)

    # -- convenience ---------------------------------------------------------------------------------

    def write_document(self, meta: DocumentMeta, pages: Iterable[Page]) -> str:
        """Write one whole document; returns its archive file name (relative to the directory)."""
        self.start_document(meta)
        for page in pages:
            self.page(page)
        self.end_document()
        return self.archive_file

    def abort(self) -> None:
        """Drop the document in progress (its temporary file), if any."""
        renderer, self._renderer = self._renderer, None
        if renderer is not None and hasattr(renderer, "abort"):
            try:
                renderer.abort()
            except Exception:    # already failing: the temporary file is removed below anyway
                pass
        if self._temp:
            try:
                os.remove(self._temp)
            except FileNotFoundError:
                pass
