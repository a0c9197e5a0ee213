"""Tests of the AFP backend: files pass PyAFP strict and our check, text lands where the page model says,
page groups carry the document's TLEs at the offsets end_document reports."""
from pathlib import Path

import afp as pyafp
import pytest

from ccm_batch import barcodes
from ccm_batch.afp import reader as R
from ccm_batch.afp.inspect import check, list_fields, page_texts
from ccm_batch.pages import (Barcode, Box, Document, DocumentMeta, Form, Image, Marks, Page, Rule, Text,
                             mm)
from ccm_batch.render.afp import AfpOptions, AfpRenderer, afp_font, collect_resources
from ccm_batch.render.base import PieceInfo, StreamInfo

FIXTURES = Path(__file__).parent / "fixtures" / "afp"
LOGO = str(FIXTURES / "logo.png")
W, H = mm(210), mm(297)
TOLERANCE = 1440 // 100          # 1/100 inch


def _barcode(symbology, data, x, y, module, options=()):
    w, h = barcodes.measure(symbology, data, module, options)
    return Barcode(x, y, w, h, symbology, data, module, options)


def invoice_page(n: int, *, image=True, background=None) -> Page:
    items = [
        Text(mm(20), mm(30), "LiberationSans-Bold", 280, f"Facture n° 2024-{n:04d}"),
        Text(mm(120), mm(50), "LiberationSans-Regular", 200, "Mme Élodie « Lœuvre » d’Arc"),
        Text(mm(120), mm(55), "LiberationSerif-Italic", 200, "12 rue de l'Église", color=(0, 0, 128)),
        Text(mm(20), mm(80), "LiberationSans-Regular", 180, "Total à payer : 1 234,56 €", word_space=24),
        Text(mm(20), mm(90), "LiberationMono-Regular", 180, "AVAVA", kerns=((0, -30), (2, -30))),
        Rule(mm(20), mm(95), mm(170), 20),
        Rule(mm(100), mm(100), mm(30), 30, "v"),
        Box(mm(20), mm(140), mm(170), mm(8), fill=(220, 230, 240), stroke=(0, 0, 0), stroke_width=20),
        Marks(mm(5), mm(100), mm(8), 20, mm(4), (True, False, True, True)),
    ]
    if image:
        items.append(Image(mm(150), mm(15), mm(40), mm(20), LOGO))
    return Page(W, H, tuple(items), background=background)


def docs_sample(background=None):
    meta1 = DocumentMeta("INV-0001", "C0001", "INVOICE", "2024-11-23",
                         index=(("Montant", "1 234,56 €"), ("Agence", "Paris")))
    meta2 = DocumentMeta("INV-0002", "C0002", "INVOICE", "2024-11-23", duplex=True, index=(("Agence", "Lyon"),))
    return [Document(meta1, (invoice_page(1, background=background), invoice_page(2, background=background))),
            Document(meta2, (invoice_page(3, background=background), Page(W, H, (), side="back", blank=True)))]


def render(path, docs, options=None):
    r = AfpRenderer(options or AfpOptions(images=(LOGO,)))
    r.start_file(str(path), StreamInfo("job", "main", 1, "test", "2024-11-23"))
    facts = []
    for i, doc in enumerate(docs, 1):
        r.start_piece(PieceInfo(f"P{i}", i, (doc.meta.doc_id,)))
        r.start_document(doc.meta)
        for page in doc.pages:
            r.page(page)
        facts.append(r.end_document())
        r.end_piece()
    ff = r.end_file()
    # every file written here must pass PyAFP strict (afp.md §12) and our own check
    assert not any("_exceptions" in f for f in pyafp_fields(path))
    assert check(path) == []
    return facts, ff, r


def pyafp_fields(path):
    with open(path, "rb") as fh:
        return pyafp.load(fh, allow_unknown_fields=True, allow_unknown_triplets=True,
                          allow_unknown_functions=True, strict=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("afp") / "sample.afp"
    facts, ff, r = render(path, docs_sample())
    return path, facts, ff, r


def test_file_passes_pyafp_strict_and_our_check(sample):
    path, facts, ff, _ = sample
    fields = pyafp_fields(path)
    assert len(fields) > 50
    assert not any("_exceptions" in f for f in fields)
    assert check(path) == []
    assert ff.pages == 4 and ff.documents == 2 and ff.size == path.stat().st_size


def test_page_text_positions_match_the_page_model(sample):
    path, *_ = sample
    pages = list(page_texts(path))
    expected = [p for d in docs_sample() for p in d.pages]
    assert len(pages) == len(expected) == 4
    for got, page in zip(pages, expected):
        assert got.units_per_inch == 1440 and (got.width, got.height) == (W, H)
        texts = [i for i in page.items if isinstance(i, Text)]
        assert len(got.runs) == len(texts)
        for item in texts:
            want = item.text.replace("œ", "oe").replace("’", "'")
            run = next(r for r in got.runs if r.text == want)
            assert abs(run.x - item.x) <= TOLERANCE and abs(run.y - item.y) <= TOLERANCE


def test_rules_boxes_and_marks_are_dir_rectangles(sample):
    path, *_ = sample
    rules = set(next(page_texts(path)).rules)
    t = 20
    assert R_(mm(20), mm(95) - t // 2, mm(170), t) in rules                      # horizontal rule, centred
    assert R_(mm(100) - 15, mm(100), 30, mm(30)) in rules                        # vertical rule, centred
    assert R_(mm(20), mm(140), mm(170), mm(8)) in rules                          # box fill
    assert R_(mm(20) - 10, mm(140) - 10, mm(170) + 20, 20) in rules             # box stroke, top edge
    marks = [r for r in rules if r.x == mm(5)]
    assert sorted(r.y for r in marks) == [mm(100) - 10, mm(108) - 10, mm(112) - 10]


def R_(x, y, length, width):
    from ccm_batch.afp.inspect import RuleMark
    return RuleMark(x, y, "I", length, width)


def test_end_document_offsets_resolve_to_the_page_group_and_its_tles(sample):
    path, facts, *_ = sample
    data = path.read_bytes()
    expected = {
        "INV-0001": [("DocId", "INV-0001"), ("CustomerId", "C0001"), ("DocType", "INVOICE"),
                     ("DocDate", "2024-11-23"), ("Montant", "1 234,56 EUR"), ("Agence", "Paris")],
        "INV-0002": [("DocId", "INV-0002"), ("CustomerId", "C0002"), ("DocType", "INVOICE"),
                     ("DocDate", "2024-11-23"), ("Agence", "Lyon")],
    }
    assert [f.first_page for f in facts] == [1, 3]
    assert [(f.page_count, f.sheet_count) for f in facts] == [(2, 2), (2, 1)]
    for f in facts:
        group = list(R.read_fields(data[f.offset:f.offset + f.length]))
        assert group[0].abbr == "BNG" and group[-1].abbr == "ENG"
        tles = []
        for fld in group:
            if fld.abbr == "TLE":
                trip = dict(R.triplets(fld.data))
                tles.append((trip[0x02][2:].decode("cp500"), trip[0x36][2:].decode("cp500")))
        assert tles == expected[f.doc_id]
        assert sum(fld.abbr == "BPG" for fld in group) == f.page_count
        assert data[f.offset + f.length:f.offset + f.length + 1] == b"\x5a"


def test_each_group_invokes_its_medium_map_after_the_tles(sample):
    path, facts, *_ = sample
    data = path.read_bytes()
    seqs = []
    for f in facts:
        group = list(R.read_fields(data[f.offset:f.offset + f.length]))
        abbrs = [g.abbr for g in group]
        assert abbrs.index("IMM") > max(i for i, a in enumerate(abbrs) if a == "TLE")
        assert abbrs.index("IMM") < abbrs.index("BPG")
        seqs.append(R.ebcdic(group[abbrs.index("IMM")].data))
    assert seqs == ["MMSIMPLX", "MMDUPLEX"]
    listing = "\n".join(list_fields(path))
    assert "PGP   front+back" in listing and "keywords F402" in listing and "keywords F401" in listing


def test_image_declared_once_and_included_per_page(sample):
    path, _, _, r = sample
    fields = list(R.read_fields(str(path)))
    abbrs = [f.abbr for f in fields]
    assert abbrs.count("BIM") == 1 and abbrs.index("BIM") < abbrs.index("BDT")
    iobs = [f for f in fields if f.abbr == "IOB"]
    assert len(iobs) == 3
    assert {R.ebcdic(f.data[:8]) for f in iobs} == {R.ebcdic(fields[abbrs.index("BIM")].data[:8])}
    assert (R.sb3(iobs[0].data, 10), R.sb3(iobs[0].data, 13)) == (mm(150), mm(15))
    assert r.stats["inline_images"] == 0


def test_undeclared_image_is_written_inline(tmp_path):
    facts, ff, r = render(tmp_path / "i.afp", docs_sample(), AfpOptions())
    abbrs = [f.abbr for f in R.read_fields(str(tmp_path / "i.afp"))]
    assert abbrs.count("BIM") == 3 and abbrs.count("IOB") == 0
    assert r.stats["inline_images"] == 3
    assert check(tmp_path / "i.afp") == []


def test_background_form_as_overlay_or_repeated_items(tmp_path):
    form = Form("letterhead", (Text(mm(20), mm(10), "LiberationSans-Bold", 240, "ACME Énergie"),
                               Rule(mm(20), mm(12), mm(170), 10), Image(mm(5), mm(5), mm(10), mm(5), LOGO)))
    docs = docs_sample(background=form)
    path = tmp_path / "ov.afp"
    _, _, r = render(path, docs, AfpOptions(images=(LOGO,), forms=(form,)))
    fields = list(R.read_fields(str(path)))
    abbrs = [f.abbr for f in fields]
    assert abbrs.count("BMO") == 1 and abbrs.index("BMO") < abbrs.index("BDT")
    assert abbrs.count("IPO") == 3 and abbrs.count("MPO") == 3
    # inspect --text includes the overlay's text on every page that includes it (issue 12)
    overlay_runs = [(p.number, run.x, run.y) for p in page_texts(path) for run in p.runs
                    if run.text == "ACME Énergie"]
    assert len(overlay_runs) == 3
    assert check(path) == [] and r.stats["form_pages_inline"] == 0
    pyafp_fields(path)
    inline = tmp_path / "inline.afp"
    _, _, r2 = render(inline, docs, AfpOptions(images=(LOGO,)))
    pages = list(page_texts(inline))
    assert [(p.number, run.x, run.y) for p in pages for run in p.runs
            if run.text == "ACME Énergie"] == overlay_runs                          # not on the blank back
    assert r2.stats["form_pages_inline"] == 3
    assert check(inline) == []


def test_bar_codes_as_bcoca_objects(tmp_path):
    items = (_barcode("code128", "ABC-12345", mm(20), mm(200), 20),
             _barcode("qr", "https://exemple.fr/facture/42", mm(20), mm(220), 20),
             _barcode("datamatrix", "ARLAPOSTE;01;1A0478772024;3", mm(60), mm(220), 20),
             _barcode("imb", "01234567094987654321-01234567891", mm(20), mm(260), 65))
    path = tmp_path / "bc.afp"
    render(path, [Document(DocumentMeta("D", "C", "T", "2024-11-23"), (Page(W, H, items),))], AfpOptions())
    bdds = [f.data for f in R.read_fields(str(path)) if f.abbr == "BDD"]
    assert [b[12] for b in bdds] == [0x11, 0x20, 0x1C, 0x22]
    assert check(path) == []
    listing = list(list_fields(path))
    assert sum("BDD   Code 128" in l for l in listing) == 1 and sum("USPS IMb" in l for l in listing) == 1


def test_bar_codes_as_rules(tmp_path):
    bc = _barcode("datamatrix", "HELLO", mm(60), mm(220), 20)
    path = tmp_path / "bcr.afp"
    render(path, [Document(DocumentMeta("D", "C", "T", "2024-11-23"), (Page(W, H, (bc,)),))],
           AfpOptions(barcode_mode="rules"))
    assert not any(f.abbr == "BBC" for f in R.read_fields(str(path)))
    rules = next(page_texts(path)).rules
    want = {(x, y, w, h) for x, y, w, h in barcodes.rectangles(bc)}
    assert {(r.x, r.y, r.length, r.width) for r in rules} == want


def test_output_is_deterministic(tmp_path):
    render(tmp_path / "a.afp", docs_sample())
    render(tmp_path / "b.afp", docs_sample())
    assert (tmp_path / "a.afp").read_bytes() == (tmp_path / "b.afp").read_bytes()


def test_long_runs_and_crowded_pages_respect_field_limits(tmp_path):
    long = "Lorem ipsum dolor sit amet, consectetur adipiscing élit. " * 12
    items = [Text(mm(10), mm(10), "LiberationSans-Regular", 160, long)]
    items += [Text(mm(10) + (i % 7) * 1000, mm(20) + (i // 7) * 40, "LiberationSans-Regular", 160, f"cell {i}")
              for i in range(2000)]
    path = tmp_path / "big.afp"
    render(path, [Document(DocumentMeta("D", "C", "T", "2024-11-23"), (Page(W, H, tuple(items)),))], AfpOptions())
    fields = list(R.read_fields(str(path)))
    ptx = [f for f in fields if f.abbr == "PTX"]
    assert len(ptx) > 3 and all(len(f.data) <= 8192 for f in ptx)
    trns = [s for f in ptx for s in R.PtocaParser().feed(f.data) if s.name == "TRN"]
    assert max(len(s.params) for s in trns) == 253
    page = next(page_texts(path))
    assert page.runs[0].text == long and len(page.runs) == 2001
    assert check(path) == []
    pyafp_fields(path)


def test_justified_and_kerned_runs(sample):
    path, *_ = sample
    ptx = [f for f in R.read_fields(str(path)) if f.abbr == "PTX"][0]
    seqs = list(R.PtocaParser().feed(ptx.data))
    svis = [R.s2(s.params) for s in seqs if s.name == "SVI"]
    assert svis[0] == round(180 * 278 / 1000) + 24          # Helvetica space + word_space
    rmis = [R.s2(s.params) for s in seqs if s.name == "RMI"]
    assert rmis == [-30, -30]


def test_substitutions_and_unknown_fonts_are_counted(sample, tmp_path):
    _, _, _, r = sample
    assert r.stats["substituted"]["œ"] == 3 and r.stats["substituted"]["’"] == 3
    assert r.stats["substituted"]["€"] == 1                  # in the TLE (CCSID 500 has no €)
    path = tmp_path / "f.afp"
    _, _, r2 = render(path, [Document(DocumentMeta("D", "C", "T", "2024-11-23"),
                                      (Page(W, H, (Text(100, 300, "Papyrus", 200, "x"),)),))], AfpOptions())
    assert r2.stats["unknown_fonts"] == {"Papyrus": 1}
    assert "LID 1=CZH200/T1001140 10pt" in "\n".join(list_fields(path))


@pytest.mark.parametrize("font_id, expected", [
    ("LiberationSans-Regular", ("CZH200", 278, True)),
    ("LiberationSans-BoldItalic", ("CZH500", 278, True)),
    ("LiberationSerif-Italic", ("CZN300", 250, True)),
    ("LiberationSerif-Bold", ("CZN400", 250, True)),
    ("LiberationMono-Regular", ("CZ4200", 600, True)),
    ("Courier-Bold", ("CZ4400", 600, True)),
    ("Fancy", ("CZH200", 278, False)),
])
def test_font_mapping(font_id, expected):
    assert afp_font(font_id) == expected


def test_thick_fills_are_stacked_strips(tmp_path):
    path = tmp_path / "s.afp"
    render(path, [Document(DocumentMeta("D", "C", "T", "2024-11-23"),
                           (Page(W, H, (Box(1000, 2000, 3000, 500, fill=(0, 0, 0), stroke=None),)),))],
           AfpOptions(rule_width_max=192))
    rules = next(page_texts(path)).rules
    assert [(r.y, r.width) for r in rules] == [(2000, 192), (2192, 192), (2384, 116)]


def test_blank_page_and_tle_hook(tmp_path):
    path = tmp_path / "b.afp"
    facts, ff, _ = render(path, [Document(DocumentMeta("D", "C", "T", "2024-11-23"), (Page(W, H, (), blank=True),))],
                          AfpOptions(tle_values=lambda meta: [("Compte", meta.customer_id)]))
    abbrs = [f.abbr for f in R.read_fields(str(path))]
    assert abbrs.count("BPG") == 1 and "BPT" not in abbrs and abbrs.count("TLE") == 1
    assert "TLE   Compte = 'C'" in "\n".join(list_fields(path))
    assert facts[0].page_count == 1 and check(path) == []


def test_collect_resources():
    form = Form("bg", (Image(0, 0, 10, 10, "/a.png"),))
    pages = [Page(W, H, (Image(0, 0, 5, 5, "/b.png"),), background=form), Page(W, H, (), background=form)]
    assert collect_resources(pages) == (("/a.png", "/b.png"), (form,))
