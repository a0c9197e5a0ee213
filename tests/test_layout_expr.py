"""Layout stage tests: XPath expressions, text templates, extension functions and Babel formatting."""
from __future__ import annotations

import pytest
from lxml import etree

from ccm_batch.layout.expr import Expr, ExprError, Template, scan
from ccm_batch.layout.functions import format_amount, set_locale

REC = etree.fromstring(
    "<r id='C1'><name>Hélène Lefèvre</name><total>1234.56</total><neg>-12.3</neg>"
    "<date>2026-11-23</date><items><i><v>1.10</v></i><i><v>2.20</v></i><i><v>0.70</v></i></items>"
    "<empty/></r>")


@pytest.fixture(autouse=True)
def french():
    set_locale("fr_FR", "EUR", "fr", {"hello": {"fr": "Bonjour {1}", "en": "Hello {1}"}})
    yield
    set_locale("fr_FR", "EUR", "fr", {})


def ev(src, mode="string", env=None, node=REC):
    return Expr(src, mode, scope=set((env or {}).keys()) | {"x"}).eval(node, env or {})


def test_scan_finds_variables_and_functions_outside_strings():
    variables, functions = scan("concat($a, '$notavar', format-amount($b)) + count(items/i)")
    assert variables == {"a", "b"}
    assert functions == {"concat", "format-amount", "count"}


def test_scope_check_rejects_unknown_variable_and_function():
    with pytest.raises(ExprError, match=r"\$y"):
        Expr("$x + $y", "number", scope={"x"})
    with pytest.raises(ExprError, match="nosuch"):
        Expr("nosuch(1)", "string", scope=set())


def test_paths_variables_and_modes():
    assert ev("name") == "Hélène Lefèvre"
    assert ev("@id") == "C1"
    assert ev("items/i/v") == "1.10"
    assert ev("count(items/i)", "number") == 3.0
    assert ev("sum(items/i/v)", "number") == pytest.approx(4.0)
    assert ev("missing") == ""
    assert ev("$x", env={"x": "abc"}) == "abc"
    assert ev("$x * 2", "number", env={"x": 2.5}) == 5.0
    assert ev("total > 1000", "boolean") is True
    assert ev("empty", "boolean") is True            # node exists
    assert ev("string(empty)", "boolean") is False   # but its value is empty
    assert [e.tag for e in ev("items/i", "nodes")] == ["i", "i", "i"]


def test_template_holes_and_literal_braces():
    t = Template("Client {@id} : {upper(name)} {{ok}}", scope=set())
    assert t.render(REC, {}) == "Client C1 : HÉLÈNE LEFÈVRE {ok}"
    assert Template("plain").const == "plain"
    with pytest.raises(ExprError):
        Template("open {name", scope=set())
    with pytest.raises(ExprError):
        Template("close } alone", scope=set())


def test_money_per_locale():
    assert ev("format-amount(total)") == "1\u00a0234,56\u00a0€"
    assert ev("format-amount(neg)") == "-12,30\u00a0€"
    assert ev("format-amount(total, 'USD', 'en_US')") == "$1,234.56"
    set_locale("en_US", "USD", "en")
    assert ev("format-amount(total)") == "$1,234.56"
    assert ev("format-amount(missing)") == ""
    # float sums print as exact cents
    assert ev("format-amount(0.1 + 0.2)") == "$0.30"
    assert format_amount(__import__("decimal").Decimal("1234.5"), "EUR", "fr_FR") == "1\u00a0234,50\u00a0€"


def test_numbers_and_dates_per_locale():
    assert ev("format-number(total, '#,##0.00')") == "1\u00a0234,56"
    assert ev("format-number(1234.5)") == "1\u00a0234,5"
    assert ev("format-date(date)") == "23 novembre 2026"
    assert ev("format-date(date, 'dd/MM/yyyy')") == "23/11/2026"
    assert ev("format-date(date, 'long', 'en_US')") == "November 23, 2026"
    assert ev("format-date('2026-10')", ) == "1 octobre 2026"
    assert ev("format-date('not a date')") == "not a date"


def test_text_functions():
    assert ev("lower('ABC')") == "abc"
    assert ev("capitalize('été')") == "Été"
    assert ev("strip-accents('SAINT-ÉTIENNE')") == "SAINT-ETIENNE"
    assert ev("default(missing, 'n/a')") == "n/a"
    assert ev("default(name, 'n/a')") == "Hélène Lefèvre"
    assert ev("when(total > 1000, 'big', 'small')") == "big"
    assert ev("join(items/i/v, ' + ')") == "1.10 + 2.20 + 0.70"
    assert ev("replace('a-b-c', '-', '/')") == "a/b/c"
    assert ev("max(items/i/v)", "number") == 2.2
    assert ev("min(items/i/v)", "number") == 0.7
    assert ev("abs(neg)", "number") == 12.3
    assert ev("round-to(2.345, 2)", "number") == 2.35
    assert ev("round-to(-2.5, 0)", "number") == -3.0
    assert ev("pad(7, 3)") == "007"
    assert ev("iban('FR7630004000031234567890143')") == "FR76 3000 4000 0312 3456 7890 143"


def test_messages_follow_document_language():
    assert ev("msg('hello', name)") == "Bonjour Hélène Lefèvre"
    set_locale("en_GB", "EUR", "en", None)
    assert ev("msg('hello', 'Bob')") == "Hello Bob"
    assert ev("msg('unknown-key')") == "unknown-key"
