"""Spool stage: the compact document records give back exactly the documents that were written."""
from __future__ import annotations

import pickle

import pytest

from ccm_batch.pages import (Barcode, Box, Document, DocumentMeta, Form, Image, Marks, Page, Rule,
                             Text)
from ccm_batch.spool import (SPOOL_FORMAT, ChunkWriter, SpoolReader, pack_document,
                             unpack_document)


class FancyText(Text):
    """A subclass of Text: not one of the compact kinds, so its page falls back to plain pickling."""


def _doc(n: int = 1) -> Document:
    form = Form("lay.first", (Box(0, 0, 100, 50, fill=(200, 0, 0), stroke=None),
                              Text(10, 20, "LiberationSans", 200, "Logo")))
    items = (
        Text(100, 200, "LiberationSans", 180, f"Facture n°{n} — 12,00 €", (0, 0, 128), 15,
             ((2, -10), (5, 3))),
        Rule(50, 300, 1000, 10, "v", (10, 20, 30)),
        Box(10, 20, 30, 40),
        Image(5, 6, 70, 80, "/tmp/logo.png"),
        Barcode(500, 600, 300, 300, "qr", "BCD\n002\n1\nSCT", 12, (("ecc", "M"),)),
        Marks(20, 40, 300, 8, 240, (True, False, True), ("benchmark", "", "parity")),
    )
    meta = DocumentMeta(f"D{n}", f"C{n}", "invoice", "2026-11-23", ("A", "B"), "75001",
                        index=(("invoice", f"F{n}"),), duplex=True, record_number=n,
                        inserts=("flyer",))
    pages = (Page(11906, 16838, items, "front", form),
             Page(11906, 16838, (), "back", None, True),
             Page(11906, 16838, items[:2], "front", form))
    return Document(meta, pages)


def _same(a: Document, b: Document) -> None:
    assert a == b
    assert type(a) is type(b) and type(a.meta) is type(b.meta)
    for p, q in zip(a.pages, b.pages, strict=True):
        assert type(p) is type(q) is Page
        assert type(p.background) is type(q.background)
        for i, j in zip(p.items, q.items, strict=True):
            assert type(i) is type(j)
            assert i._asdict() == j._asdict()


def test_roundtrip_every_item_kind():
    doc = _doc()
    back = unpack_document(pack_document(doc))
    _same(doc, back)
    assert back.pages[0].items[0].kerns == ((2, -10), (5, 3))
    assert back.pages[0].items[5].rules()[1].y == 40 + 2 * 240
    assert back.pages[0].background.items[1].text == "Logo"
    assert back.sheet_count == 2


def test_unknown_item_class_falls_back_to_plain_pickle():
    doc = _doc()
    odd = doc._replace(pages=(doc.pages[0].with_items([FancyText(1, 2, "F", 3, "x")]),))
    back = unpack_document(pack_document(odd))
    _same(odd, back)
    assert type(back.pages[0].items[-1]) is FancyText


def test_other_format_is_refused():
    data = pickle.dumps(("ccm-spool-0", _doc().meta, ()), 5)
    with pytest.raises(ValueError, match="without --restart"):
        unpack_document(data)
    assert SPOOL_FORMAT.startswith("ccm-spool-2:Text8,")


def test_chunk_writer_and_reader(tmp_path):
    writer = ChunkWriter(tmp_path, 3)
    refs = [writer.add(_doc(n)) for n in range(1, 6)]
    writer.close()
    assert [r[0] for r in refs] == ["chunk-000003.docs"] * 5
    assert refs[0][1] == 0 and all(a[1] + a[2] == b[1] for a, b in zip(refs, refs[1:]))
    reader = SpoolReader(tmp_path)
    try:
        for n, ref in reversed(list(enumerate(refs, 1))):
            _same(reader.read(*ref), _doc(n))
    finally:
        reader.close()


def test_reader_keeps_a_bounded_number_of_files_open_in_any_order(tmp_path, monkeypatch):
    monkeypatch.setattr(SpoolReader, "MAX_OPEN", 3)
    refs = {}
    for chunk in range(7):                      # 7 chunk files, 2 documents each
        writer = ChunkWriter(tmp_path, chunk)
        for k in range(2):
            n = chunk * 2 + k + 1
            refs[n] = writer.add(_doc(n))
        writer.close()
    reader = SpoolReader(tmp_path)
    order = [14, 1, 7, 2, 13, 8, 3, 1, 12, 5, 14, 6, 9, 4, 10, 11, 2]     # jumps between files
    for n in order:
        _same(reader.read(*refs[n]), _doc(n))
        assert len(reader._files) <= 3
        assert all(not f.closed for f in reader._files.values())
    assert list(reader._files) == [refs[n][0] for n in (10, 11, 2)]     # most recently used last
    reader.close()
    assert reader._files == {}
