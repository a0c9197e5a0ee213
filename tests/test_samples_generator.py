"""Tests of the sample-data generator: determinism, schemas readable by the read stage, sums, addresses."""
import re
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ccm_batch.records import InputConfig, open_records
from ccm_batch.records.validate import FieldSpec, validate_record
from ccm_batch.samples import FILES, bad_record_numbers, write_samples

ROOT = Path(__file__).resolve().parent.parent
US_CSV = {"header": False, "group_by": "account", "type_column": "type", "header_type": "H", "detail_type": "D",
          "record_element": "statement", "detail_element": "transaction",
          "columns": {"H": ["type", "account", "customer_id", "language", "name", "address1", "address2",
                            "address3", "city", "state", "zip5", "zip4", "delivery_point", "statement_date",
                            "period_start", "period_end", "opening_balance", "total_debits", "total_credits",
                            "closing_balance", "mail_separately"],
                      "D": ["type", "account", "post_date", "description", "reference", "debit", "credit"]}}
RECORD = {"invoices.xml": "invoice", "statements.xml": "statement", "letters.xml": "letter"}


def records(path: Path):
    if path.suffix == ".csv":
        table = {"path": str(path), "csv": US_CSV, "key": "account"}
    else:
        table = {"path": str(path), "record": RECORD[path.name], "key": "@id"}
    return list(open_records(InputConfig.from_dict(table, path.parent)))


@pytest.fixture(scope="module")
def forty(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples40")
    write_samples(out, 40, seed=7)
    return {name: records(out / name) for name in FILES}


def D(elem, path):
    return Decimal(elem.findtext(path))


def test_deterministic_bytes(tmp_path):
    a = write_samples(tmp_path / "a", 15, seed=3)
    b = write_samples(tmp_path / "b", 15, seed=3)
    c = write_samples(tmp_path / "c", 15, seed=4)
    assert [p.name for p in a] == list(FILES)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_committed_copies_match_the_generator(tmp_path):
    committed = ROOT / "samples" / "data"
    fresh = write_samples(tmp_path, 12)
    for path in fresh:
        assert (committed / path.name).read_bytes() == path.read_bytes(), path.name


def test_every_file_has_the_requested_records_with_unique_keys(forty):
    for name, recs in forty.items():
        assert len(recs) == 40, name
        assert len({r.key for r in recs}) == 40, name


def test_invoice_totals_add_up(forty):
    for r in forty["invoices.xml"]:
        inv = r.tree
        amounts = [D(i, "amount") for i in inv.iterfind("items/item")]
        for item in inv.iterfind("items/item"):
            assert (D(item, "quantity") * D(item, "unit_price")).quantize(
                Decimal("0.01"), rounding="ROUND_HALF_UP") == D(item, "amount")
        assert sum(amounts) == D(inv, "totals/total_ht")
        vats = inv.findall("totals/vat")
        assert sum(Decimal(v.get("base")) for v in vats) == D(inv, "totals/total_ht")
        for v in vats:
            expected = (Decimal(v.get("base")) * Decimal(v.get("rate")) / 100).quantize(Decimal("0.01"),
                                                                                         rounding="ROUND_HALF_UP")
            assert Decimal(v.text) == expected
        assert sum(Decimal(v.text) for v in vats) == D(inv, "totals/total_tva")
        assert D(inv, "totals/total_ht") + D(inv, "totals/total_tva") == D(inv, "totals/total_ttc")
        assert D(inv, "payment/amount") == D(inv, "totals/total_ttc")
        months = inv.findall("consumption/month")
        assert len(months) == 12 and months[-1].get("period") == "2026-10"
        assert _iban_ok(inv.findtext("payment/iban"))


def _iban_ok(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def test_statement_balances_and_sizes(forty):
    sizes = []
    for r in forty["statements.xml"]:
        st = r.tree
        moves = st.findall("movements/movement")
        assert int(st.find("movements").get("count")) == len(moves)
        debit = sum((D(m, "debit") for m in moves if m.find("debit") is not None), Decimal(0))
        credit = sum((D(m, "credit") for m in moves if m.find("credit") is not None), Decimal(0))
        assert all((m.find("debit") is None) != (m.find("credit") is None) for m in moves)
        assert debit == D(st, "total_debit") and credit == D(st, "total_credit")
        assert D(st, "opening_balance") + credit - debit == D(st, "closing_balance")
        dates = [m.findtext("date") for m in moves]
        assert dates == sorted(dates)
        assert _iban_ok(st.findtext("account/iban"))
        sizes.append(len(moves))
    assert sizes[2] == 1 and sizes[7] >= 500 and 110 <= sizes[5] <= 130
    assert sum(1 for s in sizes if s >= 500) == 2
    languages = {r.tree.get("language") for r in forty["statements.xml"]}
    assert languages == {"fr", "en"}


def test_us_statements_add_up(forty):
    for r in forty["us-statements.csv"]:
        st = r.tree
        tx = st.findall("transaction")
        debit = sum((Decimal(t.findtext("debit")) for t in tx if t.findtext("debit")), Decimal(0))
        credit = sum((Decimal(t.findtext("credit")) for t in tx if t.findtext("credit")), Decimal(0))
        assert debit == D(st, "total_debits") and credit == D(st, "total_credits")
        assert D(st, "opening_balance") + credit - debit == D(st, "closing_balance")
        assert re.fullmatch(r"[A-Z ]+ [A-Z]{2} \d{5}-\d{4}", st.findtext("address3"))
        assert st.findtext("address3").endswith(f"{st.findtext('zip5')}-{st.findtext('zip4')}")
        assert re.fullmatch(r"\d{2}", st.findtext("delivery_point"))
    assert b'"PAYROLL DEPOSIT ACME, INC"' in b"".join(r.raw for r in forty["us-statements.csv"])
    assert [len(r.tree.findall("transaction")) for r in forty["us-statements.csv"]][4] == 0


def test_addresses_follow_the_postal_norms(forty):
    customers = {}
    for name in RECORD:
        for r in forty[name]:
            c = r.tree.find("customer")
            customers.setdefault(c.get("id"), []).append((name, r.tree.get("id")))
            lines = [line.text for line in c.iterfind("address/line")]
            assert 2 <= len(lines) <= 7 and all(len(line) <= 38 for line in lines), lines
            country = c.findtext("address/country")
            if country == "FR":
                assert re.fullmatch(r"\d{5} [A-Z0-9 ]+", lines[-1]), lines
                assert lines[-1] == f"{c.findtext('address/postal_code')} {c.findtext('address/city')}"
                street = next(i for i, line in enumerate(lines) if re.match(r"\d+ |LIEU DIT |CS |BP ", line))
                assert all(re.fullmatch(r"[A-Z0-9 ]+", line) for line in lines[street:]), lines
            elif country == "US":
                assert lines[-1] == "ETATS UNIS"
                assert re.fullmatch(r"[A-Z ]+ [A-Z]{2} \d{5}-\d{4}", lines[-2])
            else:
                assert lines[-1] in ("BELGIQUE", "ALLEMAGNE", "ROYAUME UNI")
    # the same customer gets several documents, within a file and across files
    assert any(len({f for f, _ in docs}) == 3 for docs in customers.values())
    for name in RECORD:
        ids = [r.tree.find("customer").get("id") for r in forty[name]]
        assert len(set(ids)) < len(ids), name


def test_households_companies_cedex_and_mail_separately(forty):
    trees = [r.tree for name in RECORD for r in forty[name]]
    by_address = {}
    for t in trees:
        c = t.find("customer")
        lines = tuple(line.text for line in c.iterfind("address/line"))
        by_address.setdefault(lines[1:], set()).add(c.get("id"))
    assert any(len(ids) >= 2 for ids in by_address.values())          # a household
    text = "".join(etree.tostring(t, encoding="unicode") for t in trees)
    assert 'mail_separately="true"' in text and 'kind="company"' in text
    assert " CEDEX" in text and "LIEU DIT " in text and "<line>BP " in text
    assert any(ch in text for ch in "éèàçœ")
    us = forty["us-statements.csv"]
    assert any(r.tree.findtext("mail_separately") == "Y" for r in us)
    us_addr = {}
    for r in us:
        us_addr.setdefault(r.tree.findtext("address1"), set()).add(r.tree.findtext("customer_id"))
    assert any(len(ids) >= 2 for ids in us_addr.values())


def test_letters_are_latin1_with_enclosures(forty, tmp_path):
    letters = forty["letters.xml"]
    assert {r.tree.find("contract").get("type") for r in letters} == {"auto", "home", "health", "life"}
    assert {r.tree.get("language") for r in letters} == {"fr", "en"}
    for r in letters:
        enclosures = r.tree.findall("enclosures/enclosure")
        assert 1 <= len(enclosures) <= 3
        assert all(e.get("kind") in ("insert", "print") and e.get("code") for e in enclosures)
    path = Path(letters[0].source)
    assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')


SPECS = {
    "invoices.xml": [FieldSpec("language", "@language", "enum", values=("fr", "en", "de")),
                     FieldSpec("date", "date", "date"), FieldSpec("due_date", "due_date", "date"),
                     FieldSpec("total_ttc", "totals/total_ttc", "amount")],
    "statements.xml": [FieldSpec("language", "@language", "enum", values=("fr", "en")),
                       FieldSpec("opening_balance", "opening_balance", "amount"),
                       FieldSpec("closing_balance", "closing_balance", "amount"),
                       FieldSpec("period_end", "period/end", "date")],
    "letters.xml": [FieldSpec("language", "@language", "enum", values=("fr", "en")),
                    FieldSpec("policy_number", "contract/policy_number"),
                    FieldSpec("premium", "contract/premium", "amount"),
                    FieldSpec("effective_date", "contract/effective_date", "date")],
    "us-statements.csv": [FieldSpec("language", "language", "enum", values=("en",)),
                          FieldSpec("statement_date", "statement_date", "date"),
                          FieldSpec("opening_balance", "opening_balance", "amount"),
                          FieldSpec("closing_balance", "closing_balance", "amount")],
}


def test_bad_records_are_injected_where_documented(tmp_path):
    good = {p.name: records(p) for p in write_samples(tmp_path / "good", 10, seed=5)}
    bad = {p.name: records(p) for p in write_samples(tmp_path / "bad", 10, seed=5, bad=4)}
    expected = bad_record_numbers(10, 4)
    assert expected == [3, 6, 9, 12]
    for name in FILES:
        assert len(bad[name]) == 14
        failing = [r.number for r in bad[name] if validate_record(r, SPECS[name])]
        assert failing == expected, name
        assert not any(validate_record(r, SPECS[name]) for r in good[name])
        kept = [r.raw for r in bad[name] if r.number not in expected]
        assert kept == [r.raw for r in good[name]], name          # good records unchanged
        messages = [validate_record(r, SPECS[name])[0].message for r in bad[name] if r.number in expected]
        assert "'x12' is not a number" in messages[0]
        assert messages[1].endswith("is missing")
        assert "'2026-13-45' is not a valid date" in messages[2]
        bad_lang = "it" if name == "invoices.xml" else "de"      # the invoice layout speaks German (issue 15)
        assert messages[3] == f"language '{bad_lang}' is not one of " + ", ".join(SPECS[name][0].values)


def test_german_customers_get_german_invoices_and_english_statements_and_letters():
    committed = {name: list(records(ROOT / "samples" / "data" / name))
                 for name in ("invoices.xml", "statements.xml", "letters.xml")}
    german = [r.tree for r in committed["invoices.xml"] if r.tree.get("language") == "de"]
    assert german, "the committed invoices hold a German customer (C000011)"
    for inv in german:
        assert inv.find("customer").get("language") == "de"
        assert inv.findtext("customer/address/country") == "DE"
        assert inv.findtext("customer/civility") in ("Frau", "Frau Dr.", "Herr")
        labels = [i.findtext("label") for i in inv.findall("items/item")]
        units = {i.findtext("unit") for i in inv.findall("items/item")}
        assert any(label.startswith("Grundpreis") for label in labels) and units <= {"Monat", "kWh", "pauschal"}
    ids = {inv.find("customer").get("id") for inv in german}
    for name in ("statements.xml", "letters.xml"):       # offered in fr and en only: English
        theirs = [r.tree for r in committed[name] if r.tree.find("customer").get("id") in ids]
        assert theirs and all(t.get("language") == "en" for t in theirs), name
    english = [r.tree for r in committed["invoices.xml"] if r.tree.get("language") == "en"]
    assert english and all(not i.findtext("items/item/label").startswith("Abonnement") for i in english)
