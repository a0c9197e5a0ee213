"""Mail stage tests: inserter control (OMR ladder, 2D control code), IMb payloads, separator sheets,
checked by decoding what ``mark_pages`` put on every sheet of planned pieces."""
import sqlite3

import pytest

from ccm_batch import barcodes, mail
from ccm_batch.mail.config import ImbConfig, OmrScheme
from ccm_batch.mail.control import clear_zone_conflicts
from ccm_batch.mail.sample import document_row, insert_documents
from ccm_batch.pages import Barcode, Box, Form, Marks, Page, Rule, Text, mm

INSERTS = {"BRE": {"feeder": 1, "weight_g": 3.0}, "LEAFLET": {"feeder": 2, "weight_g": 4.0}}


def test_omr_ladder_bits_known_vector():
    scheme = OmrScheme()        # benchmark eoc boc parity seq1 seq2 seq3 sf1 sf2 safety
    bits = mail.omr_bits(scheme, 1, 3, 5, (1,))
    assert bits == (True, False, True, True, True, False, True, False, False, True)
    last = mail.omr_bits(scheme, 3, 3, 7, (1,))          # last sheet: EOC and the feeder's select mark
    assert last == (True, True, False, True, True, True, True, True, False, True)
    assert mail.decode_omr(last, scheme).feeders == (1,)
    wrapped = mail.decode_omr(mail.omr_bits(scheme, 2, 3, 8, ()), scheme)
    assert wrapped.counter == 0 and not wrapped.eoc and not wrapped.boc and wrapped.parity_ok
    odd = OmrScheme(parity="odd")
    assert sum(mail.omr_bits(odd, 1, 1, 1, ())) % 2 == 1


def test_omr_parity_catches_a_missed_mark():
    scheme = OmrScheme()
    bits = list(mail.omr_bits(scheme, 2, 4, 3, (2,)))
    assert mail.decode_omr(bits, scheme).parity_ok
    bits[scheme.positions.index("seq2")] = not bits[scheme.positions.index("seq2")]
    assert not mail.decode_omr(bits, scheme).parity_ok


def test_omr_inverted_marks_and_select_on_every_sheet():
    scheme = OmrScheme(positions=("benchmark", "not_eoc", "not_boc", "on", "seq1", "seq2", "sf1", "sf3", "parity",
                                  "safety"), select_feed_on="every")
    first = mail.decode_omr(mail.omr_bits(scheme, 1, 2, 1, (3,)), scheme)
    last = mail.decode_omr(mail.omr_bits(scheme, 2, 2, 2, (3,)), scheme)
    assert first.boc and not first.eoc and last.eoc and not last.boc
    assert first.feeders == (3,) == last.feeders


def test_control_payload_round_trip_and_checksum():
    data = mail.control_payload("STMT2601", "00000042", 2, 3, (1, 3))
    assert len(data) == 26 and data.isascii() and data.isalnum()
    code = mail.decode_control(data)
    assert (code.job, code.piece, code.page, code.total, code.feeders, code.last) == (
        mail.job_code("STMT2601"), 42, 2, 3, (1, 3), False)
    assert mail.decode_control(mail.control_payload("STMT2601", 42, 3, 3)).last
    corrupted = data[:10] + ("1" if data[10] != "1" else "2") + data[11:]
    with pytest.raises(ValueError, match="checksum"):
        mail.decode_control(corrupted)
    assert mail.job_code("STMT2601") != mail.job_code("STMT2602")
    assert "STMT" not in data                                    # no readable job name, no personal data


def households_db():
    rows = []
    seq = 0
    for cust in range(40):
        for k in range(1 + cust % 3):
            seq += 1
            rows.append(document_row(seq, customer_id=f"C{cust:04d}", recipient_name=f"M JEAN MARTIN {cust}",
                                     address=[f"M JEAN MARTIN {cust}", f"{cust + 1} RUE DES LILAS", "75011 PARIS"],
                                     sheets=1 + (seq % 4), duplex=cust % 2,
                                     inserts=["BRE"] if k == 0 and cust % 4 == 0 else
                                     (["LEAFLET"] if cust % 5 == 0 else [])))
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    return db


def doc_pages(sheets, duplex, width=11906, height=16838):
    pages = []
    for i in range(sheets):
        pages.append(Page(width, height, (Text(2000, 3000, "LiberationSans-Regular", 200, f"sheet {i + 1}"),)))
        if duplex:
            pages.append(Page(width, height, (), side="back"))
    return pages


def marked_pieces(db, cfg):
    for plan in mail.iter_print_files(db):
        for piece in plan.pieces:
            sheets = dict(db.execute("SELECT seq, sheets FROM documents"))
            pages = [p for s in piece.doc_seqs for p in doc_pages(sheets[s], piece.duplex)]
            yield plan, piece, mail.mark_pages(piece, pages, cfg)


def test_omr_on_every_sheet_decodes_to_the_right_piece_and_sheet():
    db = households_db()
    cfg = mail.MailConfig.from_dict({"enabled": True, "inserts": INSERTS, "control": "omr",
                                     "max_pieces_per_file": 7}, ".")
    mail.plan_mail(db, cfg, "OMR", "2026-01-15")
    checked = multi = 0
    for plan, piece, pages in marked_pieces(db, cfg):
        fronts = [p for p in pages if p.side == "front"]
        assert len(fronts) == piece.sheets
        assert all(not any(isinstance(i, Marks) for i in p.items) for p in pages if p.side == "back")
        for k, page in enumerate(fronts, 1):
            marks = [i for i in page.items if isinstance(i, Marks)]
            assert len(marks) == 1 and marks[0].x == mm(5) and marks[0].pitch == 240
            r = mail.decode_omr(marks[0], cfg.omr)
            assert r.benchmark and r.safety and r.parity_ok
            assert r.eoc == (k == piece.sheets) and r.boc == (k == 1)
            assert r.counter == (piece.sheet_offset + k) % 8
            assert r.feeders == (piece.feeders if k == piece.sheets else ())
            checked += 1
        multi += piece.sheets > 1
    assert checked == db.execute("SELECT SUM(sheets) FROM documents").fetchone()[0]
    assert multi > 10


def test_datamatrix_on_every_sheet_decodes_to_the_right_piece_page_and_feeders():
    db = households_db()
    cfg = mail.MailConfig.from_dict({"enabled": True, "inserts": INSERTS, "control": "datamatrix",
                                     "datamatrix": {"x_mm": 6, "y_mm": 120, "module_mm": 0.5}}, ".")
    mail.plan_mail(db, cfg, "DM", "2026-01-15")
    with_feeders = 0
    for plan, piece, pages in marked_pieces(db, cfg):
        fronts = [p for p in pages if p.side == "front"]
        for k, page in enumerate(fronts, 1):
            codes = [i for i in page.items if isinstance(i, Barcode) and i.symbology == "datamatrix"]
            assert len(codes) == 1 and codes[0].x == mm(6)
            c = mail.decode_control(codes[0].data)
            assert (c.piece, c.page, c.total, c.last) == (int(piece.piece_id), k, piece.sheets, k == piece.sheets)
            assert c.feeders == piece.feeders and c.job == mail.job_code("DM")
            assert (codes[0].width, codes[0].height) == barcodes.measure("datamatrix", codes[0].data,
                                                                         codes[0].module)
        with_feeders += bool(piece.feeders)
    assert with_feeders > 3


def test_mark_pages_refuses_a_sheet_count_mismatch():
    db = households_db()
    cfg = mail.MailConfig.from_dict({"enabled": True, "control": "omr"}, ".")
    mail.plan_mail(db, cfg, "X", "2026-01-15")
    piece = next(p for f in mail.iter_print_files(db) for p in f.pieces if not p.duplex)
    with pytest.raises(ValueError, match="sheets"):
        mail.mark_pages(piece, doc_pages(piece.sheets + 1, False), cfg)
    off = mail.MailConfig.from_dict(None, ".")
    pages = doc_pages(2, False)
    assert mail.mark_pages(piece, pages, off) == pages


def test_imb_fields_and_encoding_vector():
    imb = ImbConfig(True, "23", "270", "592831", 482031240 - 7)
    tracking, routing = mail.imb_fields(7, "96713024817", imb)
    assert tracking == "23270592831482031240" and routing == "96713024817"
    assert barcodes.imb_encode(tracking, routing) == \
        "DDADATADTAATDTTTDFDTTFTFFADTFTDFTATAAFTTFATDAATATDATATFADAADDTFDT"   # postal.md §4.3 vector
    assert mail.imb_fields(1, "9671", imb)[1] == ""                   # malformed routing: none
    with pytest.raises(ValueError):
        mail.imb_fields(10 ** 9, "96713", ImbConfig(True, "00", "270", "123456", 0))


def test_imb_filled_into_the_layout_barcode_or_added():
    rows = [document_row(i, country="US", postcode=f"60614-{i:04d}-{i:02d}", recipient_name=f"JOHN DOE {i}")
            for i in range(1, 4)]
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    cfg = mail.MailConfig.from_dict({"enabled": True, "control": "none", "imb": {"mailer_id": "123456"}}, ".")
    mail.plan_mail(db, cfg, "US", "2026-01-15")
    pieces = [p for f in mail.iter_print_files(db) for p in f.pieces]
    placeholder = Barcode(1000, 8000, 4000, 209, "imb", "0" * 20, 65)
    page = Page(12240, 15840, (placeholder,))
    out = mail.mark_pages(pieces[0], [page], cfg)[0]
    assert len(out.items) == 1 and out.items[0].x == 1000
    assert out.items[0].data == pieces[0].imb_tracking + pieces[0].imb_routing
    assert out.items[0].data.endswith("60614" + pieces[0].postcode[5:])
    added = mail.mark_pages(pieces[1], [Page(12240, 15840, ())], cfg)[0].items
    assert added[0].symbology == "imb" and added[0].x == mm(20)
    assert (added[0].width, added[0].height) == barcodes.measure("imb", added[0].data, 65)
    assert len(barcodes.imb_encode(added[0].data[:20], added[0].data[20:])) == 65


def test_separator_sheets_at_file_and_tray_breaks():
    db = households_db()
    cfg = mail.MailConfig.from_dict({"enabled": True, "separators": True, "max_pieces_per_file": 10}, ".")
    mail.plan_mail(db, cfg, "SEP", "2026-01-15")
    files = 0
    for plan in mail.iter_print_files(db):
        for piece in plan.pieces:
            seps = mail.separator_pages(piece, cfg, 11906, 16838)
            if piece.index_in_file == 1:
                files += 1
                assert seps and seps[0].items[1].text.startswith(f"SEP  {plan.stream}  file {plan.seq:03d}")
                assert len(seps) == (2 if piece.duplex else 1)
            elif not piece.tray_break:
                assert seps == []
    assert files == db.execute("SELECT COUNT(*) FROM mail_file").fetchone()[0] >= 2
    off = mail.MailConfig.from_dict({"enabled": True}, ".")
    first = next(p for f in mail.iter_print_files(db) for p in f.pieces)
    assert mail.separator_pages(first, off, 11906, 16838) == []


def test_clear_zone_check():
    scheme = OmrScheme()
    inside = Text(scheme.x + 100, scheme.y + 300, "LiberationSans-Regular", 200, "oops")
    outside = Text(mm(40), mm(30), "LiberationSans-Regular", 200, "fine")
    page = Page(11906, 16838, (inside, outside))
    assert clear_zone_conflicts(page, scheme) == [inside]
    # rules, boxes and a background form's items are checked too; marks and items right of the zone are not
    rule = Rule(mm(1), scheme.y + 200, mm(30), 20)                        # crosses the zone
    vertical = Rule(mm(30), scheme.y, mm(50), 20, direction="v")          # right of it
    box = Box(mm(5), scheme.y - mm(20), mm(4), mm(10))                    # ends 10 mm above: clear
    logo = Box(mm(1), scheme.y + 500, mm(5), mm(5))
    marks = Marks(scheme.x, scheme.y, scheme.length, scheme.thickness, scheme.pitch, (1, 0, 1))
    page = Page(11906, 16838, (outside, rule, vertical, box, marks),
                background=Form("letterhead", (Form("inner", (logo,)),)))
    assert clear_zone_conflicts(page, scheme) == [rule, logo]


def test_part_label_on_split_households():
    rows = [document_row(i, customer_id="C1", sheets=4, address=["M JEAN MARTIN", "1 RUE X", "75011 PARIS"])
            for i in range(1, 4)]
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    cfg = mail.MailConfig.from_dict({"enabled": True, "control": "none",
                                     "part_label": {"x_mm": 20, "y_mm": 45, "text": "PLI {part}/{parts}"}}, ".")
    mail.plan_mail(db, cfg, "PLI", "2026-01-15")
    labels = []
    for f in mail.iter_print_files(db):
        for piece in f.pieces:
            pages = mail.mark_pages(piece, doc_pages(piece.sheets, False), cfg)
            labels.append([i.text for i in pages[0].items if isinstance(i, Text) and i.text.startswith("PLI")])
            assert all(i.text.startswith("sheet") for p in pages[1:] for i in p.items)
    assert labels == [["PLI 1/2"], ["PLI 2/2"]]
