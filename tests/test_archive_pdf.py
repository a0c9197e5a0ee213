"""Archive stage tests: one PDF/A-2b file per document, named from its index fields; end to end with verify."""
import errno
import os

import pytest
from pypdf import PdfReader

from ccm_batch.archive import ArchivePdfWriter, archive_name, verify, write_indexes
from ccm_batch.archive.verify import pdfa_claim
from ccm_batch.errors import ConfigError, OutputError
from ccm_batch.pages import Document
from ccm_batch.render.base import PieceInfo, StreamInfo
from ccm_batch.render.pdf import PdfOptions, PdfRenderer

from test_archive_support import FakePdfRenderer, meta, text_page


def test_names_from_template_are_sanitised():
    m = meta(1, customer_id="../Dupont/Éloïse", doc_type="Relevé de compte", date="2025-01-31")
    assert archive_name("{customer_id}_{doc_type}_{date}_{doc_id}", m) == \
        "Dupont_Eloise_Releve_de_compte_2025-01-31_DOC0001.pdf"
    assert archive_name("{account}-{record_number}.PDF", m) == "ACC-1-0.pdf"
    assert archive_name("{customer_id}", meta(1, customer_id="€€")) == "document.pdf"
    assert len(archive_name("{doc_id}", meta(1, doc_id="x" * 400))) == 150 + 4


def test_unknown_template_field_is_a_config_error(tmp_path):
    writer = ArchivePdfWriter(tmp_path, "{customer_id}_{nope}", renderer_factory=FakePdfRenderer)
    with pytest.raises(ConfigError, match="unknown field {nope}"):
        writer.write_document(meta(1), [text_page("x")])
    assert os.listdir(tmp_path) == []


def test_real_pdf_backend_writes_pdfa2b_per_document_with_unique_names(tmp_path):
    writer = ArchivePdfWriter(tmp_path, "{customer_id}_{doc_type}", job_date="2025-01-31")
    first = writer.write_document(meta(1), [text_page("Facture DOC0001", "Éloïse"), text_page("suite")])
    second = writer.write_document(meta(2, customer_id="C001"), [text_page("Facture DOC0002")])
    assert (first, second) == ("C001_INVOICE.pdf", "C001_INVOICE_2.pdf")
    assert sorted(os.listdir(tmp_path)) == ["C001_INVOICE.pdf", "C001_INVOICE_2.pdf"]
    reader = PdfReader(tmp_path / first)
    assert len(reader.pages) == 2
    assert reader.pages[0].extract_text().split("\n") == ["Facture DOC0001", "Éloïse"]
    assert pdfa_claim(reader) == ("2", "B")
    assert reader.metadata["/Title"] == "INVOICE DOC0001"
    assert (writer.documents, writer.pages, writer.archive_path) == (2, 3, str(tmp_path / second))


def test_same_document_same_bytes(tmp_path):
    outputs = []
    for sub in ("a", "b"):
        writer = ArchivePdfWriter(tmp_path / sub, "{doc_id}", job_date="2025-01-31")
        writer.write_document(meta(1), [text_page("Facture DOC0001")])
        outputs.append((tmp_path / sub / "DOC0001.pdf").read_bytes())
    assert outputs[0] == outputs[1]


def test_events_interface_ignores_pieces_and_reports_facts_within_the_file(tmp_path):
    FakePdfRenderer.made.clear()
    writer = ArchivePdfWriter(tmp_path, "{doc_id}", renderer_factory=FakePdfRenderer)
    writer.start_file("ignored.pdf", StreamInfo("JOB", "MAIN", job_date="2025-02-01"))
    writer.start_piece(PieceInfo("P1", 1))
    facts = []
    for n, pages in ((1, 2), (2, 1)):
        writer.start_document(meta(n))
        for k in range(pages):
            writer.page(text_page(f"DOC000{n} p{k}"))
        facts.append(writer.end_document())
    writer.end_piece()
    totals = writer.end_file()
    assert [(f.doc_id, f.first_page, f.page_count) for f in facts] == [("DOC0001", 1, 2), ("DOC0002", 1, 1)]
    assert (totals.pages, totals.documents) == (3, 2)
    assert sorted(os.listdir(tmp_path)) == ["DOC0001.pdf", "DOC0002.pdf"]
    assert FakePdfRenderer.made[0].stream.job_date == "2025-02-01"
    assert FakePdfRenderer.made[0].piece.doc_ids == ("DOC0001",)


def test_abort_removes_the_document_in_progress(tmp_path):
    writer = ArchivePdfWriter(tmp_path, "{doc_id}", job_date="2025-01-31")
    writer.start_document(meta(1))
    writer.page(text_page("x"))
    writer.abort()
    assert os.listdir(tmp_path) == []


def test_end_to_end_pdf_run_with_archive_twins_verifies(tmp_path):
    """Print PDF + per-document PDF/A + CSV/JSONL/CMOD indexes from the real PDF backend, then verify."""
    docs = [Document(meta(n), tuple(text_page(f"Invoice DOC000{n}", f"page {k + 1}") for k in range(pages)))
            for n, pages in ((1, 2), (2, 1), (3, 3))]
    renderer = PdfRenderer(PdfOptions(creation_date="2025-01-31"))
    archive = ArchivePdfWriter(tmp_path / "archive", "{customer_id}_{doc_id}", job_date="2025-01-31")
    indexes = write_indexes(("csv", "jsonl", "cmod"), tmp_path, "RUN.pdf")
    renderer.start_file(str(tmp_path / "RUN.pdf"), StreamInfo("JOB", "MAIN", job_date="2025-01-31"))
    for seq, doc in enumerate(docs, 1):
        renderer.start_piece(PieceInfo(f"P{seq}", seq, (doc.meta.doc_id,)))
        renderer.start_document(doc.meta)
        for page in doc.pages:
            renderer.page(page)
        facts = renderer.end_document()
        name = archive.write_document(doc.meta, doc.pages)
        indexes.add(doc.meta, facts, "RUN.pdf", "pdf", archive_file=os.path.join("archive", name))
        renderer.end_piece()
    renderer.end_file()
    paths = indexes.commit()
    for fmt in ("csv", "jsonl", "cmod"):
        result = verify(paths[fmt])
        assert result.ok, str(result)
        assert result.checked == 3
    cmod = open(paths["cmod"], encoding="latin-1").read()
    assert "GROUP_FILENAME:archive/C002_DOC0002.pdf\n" in cmod


def test_a_file_already_there_keeps_its_bytes_and_the_document_takes_the_next_name(tmp_path):
    (tmp_path / "DOC0001.pdf").write_bytes(b"left by an operator")
    (tmp_path / "DOC0001_2.pdf").write_bytes(b"and another")
    writer = ArchivePdfWriter(tmp_path, "{doc_id}", job_date="2025-01-31")
    assert writer.write_document(meta(1), [text_page("Facture DOC0001")]) == "DOC0001_3.pdf"
    assert (tmp_path / "DOC0001.pdf").read_bytes() == b"left by an operator"
    assert (tmp_path / "DOC0001_2.pdf").read_bytes() == b"and another"
    assert os.stat(tmp_path / "DOC0001_3.pdf").st_nlink == 1       # the temporary name is gone
    assert sorted(os.listdir(tmp_path)) == ["DOC0001.pdf", "DOC0001_2.pdf", "DOC0001_3.pdf"]


@pytest.mark.parametrize("code", [errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP])
def test_without_hard_links_the_name_is_claimed_and_renamed_to(tmp_path, monkeypatch, code):
    """A file system that makes no hard links (FAT, some network mounts): the same names, the same bytes."""
    linked = ArchivePdfWriter(tmp_path / "linked", "{doc_type}", job_date="2025-01-31")
    names = [linked.write_document(meta(n), [text_page(f"Facture DOC000{n}")]) for n in (1, 2)]

    def no_link(src, dst, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(os, "link", no_link)
    renamed = ArchivePdfWriter(tmp_path / "renamed", "{doc_type}", job_date="2025-01-31")
    assert [renamed.write_document(meta(n), [text_page(f"Facture DOC000{n}")]) for n in (1, 2)] == names \
        == ["INVOICE.pdf", "INVOICE_2.pdf"]
    assert sorted(os.listdir(tmp_path / "renamed")) == names
    for name in names:
        assert (tmp_path / "renamed" / name).read_bytes() == (tmp_path / "linked" / name).read_bytes()


def test_a_link_failure_that_is_not_about_links_is_an_output_error_and_leaves_nothing(tmp_path, monkeypatch):
    def no_space(src, dst, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "link", no_space)
    writer = ArchivePdfWriter(tmp_path, "{doc_id}", job_date="2025-01-31")
    with pytest.raises(OutputError, match="cannot create archive PDF DOC0001.pdf"):
        writer.write_document(meta(1), [text_page("Facture DOC0001")])
    assert os.listdir(tmp_path) == []
