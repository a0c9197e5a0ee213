"""Layout stage tests: loading, schema validation and load-time checks, each error as file:line."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccm_batch.errors import LayoutError
from ccm_batch.layout import load_layout, parse_color, parse_length

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ROOT / "layouts"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<layout name="t" record="r" doc-type="letter">
  <fields>
    <field name="a" path="a"/>
    <field name="items" path="items/item" type="list" required="false"/>
    <field name="total" path="total" type="amount" required="false" default="0"/>
  </fields>
  <page-template name="p" size="A4"><body top="20mm" bottom="20mm" left="20mm" right="20mm"/></page-template>
  <pages first="p"/>
"""


def write(tmp_path, body: str, head: str = HEAD, name: str = "l.xml") -> Path:
    path = tmp_path / name
    path.write_text(head + body + "\n</layout>\n", encoding="utf-8")
    return path


def error_of(path) -> tuple[str, int, str]:
    with pytest.raises(LayoutError) as info:
        load_layout(path)
    m = re.match(r"(.+):(\d+): (.*)", str(info.value), re.S)
    assert m, str(info.value)
    return m.group(1), int(m.group(2)), m.group(3)


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_units_and_colours():
    assert parse_length("25.4mm") == 1440
    assert parse_length("1in") == 1440
    assert parse_length("9pt") == 180
    assert parse_length("10") == 200           # bare number: points
    assert parse_length("2.54cm") == 1440
    assert parse_color("#1f4e79") == (31, 78, 121)
    assert parse_color("#fff") == (255, 255, 255)
    assert parse_color("none") is None
    with pytest.raises(ValueError):
        parse_length("12 px")


def test_good_layout_exposes_api(tmp_path):
    lay = load_layout(write(tmp_path, "<flow><p>Bonjour {$a}</p></flow>"))
    assert lay.name == "t" and lay.doc_type == "letter" and lay.record == "r"
    assert lay.duplex is False
    specs = {s.name: s for s in lay.field_specs}
    assert specs["a"].path == "a" and specs["a"].required is True and specs["a"].type == "string"
    assert specs["items"].type == "list" and specs["items"].required is False
    assert specs["total"].type == "amount" and specs["total"].default == "0"
    assert lay.files == [str((tmp_path / "l.xml").resolve())]


def test_xml_syntax_error_has_line(tmp_path):
    path = write(tmp_path, "<flow><p>oops</flow>")
    file, line, msg = error_of(path)
    assert file.endswith("l.xml") and line == line_of(path, "<flow><p>oops")


def test_schema_error_names_the_element_line(tmp_path):
    path = write(tmp_path, "<flow>\n<p>x</p>\n<paragraph>y</paragraph>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "<paragraph>") and "paragraph" in msg


def test_bad_attribute_value_is_a_schema_error(tmp_path):
    path = write(tmp_path, "<flow>\n<p size=\"12 px\">x</p>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "12 px") and "schema" in msg


def test_unknown_field_in_expression(tmp_path):
    path = write(tmp_path, "<flow>\n<p>Total {format-amount($totl)}</p>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "$totl") and "$totl" in msg


def test_unknown_field_in_attribute_expression(tmp_path):
    path = write(tmp_path, "<flow>\n<if test=\"$b = 'x'\"><p>x</p></if>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "$b = ") and "$b" in msg


def test_unknown_function(tmp_path):
    path = write(tmp_path, "<flow>\n<p>{frobnicate($a)}</p>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "frobnicate") and "frobnicate()" in msg


def test_xpath_syntax_error(tmp_path):
    path = write(tmp_path, "<flow>\n<p>{$a + }</p>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "$a + ") and "invalid XPath" in msg


def test_unknown_style_and_font(tmp_path):
    path = write(tmp_path, "<flow>\n<p style=\"nope\">x</p>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "nope") and "unknown style 'nope'" in msg
    path = write(tmp_path, "<flow>\n<p font=\"Comic Sans\">x</p>\n</flow>", name="f.xml")
    _, line, msg = error_of(path)
    assert line == line_of(path, "Comic") and "Comic Sans" in msg


def test_unknown_fragment_and_missing_import(tmp_path):
    path = write(tmp_path, "<flow>\n<use fragment=\"legal\"/>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "legal") and "unknown fragment 'legal'" in msg
    path = write(tmp_path, "<import href=\"nothere.xml\"/>\n<flow/>", name="g.xml")
    _, line, msg = error_of(path)
    assert line == line_of(path, "nothere") and "not found" in msg


def test_fragment_errors_name_the_fragment_file(tmp_path):
    (tmp_path / "frag.xml").write_text(
        '<?xml version="1.0"?>\n<fragments>\n  <fragment name="x">\n    <p>{$unknown}</p>\n'
        '  </fragment>\n</fragments>\n', encoding="utf-8")
    path = write(tmp_path, "<import href=\"frag.xml\"/>\n<flow><use fragment=\"x\"/></flow>")
    file, line, msg = error_of(path)
    assert file.endswith("frag.xml") and line == 4 and "$unknown" in msg


def test_fragment_uses_callers_fields(tmp_path):
    (tmp_path / "frag.xml").write_text(
        '<?xml version="1.0"?>\n<fragments><fragment name="x"><p>A={$a}</p></fragment></fragments>\n',
        encoding="utf-8")
    lay = load_layout(write(tmp_path, "<import href=\"frag.xml\"/>\n<flow><use fragment=\"x\"/></flow>"))
    assert str((tmp_path / "frag.xml").resolve()) in lay.files
    assert len(lay.flow) == 1 and lay.flow[0].kind == "p"


def test_missing_image(tmp_path):
    path = write(tmp_path, "<flow>\n<image src=\"sig.png\" width=\"30mm\"/>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "sig.png") and "not found" in msg


def test_unknown_page_template_and_window(tmp_path):
    head = HEAD.replace('<pages first="p"/>', '<pages first="p" rest="q"/>')
    path = write(tmp_path, "<flow/>", head=head)
    _, line, msg = error_of(path)
    assert line == line_of(path, "<pages") and "'q'" in msg
    path = write(tmp_path, "", head=HEAD.replace(
        "</page-template>", '\n<address window="moon" select="a"/></page-template>'), name="w.xml")
    _, line, msg = error_of(path)
    assert line == line_of(path, "moon") and "unknown window" in msg


def test_page_variables_only_on_page_templates(tmp_path):
    path = write(tmp_path, "<flow>\n<p>page {$page}</p>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "{$page}") and "$page" in msg
    ok = HEAD.replace("</page-template>",
                      '<text x="20mm" y="280mm">Page {$page} / {$pages}</text></page-template>')
    load_layout(write(tmp_path, "<flow/>", head=ok, name="ok.xml"))


def test_background_must_be_static(tmp_path):
    head = HEAD.replace("</page-template>",
                        '\n<background><text x="1mm" y="1mm">{$a}</text></background></page-template>')
    path = write(tmp_path, "<flow/>", head=head)
    _, line, msg = error_of(path)
    assert line == line_of(path, "<background>") and "$a" in msg


def test_fixed_item_in_flow_and_flow_item_in_template(tmp_path):
    path = write(tmp_path, "<flow>\n<text x=\"1mm\" y=\"1mm\">x</text>\n</flow>")
    _, line, msg = error_of(path)
    assert line == line_of(path, "<text")
    head = HEAD.replace("</page-template>", '\n<image src="x.png"/></page-template>')
    path = write(tmp_path, "<flow/>", head=head, name="i.xml")
    _, line, msg = error_of(path)
    assert line == line_of(path, "x.png")


def test_sections_in_any_order(tmp_path):
    text = """<?xml version="1.0"?>
<layout name="o">
  <flow><p>{$a}</p></flow>
  <pages first="p"/>
  <page-template name="p"><text x="1mm" y="1mm">t</text><body top="1in"/></page-template>
  <fields><field name="a" path="a"/></fields>
</layout>"""
    (tmp_path / "o.xml").write_text(text, encoding="utf-8")
    lay = load_layout(tmp_path / "o.xml")
    assert lay.sequence.first.body.y == 1440


@pytest.mark.parametrize("name", sorted(p.name for p in LAYOUTS.glob("*.xml")))
def test_shipped_layouts_load(name):
    lay = load_layout(LAYOUTS / name)
    assert lay.field_specs and lay.sequence.first is not None
