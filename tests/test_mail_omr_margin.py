"""OMR marks and the printable margin (issue 11 item 4): the sample jobs put the ladder 2 mm from the
sheet edge, where many cut-sheet printers cannot print. The margin is rule-pack data (envelopes.toml
[printer]); a job placing marks outside it gets a warning in the plan and the run report."""
import json
import sqlite3
import subprocess

import pytest

from ccm_batch import mail
from ccm_batch.mail.plan import OMR_MARGIN_ALERT
from ccm_batch.mail.rules import BUILTIN_DIR, load_rulebook
from ccm_batch.mail.sample import document_row, insert_documents
from runjobs import ROOT, run_cli


def _plan(omr):
    db = sqlite3.connect(":memory:")
    insert_documents(db, [document_row(1)])
    cfg = mail.MailConfig.from_dict({"enabled": True, "control": "omr", "omr": omr}, ".")
    return mail.plan_mail(db, cfg, "OMR", "2026-01-15")


def test_the_rule_pack_gives_the_printable_margin():
    assert load_rulebook((BUILTIN_DIR,), "2026-01-15").printable_margin_mm == 5.0


@pytest.mark.parametrize("omr,bad", [
    ({"x_mm": 2, "y_mm": 110}, "x_mm = 2.0"),
    ({"x_mm": 199, "y_mm": 110}, "right end"),
    ({"x_mm": 5, "y_mm": 3}, "y_mm = 3.0"),
    ({"x_mm": 5, "y_mm": 260}, "bottom"),
])
def test_marks_outside_the_printable_margin_are_warned(omr, bad):
    summary = _plan(omr)
    assert summary.alerts == {OMR_MARGIN_ALERT: 1}
    assert any(bad in w and "printable margin of 5 mm" in w for w in summary.warnings)


def test_marks_inside_the_margin_are_not():
    summary = _plan({"x_mm": 5, "y_mm": 110})
    assert summary.alerts == {} and not any("printable margin" in w for w in summary.warnings)


@pytest.mark.parametrize("job", ["invoice", "statement"])
def test_sample_jobs_print_their_marks_inside_the_margin(job, tmp_path):
    """The ladder as printed: its leftmost dark pixel (pdftoppm raster) is at least 5 mm in."""
    out = tmp_path / job
    proc = run_cli("run", ROOT / "samples" / f"{job}.toml", "-o", out, "-f", "pdf")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["warnings"] == 0
    pdf = sorted(out.glob("*laposte*.pdf"))[0]
    subprocess.run(["pdftoppm", "-r", "254", "-gray", "-f", "1", "-l", "1", "-x", "0", "-y", "1100", "-W", "200",
                    "-H", "450", "-png", "-singlefile", str(pdf), str(tmp_path / "strip")], check=True)
    from PIL import Image
    img = Image.open(tmp_path / "strip.png").convert("L")    # 10 px per mm; x 0-20 mm, y 110-155 mm
    dark = [x for x in range(img.width) for y in range(img.height) if img.getpixel((x, y)) < 128]
    assert dark, "no OMR mark found on page 1"
    assert min(dark) >= 50 - 1                               # ≥ 5 mm from the sheet edge


def test_a_job_with_marks_at_2_mm_is_warned(tmp_path):
    job = (ROOT / "samples" / "invoice.toml").read_text(encoding="utf-8").replace("x_mm = 5 ", "x_mm = 2 ")
    job = job.replace('"data/', f'"{ROOT}/samples/data/').replace('"../layouts/', f'"{ROOT}/layouts/')
    assert "x_mm = 2 " in job
    path = tmp_path / "invoice-2mm.toml"
    path.write_text(job, encoding="utf-8")
    proc = run_cli("run", path, "-o", tmp_path / "out", "-f", "pdf")
    assert proc.returncode == 4, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["warnings_by_kind"] == {OMR_MARGIN_ALERT: 1}
