"""End-to-end runs of the bench invoice job: outputs, reconciliation, exit codes, determinism, workers."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from runjobs import make_extract, output_files, run_cli, write_job


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return make_extract(d / "invoices.xml", 40)


def _report(out):
    return json.loads((out / "report.json").read_text())


def test_run_produces_checked_outputs_and_reconciles(tmp_path, extract):
    job = write_job(tmp_path, extract)
    proc = run_cli("run", job)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    report = _report(out)
    assert report["records_read"] == 40 and report["documents_produced"] == 40
    assert report["records_rejected"] == 0
    assert report["reconciliation"] == {"line": "records read 40 = documents produced 40 + records rejected 0: OK",
                                        "ok": True}
    assert "records read 40 = documents produced 40 + records rejected 0: OK" in (out / "report.txt").read_text()
    pdf, afp = out / "inv_main_001.pdf", out / "inv_main_001.afp"
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0
    pages = int(next(line.split()[1] for line in subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                                text=True).stdout.splitlines()
                     if line.startswith("Pages:")))
    assert pages == report["pages"] > 40
    check = run_cli("inspect", "--check", afp)
    assert check.returncode == 0, check.stdout
    for index in ("inv_main_001.afp.index.csv", "inv_main_001.pdf.index.jsonl"):
        verify = run_cli("index", "verify", out / index)
        assert verify.returncode == 0, verify.stdout
        assert "40 document(s) verified" in verify.stdout
    assert report["inputs"][0]["sha256"] and len(report["inputs"][0]["sha256"]) == 64
    assert {f["path"] for f in report["files"]} >= {"inv_main_001.pdf", "inv_main_001.afp",
                                                     "inv_main_001.afp.cmod.ind"}
    assert not (out / ".ccm-work-inv").exists()      # the work directory is removed after success
    # the phases are timed; since issue 12 nothing is substituted in the AFP: the em dashes of the
    # item descriptions (not in code page T1001140) are UTF-16 runs with a carried TrueType font,
    # and the AFP shows exactly as many as the PDF (overlay text included)
    assert set(report["timing"]["phases_s"]) == {"compose", "collect", "plan", "render", "mail files"}
    in_data = sum(line.count("\u2014") for line in extract.read_text(encoding="utf-8").splitlines()
                  if "<desc>" in line)
    in_pdf = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.count("\u2014")
    from ccm_batch.afp.inspect import page_texts
    in_afp = sum(run.text.count("\u2014") for page in page_texts(afp) for run in page.runs)
    assert report["render_notes"] == {}
    assert 0 < in_data <= in_afp == in_pdf


@pytest.mark.parametrize("mail", ["", "[mail]\nenabled = true\nmax_pieces_per_file = 7\n"])
def test_two_runs_and_worker_counts_give_identical_outputs(tmp_path, extract, mail):
    results = []
    for i, workers in enumerate((1, 1, 2)):
        d = tmp_path / f"r{i}"
        d.mkdir()
        job = write_job(d, extract, extra=mail)
        proc = run_cli("run", job, "--workers", workers)
        assert proc.returncode == 0, proc.stderr
        results.append(output_files(d / "out"))
    assert results[0] == results[1]
    assert results[0] == results[2]
    assert len(results[0]) >= 8


def test_rejects_are_byte_exact_with_reasons_and_exit_4(tmp_path, extract):
    text = extract.read_bytes()
    # corrupt the totals of customers 5 and 17 (declared amount fields) and drop the date of 30
    bad = text.replace(b'<customer id="C0000005">', b'<customer id="C0000005">', 1)
    start5 = bad.index(b'<customer id="C0000005">')
    ht5 = bad.index(b"<ht>", start5)
    bad = bad[:ht5] + b"<ht>x12" + bad[bad.index(b"</ht>", ht5):]
    start30 = bad.index(b'<customer id="C0000030">')
    d30 = bad.index(b"<date>", start30)
    bad = bad[:d30] + bad[bad.index(b"</date>", d30) + len(b"</date>"):]
    data = tmp_path / "bad.xml"
    data.write_bytes(bad)
    job = write_job(tmp_path, data)
    proc = run_cli("run", job)
    assert proc.returncode == 4, proc.stderr
    out = tmp_path / "out"
    report = _report(out)
    assert (report["records_read"], report["documents_produced"], report["records_rejected"]) == (40, 38, 2)
    assert report["reconciliation"]["ok"]
    rejects = (out / "inv.rejects.xml").read_bytes()
    for cid in (b"C0000005", b"C0000030"):
        s = bad.index(b'<customer id="' + cid + b'">')
        e = bad.index(b"</customer>", s) + len(b"</customer>")
        assert bad[s:e] in rejects                      # byte for byte
    assert b"C0000006" not in rejects
    reasons = (out / "inv.reasons.csv").read_text().splitlines()
    assert reasons[0].startswith("record,key,source,line,field,message")
    assert any(line.startswith("5,C0000005,") and "ht" in line and "x12" in line for line in reasons)
    assert any(line.startswith("30,C0000030,") and "date" in line for line in reasons)
    # the print file holds the 38 good documents and nothing else
    index = (out / "inv_main_001.pdf.index.csv").read_text()
    assert "C0000005" not in index and index.count("\n") == 39


def test_reject_limit_exceeded_stops_with_exit_8_and_no_print_file(tmp_path, extract):
    data = tmp_path / "bad.xml"
    data.write_bytes(extract.read_bytes().replace(b"<ht>", b"<ht>x", 5))
    job = write_job(tmp_path, data, extra="[rejects]\nmax_rejects = 3\n")
    proc = run_cli("run", job)
    assert proc.returncode == 8, proc.stderr
    out = tmp_path / "out"
    assert not list(out.glob("*.pdf")) and not list(out.glob("*.afp"))
    report = _report(out)
    assert report["limit_exceeded"] and "max_rejects=3" in report["limit_exceeded"]
    assert report["reconciliation"]["ok"]
    assert report["records_rejected"] >= 4
    # nothing at all is released at exit 8 (issue 19.4): the report alone, pointing at the kept rejects
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["report.json", "report.txt"]
    kept = Path(report["not_released"]["kept_in"])
    assert (kept / "inv.rejects.xml").exists() and kept.is_relative_to(out / ".ccm-work-inv")


def test_malformed_extract_stops_with_file_line_column_exit_8(tmp_path, extract):
    text = extract.read_text(encoding="utf-8")
    pos = text.index('<customer id="C0000012">')
    broken = text[:pos] + "<customer id='oops'><name>unclosed</customer>\n" + text[pos:]
    data = tmp_path / "broken.xml"
    data.write_text(broken, encoding="utf-8")
    line = broken[:pos].count("\n") + 1
    job = write_job(tmp_path, data)
    proc = run_cli("run", job)
    assert proc.returncode == 8
    assert f"broken.xml:{line}:" in proc.stderr
    out = tmp_path / "out"
    report = _report(out)
    assert report["output_incomplete"] and report["records_read"] == 11
    assert report["documents_produced"] == 11 and report["reconciliation"]["ok"]
    assert not list(out.glob("*.pdf"))


def test_broken_job_file_exits_12_with_a_clear_message(tmp_path, extract):
    job = write_job(tmp_path, extract, extra="[output2]\nx = 1\n")
    proc = run_cli("run", job)
    assert proc.returncode == 12
    line = job.read_text().splitlines().index("[output2]") + 1
    assert f"{job}:{line}: [output2]: unknown section (did you mean [output]?)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_broken_layout_exits_12_with_file_and_line(tmp_path, extract):
    from runjobs import LAYOUT
    layout_dir = tmp_path / "layouts"
    shutil.copytree(LAYOUT.parent, layout_dir)
    layout = layout_dir / LAYOUT.name
    lines = layout.read_text(encoding="utf-8").splitlines(keepends=True)
    target = next(i for i, ln in enumerate(lines) if "<styles>" in ln)
    lines.insert(target + 1, '    <style name="oops" sise="8pt"/>\n')
    layout.write_text("".join(lines), encoding="utf-8")
    job = write_job(tmp_path, extract, layout=layout)
    proc = run_cli("run", job)
    assert proc.returncode == 12, proc.stderr
    assert f"{layout}:{target + 2}:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_output_directory_exits_16(tmp_path, extract):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    job = write_job(tmp_path, extract)
    proc = run_cli("run", job, "--output", blocker / "out")
    assert proc.returncode == 16
    assert "not writable" in proc.stderr and "Traceback" not in proc.stderr


def test_separator_sheets_are_printed_outside_the_indexes_and_verify_accepts_them(tmp_path, extract):
    job = write_job(tmp_path, extract, extra="[mail]\nenabled = true\nmax_pieces_per_file = 15\nseparators = true\n")
    proc = run_cli("run", job)
    assert proc.returncode in (0, 4), proc.stderr
    out = tmp_path / "out"
    pdfs = sorted(out.glob("*.pdf"))
    assert len(pdfs) == 3
    for pdf in pdfs:
        first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                               text=True).stdout
        assert "SEPARATOR SHEET - NOT FOR MAILING" in first and "file 00" in first
        index = (out / f"{pdf.name}.index.csv").read_text(encoding="utf-8").splitlines()
        assert "SEPARATOR" not in "".join(index)
        columns = index[0].split(",")
        assert index[1].split(",")[columns.index("first_page")] == "2"   # after the banner sheet
        for suffix in (".index.csv", ".cmod.ind"):
            verify = run_cli("index", "verify", out / f"{pdf.name}{suffix}")
            assert verify.returncode == 0, verify.stdout
    report = _report(out)
    assert report["documents_produced"] == 40 and report["reconciliation"]["ok"]
    # a page outside every document that is not a separator is still an error
    index = out / f"{pdfs[0].name}.index.csv"
    lines = index.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("first_page")] = str(int(row[header.index("first_page")]) + 1)
    row[header.index("page_count")] = str(int(row[header.index("page_count")]) - 1)
    index.write_text("\n".join([lines[0], ",".join(row)] + lines[2:]) + "\n", encoding="utf-8")
    assert run_cli("index", "verify", index).returncode == 8


def test_composition_warnings_are_grouped_by_kind_and_logged_once_per_record(tmp_path, extract):
    text = extract.read_bytes()
    for cid, name in ((b"C0000003", b"M. et Mme Camille DE LA TOUR D'AUVERGNE"),          # 39 characters
                      (b"C0000008", b"M. et Mme Jean-Baptiste DE LA TOUR D'AUVERGNE")):  # 45 characters
        s = text.index(b'<customer id="' + cid + b'">')
        a = text.index(b"<line>", text.index(b"<address>", s)) + len(b"<line>")
        text = text[:a] + name + text[text.index(b"</line>", a):]
    data = tmp_path / "long.xml"
    data.write_bytes(text)
    proc = run_cli("run", write_job(tmp_path, data, formats=("pdf",)))
    assert proc.returncode == 4, proc.stderr
    report = _report(tmp_path / "out")
    assert report["warnings"] == 2 and report["documents_produced"] == 40
    # one kind for both records: no record number, layout line or value in it
    assert report["warnings_by_kind"] == {
        "address: address line … has … characters (NF Z10-011: at most …): …": 2}
    logged = [line for line in proc.stderr.splitlines() if "CCM0203W" in line]
    assert len(logged) == 2
    assert "record 3 (C0000003): address (" in logged[0] and "has 39 characters" in logged[0]
    assert "record 8 (C0000008): address (" in logged[1] and "has 45 characters" in logged[1]
    assert all(line.count("record ") == 1 for line in logged)
