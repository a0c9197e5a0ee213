"""Paths the job or the data control (issue 10.8–10.10): output names stay in the output directory, the
engine deletes only the work directory it made, images named by record data come only from the image
directories."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image as PILImage

from ccm_batch.compose import compose_document
from ccm_batch.errors import RecordError
from ccm_batch.layout import load_layout
from ccm_batch.pages import Image
from ccm_batch.records.model import Record
from runjobs import make_extract, run_cli, write_job


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return make_extract(d / "invoices.xml", 5)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- 10.8 output names ----------------------------------------------------------------------------

@pytest.mark.parametrize("template", ["{abs}/x/x_{{seq:03d}}", "../../../ESCAPE_{{seq:03d}}",
                                      "sub/{{job}}_{{seq:03d}}", "..", ".hidden_{{seq:03d}}"])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_output_names_that_leave_the_output_directory_are_refused(tmp_path, extract, template, command):
    jobdir = tmp_path / "a" / "b" / "c"
    jobdir.mkdir(parents=True)
    name = template.format(abs=tmp_path / "abs")
    job = write_job(jobdir, extract, extra="")
    job.write_text(job.read_text().replace('dir = "out"', f'dir = "out"\nname = "{name}"'))
    before = _tree(tmp_path)
    proc = run_cli(command, job)
    assert proc.returncode == 12, proc.stderr
    assert "[output] name" in proc.stderr and "not a plain file name" in proc.stderr
    assert f"{job}:" in proc.stderr
    assert _tree(tmp_path) == before            # nothing written anywhere, inside or outside


def test_output_names_from_the_plan_are_checked_too(tmp_path, extract):
    """A stream name with a '/' (from a rule pack) would be caught at render: never written outside."""
    from ccm_batch.errors import ConfigError
    from ccm_batch.job import check_file_stem
    with pytest.raises(ConfigError, match="not a plain file name"):
        check_file_stem("inv_../../x_001", "{job}_{stream}_{seq:03d}")
    assert check_file_stem("inv_laposte-li-dl_001", "{job}_{stream}_{seq:03d}") == "inv_laposte-li-dl_001"


# -- 10.9 the work directory -------------------------------------------------------------------------

def test_work_dir_with_other_files_keeps_them(tmp_path, extract):
    victim = tmp_path / "victim"
    (victim / "keep").mkdir(parents=True)
    (victim / "precious.txt").write_text("mine")
    (victim / "keep" / "nested.bin").write_bytes(b"\0" * 10)
    job = write_job(tmp_path, extract)
    job.write_text(job.read_text().replace('dir = "out"', 'dir = "out"\nwork_dir = "victim"'))
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert _tree(victim) == {"precious.txt", "keep", "keep/nested.bin"}
    assert (victim / "precious.txt").read_text() == "mine"
    assert (tmp_path / "out" / "inv_main_001.pdf").exists()


def test_work_dir_run_subdirectory_not_made_by_the_engine_is_left_alone(tmp_path, extract):
    scratch = tmp_path / "scratch"
    (scratch / ".ccm-work-inv").mkdir(parents=True)
    (scratch / ".ccm-work-inv" / "theirs.txt").write_text("not the engine's")
    job = write_job(tmp_path, extract)
    job.write_text(job.read_text().replace('dir = "out"', 'dir = "out"\nwork_dir = "scratch"'))
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 12, proc.stderr
    assert "was not made by ccm-batch" in proc.stderr
    assert (scratch / ".ccm-work-inv" / "theirs.txt").read_text() == "not the engine's"


@pytest.mark.parametrize("work_dir, word", [("out", "is"), (".", "contains"), ("out/../out", "is")])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_work_dir_equal_to_or_containing_the_output_dir_is_refused(tmp_path, extract, work_dir, word, command):
    job = write_job(tmp_path, extract)
    job.write_text(job.read_text().replace('dir = "out"', f'dir = "out"\nwork_dir = "{work_dir}"'))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "earlier.pdf").write_bytes(b"%PDF-1.4 an earlier run's file")
    before = _tree(tmp_path)
    proc = run_cli(command, job)
    assert proc.returncode == 12, proc.stderr
    assert "[output] work_dir" in proc.stderr and f"{word} the output directory" in proc.stderr
    assert _tree(tmp_path) == before


def test_work_dir_option_equal_to_output_option_is_refused(tmp_path, extract):
    job = write_job(tmp_path, extract)
    proc = run_cli("run", job, "-o", tmp_path / "o", "--work-dir", tmp_path / "o")
    assert proc.returncode == 12 and "is the output directory" in proc.stderr, proc.stderr


# -- 10.10 images named by record data ----------------------------------------------------------------

LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="g" record="r" locale="'fr_FR'">
  <fields>
    <field name="sig" path="sig" required="false"/>
  </fields>
  <page-template name="p" size="A4">
    <body top="20mm" bottom="20mm" left="20mm" right="20mm"/>
    <image src="{$sig}" x="1mm" y="1mm" width="10mm" height="5mm" id="signature"/>
  </page-template>
  <pages first="p"/>
  <flow><p>Bonjour</p></flow>
</layout>"""


def _png(path: Path, colour: str = "white") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (30, 10), colour).save(path)
    return path


@pytest.fixture()
def app(tmp_path):
    """tmp/app/layouts/g.xml with images/ok.png beside it; tmp/secret.png and tmp/other/secret.png outside."""
    layouts = tmp_path / "app" / "layouts"
    layouts.mkdir(parents=True)
    (layouts / "g.xml").write_text(LAYOUT, encoding="utf-8")
    _png(layouts / "images" / "ok.png")
    _png(tmp_path / "secret.png", "red")
    _png(tmp_path / "other" / "secret.png", "red")
    os.symlink(tmp_path / "secret.png", layouts / "images" / "link.png")
    return layouts / "g.xml"


def _compose(layout, sig: str):
    rec = Record("d", 1, 0, 1, b"", etree.fromstring(f"<r><sig>{sig}</sig></r>"))
    return compose_document(layout, rec, job="j", job_date="2026-11-23")


def test_image_from_data_inside_the_layout_directory_is_used(app):
    res = _compose(load_layout(app), "images/ok.png")
    assert [i.resource for i in res.document.pages[0].items if isinstance(i, Image)] == \
        [str(app.parent / "images" / "ok.png")]


@pytest.mark.parametrize("sig", ["../../secret.png", "{tmp}/secret.png", "images/../../../secret.png",
                                 "images/link.png"])
def test_image_from_data_outside_the_image_directories_rejects_the_record(app, tmp_path, sig):
    with pytest.raises(RecordError) as info:
        _compose(load_layout(app), sig.format(tmp=tmp_path))
    assert "outside the image directories" in info.value.message
    assert info.value.field.startswith("signature (")


def test_job_image_dirs_replace_the_default(app, tmp_path):
    layout = load_layout(app)
    layout.image_dirs = (str(tmp_path / "other"),)
    res = _compose(layout, f"{tmp_path}/other/secret.png")
    assert any(isinstance(i, Image) for i in res.document.pages[0].items)
    with pytest.raises(RecordError):
        _compose(layout, "images/ok.png")       # the layout's directory is no longer allowed


def _image_job(tmp_path: Path, app: Path, records: list[str], extra: str = "") -> Path:
    data = tmp_path / "sigs.xml"
    data.write_text("<rs>" + "".join(f'<r id="R{i}"><sig>{s}</sig></r>' for i, s in enumerate(records, 1))
                    + "</rs>", encoding="utf-8")
    job = tmp_path / "img.toml"
    job.write_text(f"""[job]
name = "img"
date = "2026-11-23"
[input]
path = "{data}"
format = "xml"
record = "r"
key = "@id"
[layout]
path = "{app}"
{extra}
[output]
dir = "out"
formats = ["pdf"]
""", encoding="utf-8")
    return job


def test_run_rejects_records_naming_images_outside_with_a_reason(tmp_path, app):
    job = _image_job(tmp_path, app, ["images/ok.png", "../../secret.png", f"{tmp_path}/secret.png"])
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 4, proc.stderr            # rejects under the limit
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert report["documents_produced"] == 1 and report["records_rejected"] == 2
    reasons = (out / "img.reasons.csv").read_text()
    for n in (2, 3):
        line = next(r for r in reasons.splitlines() if r.startswith(f"{n},R{n},"))
        assert "outside the image directories" in line
    rejects = (out / "img.rejects.xml").read_bytes()
    assert b'<r id="R2"><sig>../../secret.png</sig></r>' in rejects and b"R1" not in rejects


def test_run_with_image_dirs_takes_images_from_there(tmp_path, app):
    job = _image_job(tmp_path, app, [f"{tmp_path}/other/secret.png"], extra='image_dirs = ["other"]')
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 0, proc.stderr
    bad = _image_job(tmp_path, app, ["x.png"], extra='image_dirs = ["missing"]')
    proc = run_cli("validate", bad)
    assert proc.returncode == 12 and "image_dirs" in proc.stderr + proc.stdout


def test_links_in_the_output_directory_never_lead_outputs_outside(tmp_path, extract):
    """A link named like an output is replaced, never written through; a linked subdirectory is refused."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "inv_main_001.pdf")
    job = write_job(tmp_path, extract, formats=("pdf",))
    assert run_cli("run", job, "-w", 1).returncode == 0
    assert victim.read_text() == "untouched"
    assert not (out / "inv_main_001.pdf").is_symlink()
    assert (out / "inv_main_001.pdf").read_bytes().startswith(b"%PDF")
    shutil.rmtree(out / "archive", ignore_errors=True)     # the first run's per-document PDFs, if any
    os.symlink(elsewhere, out / "archive")
    job.write_text(job.read_text().replace("[index]\n", "[index]\narchive_pdf = true\n"))
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 16, proc.stderr
    assert "outside the output directory" in proc.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_release_lands_files_only_inside_its_directory(tmp_path):
    """The release's check, resolved once per parent: ``..`` and a linked subdirectory lead out (refused,
    also for a second file in the same parent); a link named like a file is fine (a rename replaces it)."""
    from ccm_batch.run.commit import Landing
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "linked")
    os.symlink(tmp_path / "victim", out / "a.pdf")
    landing = Landing(out)
    assert landing(out / "a.pdf") and landing(out / "archive" / "x.pdf") and landing(out / "archive" / "y.pdf")
    assert not landing(out / "linked" / "x.pdf") and not landing(out / "linked" / "y.pdf")
    assert not landing(out / "archive" / ".." / ".." / "x.pdf") and not landing(out / "..")
    landing.make_parent(out / "archive" / "deep" / "x.pdf")
    landing.make_parent(out / "archive" / "deep" / "y.pdf")
    assert (out / "archive" / "deep").is_dir() and not (out / "archive" / "deep" / "x.pdf").exists()


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_image_dirs_apply_on_every_executor(tmp_path, app, executor):
    job = _image_job(tmp_path, app, [f"{tmp_path}/other/secret.png", "images/ok.png"],
                     extra='image_dirs = ["other"]')
    proc = run_cli("run", job, "--executor", executor, "-w", 1)
    assert proc.returncode == 4, proc.stderr   # the image in image_dirs is used, the layout's is not
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["documents_produced"], report["records_rejected"]) == (1, 1)
    reasons = (tmp_path / "out" / "img.reasons.csv").read_text().splitlines()[1:]
    assert len(reasons) == 1 and reasons[0].startswith("2,R2,") and "outside the image directories" in reasons[0]


def test_a_commit_record_naming_a_directory_outside_the_output_is_refused(tmp_path):
    """A commit record edited to name ``../elsewhere/`` as a directory: refused before anything is listed
    or moved there."""
    from ccm_batch.errors import OutputError
    from ccm_batch.run import commit
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / ".ccm-release-inv" / "archive").mkdir(parents=True)
    (out / ".ccm-release-inv" / "archive" / "a.pdf").write_bytes(b"%PDF")
    elsewhere.mkdir()
    (elsewhere / "kept.txt").write_text("untouched")
    record = {"job": "inv", "files": ["../elsewhere/", "archive/"], "run_dir": str(tmp_path / "none"), "exit_code": 0}
    commit.record_path(out, "inv").write_text(json.dumps(record))
    with pytest.raises(OutputError, match="outside the output directory"):
        commit.complete(out, "inv")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["kept.txt"]
    assert (out / ".ccm-release-inv" / "archive" / "a.pdf").exists()
