"""Test helpers for the archive stage: hand-built AFP (BDT/BNG/TLE/BPG/ENG per afp.md §5) and small PDFs."""
from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, StreamObject
from reportlab.pdfgen import canvas

from ccm_batch.archive.tle import tle_structured_field, tle_values
from ccm_batch.pages import DocumentMeta, Page, Text
from ccm_batch.render.base import DocumentFacts

A4 = (11906, 16838)


def sf(sfid: str, data: bytes = b"") -> bytes:
    """One structured field: X'5A', SFLength, SF id, flags, reserved, data."""
    return b"\x5A" + (8 + len(data)).to_bytes(2, "big") + bytes.fromhex(sfid) + b"\x00\x00\x00" + data


def name8(text: str) -> bytes:
    return text.encode("cp500").ljust(8, b"\x40")


def meta(n: int, **extra) -> DocumentMeta:
    """Document n: DOC000n of customer C0n, with two declared index fields."""
    fields = dict(doc_id=f"DOC{n:04d}", customer_id=f"C{n:03d}", doc_type="INVOICE", date="2025-01-31",
                  index=(("account", f"ACC-{n}"), ("amount", f"{n * 10},50")), duplex=False)
    fields.update(extra)
    return DocumentMeta(**fields)


def build_afp(docs: list[tuple[DocumentMeta, int]], page_tle: bool = True) -> tuple[bytes, list[DocumentFacts]]:
    """An AFP print file: BDT, per document BNG + TLEs + IMM + pages + ENG, EDT; and the facts."""
    out = bytearray(sf("D3A8A8", name8("DOC00001") + b"\x00\x00" + bytes.fromhex("0601000001F4")))
    facts, pages = [], 0
    for number, (doc, page_count) in enumerate(docs, 1):
        offset = len(out)
        out += sf("D3A8AD", name8(f"G{number:07d}"))
        for name, value in tle_values(doc):
            out += tle_structured_field(name, value)
        out += sf("D3ABCC", name8("MM000001"))
        for _ in range(page_count):
            pages += 1
            out += sf("D3A8AF", name8(f"P{pages:07d}"))
            out += sf("D3A8C9", name8(f"AEG{pages:05d}")) + sf("D3A9C9")
            if page_tle:   # a page-level TLE with the same name must not count as the group's
                out += tle_structured_field("doc_id", "PAGE-LEVEL")
            out += sf("D3EEEE", b"page filler")
            out += sf("D3A9AF", name8(f"P{pages:07d}"))
        out += sf("D3A9AD", b"\xFF" * 8)
        facts.append(DocumentFacts(doc.doc_id, pages - page_count + 1, page_count, page_count,
                                   offset, len(out) - offset))
    out += sf("D3A9A8", name8("DOC00001"))
    return bytes(out), facts


def build_pdf(docs: list[tuple[DocumentMeta, int]], text=None) -> tuple[bytes, list[DocumentFacts]]:
    """A print PDF: each document's pages in order, its first page shows ``text(meta)`` (doc id)."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=(595, 842), invariant=1)
    facts, pages = [], 0
    for doc, page_count in docs:
        for k in range(page_count):
            pages += 1
            if k == 0:
                c.drawString(72, 770, f"Reference {text(doc) if text else doc.doc_id}")
            c.drawString(72, 740, f"Customer {doc.customer_id} page {k + 1}/{page_count}")
            c.showPage()
        facts.append(DocumentFacts(doc.doc_id, pages - page_count + 1, page_count, page_count))
    c.save()
    return buffer.getvalue(), facts


XMP_PDFA2B = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
              b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
              b'<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>'
              b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def with_xmp(pdf: bytes, xmp: bytes = XMP_PDFA2B) -> bytes:
    """``pdf`` with an XMP metadata stream in its catalog."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    stream = StreamObject()
    stream.set_data(xmp)
    stream[NameObject("/Type")] = NameObject("/Metadata")
    stream[NameObject("/Subtype")] = NameObject("/XML")
    writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class FakePdfRenderer:
    """A stand-in PDF backend for the archive writer: reportlab text + PDF/A-2b XMP claim."""

    format = "pdf"
    made: list = []

    def __init__(self, meta, job_date):
        self.job_date = job_date
        FakePdfRenderer.made.append(self)

    def start_file(self, path, stream):
        self.path, self.stream = path, stream
        self.buffer = io.BytesIO()
        self.canvas = canvas.Canvas(self.buffer, pagesize=(595, 842), invariant=1)
        self.pages = 0

    def start_piece(self, piece):
        self.piece = piece

    def start_document(self, meta):
        self.meta = meta

    def page(self, page: Page):
        self.pages += 1
        for item in page.items:
            if isinstance(item, Text):
                self.canvas.drawString(item.x / 20, 842 - item.y / 20, item.text)
        self.canvas.showPage()

    def end_document(self):
        return DocumentFacts(self.meta.doc_id, 1, self.pages, self.pages)

    def end_piece(self):
        pass

    def end_file(self):
        self.canvas.save()
        data = with_xmp(self.buffer.getvalue())
        with open(self.path, "wb") as f:
            f.write(data)
        from ccm_batch.render.base import FileFacts
        return FileFacts(self.path, self.pages, 1, len(data))


def text_page(*lines: str) -> Page:
    return Page(*A4, items=tuple(Text(1440, 1440 + 400 * i, "LiberationSans-Regular", 200, line)
                                 for i, line in enumerate(lines)))
