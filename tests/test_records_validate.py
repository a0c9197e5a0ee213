"""Tests of the read stage's field validation: types, presence, messages an operator understands."""
import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree

from ccm_batch.records import Record
from ccm_batch.records.validate import FieldSpec, Problem, read_fields, validate_record

XML = """<invoice id="F1" language="fr">
  <number>F1</number><date>2026-11-23</date><due_date> 2026-12-08 </due_date>
  <count>3</count><rate>0.2516</rate><total>132.09</total><empty/>
  <items><item><amount>10.00</amount></item><item><amount>x12</amount></item></items>
  <customer><name>Hélène <b>Lefèvre</b></name></customer>
</invoice>""".encode("utf-8")


def record(xml: bytes = XML) -> Record:
    return Record("x.xml", 7, 0, 1, xml, etree.fromstring(xml), "F1")


def problems(*specs, xml=XML):
    return validate_record(record(xml), list(specs))


def test_valid_fields_give_no_problem():
    specs = [FieldSpec("id", "@id"), FieldSpec("date", "date", "date"), FieldSpec("due", "due_date", "date"),
             FieldSpec("count", "count", "integer"), FieldSpec("rate", "rate", "number"),
             FieldSpec("total", "total", "amount"), FieldSpec("language", "@language", "enum", values=("fr", "en")),
             FieldSpec("items", "items/item", "list"), FieldSpec("name", "customer/name", max_length=38),
             FieldSpec("number", "number", pattern=r"F\d+")]
    assert validate_record(record(), specs) == []


@pytest.mark.parametrize("spec, message", [
    (FieldSpec("amount", "items/item[2]/amount", "amount"), "amount 'x12' is not a number"),
    (FieldSpec("rate", "rate", "amount"), "rate '0.2516' has more than 2 decimals"),
    (FieldSpec("count", "rate", "integer"), "count '0.2516' is not a whole number"),
    (FieldSpec("due_date", "missing_element", "date"), "due_date is missing"),
    (FieldSpec("empty", "empty"), "empty is missing"),
    (FieldSpec("date", "number", "date"), "date 'F1' is not a date (expected YYYY-MM-DD)"),
    (FieldSpec("language", "@language", "enum", values=("en", "de")), "language 'fr' is not one of en, de"),
    (FieldSpec("name", "customer/name", max_length=10), "name is 14 characters long, at most 10 allowed"),
    (FieldSpec("number", "number", pattern=r"INV-\d+"), "number 'F1' does not have the expected form (INV-\\d+)"),
    (FieldSpec("lines", "items/line", "list"), "lines is missing (at least one expected)"),
])
def test_problem_messages(spec, message):
    assert problems(spec) == [Problem(spec.name, message)]


def test_impossible_date_and_comma_decimal():
    xml = b"<r><d>2026-13-45</d><a>12,50</a><b>-7.5</b><c>+.5</c></r>"
    assert problems(FieldSpec("d", "d", "date"), FieldSpec("a", "a", "amount"), FieldSpec("b", "b", "amount"),
                    FieldSpec("c", "c", "number"), xml=xml) == [
        Problem("d", "d '2026-13-45' is not a valid date"),
        Problem("a", "a '12,50' is not a number (use '.' as the decimal separator)")]


def test_optional_missing_is_fine_and_several_problems_keep_spec_order():
    specs = [FieldSpec("opt", "nothing", "amount", required=False), FieldSpec("z", "zz"),
             FieldSpec("a", "items/item[2]/amount", "amount")]
    assert [p.field for p in problems(*specs)] == ["z", "a"]


def test_first_node_is_checked():
    assert problems(FieldSpec("amount", "items/item/amount", "amount")) == []


def test_bad_specs_are_value_errors():
    with pytest.raises(ValueError, match="unknown type 'money'"):
        FieldSpec("x", "x", "money")
    with pytest.raises(ValueError, match="enum needs values"):
        FieldSpec("x", "x", "enum")
    with pytest.raises(ValueError, match="not a valid XPath"):
        FieldSpec("x", "items/[", "string")
    with pytest.raises(ValueError, match="invalid pattern"):
        FieldSpec("x", "x", pattern="(")


def test_specs_are_picklable():
    import pickle
    spec = FieldSpec("total", "total", "amount", values=("1",))
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_read_fields_converts_types_and_defaults():
    specs = [FieldSpec("date", "date", "date"), FieldSpec("total", "total", "amount"),
             FieldSpec("count", "count", "integer"), FieldSpec("items", "items/item/amount", "list"),
             FieldSpec("fee", "fee", "amount", required=False, default=Decimal("0.00"))]
    assert read_fields(record(), specs) == {"date": dt.date(2026, 11, 23), "total": Decimal("132.09"),
                                            "count": 3, "items": ["10.00", "x12"], "fee": Decimal("0.00")}


def test_namespaced_paths():
    xml = b'<i:invoice xmlns:i="urn:i"><i:total>1.00</i:total></i:invoice>'
    rec = record(xml)
    assert validate_record(rec, [FieldSpec("total", "i:total", "amount")], namespaces={"i": "urn:i"}) == []
    assert validate_record(rec, [FieldSpec("total", "total", "amount")]) == [Problem("total", "total is missing")]
