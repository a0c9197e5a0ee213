"""Preview tests: ``preview --overlay`` draws the envelope window and the inserter marks with their clear
zone and reports collisions; preview says when no record matched and clears a previous run's PNGs."""
from __future__ import annotations

from lxml import etree
from runjobs import ROOT, run_cli

from ccm_batch.compose.document import Composer
from ccm_batch.layout import load_layout
from ccm_batch.mail.config import MailConfig
from ccm_batch.overlay import overlay_document
from ccm_batch.pages import Box, Marks, mm
from ccm_batch.records.model import Record

LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r">
  <page-template name="p" size="A4">
    <body top="100mm" bottom="20mm" left="15mm" right="15mm"/>
    <address window="fr-dl-right"><line>M. DURAND</line><line>1 RUE A</line><line>75001 PARIS</line></address>
    <text x="10mm" y="104mm">in the ladder's way</text>
    <text x="90mm" y="60mm">half in the window</text>
  </page-template>
  <pages first="p"/>
  <flow><p>body</p></flow>
</layout>
"""


def overlaid(tmp_path, mail):
    path = tmp_path / "t.xml"
    path.write_text(LAYOUT, encoding="utf-8")
    layout = load_layout(path)
    tree = etree.fromstring("<r/>")
    composer = Composer(layout, Record("d.xml", 1, 0, 1, b"<r/>", tree, key="K"), "preview", "2026-11-23")
    doc, _ = composer.run()
    return overlay_document(doc, composer.templates_used, layout, mail, 1)


def test_overlay_draws_window_marks_and_reports_collisions(tmp_path):
    mail = MailConfig.from_dict({"enabled": True, "control": "omr", "omr": {"x_mm": 5, "y_mm": 100}})
    doc, problems = overlaid(tmp_path, mail)
    items = doc.pages[0].items
    frames = [i for i in items if isinstance(i, Box) and i.fill is None and i.stroke is not None]
    window = [f for f in frames if (f.x, f.y) == (mm(100), mm(45))]
    assert window and window[0].width == mm(95)
    assert any(isinstance(i, Marks) and i.x == mm(5) for i in items)
    assert any("ladder's way" in p and "OMR clear zone" in p for p in problems), problems
    assert any("half in the window" in p and "crosses the edge of the window fr-dl-right" in p for p in problems)
    assert not any("DURAND" in p for p in problems)          # the address itself sits inside its window
    _, quiet = overlaid(tmp_path, MailConfig.from_dict({"enabled": True, "control": "omr",
                                                        "omr": {"x_mm": 5, "y_mm": 200}}))
    assert not any("ladder" in p for p in quiet)


def test_preview_overlay_cli_says_when_no_record_matched_and_clears_stale_pngs(tmp_path):
    png = tmp_path / "png"
    png.mkdir()
    (png / "page-9.png").write_bytes(b"old")
    job = ROOT / "samples" / "invoice.toml"
    proc = run_cli("preview", "--job", job, "--records", "500-501", "--overlay", "--png", png,
                   "-o", tmp_path / "p.pdf")
    # no record matched: a job error (issue 10 item 7), saying how many records the extract has
    assert proc.returncode == 12, proc.stdout + proc.stderr
    assert "--records 500-501: no record matched" in proc.stdout + proc.stderr
    assert (png / "page-9.png").exists()                  # nothing previewed: nothing cleared either
    proc = run_cli("preview", "--job", job, "--records", "1", "--overlay", "--png", png, "-o", tmp_path / "p.pdf")
    assert proc.returncode == 0 and "overlay:" in proc.stdout and (png / "page-1.png").is_file()
    assert not (png / "page-9.png").exists()              # a preview clears an earlier preview's pages
