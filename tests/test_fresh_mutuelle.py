"""Compose stage, end to end: the mutuelle reimbursement statement written from the layout reference alone.

Runs ``samples/extra/mutuelle/mutuelle.toml`` once (PDF, AFP and the ``debug`` page model) and checks what a
reader of the statements would check: page counts, the acts table with its four carried-forward columns
("À reporter" / "Report") adding up across pages, totals per beneficiary and grand totals equal to the
extract's sums, the conditional paragraph, the monthly chart, the address in the DL left window, the
English member, the closing block (QR code + signature) on the last page only, no overlapping words in the
PDF and a valid AFP file.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "samples" / "extra" / "mutuelle" / "mutuelle.toml"
DATA = ROOT / "samples" / "extra" / "mutuelle" / "decomptes.xml"
CLI = Path(sys.executable).with_name("ccm-batch")
UNITS_PER_MM = 1440 / 25.4
TABLE_LEFT = 1077                    # 19 mm: the body's left edge (room for the OMR ladder), where the table starts
DATE_RE = re.compile(r"^\d\d/\d\d/\d{4}$")


def amount(text: str) -> Decimal:
    """'1 013,39 €' (fr) or '€1,013.39' (en) as a Decimal."""
    text = text.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("€", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    return Decimal(text.replace(",", ""))


def is_amount(text: str) -> bool:
    return "€" in text and bool(re.search(r"\d", text))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the job once; return (output dir, exit code)."""
    out = tmp_path_factory.mktemp("mutuelle")
    proc = subprocess.run([str(CLI), "-q", "run", str(JOB), "--output", str(out),
                           "-f", "pdf", "-f", "afp", "-f", "debug"], capture_output=True, text=True)
    return out, proc.returncode


@pytest.fixture(scope="module")
def docs(run):
    """record number -> {'meta': start_document event, 'pages': [page events]} from the debug output."""
    out, _ = run
    result = {}
    for path in sorted(out.glob("*.jsonl")):
        if path.name.endswith(".index.jsonl"):
            continue
        current = None
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["event"] == "start_document":
                current = {"meta": event, "pages": []}
                result[event["record_number"]] = current
            elif event["event"] == "page":
                current["pages"].append(event)
    return result


@pytest.fixture(scope="module")
def records():
    """record number (1-based) -> <decompte> element of the extract."""
    root = etree.parse(str(DATA)).getroot()
    return {i + 1: el for i, el in enumerate(root.findall("decompte"))}


def texts(page):
    """The page's Text items as dicts."""
    return [fields for kind, fields in page["items"] if kind == "Text"]


def lines(page):
    """Baseline y -> Text items on it, left to right."""
    rows = defaultdict(list)
    for t in texts(page):
        rows[t["y"]].append(t)
    return {y: sorted(items, key=lambda t: t["x"]) for y, items in rows.items()}


def amounts_on(items):
    return [amount(t["text"]) for t in items if is_amount(t["text"])]


def act_rows(page):
    """The acts table's data rows on a page: (date, four amounts), top to bottom."""
    rows = []
    for y, items in sorted(lines(page).items()):
        if items[0]["x"] < TABLE_LEFT + 200 and DATE_RE.match(items[0]["text"]):
            values = amounts_on(items)
            if len(values) == 4:
                rows.append((items[0]["text"], values))
    return rows


def labelled_row(page, label):
    """The four amounts of the table row whose first cell is ``label`` (None when absent)."""
    for items in lines(page).values():
        if items[0]["text"] == label:
            return amounts_on(items)
    return None


def data_sum(acts, name):
    return sum((Decimal(a.findtext(name)) for a in acts), Decimal("0"))


def test_run_reconciles(run):
    out, code = run
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert (report["records_read"], report["documents_produced"], report["records_rejected"]) == (15, 15, 0)
    assert report["pages"] == 22      # issue 15: the chart beside the closing block: 9 of 15 fit one page
    assert report["warnings"] == 0


def test_page_counts_and_page_numbers(docs):
    counts = {n: len(d["pages"]) for n, d in docs.items()}
    assert counts[1] == 3                       # 86 acts
    assert counts[7] == 1                       # a single act: one page
    assert counts[10] == 1                      # 6 acts: the chart and closing block fit page 1 too
    assert sum(counts.values()) == 22
    assert sum(1 for c in counts.values() if c == 1) == 9     # one sheet, chart and closing block included
    for n, doc in docs.items():
        total = len(doc["pages"])
        word = "of" if doc["meta"]["language"] == "en" else "sur"
        for i, page in enumerate(doc["pages"], 1):
            assert f"Page {i} {word} {total}" in [t["text"] for t in texts(page)]


def test_acts_table_carries_four_columns_across_pages(docs, records):
    pages = docs[1]["pages"]
    acts = records[1].findall("acts/act")
    placed = [Decimal("0")] * 4
    all_rows = []
    for number, page in enumerate(pages, 1):
        carry_in = labelled_row(page, "Report")
        if number == 1:
            assert carry_in is None
        else:
            assert carry_in == placed, f"page {number}: Report differs from the previous À reporter"
        rows = act_rows(page)
        assert rows, f"page {number} has no act rows"
        all_rows += rows
        for _, values in rows:
            placed = [p + v for p, v in zip(placed, values)]
        carry_out = labelled_row(page, "À reporter")
        if number < len(pages):
            assert carry_out == placed, f"page {number}: À reporter is not the sum of the rows so far"
        else:
            assert carry_out is None
    assert len(all_rows) == len(acts) == 86
    dates = [a.findtext("date") for a in acts]
    assert [d for d, _ in all_rows] == [f"{d[8:]}/{d[5:7]}/{d[:4]}" for d in dates]
    expected = [data_sum(acts, k) for k in ("amount_paid", "ss_share", "mutuelle_share", "remaining")]
    assert placed == expected
    assert labelled_row(pages[-1], "Total de la période") == expected
    # the extract's own totals agree, and every act adds up
    assert expected == [Decimal(records[1].findtext(f"totals/{k}"))
                        for k in ("amount_paid", "ss_share", "mutuelle_share", "remaining")]


def test_totals_per_beneficiary(docs, records):
    for n, doc in docs.items():
        items = [t for page in doc["pages"] for t in texts(page)]
        by_line = defaultdict(list)
        for page_no, page in enumerate(doc["pages"]):
            for y, row in lines(page).items():
                by_line[row[0]["text"]].append(row)
        acts = records[n].findall("acts/act")
        for ben in records[n].findall("beneficiaries/beneficiary"):
            name = f"{ben.findtext('first_name')} {ben.findtext('last_name')}"
            (row,) = by_line[name]
            mine = [a for a in acts if a.get("beneficiary") == ben.get("id")]
            assert row[1]["text"] == str(len(mine)), name
            assert amounts_on(row) == [data_sum(mine, k) for k in
                                       ("amount_paid", "ss_share", "mutuelle_share", "remaining")], name
        assert items, n


def test_conditional_paragraph_over_100_euros(docs, records):
    seen = set()
    for n, doc in docs.items():
        remaining = data_sum(records[n].findall("acts/act"), "remaining")
        body = [t["text"] for page in doc["pages"] for t in texts(page)]
        has = any(s.startswith(("Votre reste à charge", "Your share of the costs")) for s in body)
        assert has == (remaining > 100), n
        if has:
            seen.add(n)
            assert any("04\u00a072\u00a000\u00a000\u00a000" in s or "+33\u00a04\u00a072" in s for s in body), n
    assert 2 in seen and 7 not in seen


def test_chart_bars_are_monthly_mutuelle_shares(docs, records):
    last = docs[1]["pages"][-1]
    month_names = ["Avril", "Mai", "Juin", "Juillet", "Août", "Septembre"]
    labels = sorted((t for t in texts(last) if t["text"] in month_names), key=lambda t: t["x"])
    assert [t["text"] for t in labels] == month_names
    acts = records[1].findall("acts/act")
    chart_values = sorted(amount(t["text"]) for t in texts(last) if t["size"] == 140 and is_amount(t["text"]))
    expected = sorted(data_sum([a for a in acts if a.findtext("date").startswith(f"2026-{m:02d}")],
                               "mutuelle_share") for m in range(4, 10))
    assert chart_values == expected
    # the IS month totals agree too
    assert sorted(Decimal(m.findtext("mutuelle_share")) for m in records[1].findall("months/month")) == expected


def test_address_in_dl_left_window(docs):
    left, right, top, bottom = 20 * UNITS_PER_MM, 115 * UNITS_PER_MM, 45 * UNITS_PER_MM, 85 * UNITS_PER_MM
    for n, doc in docs.items():
        address = doc["meta"]["address"]
        first = texts(doc["pages"][0])
        for line in address:
            (t,) = [t for t in first if t["text"] == line]
            assert left <= t["x"] < right and top < t["y"] < bottom, (n, line)
    assert docs[9]["meta"]["address"][-1] == "BELGIQUE" and docs[9]["meta"]["country"] == "BE"
    assert docs[1]["meta"]["postcode"] == "42000"


def test_english_member(docs):
    doc = docs[4]
    assert doc["meta"]["language"] == "en"
    words = [t["text"] for page in doc["pages"] for t in texts(page)]
    assert "Statement of reimbursements" in words and "Left to pay" in words
    assert "Physiotherapy" in words and "Kinésithérapie" not in words
    assert "Total for the period" in words
    assert all(not s.endswith("€") for s in words if is_amount(s))      # €163.15, not 163,15 €
    assert "Dear Mr John Smith," in words


def test_closing_block_on_last_page_only(docs):
    for n, doc in docs.items():
        pages = doc["pages"]
        for i, page in enumerate(pages):
            signer = "Catherine Rivière" in [t["text"] for t in texts(page)]
            qr = [f for kind, f in page["items"] if kind == "Barcode"]
            last = i == len(pages) - 1
            assert signer == last, (n, i)
            assert len(qr) == int(last), (n, i)
            if last:
                assert qr[0]["symbology"] == "qr"
                assert doc["meta"]["index"][0][1] in qr[0]["data"]
        assert [p["background"] for p in pages][0] in ("mutuelle.first", "mutuelle.only")


def test_index_fields(run):
    out, _ = run
    rows = {}
    for path in out.glob("*.pdf.index.csv"):
        with open(path, newline="", encoding="utf-8") as f:
            rows.update({r["doc_id"]: r for r in csv.DictReader(f)})
    assert len(rows) == 15
    assert rows["DEC-2026-0000001"]["mutuelle_total"] == "5538.46"
    # the index is bound to the number itself ($mutuelle): canonical, no float noise
    root = etree.parse(str(DATA)).getroot()
    for rec in root.findall("decompte"):
        value = rows[rec.get("id")]["mutuelle_total"]
        assert re.fullmatch(r"\d+(\.\d{1,2})?", value), value
        assert Decimal(value) == data_sum(rec.findall("acts/act"), "mutuelle_share")
    assert rows["DEC-2026-0000001"]["page_count"] == "3"
    assert rows["DEC-2026-0000004"]["member"] == "9216512"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")
def test_no_overlapping_words_in_pdf(run):
    out, _ = run
    for pdf in out.glob("*.pdf"):
        xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, check=True).stdout
        root = etree.fromstring(xml, etree.HTMLParser())
        for number, page in enumerate(root.iter("page"), 1):
            boxes = [tuple(float(w.get(k)) for k in ("xmin", "ymin", "xmax", "ymax")) for w in page.iter("word")]
            boxes.sort()
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    if b[0] >= a[2]:
                        break
                    dx = min(a[2], b[2]) - max(a[0], b[0])
                    dy = min(a[3], b[3]) - max(a[1], b[1])
                    assert dx <= 0.5 or dy <= 1.0, f"{pdf.name} page {number}: words overlap at {a} {b}"


def test_afp_is_valid(run):
    out, _ = run
    files = sorted(out.glob("*.afp"))
    assert len(files) == 2
    for afp in files:
        proc = subprocess.run([str(CLI), "inspect", "--check", str(afp)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    listing = subprocess.run([str(CLI), "inspect", "--text", str(files[-1])], capture_output=True,
                             text=True).stdout
    assert listing.count("À reporter") == 2 and listing.count("Report") >= 2


def test_letterhead_keeps_no_break_spaces_and_shared_fold_marks(records):
    """The letterhead (a background form) prints the phone number with the no-break spaces typed in
    the fragment, and the DL fold marks come from the shared fragment fold-marks-a4."""
    from ccm_batch.compose import compose_document
    from ccm_batch.layout import load_layout, parse_length
    from ccm_batch.records.model import Record

    layout = load_layout(ROOT / "layouts" / "mutuelle.xml")
    el = records[1]
    doc = compose_document(layout, Record(str(DATA), 1, 0, el.sourceline, b"", el), job="t",
                           job_date="2026-10-15").document
    form = doc.pages[0].background
    words = [i.text for i in form.items if type(i).__name__ == "Text"]
    assert "04\u00a072\u00a000\u00a000\u00a000 · www.mutuelle-exemple.fr" in words
    marks = [i for i in form.items if type(i).__name__ == "Rule" and i.x == parse_length("4mm")]
    assert len(marks) == 2
    assert doc.pages[1].background.name == "mutuelle.rest" and len(
        [i for i in doc.pages[1].background.items if type(i).__name__ == "Rule" and i.x == parse_length("4mm")]) == 2
