"""The operator's small ones: exit codes as the README's table says, usage errors with a message id,
`inspect` of a file that is not AFP, `preview` output place / stale PNGs / no record matched, `validate` of a
layout, plurals, and README examples that name files a command really produces."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from runjobs import LAYOUT, ROOT, make_extract, run_cli, write_job

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return make_extract(tmp_path_factory.mktemp("data") / "invoices.xml", 5)


def test_a_missing_input_is_an_io_failure_exit_16_as_the_readme_says(tmp_path, extract):
    row16 = next(line for line in README.splitlines() if line.startswith("| 16 |"))
    assert "missing input" in row16
    job = write_job(tmp_path, tmp_path / "nowhere.xml")
    for command in (("run", job), ("validate", job), ("run", job, "--input", tmp_path / "gone.xml")):
        proc = run_cli(*command)
        assert proc.returncode == 16, (command, proc.stderr)
        assert "CCM0300E input file" in proc.stderr and "does not exist" in proc.stderr


def test_a_bad_option_value_is_one_line_with_a_message_id_exit_12(tmp_path, extract):
    proc = run_cli("run", write_job(tmp_path, extract), "-f", "pdfx")
    assert proc.returncode == 12
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("CCM0100E "), proc.stderr
    assert "'pdfx' is not one of" in lines[0] and "ccm-batch run --help" in lines[0]


def test_inspect_of_a_file_that_is_not_afp_fails_clearly(tmp_path, extract):
    proc = run_cli("run", write_job(tmp_path, extract), "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    pdf, afp = tmp_path / "out" / "inv_main_001.pdf", tmp_path / "out" / "inv_main_001.afp"
    for flags in ((), ("--check",), ("--text",)):
        bad = run_cli("inspect", *flags, pdf)
        assert bad.returncode == 8, (flags, bad.stdout, bad.stderr)
        assert "is not an AFP (MO:DCA) file: it is a PDF file" in bad.stderr and "!!" not in bad.stdout
    cut = tmp_path / "cut.afp"
    cut.write_bytes(afp.read_bytes()[:-7])                  # an AFP file cut short: the listing says so
    listing = run_cli("inspect", cut)
    assert listing.returncode == 8 and "!!" in listing.stdout and "structural problem" in listing.stderr
    assert run_cli("inspect", afp).returncode == 0


def test_preview_writes_beside_the_pngs_replaces_stale_pages_and_keeps_other_files(tmp_path, extract):
    png, cwd = tmp_path / "png", tmp_path / "cwd"
    png.mkdir()
    cwd.mkdir()
    for name in ("page-7.png", "page-12.png"):               # an earlier, longer preview
        shutil.copy(ROOT / "layouts" / "images" / next(p.name for p in (ROOT / "layouts" / "images").glob("*.png")),
                    png / name)
    (png / "notes.txt").write_text("mine")
    proc = run_cli("preview", LAYOUT, "--data", extract, "--records", "2", "--png", png, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert list(cwd.iterdir()) == []                           # nothing in the current directory
    pdf = png / "preview.pdf"
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                              text=True).stdout).group(1))
    made = sorted(p.name for p in png.glob("page-*.png"))
    assert len(made) == pages and "page-7.png" not in made and "page-12.png" not in made
    assert (png / "notes.txt").read_text() == "mine"
    assert f"{png}: {pages} PNG page{'s' if pages != 1 else ''}" in proc.stdout
    assert f"{pdf}: {pages} page" in proc.stdout


def test_preview_of_records_past_the_end_is_an_error(tmp_path, extract):
    out = tmp_path / "p.pdf"
    proc = run_cli("preview", LAYOUT, "--data", extract, "--records", "13", "-o", out)
    assert proc.returncode == 12
    assert "no record matched" in proc.stderr and "has 5 records" in proc.stderr
    assert not out.exists()


def test_validate_of_a_layout_checks_the_layout_and_says_what_it_is(tmp_path):
    proc = run_cli("validate", ROOT / "layouts" / "invoice.xml")
    assert proc.returncode == 0, proc.stderr
    assert "this is a layout, not a job file" in proc.stdout and "OK" in proc.stdout
    assert "TOML" not in proc.stdout + proc.stderr
    broken = tmp_path / "broken.xml"
    broken.write_text((ROOT / "layouts" / "invoice.xml").read_text(encoding="utf-8").replace("<fields>", "<fieldz>", 1))
    bad = run_cli("validate", broken)
    assert bad.returncode == 12 and "broken.xml:" in bad.stderr and "TOML" not in bad.stderr


def test_readme_examples_name_files_the_sample_run_produces_and_counts_are_plural_right(tmp_path):
    proc = run_cli("run", ROOT / "samples" / "invoice.toml", "--output", tmp_path)
    assert proc.returncode == 0, proc.stderr
    named = re.findall(r"ccm-batch (?:inspect|index verify) (\S+)", README)
    assert len(named) >= 2
    for name in named:
        assert name.startswith("demo-out/invoice/")          # the sample job's [output] dir
        produced = tmp_path / name.removeprefix("demo-out/invoice/")
        assert produced.is_file(), name
        assert run_cli(*(["inspect"] if name.endswith(".afp") else ["index", "verify"]), produced).returncode == 0
    report = json.loads((tmp_path / "report.json").read_text())
    text = proc.stderr + json.dumps(report["mail"], ensure_ascii=False)
    assert not re.search(r"(?<![\d,])1 (files|pieces|docs|sheets|trays|mail pieces|print files|records)\b", text)
