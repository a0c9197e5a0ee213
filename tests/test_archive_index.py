"""Archive stage tests: streaming index writers (CSV, JSONL, CMOD generic indexer) and their readers."""
import csv
import json
import os

import pytest

from ccm_batch.archive import read_index, write_indexes
from ccm_batch.archive.index import CmodIndexWriter, CsvIndexWriter, JsonlIndexWriter
from ccm_batch.archive.reader import IndexFormatError
from ccm_batch.errors import ConfigError
from ccm_batch.render.base import DocumentFacts

from test_archive_support import meta

AFP_FACTS = [DocumentFacts("DOC0001", 1, 2, 1, 25, 400), DocumentFacts("DOC0002", 3, 1, 1, 425, 230)]


def run(tmp_path, formats, docs, print_file="RUN.afp", fmt="afp", archive=None, **kw):
    indexes = write_indexes(formats, tmp_path, "RUN", **kw)
    for i, (m, f) in enumerate(docs):
        indexes.add(m, f, print_file, fmt, archive_file=(archive[i] if archive else ""))
    return indexes.commit()


def test_csv_lists_fields_pages_and_afp_byte_ranges(tmp_path):
    paths = run(tmp_path, ["csv"], zip([meta(1), meta(2)], AFP_FACTS))
    assert paths == {"csv": str(tmp_path / "RUN.index.csv")}
    rows = list(csv.reader(open(paths["csv"], encoding="utf-8")))
    assert rows[0] == ["doc_id", "customer_id", "doc_type", "date", "account", "amount", "print_file",
                       "format", "first_page", "page_count", "sheet_count", "offset", "length",
                       "archive_file", "verify_text"]
    assert rows[1] == ["DOC0001", "C001", "INVOICE", "2025-01-31", "ACC-1", "10,50", "RUN.afp", "afp",
                       "1", "2", "1", "25", "400", "", "DOC0001"]
    assert rows[2][:6] == ["DOC0002", "C002", "INVOICE", "2025-01-31", "ACC-2", "20,50"]
    assert rows[2][8:13] == ["3", "1", "1", "425", "230"]
    assert len(rows) == 3


def test_pdf_entries_leave_offsets_empty_and_verify_field_chooses_text(tmp_path):
    facts = [DocumentFacts("DOC0001", 1, 3, 2)]
    paths = run(tmp_path, ["csv", "jsonl"], zip([meta(1)], facts), "RUN.pdf", "pdf",
                archive=["C001_INVOICE.pdf"], verify_field="account")
    row = list(csv.DictReader(open(paths["csv"], encoding="utf-8")))[0]
    assert (row["offset"], row["length"], row["format"]) == ("", "", "pdf")
    assert (row["archive_file"], row["verify_text"], row["sheet_count"]) == ("C001_INVOICE.pdf", "ACC-1", "2")
    record = json.loads(open(paths["jsonl"], encoding="utf-8").read())
    assert record == {"doc_id": "DOC0001", "customer_id": "C001", "doc_type": "INVOICE",
                      "date": "2025-01-31", "index": {"account": "ACC-1", "amount": "10,50"},
                      "print_file": "RUN.pdf", "format": "pdf", "first_page": 1, "page_count": 3,
                      "sheet_count": 2, "offset": None, "length": None,
                      "archive_file": "C001_INVOICE.pdf", "verify_text": "ACC-1"}


def test_cmod_generic_index_syntax_line_by_line(tmp_path):
    paths = run(tmp_path, ["cmod"], zip([meta(1), meta(2)], AFP_FACTS))
    assert paths["cmod"].endswith("RUN.cmod.ind")
    lines = open(paths["cmod"], encoding="latin-1", newline="").read().split("\n")
    group = ["GROUP_FIELD_NAME:doc_id", "GROUP_FIELD_VALUE:DOC0001",
             "GROUP_FIELD_NAME:customer_id", "GROUP_FIELD_VALUE:C001",
             "GROUP_FIELD_NAME:doc_type", "GROUP_FIELD_VALUE:INVOICE",
             "GROUP_FIELD_NAME:date", "GROUP_FIELD_VALUE:2025-01-31",
             "GROUP_FIELD_NAME:account", "GROUP_FIELD_VALUE:ACC-1",
             "GROUP_FIELD_NAME:amount", "GROUP_FIELD_VALUE:10,50",
             "GROUP_OFFSET:25", "GROUP_LENGTH:400", "GROUP_FILENAME:RUN.afp"]
    assert lines[0] == "CODEPAGE:819"
    assert lines[1] == "COMMENT:ccm-batch archive index verify_field=doc_id"
    assert lines[2:17] == group
    assert lines[17:32] == [l.replace("DOC0001", "DOC0002").replace("C001", "C002").replace("ACC-1", "ACC-2")
                            .replace("10,50", "20,50").replace("OFFSET:25", "OFFSET:425")
                            .replace("LENGTH:400", "LENGTH:230") for l in group]
    assert lines[32:] == [""]          # file ends with a newline, nothing after


def test_cmod_pdf_group_is_one_document_file_and_never_the_multi_document_print_pdf(tmp_path):
    """Issue 11 item 1: a group naming the print PDF (0/0 = whole file) would give every customer of
    the file everyone's documents; the writer refuses it."""
    facts = [DocumentFacts("DOC0001", 1, 2, 2), DocumentFacts("DOC0002", 3, 1, 1)]
    writer = CmodIndexWriter(codepage=1208)
    writer.open(str(tmp_path / "x.cmod.ind"))
    writer.add(meta(1), facts[0], "RUN.pdf", "pdf", archive_file="C001_INVOICE_DOC0001.pdf")
    writer.add(meta(2, customer_id="Ünïcode €"), facts[1], "RUN.pdf", "pdf", archive_file="C002.pdf")
    with pytest.raises(ConfigError, match="must hold exactly one document"):
        writer.add(meta(3), DocumentFacts("DOC0003", 4, 1, 1), "RUN.pdf", "pdf")
    writer.commit()
    text = open(tmp_path / "x.cmod.ind", encoding="utf-8").read().splitlines()
    assert text[0] == "CODEPAGE:1208"
    first_end = text.index("GROUP_FILENAME:C001_INVOICE_DOC0001.pdf")
    assert text[first_end - 2:first_end] == ["GROUP_OFFSET:0", "GROUP_LENGTH:0"]
    assert "GROUP_FIELD_VALUE:Ünïcode €" in text
    assert text[-3:] == ["GROUP_OFFSET:0", "GROUP_LENGTH:0", "GROUP_FILENAME:C002.pdf"]
    assert not any(line.endswith("RUN.pdf") for line in text)


def test_cmod_absolute_group_filename_and_resource_file_reference(tmp_path):
    out = tmp_path / "out"
    indexes = write_indexes(["cmod"], tmp_path, "RUN.afp", cmod_absolute_dir=str(out),
                            cmod_resource_file="RUN.afp.res")
    indexes.add(meta(1), AFP_FACTS[0], "RUN.afp", "afp")
    indexes.add(meta(2), DocumentFacts("DOC0002", 3, 1, 1), "RUN.pdf", "pdf", archive_file="archive/D2.pdf")
    text = open(indexes.commit()["cmod"], encoding="latin-1").read().splitlines()
    assert text[2] == f"COMMENT:ccm-batch AFP resources={out / 'RUN.afp.res'}"
    assert f"GROUP_FILENAME:{out / 'RUN.afp'}" in text
    assert f"GROUP_FILENAME:{out / 'archive/D2.pdf'}" in text
    with pytest.raises(ConfigError):
        write_indexes(["cmod"], tmp_path, "X", cmod_absolute_dir="relative/dir")


def test_cmod_latin1_replaces_unmappable_and_flattens_line_breaks(tmp_path):
    m = meta(1, index=(("label", "a\nb €"),))
    run(tmp_path, ["cmod"], [(m, AFP_FACTS[0])])
    raw = open(tmp_path / "RUN.cmod.ind", "rb").read()
    assert b"GROUP_FIELD_VALUE:a b ?\n" in raw


def test_written_under_part_name_until_commit_and_abort_removes(tmp_path):
    indexes = write_indexes(["csv", "jsonl", "cmod"], tmp_path, "RUN")
    indexes.add(meta(1), AFP_FACTS[0], "RUN.afp", "afp")
    assert sorted(os.listdir(tmp_path)) == ["RUN.cmod.ind.part", "RUN.index.csv.part", "RUN.index.jsonl.part"]
    indexes.abort()
    assert os.listdir(tmp_path) == []
    with write_indexes(["csv"], tmp_path, "RUN") as indexes:
        indexes.add(meta(1), AFP_FACTS[0], "RUN.afp", "afp")
    assert os.listdir(tmp_path) == ["RUN.index.csv"]


def test_output_is_deterministic(tmp_path):
    outputs = []
    for run_dir in ("a", "b"):
        paths = run(tmp_path / run_dir, ["csv", "jsonl", "cmod"], zip([meta(1), meta(2)], AFP_FACTS))
        outputs.append([open(paths[f], "rb").read() for f in ("csv", "jsonl", "cmod")])
    assert outputs[0] == outputs[1]


def test_csv_header_is_union_when_layouts_differ(tmp_path):
    docs = [(meta(1), AFP_FACTS[0]),
            (meta(2, index=(("amount", "7"), ("branch", "LYON"))), AFP_FACTS[1]),
            (meta(3, index=(("account", "ACC-3"),)), AFP_FACTS[1]._replace(doc_id="DOC0003"))]
    paths = run(tmp_path, ["csv"], docs)
    rows = list(csv.DictReader(open(paths["csv"], encoding="utf-8")))
    assert list(rows[0])[4:7] == ["account", "amount", "branch"]
    assert [(r["account"], r["amount"], r["branch"]) for r in rows] == [
        ("ACC-1", "10,50", ""), ("", "7", "LYON"), ("ACC-3", "", "")]
    assert sorted(os.listdir(tmp_path)) == ["RUN.index.csv"]   # side files cleaned up


def test_index_field_clashing_with_a_column_is_prefixed_and_read_back(tmp_path):
    m = meta(1, index=(("offset", "north"), ("Date", "dup")))
    paths = run(tmp_path, ["csv"], [(m, AFP_FACTS[0])])
    header = open(paths["csv"], encoding="utf-8").readline().strip().split(",")
    assert header[4:6] == ["index_offset", "print_file"]
    entry = next(read_index(paths["csv"]))
    assert entry.fields == (("offset", "north"),) and entry.offset == 25


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "cmod"])
def test_readers_round_trip(tmp_path, fmt):
    paths = run(tmp_path, [fmt], zip([meta(1), meta(2)], AFP_FACTS))
    entries = list(read_index(paths[fmt]))
    assert [e.doc_id for e in entries] == ["DOC0001", "DOC0002"]
    assert entries[1].archive_fields()[4:] == [("account", "ACC-2"), ("amount", "20,50")]
    assert (entries[1].offset, entries[1].length, entries[1].print_file) == (425, 230, "RUN.afp")
    if fmt == "cmod":
        assert [e.line for e in entries] == [3, 18] and entries[0].page_count == 0
    else:
        assert [e.line for e in entries] == ([2, 3] if fmt == "csv" else [1, 2])
        assert (entries[0].first_page, entries[0].page_count, entries[0].fmt) == (1, 2, "afp")


def test_reader_reports_line_of_a_bad_entry(tmp_path):
    path = tmp_path / "bad.index.jsonl"
    good = json.dumps({"doc_id": "D", "customer_id": "C", "doc_type": "T", "date": "d", "index": {},
                       "print_file": "f.afp", "format": "afp", "first_page": 1, "page_count": 1,
                       "sheet_count": 1, "offset": 0, "length": 9, "archive_file": "", "verify_text": "D"})
    path.write_text(good + "\n" + good.replace('"offset": 0', '"offset": "x"') + "\n")
    entries = read_index(str(path))
    assert next(entries).doc_id == "D"
    with pytest.raises(IndexFormatError) as info:
        next(entries)
    assert info.value.line == 2 and "offset" in info.value.message


def test_bad_format_and_mismatched_facts_are_refused(tmp_path):
    with pytest.raises(ConfigError):
        write_indexes(["xml"], tmp_path, "RUN")
    writer = JsonlIndexWriter()
    writer.open(str(tmp_path / "x.jsonl"))
    with pytest.raises(ValueError):
        writer.add(meta(1), AFP_FACTS[1], "RUN.afp", "afp")
    with pytest.raises(ValueError):
        writer.add(meta(1), AFP_FACTS[0], "RUN.ps", "ps")
    writer.abort()
    assert os.listdir(tmp_path) == []


def test_empty_run_gives_header_only_csv(tmp_path):
    writer = CsvIndexWriter()
    writer.open(str(tmp_path / "e.index.csv"))
    writer.commit()
    assert open(tmp_path / "e.index.csv").read().startswith("doc_id,customer_id,doc_type,date,print_file,")
    assert list(read_index(str(tmp_path / "e.index.csv"))) == []
