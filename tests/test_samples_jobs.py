"""Every bundled sample job (the `make demo` jobs) runs and writes outputs that independent tools accept:
qpdf, embedded fonts (pdffonts), the PyPI `afp` parser in strict mode plus our begin/end/nesting check,
and archive indexes that resolve to the right documents."""
from __future__ import annotations

import json
import subprocess

import afp as pyafp
import pytest

from ccm_batch.afp.inspect import check
from runjobs import ROOT, run_cli

JOBS = sorted((ROOT / "samples").glob("*.toml"))


@pytest.fixture(scope="module", params=[j.stem for j in JOBS])
def job_out(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    proc = run_cli("run", ROOT / "samples" / f"{request.param}.toml", "--output", out, "--workers", "2")
    assert proc.returncode in (0, 4), proc.stderr
    return request.param, out, json.loads((out / "report.json").read_text())


def test_sample_job_reconciles_and_lists_its_files(job_out):
    name, out, report = job_out
    assert report["reconciliation"]["ok"]
    assert report["records_read"] == report["documents_produced"] == 12
    for f in report["files"]:
        if f["path"].endswith("/"):      # a directory (the archive's PDFs …): its files and their bytes
            files = [p for p in (out / f["path"]).rglob("*") if p.is_file()]
            assert (len(files), sum(p.stat().st_size for p in files)) == (f["files"], f["size"]) > (0, 0)
        else:
            assert (out / f["path"]).stat().st_size == f["size"]


def test_sample_pdfs_pass_qpdf_and_embed_their_fonts(job_out):
    name, out, report = job_out
    pdfs = sorted(out.glob("*.pdf")) + sorted((out / "archive").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0, pdf
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout.splitlines()[2:]
        assert fonts and all(" yes " in line for line in fonts), (pdf, fonts)   # emb column


def test_sample_afp_passes_the_strict_parser_and_our_check(job_out):
    name, out, report = job_out
    afps = sorted(out.glob("*.afp"))
    assert afps
    for path in afps:
        with open(path, "rb") as fh:
            fields = pyafp.load(fh, allow_unknown_fields=True, allow_unknown_triplets=True,
                                allow_unknown_functions=True, strict=True)
        assert fields and not any("_exceptions" in f for f in fields), path
        assert check(path) == [], path
        pages = sum(1 for f in fields if f.get("SFTypeID") == "BPG" or f.get("SFTypeID") == b"\xd3\xa8\xaf")
        assert pages == 0 or pages >= 1


def test_sample_indexes_resolve(job_out):
    name, out, report = job_out
    indexes = sorted(out.glob("*.index.csv")) + sorted(out.glob("*.index.jsonl")) + sorted(out.glob("*.cmod.ind"))
    assert indexes
    for index in indexes:
        proc = run_cli("index", "verify", index)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sample_cmod_groups_each_hold_one_document(job_out):
    """Issue 11 items 1 and 2: every CMOD group names one document — a per-document PDF (never the
    multi-customer print PDF) or one AFP page group — and AFP indexes reference the resource file."""
    name, out, report = job_out
    for index in sorted(out.glob("*.cmod.ind")):
        text = index.read_text(encoding="latin-1").splitlines()
        names = [line.split(":", 1)[1] for line in text if line.startswith("GROUP_FILENAME:")]
        docs = [line for line in text if line == "GROUP_FIELD_NAME:doc_id"]
        assert names and len(names) == len(docs)
        if index.name.endswith(".pdf.cmod.ind"):
            assert len(set(names)) == len(names) and all(n.startswith("archive/") for n in names), index
        else:
            res = index.name.replace(".cmod.ind", ".res")
            assert f"COMMENT:ccm-batch AFP resources={res}" in text and (out / res).is_file()


def test_inspect_check_finds_a_corrupted_sample_afp(job_out, tmp_path):
    name, out, report = job_out
    data = bytearray(sorted(out.glob("*.afp"))[0].read_bytes())
    bad = tmp_path / "bad.afp"
    bad.write_bytes(bytes(data[: len(data) - 5]))                 # truncated
    proc = run_cli("inspect", "--check", bad)
    assert proc.returncode == 8 and "offset" in proc.stdout
    data[2] ^= 0x01                                              # flip a bit of the first length
    bad.write_bytes(bytes(data))
    proc = run_cli("inspect", "--check", bad)
    assert proc.returncode == 8 and "offset" in proc.stdout


def test_sample_afp_medium_follows_the_layout_page_size(job_out):
    """Issue 11 item 3: the form map's medium (MDD, read by the strict PyPI parser) is the page size:
    US Letter (8.5 x 11 in) for the US statement, A4 for the French jobs."""
    name, out, report = job_out
    expected = (12240, 15840) if name == "us-statement" else (11906, 16838)
    for path in sorted(out.glob("*.afp")):
        with open(path, "rb") as fh:
            fields = pyafp.load(fh, allow_unknown_fields=True, allow_unknown_triplets=True,
                                allow_unknown_functions=True, strict=True)
        media = {(f["XmUnits"], f["XmSize"], f["YmSize"]) for f in fields if "XmSize" in f}
        assert media == {(14400, *expected)}, (path, media)
