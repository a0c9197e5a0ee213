"""Layout + render tests: paper / input bin per page template (issue 15) — the page model's ``paper``,
the AFP medium maps and IMMs (read back with the strict PyPI ``afp`` parser and ``inspect --check``),
and the media ticket beside each print file (what PDF printers and the operator are told)."""
from __future__ import annotations

import csv
from pathlib import Path

import afp as pyafp
from lxml import etree

from ccm_batch.compose import compose_document
from ccm_batch.layout import load_layout
from ccm_batch.records.model import Record
from runjobs import run_cli

LAYOUT = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="media" record="letter" language="'fr'" duplex="{duplex}">
  <fields>
    <field name="id" path="@id"/>
    <field name="lines" path="line" type="list"/>
  </fields>
  <page-template name="head" size="A4" paper="letterhead">
    <body top="40mm" bottom="20mm" left="20mm" right="20mm"/>
  </page-template>
  <page-template name="plain" size="A4">
    <body top="20mm" bottom="20mm" left="20mm" right="20mm"/>
  </page-template>
  <page-template name="coupon" size="A4" paper="{coupon}">
    <body top="20mm" bottom="20mm" left="20mm" right="20mm"/>
  </page-template>
  <pages first="head" rest="plain" template="when($page = 3, 'coupon', '')"/>
  <meta doc-id="$id" customer-id="$id" date="'2026-11-23'"/>
  <flow>
    <repeat select="$lines"><p>{{.}}</p><page-break if="$index &lt; $count"/></repeat>
  </flow>
</layout>
"""

# one page per line
DATA = ('<letters><letter id="A1"><line>un</line></letter>'
        '<letter id="B2">' + "".join(f"<line>ligne {i}</line>" for i in range(4)) + "</letter></letters>")


def write(tmp_path: Path, *, duplex="false", coupon="coupon", media=True, formats='"pdf", "afp"') -> Path:
    (tmp_path / "media.xml").write_text(LAYOUT.format(duplex=duplex, coupon=coupon), encoding="utf-8")
    (tmp_path / "letters.xml").write_text(DATA, encoding="utf-8")
    table = ('[media.letterhead]\nbin = 2\ndescription = "A4 letterhead 90 g"\n'
             '[media.coupon]\nbin = 3\ndescription = "A4 perforated"\n') if media else ""
    job = tmp_path / "media.toml"
    job.write_text(f"""[job]
name = "media"
date = "2026-11-23"
[input]
path = "letters.xml"
format = "xml"
record = "letter"
key = "@id"
[layout]
path = "media.xml"
[output]
dir = "out"
formats = [{formats}]
{table}""", encoding="utf-8")
    return job


def pyafp_fields(path: Path) -> list[dict]:
    with open(path, "rb") as fh:
        return pyafp.load(fh, allow_unknown_fields=True, allow_unknown_triplets=True,
                          allow_unknown_functions=True, strict=True)


IMM, BMM, MMC, BNG, BPG = 0xD3ABCC, 0xD3A8CC, 0xD3A788, 0xD3A8AD, 0xD3A8AF


def test_page_templates_carry_their_paper_into_the_page_model(tmp_path):
    write(tmp_path)
    layout = load_layout(tmp_path / "media.xml")
    tree = etree.fromstring(DATA.encode())[1]
    rec = Record("letters.xml", 2, 0, 1, etree.tostring(tree), tree, key="B2")
    doc = compose_document(layout, rec, job="j", job_date="2026-11-23").document
    assert [p.paper for p in doc.pages] == ["letterhead", "", "coupon", ""]
    assert "paper=" not in repr(doc.pages[1]) and "paper='coupon'" in repr(doc.pages[2])


def test_a_back_page_keeps_its_front_pages_paper_with_a_warning(tmp_path):
    write(tmp_path, duplex="true", coupon="letterhead")
    layout = load_layout(tmp_path / "media.xml")
    tree = etree.fromstring(DATA.encode())[1]
    rec = Record("letters.xml", 2, 0, 1, etree.tostring(tree), tree, key="B2")
    res = compose_document(layout, rec, job="j", job_date="2026-11-23")
    # page 2 (back of sheet 1) would be plain: it keeps the letterhead; page 3 (front) is letterhead
    assert [p.paper for p in res.document.pages] == ["letterhead", "letterhead", "letterhead", "letterhead"]
    assert any("page 2: template 'plain' asks for paper 'default'" in w for w in res.warnings)


def test_afp_medium_maps_select_the_bins_and_imms_follow_the_paper(tmp_path):
    job = write(tmp_path)
    proc = run_cli("run", job, "--workers", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    afp_file = next((tmp_path / "out").glob("*.afp"))
    fields = pyafp_fields(afp_file)
    assert not any("_exceptions" in f for f in fields)
    check = run_cli("inspect", "--check", afp_file)
    assert check.returncode == 0, check.stdout + check.stderr

    # read back from the strict parser's own fields: BMM names, MMC keywords, IMM names (raw EBCDIC)
    maps, current, imm_sequence = {}, None, []
    for f in fields:
        sf = f["SFTypeID"]
        if sf == BMM:
            current = f["MMName"]
        elif sf == MMC:
            maps[current] = bytes(f["Keywords"]).hex()
        elif sf == BNG:
            imm_sequence.append("|")
        elif sf == IMM:
            imm_sequence.append(bytes(f["Data"]).decode("cp500"))
        elif sf == BPG:
            imm_sequence.append("P")
    # the default maps are unchanged; each medium adds a simplex and a duplex map with its bin (E1 0n)
    assert maps == {"MMSIMPLX": "f401", "MMDUPLEX": "f402", "MMS00001": "e102f401", "MMD00001": "e102f402",
                    "MMS00002": "e103f401", "MMD00002": "e103f402"}
    # one IMM per page group, and one before each front page whose paper changes
    assert imm_sequence == ["|", "MMS00001", "P",
                            "|", "MMS00001", "P", "MMSIMPLX", "P", "MMS00002", "P", "MMSIMPLX", "P"]


def test_the_media_ticket_lists_ranges_and_sheets_per_bin(tmp_path):
    job = write(tmp_path)
    assert run_cli("run", job, "--workers", "1").returncode == 0
    tickets = list((tmp_path / "out").glob("*.media.csv"))
    assert len(tickets) == 1
    rows = list(csv.DictReader(tickets[0].open(encoding="utf-8")))
    ranges = [(r["first_page"], r["last_page"], r["sheets"], r["media"], r["bin"]) for r in rows
              if r["record"] == "RANGE"]
    assert ranges == [("1", "2", "2", "letterhead", "2"), ("3", "3", "1", "default", ""),
                      ("4", "4", "1", "coupon", "3"), ("5", "5", "1", "default", "")]
    totals = {r["media"]: (r["sheets"], r["bin"], r["description"]) for r in rows if r["record"] == "TOTAL"}
    assert totals == {"letterhead": ("2", "2", "A4 letterhead 90 g"), "coupon": ("1", "3", "A4 perforated"),
                      "default": ("2", "", "")}
    assert rows[0]["print_file"].endswith(".pdf")


def test_a_paper_missing_from_the_job_media_table_stops_the_job(tmp_path):
    job = write(tmp_path, media=False)
    proc = run_cli("run", job, "--workers", "1")
    assert proc.returncode == 12
    assert "media.xml:7: page template 'head': paper 'letterhead' is not in the job's [media] table" \
        in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.pdf"))


def test_without_media_no_ticket_and_the_default_maps_only(tmp_path):
    write(tmp_path, media=False)
    (tmp_path / "media.xml").write_text(LAYOUT.format(duplex="false", coupon="x").replace(' paper="letterhead"', "")
                                        .replace(' paper="x"', ""), encoding="utf-8")
    assert run_cli("run", tmp_path / "media.toml", "--workers", "1").returncode == 0
    assert not list((tmp_path / "out").glob("*.media.csv"))
    fields = pyafp_fields(next((tmp_path / "out").glob("*.afp")))
    assert [f["MMName"] for f in fields if f["SFTypeID"] == BMM] == ["MMSIMPLX", "MMDUPLEX"]
