"""Archive stage tests: ``verify`` opens every index entry in its print file and checks it is that document."""
import csv
import json

import pytest

from ccm_batch.archive import verify, verify_index, write_indexes
from ccm_batch.archive.tle import tle_structured_field

from test_archive_support import build_afp, build_pdf, meta, sf, with_xmp

DOCS = [(meta(1), 2), (meta(2), 1), (meta(3), 3)]


def make_afp_run(tmp_path, formats=("csv", "jsonl", "cmod"), docs=DOCS, mutate=None):
    data, facts = build_afp(docs)
    if mutate:
        data = mutate(data)
    (tmp_path / "RUN.afp").write_bytes(data)
    indexes = write_indexes(formats, tmp_path, "RUN")
    for (m, _), f in zip(docs, facts):
        indexes.add(m, f, "RUN.afp", "afp")
    return indexes.commit(), facts


def edit_csv(path, line, column, value):
    """Set one cell of an index CSV (``line`` as the file counts lines, header = 1)."""
    rows = list(csv.reader(open(path, encoding="utf-8", newline="")))
    rows[line - 1][rows[0].index(column)] = str(value)
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "cmod"])
def test_good_afp_run_verifies_in_every_format(tmp_path, fmt):
    paths, _ = make_afp_run(tmp_path)
    result = verify(paths[fmt])
    assert result.ok, str(result)
    assert result.checked == 3
    assert result.lines == [f"{paths[fmt]}: 3 document(s) verified"]


@pytest.mark.parametrize("delta", [1, -1])
def test_afp_offset_off_by_one_fails_on_that_line(tmp_path, delta):
    paths, facts = make_afp_run(tmp_path, formats=("csv",))
    edit_csv(paths["csv"], 3, "offset", facts[1].offset + delta)
    result = verify(paths["csv"])
    assert not result.ok and result.checked == 1
    assert (result.problem.line, result.problem.doc_id) == (3, "DOC0002")
    assert f"offset {facts[1].offset + delta}" in result.problem.message
    assert "not at a structured-field boundary" in result.problem.message


def test_afp_length_off_by_one_fails(tmp_path):
    paths, facts = make_afp_run(tmp_path, formats=("jsonl",))
    lines = open(paths["jsonl"], encoding="utf-8").read().splitlines()
    record = json.loads(lines[2])
    record["length"] += 1
    lines[2] = json.dumps(record)
    open(paths["jsonl"], "w", encoding="utf-8").write("\n".join(lines) + "\n")
    problem = verify(paths["jsonl"]).problem
    assert (problem.line, problem.doc_id) == (3, "DOC0003")
    end = facts[2].offset + facts[2].length
    assert f"ends (ENG) at byte {end}" in problem.message and f"= {end + 1}" in problem.message


def test_afp_tle_value_differs(tmp_path):
    # same-length replacement inside the print file: C002 -> C00X in DOC0002's TLE
    good = tle_structured_field("customer_id", "C002")
    bad = tle_structured_field("customer_id", "C00X")
    paths, _ = make_afp_run(tmp_path, mutate=lambda data: data.replace(good, bad))
    for fmt in ("csv", "cmod"):
        problem = verify(paths[fmt]).problem
        assert problem.doc_id == "DOC0002"
        assert problem.message == "TLE 'customer_id' is 'C00X' in the AFP, the index says 'C002'"
    assert verify(paths["cmod"]).problem.line == 18


def test_afp_index_value_differs_and_missing_tle(tmp_path):
    paths, _ = make_afp_run(tmp_path, formats=("csv",))
    edit_csv(paths["csv"], 2, "amount", "99")
    assert "TLE 'amount' is '10,50' in the AFP, the index says '99'" in verify(paths["csv"]).problem.message
    tle = tle_structured_field("account", "ACC-1")
    paths, _ = make_afp_run(tmp_path, formats=("csv",),
                            mutate=lambda d: d.replace(tle, sf("D3EEEE", b"x" * (len(tle) - 9))))
    assert "has no TLE 'account'" in verify(paths["csv"]).problem.message


def test_afp_page_count_and_first_page_checked(tmp_path):
    paths, _ = make_afp_run(tmp_path, formats=("csv",))
    edit_csv(paths["csv"], 4, "page_count", 2)
    problem = verify(paths["csv"]).problem
    assert (problem.line, problem.message) == (
        4, "the page group holds 3 page(s) (BPG), the index says page_count 2")
    paths, _ = make_afp_run(tmp_path, formats=("csv",))
    edit_csv(paths["csv"], 3, "first_page", 4)
    assert "starts at page 3 of RUN.afp, the index says first_page 4" in verify(paths["csv"]).problem.message


def test_afp_offset_pointing_at_another_field(tmp_path):
    paths, facts = make_afp_run(tmp_path, formats=("csv",))
    edit_csv(paths["csv"], 2, "offset", 0)          # the BDT
    problem = verify(paths["csv"]).problem
    assert "is BDT (X'D3A8A8'), not BNG (X'D3A8AD')" in problem.message


def test_verify_index_yields_problems_lazily_in_index_order(tmp_path):
    paths, facts = make_afp_run(tmp_path, formats=("csv",))
    edit_csv(paths["csv"], 2, "length", facts[0].length - 1)
    edit_csv(paths["csv"], 4, "amount", "x")
    problems = list(verify_index(paths["csv"]))
    assert [(p.line, p.doc_id) for p in problems] == [(2, "DOC0001"), (4, "DOC0003")]
    assert str(problems[0]).startswith(f"{paths['csv']}:2: document DOC0001: ")


def test_missing_print_file_and_bad_index(tmp_path):
    paths, _ = make_afp_run(tmp_path, formats=("csv",))
    (tmp_path / "RUN.afp").unlink()
    assert "print file RUN.afp not found" in verify(paths["csv"]).problem.message
    bad = tmp_path / "bad.index.csv"
    bad.write_text("a,b\n1,2\n")
    result = verify(str(bad))
    assert result.problem.line == 1 and "header lacks" in result.problem.message


# -- PDF ---------------------------------------------------------------------------------------------

def make_pdf_run(tmp_path, docs=DOCS, formats=("csv",), text=None, archive=None):
    data, facts = build_pdf(docs, text=text)
    (tmp_path / "RUN.pdf").write_bytes(data)
    indexes = write_indexes(formats, tmp_path, "RUN")
    for i, ((m, _), f) in enumerate(zip(docs, facts)):
        indexes.add(m, f, "RUN.pdf", "pdf", archive_file=archive[i] if archive else "")
    return indexes.commit(), facts


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_good_pdf_run_verifies(tmp_path, fmt):
    paths, _ = make_pdf_run(tmp_path, formats=(fmt,))
    result = verify(paths[fmt])
    assert result.ok, str(result)
    assert result.checked == 3


@pytest.mark.parametrize("line,count,expect", [
    (2, 1, "page_count 1 ends the document at page 1, but the next document DOC0002 (line 3) starts at page 3"),
    (2, 3, "page_count 3 ends the document at page 3, but the next document DOC0002 (line 3) starts at page 3"),
    (4, 2, "page_count 2 ends the last document of RUN.pdf at page 5, but the file has 6 pages"),
    (4, 4, "pages 4-7 do not exist: RUN.pdf has 6 page(s)"),
])
def test_pdf_wrong_page_count_fails(tmp_path, line, count, expect):
    paths, _ = make_pdf_run(tmp_path)
    edit_csv(paths["csv"], line, "page_count", count)
    problem = verify(paths["csv"]).problem
    assert problem.line == line and problem.message == expect


def test_pdf_first_page_must_show_the_document(tmp_path):
    paths, _ = make_pdf_run(tmp_path)
    edit_csv(paths["csv"], 3, "first_page", 2)      # page 2 is DOC0001's second page
    edit_csv(paths["csv"], 2, "page_count", 1)
    problem = verify(paths["csv"]).problem
    assert problem.line == 3 and "page 2 of RUN.pdf does not contain 'DOC0002'" in problem.message


def test_pdf_verify_text_follows_verify_field(tmp_path):
    data, facts = build_pdf(DOCS, text=lambda m: dict(m.index)["account"])
    (tmp_path / "RUN.pdf").write_bytes(data)
    for field, ok in (("account", True), ("doc_id", False)):
        indexes = write_indexes(["csv"], tmp_path, field, verify_field=field)
        for (m, _), f in zip(DOCS, facts):
            indexes.add(m, f, "RUN.pdf", "pdf")
        path = indexes.commit()["csv"]
        assert verify(path).ok is ok


def test_pdf_first_document_must_start_on_page_one_and_files_be_contiguous(tmp_path):
    data, facts = build_pdf([(meta(9), 1), (meta(1), 2)])      # a banner-like page nobody indexes
    (tmp_path / "RUN.pdf").write_bytes(data)
    indexes = write_indexes(["csv"], tmp_path, "RUN")
    indexes.add(meta(1), facts[1], "RUN.pdf", "pdf")
    problem = verify(indexes.commit()["csv"]).problem
    assert problem.message == "it is the first document of RUN.pdf but starts at page 2: pages 1-1 belong to no document"
    data, facts = build_pdf(DOCS[:1])
    (tmp_path / "RUN.pdf").write_bytes(data)
    (tmp_path / "B.pdf").write_bytes(data)
    indexes = write_indexes(["csv"], tmp_path, "MIX")
    indexes.add(meta(1), facts[0], "RUN.pdf", "pdf")
    indexes.add(meta(1), facts[0], "B.pdf", "pdf")
    indexes.add(meta(1), facts[0], "RUN.pdf", "pdf")
    problem = verify(indexes.commit()["csv"]).problem
    assert problem.line == 4 and "not contiguous" in problem.message


def test_pdf_archive_files_checked(tmp_path):
    names = []
    for m, pages in DOCS:
        data, _ = build_pdf([(m, pages)])
        names.append(f"{m.doc_id}.pdf")
        (tmp_path / names[-1]).write_bytes(with_xmp(data))
    (tmp_path / names[2]).write_bytes(build_pdf([(meta(3), 3)])[0])         # no PDF/A claim
    paths, _ = make_pdf_run(tmp_path, formats=("csv", "cmod"), archive=names)
    problem = verify(paths["csv"]).problem
    assert problem.line == 4 and "does not declare PDF/A-2b" in problem.message
    assert verify(paths["cmod"]).ok          # CMOD: one document per file, text check only
    (tmp_path / names[1]).write_bytes(with_xmp(build_pdf([(meta(2), 2)])[0]))
    assert "archive PDF DOC0002.pdf has 2 page(s)" in verify(paths["csv"]).problem.message
    (tmp_path / names[0]).write_bytes(with_xmp(build_pdf([(meta(9), 2)])[0]))
    problem = verify(paths["cmod"]).problem
    assert problem.line == 3 and "page 1 of DOC0001.pdf does not contain 'DOC0001'" in problem.message


def _legacy_cmod(tmp_path, groups):
    """A CMOD index written by hand: (doc, offset, length, file, comment) per group."""
    lines = ["CODEPAGE:819", "COMMENT:ccm-batch archive index verify_field=doc_id"]
    for doc, offset, length, name, comment in groups:
        if comment:
            lines.append(comment)
        for field, value in (("doc_id", doc), ("customer_id", "C"), ("doc_type", "INVOICE"), ("date", "2025-01-31")):
            lines += [f"GROUP_FIELD_NAME:{field}", f"GROUP_FIELD_VALUE:{value}"]
        lines += [f"GROUP_OFFSET:{offset}", f"GROUP_LENGTH:{length}", f"GROUP_FILENAME:{name}"]
    path = tmp_path / "legacy.cmod.ind"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


def test_cmod_group_resolving_to_several_documents_fails(tmp_path):
    """Issue 11 item 1: a CMOD group must resolve to exactly one document."""
    make_pdf_run(tmp_path)                                      # RUN.pdf: DOC0001 (2 p.), DOC0002, DOC0003
    ranges = _legacy_cmod(tmp_path, [("DOC0001", 0, 0, "RUN.pdf", "COMMENT:document DOC0001 is pages 1-2 of RUN.pdf"),
                                     ("DOC0002", 0, 0, "RUN.pdf", "COMMENT:document DOC0002 is pages 3-3 of RUN.pdf")])
    problem = verify(ranges).problem
    assert problem.line == 4 and "resolves to every document of that print file" in problem.message
    whole = _legacy_cmod(tmp_path, [("DOC0001", 0, 0, "RUN.pdf", ""), ("DOC0002", 0, 0, "RUN.pdf", "")])
    problem = verify(whole).problem
    assert problem.line == 3 and "named by several groups" in problem.message
    (tmp_path / "ONE.pdf").write_bytes(build_pdf(DOCS[:1])[0])
    assert verify(_legacy_cmod(tmp_path, [("DOC0001", 0, 0, "ONE.pdf", "")])).ok


def test_end_to_end_with_the_afp_backend(tmp_path):
    """Once ``ccm_batch.render.afp`` is there: its page groups and TLEs must satisfy the verifier."""
    afp_backend = pytest.importorskip("ccm_batch.render.afp")
    from ccm_batch.render.base import PieceInfo, StreamInfo
    from test_archive_support import text_page
    from ccm_batch.archive import tle_values
    renderer = afp_backend.AfpRenderer(afp_backend.AfpOptions(tle_values=tle_values))
    indexes = write_indexes(("csv", "cmod"), tmp_path, "RUN.afp")
    renderer.start_file(str(tmp_path / "RUN.afp"), StreamInfo("JOB", "MAIN", job_date="2025-01-31"))
    for seq, (m, pages) in enumerate(DOCS, 1):
        renderer.start_piece(PieceInfo(f"P{seq}", seq, (m.doc_id,)))
        renderer.start_document(m)
        for k in range(pages):
            renderer.page(text_page(f"Invoice {m.doc_id}", f"page {k + 1}"))
        indexes.add(m, renderer.end_document(), "RUN.afp", "afp")
        renderer.end_piece()
    renderer.end_file()
    paths = indexes.commit()
    for fmt in ("csv", "cmod"):
        result = verify(paths[fmt])
        assert result.ok, str(result)
        assert result.checked == 3


def test_afp_resource_file_beside_the_print_file_holds_what_each_group_uses(tmp_path):
    """Issue 11 item 2: an AFP page group loaded into OnDemand needs the form map (and overlays,
    images) of the print file's resource group: written as RUN.afp.res and referenced by the index."""
    from ccm_batch.afp.inspect import check as afp_check
    from ccm_batch.archive.resources import resource_names, write_resource_file
    from ccm_batch.render import afp as afp_backend
    from ccm_batch.render.base import PieceInfo, StreamInfo
    from test_archive_support import text_page
    from ccm_batch.archive import tle_values
    import afp as afp_mod
    renderer = afp_backend.AfpRenderer(afp_backend.AfpOptions(tle_values=tle_values))
    indexes = write_indexes(("cmod",), tmp_path, "RUN.afp", cmod_resource_file="RUN.afp.res")
    renderer.start_file(str(tmp_path / "RUN.afp"), StreamInfo("JOB", "MAIN", job_date="2025-01-31"))
    for seq, (m, pages) in enumerate(DOCS, 1):
        renderer.start_piece(PieceInfo(f"P{seq}", seq, (m.doc_id,)))
        renderer.start_document(m)
        for k in range(pages):
            renderer.page(text_page(f"Invoice {m.doc_id}", f"page {k + 1}"))
        indexes.add(m, renderer.end_document(), "RUN.afp", "afp")
        renderer.end_piece()
    renderer.end_file()
    path = indexes.commit()["cmod"]
    assert "COMMENT:ccm-batch AFP resources=RUN.afp.res\n" in open(path, encoding="latin-1").read()
    assert "not found" in verify(path).problem.message                     # referenced, not written yet
    assert write_resource_file(tmp_path / "RUN.afp", tmp_path / "RUN.afp.res")
    result = verify(path)
    assert result.ok, str(result)
    res = (tmp_path / "RUN.afp.res").read_bytes()
    with open(tmp_path / "RUN.afp.res", "rb") as fh:            # strict PyAFP, then Begin/End pairing
        fields = afp_mod.load(fh, allow_unknown_fields=True, allow_unknown_triplets=True,
                              allow_unknown_functions=True, strict=True)
    assert fields and not any("_exceptions" in f for f in fields)
    assert afp_check(tmp_path / "RUN.afp.res") == []
    names, maps = resource_names(tmp_path / "RUN.afp.res")
    assert "F1CCMBAT" in names and {"MMSIMPLX", "MMDUPLEX"} <= maps
    assert res == (tmp_path / "RUN.afp").read_bytes()[:len(res)]           # the print file's own group
    # a resource file without the duplex/simplex medium maps the groups invoke fails
    (tmp_path / "RUN.afp.res").write_bytes(res.replace("MMSIMPLX".encode("cp500"), "MMOTHER1".encode("cp500")))
    problem = verify(path).problem
    assert "medium map 'MMSIMPLX'" in problem.message and "does not hold" in problem.message
