"""Compose stage tests: the sample layouts (layouts/*.xml) on the sample extracts (samples/data).

Every record composes; no two texts overlap on any page (background forms included) and nothing
leaves the page; each layout's features show on the page model: the invoice's EPC QR code and
chart, the statement's carried balance over 10+ pages and its terms on the back of sheet 1, the
letter's languages, signature and enclosures, the US statement's IMb and dollar amounts. The
layouts' declared fields reject the generator's invalid records.
"""
from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from ccm_batch import fonts
from ccm_batch.compose import compose_document
from ccm_batch.layout import load_layout
from ccm_batch.pages import Barcode, Box, Image, Text, mm
from ccm_batch.records import InputConfig, open_records
from ccm_batch.records.validate import validate_record
from ccm_batch.samples import bad_record_numbers, write_samples

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {            # layout: (job file for the [input] table, data file)
    "invoice": ("invoice.toml", "invoices.xml"),
    "statement": ("statement.toml", "statements.xml"),
    "letter": ("letter.toml", "letters.xml"),
    "us-statement": ("us-statement.toml", "us-statements.csv"),
}


def input_config(name: str, data: Path) -> InputConfig:
    table = tomllib.loads((ROOT / "samples" / SAMPLES[name][0]).read_text(encoding="utf-8"))["input"]
    table = dict(table, path=str(data))
    return InputConfig.from_dict(table, data.parent)


def compose_all(name: str, data: Path | None = None):
    layout = load_layout(ROOT / "layouts" / f"{name}.xml")
    data = data or ROOT / "samples" / "data" / SAMPLES[name][1]
    out = []
    for rec in open_records(input_config(name, data)):
        assert validate_record(rec, layout.field_specs) == [], rec.number
        out.append((rec, compose_document(layout, rec, job=name, job_date="2026-11-23")))
    return layout, out


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def composed(request):
    return request.param, compose_all(request.param)


def text_box(t: Text):
    fm = fonts.get_font(t.font)
    width = fm.width(t.text, t.size, True) + t.word_space * t.text.count(" ")
    return (t.x, t.y - fm.ascent(t.size) * 8 // 10, t.x + width, t.y + fm.descent(t.size) * 8 // 10)


def test_every_record_composes_without_overlap(composed):
    name, (layout, docs) = composed
    assert len(docs) == 12
    for rec, res in docs:
        doc = res.document
        assert doc.page_count >= 1
        for page in doc.pages:
            items = list(page.items) + (list(page.background.items) if page.background else [])
            boxes = [text_box(t) for t in items if isinstance(t, Text) and t.text.strip()]
            for x0, y0, x1, y1 in boxes:
                assert 0 <= x0 and x1 <= page.width and 0 <= y0 and y1 <= page.height, (name, rec.number)
            boxes.sort()
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    if b[0] >= a[2]:
                        break
                    overlap = min(a[2], b[2]) - max(a[0], b[0]) > 20 and min(a[3], b[3]) - max(a[1], b[1]) > 20
                    assert not overlap, (name, rec.number, a, b)


def test_address_in_window_and_metadata(composed):
    name, (layout, docs) = composed
    for rec, res in docs:
        meta = res.document.meta
        assert meta.address and meta.postcode and meta.doc_id and meta.customer_id
        first = res.document.pages[0]
        lines = [t for t in first.items if isinstance(t, Text) and t.text in meta.address]
        assert len({t.x for t in lines}) == 1                  # left-aligned block
        x = lines[0].x
        if name == "us-statement":
            assert x == round(25.4 * 1440 / 25.4) and meta.country == "US"
        else:
            assert x == mm(100) and all(mm(45) < t.y < mm(85) for t in lines)


def test_invoice_slip_qr_and_chart():
    _, docs = compose_all("invoice")
    for rec, res in docs:
        doc = res.document
        assert doc.page_count == 1
        page = doc.pages[0]
        qr = [b for b in page.items if isinstance(b, Barcode)]
        assert len(qr) == 1 and qr[0].symbology == "qr"
        payload = qr[0].data.split("\n")
        assert payload[:4] == ["BCD", "002", "1", "SCT"]
        assert payload[6] == rec.tree.findtext("payment/iban")
        assert payload[7] == "EUR" + rec.tree.findtext("payment/amount")
        assert qr[0].y > mm(209)                              # below the cut line
        bars = [b for b in page.items if isinstance(b, Box) and b.fill in ((0x8f, 0xb8, 0xc9), (0x0b, 0x5d, 0x7a))
                and b.width < mm(15)]
        assert len(bars) == 12
        ttc = rec.tree.findtext("totals/total_ttc")
        whole, cents = ttc.split(".")
        shown = f"{int(whole):,}".replace(",", "\u00a0") + "," + cents + "\u00a0€"
        if rec.tree.get("language") == "en":                  # issue 15: the customer's language
            shown = f"€{int(whole):,}.{cents}"
        elif rec.tree.get("language") == "de":
            shown = f"{int(whole):,}".replace(",", ".") + "," + cents + "\u00a0€"
        assert sum(1 for t in page.items if isinstance(t, Text) and t.text == shown) >= 2
        assert doc.meta.index[0] == ("invoice_number", rec.tree.findtext("number"))
        # the OCR line in the bundled OCR-B at 10 pt (10 characters per inch), inside the slip
        ocr = [t for t in page.items if isinstance(t, Text) and t.font == "OCRB"]
        assert len(ocr) == 1 and ocr[0].size == 200 and mm(270) < ocr[0].y < mm(280)
        assert ocr[0].text.split() == [rec.tree.findtext("account"), rec.tree.findtext("number").replace("-", ""),
                                       f"{round(Decimal(rec.tree.findtext('payment/amount')) * 100):010d}",
                                       rec.tree.findtext("due_date").replace("-", "")]
        pitch = fonts.get_font("OCRB").width(ocr[0].text, 200) / len(ocr[0].text)     # monospaced
        assert abs(pitch - 144) < 1.5                         # 2.54 mm (10 per inch) within 1 %


def test_statement_carries_the_balance_over_many_pages():
    _, docs = compose_all("statement")
    big = [(rec, res) for rec, res in docs if len(rec.tree.findall("movements/movement")) >= 500]
    assert big
    rec, res = big[0]
    doc = res.document
    assert doc.page_count >= 10 and doc.page_count % 2 == 0 and doc.meta.duplex
    fr = rec.tree.get("language") == "fr"
    terms = [t.text for t in doc.pages[1].items if isinstance(t, Text)]
    assert terms[0].startswith("Conditions générales" if fr else "Account terms")
    assert doc.pages[1].side == "back"

    def amount(text):
        return Decimal(text.replace("\u00a0", "").replace("\u202f", "").replace("€", "").replace(",", ".")
                       if fr else text.replace("€", "").replace(",", ""))
    brought, carried = ("Solde reporté", "Solde à reporter") if fr else ("Balance brought forward", "Balance carried forward")
    last_out = None
    n_in = 0
    for page in doc.pages[:1] + doc.pages[2:]:
        ts = [t for t in page.items if isinstance(t, Text)]
        rows = {}
        for t in ts:
            rows.setdefault(t.y, []).append(t)
        for y in sorted(rows):
            texts = [t.text for t in sorted(rows[y], key=lambda t: t.x)]
            if texts[0].startswith(brought):
                assert amount(texts[-1]) == last_out
                n_in += 1
            if texts[0].startswith(carried):
                last_out = amount(texts[-1])
    assert n_in == sum(1 for p in doc.pages[2:] if any(isinstance(t, Text) and t.text.startswith(brought)
                                                        for t in p.items)) >= 8
    closing = Decimal(rec.tree.findtext("closing_balance"))
    label = "Nouveau solde" if fr else "New balance"
    rows = [sorted((t for t in p.items if isinstance(t, Text) and t.y == row.y), key=lambda t: t.x)
            for p in doc.pages for row in p.items if isinstance(row, Text) and row.text.startswith(label)]
    closing_rows = [r for r in rows if len(r) > 1]
    assert amount(closing_rows[-1][-1].text) == abs(closing)          # the table's last row


def test_letter_languages_signature_and_enclosures():
    _, docs = compose_all("letter")
    langs = set()
    for rec, res in docs:
        doc = res.document
        lang = rec.tree.get("language")
        langs.add(lang)
        texts = [t.text for p in doc.pages for t in p.items if isinstance(t, Text)]
        assert ("Objet :" in " ".join(texts)) == (lang == "fr")
        assert ("Subject:" in " ".join(texts)) == (lang == "en")
        images = [i for p in doc.pages for i in p.items if isinstance(i, Image)]
        assert len(images) == 1 and images[0].resource.endswith("signature.png") and images[0].width == mm(42)
        # the letter's style is typographic: apostrophes print as U+2019 (issue 15)
        enclosures = [e.text.replace("'", "\u2019") for e in rec.tree.findall("enclosures/enclosure")]
        assert [t[2:] for t in texts if t.startswith("– ")] == enclosures
        assert doc.meta.inserts == tuple(e.get("code") for e in rec.tree.findall("enclosures/enclosure")
                                         if e.get("kind") == "insert")
    assert langs == {"fr", "en"}


def test_us_statement_imb_and_dollars():
    _, docs = compose_all("us-statement")
    for rec, res in docs:
        doc = res.document
        imb = [b for b in doc.pages[0].items if isinstance(b, Barcode)]
        assert len(imb) == 1 and imb[0].symbology == "imb"
        routing = rec.tree.findtext("zip5") + rec.tree.findtext("zip4") + rec.tree.findtext("delivery_point")
        assert imb[0].data == "00300123456" + f"{rec.number:09d}" + routing
        assert (doc.pages[0].width, doc.pages[0].height) == (12240, 15840)
        closing = Decimal(rec.tree.findtext("closing_balance"))
        shown = f"${closing:,.2f}" if closing >= 0 else f"-${-closing:,.2f}"
        assert shown in [t.text for p in doc.pages for t in p.items if isinstance(t, Text)]


def test_declared_fields_reject_bad_records(tmp_path):
    paths = write_samples(tmp_path, 8, bad=4)
    bad = set(bad_record_numbers(8, 4))
    for name, path in zip(("invoice", "statement", "letter", "us-statement"), paths):
        layout = load_layout(ROOT / "layouts" / f"{name}.xml")
        flagged = {rec.number for rec in open_records(input_config(name, path))
                   if validate_record(rec, layout.field_specs)}
        assert flagged == bad, name


def test_invoice_in_german_for_a_german_customer():
    _, docs = compose_all("invoice")
    german = [(rec, res) for rec, res in docs if rec.tree.get("language") == "de"]
    assert german
    for rec, res in german:
        texts = [t.text for p in res.document.pages for t in p.items if isinstance(t, Text)]
        joined = "\n".join(texts)
        for expected in ("RECHNUNG", "Rechnungsdetails", "Zeitraum", "1.\u00a0Okt. bis 31.\u00a0Okt. 2026",
                         "Fälligkeitsdatum", "ZAHLSCHEIN", "vom 23.11.2026", "Grundkapital 12.000.000 €"):
            assert expected.replace("\u00a0", " ") in joined.replace("\u00a0", " "), expected
        assert not any(word in joined for word in ("Facture", "Invoice", "Abonnement", "mois"))
        assert res.document.meta.language == "de"


def test_invoice_channel_variants_in_german():
    from ccm_batch.compose.variants import compose_variants
    layout = load_layout(ROOT / "layouts" / "invoice.xml")
    german = [r for r in open_records(input_config("invoice", ROOT / "samples" / "data" / "invoices.xml"))
              if r.tree.get("language") == "de"]
    assert german
    variants = compose_variants(layout, german[0], job="invoice", job_date="2026-11-23")
    email, sms, portal = variants["email"], variants["sms"], variants["portal"]
    assert email.subject.startswith("Ihre Rechnung ") and "Dezember 2026" in email.preheader
    texts = " ".join(text for _, text, _ in email.blocks)
    assert "Guten Tag" in texts and "Kundenkonto" in texts and "Votre" not in texts and "facture" not in texts
    assert sms.text.startswith("Energies du Val: Ihre Rechnung") and "08.12.2026" in sms.text
    assert portal.title.startswith("Rechnung ") and "Fällig am" in portal.paragraphs[0]
