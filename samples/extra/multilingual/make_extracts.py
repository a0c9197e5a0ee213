"""Writes the multilingual sample extracts (issue 12) from the committed French samples.

    python samples/extra/multilingual/make_extracts.py

The first 14 invoices and statements of ``samples/data`` get the customers below (names and postal
addresses in their own scripts), and every invoice an extra line whose label holds — – ’ œ € ß.
Everything else (amounts, dates, totals) is left as it is, so the sums still add up.
"""
from __future__ import annotations

from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data"

# (id suffix, language, civility, first name, last name, name, address lines, postal code, city, country)
CUSTOMERS = [
    ("ZH", "王", "小明", "王小明", ["王小明", "建国路88号", "100022 北京市朝阳区"], "100022", "北京市朝阳区", "CN"),
    ("JA", "山田", "太郎", "山田 太郎", ["山田 太郎 様", "丸の内1-1-1", "100-0005 東京都千代田区"], "100-0005", "東京都千代田区", "JP"),
    ("KO", "김", "민준", "김민준", ["김민준 님", "세종대로 110", "04524 서울특별시 중구"], "04524", "서울특별시 중구", "KR"),
    ("EL", "Αλέξανδρος", "Παπαδόπουλος", "Αλέξανδρος Παπαδόπουλος",
     ["Αλέξανδρος Παπαδόπουλος", "Οδός Ερμού 25", "105 63 Αθήνα"], "105 63", "Αθήνα", "GR"),
    ("RU", "Владимир", "Петров", "Владимир Петров",
     ["Владимир Петров", "ул. Тверская, д. 7, кв. 12", "125009 Москва"], "125009", "Москва", "RU"),
    ("PL", "Łukasz", "Wiśniewski", "Łukasz Wiśniewski",
     ["Łukasz Wiśniewski", "ul. Świętokrzyska 14", "00-050 Warszawa"], "00-050", "Warszawa", "PL"),
    ("CS", "Jiří", "Dvořák", "Jiří Dvořák", ["Jiří Dvořák", "Náměstí Míru 15", "120 00 Praha 2"], "120 00",
     "Praha 2", "CZ"),
    ("VI", "Văn Thắng", "Nguyễn", "Nguyễn Văn Thắng",
     ["Nguyễn Văn Thắng", "123 Đường Lê Lợi, Quận 1", "700000 Thành phố Hồ Chí Minh"], "700000",
     "Thành phố Hồ Chí Minh", "VN"),
    ("TR", "Şükrü", "Öztürk", "Şükrü Öztürk", ["Şükrü Öztürk", "İstiklal Caddesi No: 42", "34433 Beyoğlu/İstanbul"],
     "34433", "Beyoğlu/İstanbul", "TR"),
    ("AR", "محمد", "الأحمد", "محمد الأحمد", ["محمد الأحمد", "شارع الملك فهد 12", "11564 الرياض"], "11564", "الرياض",
     "SA"),
    ("HE", "דוד", "כהן", "דוד כהן", ["דוד כהן", "רחוב הרצל 10", "6578901 תל אביב"], "6578901", "תל אביב", "IL"),
    ("DE", "Jürgen", "Groß-Lœuvre", "Jürgen Groß-Lœuvre",
     ["Jürgen Groß-Lœuvre", "Hauptstraße 5 – Hof ’B’", "10115 Berlin"], "10115", "Berlin", "DE"),
    # right to left with digits and Latin inside (issue 12 item 5): lam-alef in صلاح, Allah in عبد الله
    ("AR2", "صلاح الدين", "عبد الله", "صلاح الدين عبد الله",
     ["صلاح الدين عبد الله", "شركة النور ABC للتجارة، برج 3", "21577 جدة"], "21577", "جدة", "SA"),
    ("HE2", "שרה", "לוי-כהן", "שרה לוי-כהן", ["שרה לוי-כהן", "שדרות רוטשילד 45, דירה 3", "6688218 תל אביב-יפו"],
     "6688218", "תל אביב-יפו", "IL"),
]
EXTRA_LABEL = "Remise fidélité — œuvres d’art – 5 € (Straße)"


def _set(parent, tag: str, text: str) -> None:
    el = parent.find(tag)
    if el is not None:
        el.text = text


def _more(root, record: str, count: int) -> None:
    """Clone the first records (a new id, and that id wherever the old one was) up to ``count``."""
    records = root.findall(record)
    for k in range(len(records), count):
        source = records[k - len(records)]
        old = source.get("id")
        stem = old.rstrip("0123456789")
        new = f"{stem}{k + 1:0{len(old) - len(stem)}d}"
        clone = etree.fromstring(etree.tostring(source).replace(old.encode(), new.encode()))
        last = root.findall(record)[-1]
        clone.tail, last.tail = last.tail, source.tail
        last.addnext(clone)


def rewrite(source: Path, target: Path, record: str) -> None:
    tree = etree.parse(str(source))
    root = tree.getroot()
    _more(root, record, len(CUSTOMERS))
    for el, (suffix, first, last, name, lines, postcode, city, country) in zip(root.findall(record), CUSTOMERS):
        cust = el.find("customer")
        cust.set("id", f"C-INTL-{suffix}")
        cust.set("mail_separately", "true")
        civ = cust.find("civility")
        if civ is not None:
            civ.text = ""
        _set(cust, "first_name", first)
        _set(cust, "last_name", last)
        _set(cust, "name", name)
        addr = cust.find("address")
        for line in addr.findall("line"):
            addr.remove(line)
        for i, text in enumerate(lines):
            line = etree.Element("line")
            line.text = text
            addr.insert(i, line)
        _set(addr, "postal_code", postcode)
        _set(addr, "city", city)
        _set(addr, "country", country)
        items = el.find("items")
        if items is not None and len(items):
            extra = etree.fromstring(etree.tostring(items[0]))
            _set(extra, "label", EXTRA_LABEL)
            items.append(extra)
            _set(extra, "amount", "0.00")
            _set(extra, "quantity", "0")
    for extra in root.findall(record)[len(CUSTOMERS):]:
        root.remove(extra)
    tree.write(str(target), encoding="UTF-8", xml_declaration=True)


if __name__ == "__main__":
    rewrite(DATA / "invoices.xml", HERE / "invoices.xml", "invoice")
    rewrite(DATA / "statements.xml", HERE / "statements.xml", "statement")
